//go:build !race

package dispatch

import (
	"testing"
	"time"
)

func TestAllocsHistoObserve(t *testing.T) {
	var h histo
	h.init(latencyBounds)
	d := time.Duration(0)
	if n := testing.AllocsPerRun(1000, func() { d += time.Millisecond; h.observe(d) }); n != 0 {
		t.Errorf("observe: %v allocs, want 0", n)
	}
}
