package proxy

import (
	_ "unsafe" // go:linkname
)

// nanotime is the runtime's monotonic clock in nanoseconds: one vDSO call, where time.Now
// makes two (wall and monotonic) and builds a time.Time. idleConn reads it on every upstream
// read and write to decide whether the deadline is due to move, which it rarely is.
// runtime.nanotime is one of the symbols the runtime keeps linkable on purpose
// (go.dev/issue/67401); this is the package's only linkname.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
