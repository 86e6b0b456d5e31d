package dispatch

import (
	"sync"
	"testing"
	"time"
)

func TestHistoBuckets(t *testing.T) {
	var h histo
	h.init([]float64{0.01, 0.1, 1})
	for _, d := range []time.Duration{
		-time.Second,          // clock step: counts as 0
		10 * time.Millisecond, // on a bound: le is inclusive
		10*time.Millisecond + 1,
		time.Second,
		2 * time.Second, // above every bound: +Inf only
	} {
		h.observe(d)
	}
	s := h.snapshot()
	want := []uint64{2, 3, 4}
	for i := range want {
		if s.Cumulative[i] != want[i] {
			t.Errorf("le=%v: %d, want %d", s.Bounds[i], s.Cumulative[i], want[i])
		}
	}
	if s.Count != 5 {
		t.Errorf("count %d, want 5", s.Count)
	}
	if wantSum := (10*time.Millisecond + 10*time.Millisecond + 1 + 3*time.Second).Seconds(); s.Sum != wantSum {
		t.Errorf("sum %v, want %v", s.Sum, wantSum)
	}
}

// TestHistoConcurrent observes from several goroutines while snapshots are taken (run with
// -race); every snapshot is cumulative and the final one counts everything.
func TestHistoConcurrent(t *testing.T) {
	var h histo
	h.init(attemptBounds)
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	snaps := make(chan struct{})
	go func() {
		defer close(snaps)
		for {
			s := h.snapshot()
			for i := 1; i < len(s.Cumulative); i++ {
				if s.Cumulative[i] < s.Cumulative[i-1] {
					t.Errorf("snapshot not cumulative at %d: %v", i, s.Cumulative)
					return
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.observe(time.Duration(g*each+i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-snaps
	s := h.snapshot()
	if s.Count != goroutines*each {
		t.Errorf("count %d, want %d", s.Count, goroutines*each)
	}
	// Observations are 0ms..15999ms, one each: le=10 holds 0..10000ms.
	for i, b := range s.Bounds {
		if b == 10 && s.Cumulative[i] != 10001 {
			t.Errorf("le=10: %d, want 10001", s.Cumulative[i])
		}
	}
}
