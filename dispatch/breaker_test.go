package dispatch

import (
	"testing"
	"time"
)

func TestBreakerTimeline(t *testing.T) {
	fc := newFakeClock()
	b := &breaker{clock: fc}
	for i := 1; i <= 4; i++ {
		b.Record(false, 0)
		if !b.Allow() {
			t.Fatalf("open after %d failures, want closed until the 5th", i)
		}
	}
	// 5th failure: 10 s; then ×1.2 per further failure: 12 s, 14.4 s, 17.28 s, ...
	want := []time.Duration{10 * time.Second, 12 * time.Second, 14400 * time.Millisecond, 17280 * time.Millisecond,
		20736 * time.Millisecond, 24883 * time.Millisecond}
	for i, w := range want {
		b.Record(false, 0)
		if b.Allow() {
			t.Fatalf("failure %d: allowed, want open", 5+i)
		}
		if got := b.openFor(); got != w {
			t.Fatalf("failure %d: open for %s, want %s", 5+i, got, w)
		}
		fc.Advance(w - time.Millisecond)
		if b.Allow() {
			t.Fatalf("failure %d: allowed 1ms before the window ends", 5+i)
		}
		fc.Advance(time.Millisecond)
		if !b.Allow() {
			t.Fatalf("failure %d: not allowed when the window ended", 5+i)
		}
	}
	// Keep failing: the window grows to the 10 h cap and stays there.
	var last time.Duration
	for i := 0; i < 100; i++ {
		b.Record(false, 0)
		last = b.openFor()
		if last > 10*time.Hour {
			t.Fatalf("window %s, want at most 10h", last)
		}
		fc.Advance(last)
	}
	if last != 10*time.Hour {
		t.Errorf("after 111 failures the window is %s, want the 10h cap", last)
	}
	b.Record(true, 0)
	if !b.Allow() || b.state().Failures != 0 || b.state().Open {
		t.Errorf("got %+v after a success, want closed with no failures", b.state())
	}
	for i := 1; i <= 5; i++ {
		b.Record(false, 0)
	}
	if got := b.openFor(); got != 10*time.Second {
		t.Errorf("after closing, the 5th failure opens for %s, want 10s again", got)
	}
}

func TestBreakerIgnoresFailuresInFlightWhenItOpened(t *testing.T) {
	fc := newFakeClock()
	b := &breaker{clock: fc}
	fc.Advance(time.Second)
	for i := 0; i < 5; i++ {
		b.Record(false, 0)
	}
	// 59 more attempts that started 1s ago, before the window opened, fail now.
	for i := 0; i < 59; i++ {
		b.Record(false, time.Second)
	}
	if got := b.openFor(); got != 10*time.Second {
		t.Errorf("open for %s after concurrent failures, want 10s (they are not further failures)", got)
	}
	fc.Advance(10 * time.Second)
	b.Record(false, 0) // an attempt made after the window
	if got := b.openFor(); got != 12*time.Second {
		t.Errorf("open for %s, want 12s", got)
	}
}

func TestBreakerWindowMatchesConfluence(t *testing.T) {
	for n, want := range map[int]time.Duration{
		0: 10 * time.Second, 1: 12 * time.Second, 2: 14400 * time.Millisecond, 10: 61917 * time.Millisecond,
		45: 10 * time.Hour, 1000: 10 * time.Hour,
	} {
		if got := breakerWindow(n); got != want {
			t.Errorf("breakerWindow(%d) = %s, want %s", n, got, want)
		}
	}
	if got := breakerWindow(44); got >= 10*time.Hour {
		t.Errorf("breakerWindow(44) = %s, want below the cap (10s×1.2^44 ≈ 8.3h)", got)
	}
}

// When the window ends the breaker is half-open: one probe at a time, until its outcome
// closes the breaker (success) or reopens it for the next window (failure).
func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	fc := newFakeClock()
	b := &breaker{clock: fc}
	if got := b.tryProbe(); got != probeNone {
		t.Fatalf("closed: tryProbe = %d, want probeNone", got)
	}
	for i := 0; i < 5; i++ {
		b.Record(false, 0)
	}
	if got := b.tryProbe(); got != probeNone || b.openFor() != 10*time.Second {
		t.Fatalf("open: tryProbe = %d, open for %s; want probeNone (the window blocks), 10s", got, b.openFor())
	}
	fc.Advance(10 * time.Second)
	if got := b.tryProbe(); got != probeMine {
		t.Fatalf("window over: tryProbe = %d, want probeMine", got)
	}
	if got := b.tryProbe(); got != probeBusy {
		t.Fatalf("probe in flight: tryProbe = %d, want probeBusy", got)
	}
	fc.Advance(time.Second)
	b.Record(false, time.Second) // the probe fails: reopened, 12 s
	if got := b.openFor(); got != 12*time.Second {
		t.Fatalf("after the probe failed: open for %s, want 12s", got)
	}
	fc.Advance(12 * time.Second)
	if got := b.tryProbe(); got != probeMine {
		t.Fatalf("second window over: tryProbe = %d, want probeMine", got)
	}
	b.releaseProbe() // no request made after all
	if got := b.tryProbe(); got != probeMine {
		t.Fatalf("after releaseProbe: tryProbe = %d, want probeMine", got)
	}
	b.Record(true, 0)
	if got := b.tryProbe(); got != probeNone || b.state().Open || b.state().Failures != 0 {
		t.Fatalf("after the probe succeeded: tryProbe = %d, %+v; want closed", got, b.state())
	}
}
