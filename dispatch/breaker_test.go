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

// When the window ends a probing breaker is half-open: one probe at a time, until its
// outcome closes the breaker (success) or reopens it for the next window (failure). room
// says how many requests may start without claiming the probe; Allow claims it.
func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	fc := newFakeClock()
	b := &breaker{clock: fc, probe: true}
	if !allowN(b, 3) || b.room(3) != 3 {
		t.Fatalf("closed: Allow refused or room(3) = %d; want every request allowed, 3", b.room(3))
	}
	for i := 0; i < 5; i++ {
		b.Record(false, 0)
	}
	if b.Allow() || b.openFor() != 10*time.Second {
		t.Fatalf("open: allowed, or open for %s; want refused (the window blocks), 10s", b.openFor())
	}
	fc.Advance(10 * time.Second)
	if got := b.room(3); got != 1 {
		t.Fatalf("window over: room(3) = %d, want 1 (the probe)", got)
	}
	if got := b.room(0); got != 0 {
		t.Fatalf("window over: room(0) = %d, want 0", got)
	}
	if !b.Allow() {
		t.Fatal("window over: the probe refused, want allowed")
	}
	if b.Allow() || b.room(3) != 0 {
		t.Fatalf("probe out: allowed, or room(3) = %d; want refused, 0", b.room(3))
	}
	fc.Advance(time.Second)
	b.Record(false, time.Second) // the probe fails: reopened, 12 s
	if got := b.openFor(); got != 12*time.Second {
		t.Fatalf("after the probe failed: open for %s, want 12s", got)
	}
	fc.Advance(12 * time.Second)
	if probe, next := b.Allow(), b.Allow(); !probe || next {
		t.Fatal("second window over: want the probe allowed, then the next request refused")
	}
	b.Record(true, 0)
	if !allowN(b, 3) || b.room(3) != 3 || b.state().Open || b.state().Failures != 0 {
		t.Fatalf("after the probe succeeded: room(3) = %d, %+v; want closed", b.room(3), b.state())
	}
}

// allowN reports whether b allows n requests in a row.
func allowN(b *breaker, n int) bool {
	for i := 0; i < n; i++ {
		if !b.Allow() {
			return false
		}
	}
	return true
}

// A breaker that does not probe (on_skip = "drop") lets every request go once a window
// ends.
func TestBreakerWithoutProbeAllowsAllAfterWindow(t *testing.T) {
	fc := newFakeClock()
	b := &breaker{clock: fc}
	for i := 0; i < 5; i++ {
		b.Record(false, 0)
	}
	if b.Allow() {
		t.Fatal("open: allowed, want refused")
	}
	fc.Advance(10 * time.Second)
	if !allowN(b, 3) {
		t.Fatal("window over: a request refused, want every one allowed")
	}
	if got := b.room(3); got != 3 {
		t.Fatalf("window over: room(3) = %d, want 3", got)
	}
}
