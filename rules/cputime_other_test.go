//go:build !linux

package rules_test

import "testing"

// cpuTimer reports nothing where per-thread CPU time is not available.
func cpuTimer(b *testing.B) func() { return func() {} }
