//go:build race

package proxy

// raceEnabled reports whether the race detector is on; it slows byte copying ~20x, so the
// streaming tests move 128 MiB instead of 1 GiB (the plain run moves the full 1 GiB).
const raceEnabled = true
