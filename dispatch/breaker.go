package dispatch

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker constants, as Confluence's webhook dispatcher (DESIGN.md, Delivery).
const (
	breakerThreshold = 5                // the 5th consecutive failure opens the breaker
	breakerFirst     = 10 * time.Second // for this long
	breakerFactor    = 1.2              // each further failure multiplies the window
	breakerMax       = 10 * time.Hour   // up to this
)

// breaker is one webhook's circuit breaker: a pure state machine over an injected clock.
//
// After the breakerThreshold-th consecutive failure it opens for breakerFirst; each further
// failure (of an attempt made after the window that it follows) reopens it for the previous
// window × breakerFactor, capped at breakerMax; a success closes it and resets the count. The
// window after the n-th consecutive failure (n >= 5) is round(10 s × 1.2^(n−5)), in
// milliseconds, as Confluence computes it.
//
// Failures of attempts that were already in flight when the breaker opened do not lengthen
// the window: they are not "further" failures in the timeline, only the same outage seen by
// several concurrent requests (without this rule 64 concurrent failures would open the
// breaker for 10 h at once). Such an attempt is recognised by its start time (now − latency)
// being before the moment the current window was opened.
//
// When the window ends a probing breaker is half-open: it stays open for all but one
// request, the probe (the first that Allow lets through), until the probe's outcome is
// recorded: a success closes the breaker, a failure reopens it for the next, longer window.
// Without this, the end of a window would let max_in_flight_per_hook requests out at once
// to a receiver that is likely still down, each using up one step of its delivery's retry
// schedule. The breaker tracks the probe itself: its holder is whoever Allow let through
// in the half-open state, and its Record ends it.
type breaker struct {
	clock clock
	// probe makes the breaker half-open when a window ends (on_skip = "retry"); without it
	// (on_skip = "drop", as Confluence) every request may go once the window ends.
	probe bool

	mu       sync.Mutex
	fails    int       // consecutive failures counted; mu guards all below
	openedAt time.Time // when the current window began; zero when closed
	until    time.Time // end of the current window; zero when closed
	opens    uint64    // times the window was (re)opened, for stats
	probing  bool      // half-open: the probe was allowed and its outcome is not yet recorded

	// untilNS mirrors until in Unix ns (0 when closed) so that the hot path can see a
	// closed breaker without the lock or the clock.
	untilNS atomic.Int64
}

// Allow reports whether a request may be made now: the breaker is closed, or its window
// has passed and, for a probing breaker, no probe is out. In that last case the request is
// the probe: a caller that Allow lets through must make the request and Record its outcome,
// which ends the probe.
func (b *breaker) Allow() bool {
	if b.untilNS.Load() == 0 {
		return true // closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.until.IsZero():
		return true
	case b.clock.Now().Before(b.until):
		return false
	case !b.probe:
		return true
	case b.probing:
		return false
	}
	b.probing = true
	return true
}

// room returns how many of n wanted requests may be started before the next outcome is
// recorded, claiming none: in the half-open state at most 1 while no probe is out and 0
// while one is, else n (a window still running is the caller's to wait out, see
// hook.blockedFor; Allow refuses the requests it would block).
func (b *breaker) room(n int) int {
	if !b.probe || b.untilNS.Load() == 0 {
		return n
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.until.IsZero() || b.clock.Now().Before(b.until):
		return n
	case b.probing:
		return 0
	}
	return min(n, 1)
}

// Record records the outcome of one attempt that took latency.
func (b *breaker) Record(ok bool, latency time.Duration) {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		if b.fails != 0 || !b.until.IsZero() {
			b.fails, b.openedAt, b.until, b.probing = 0, time.Time{}, time.Time{}, false
			b.untilNS.Store(0)
		}
		return
	}
	if !b.openedAt.IsZero() && now.Add(-latency).Before(b.openedAt) {
		return // in flight when the window opened: not a further failure
	}
	b.probing = false
	b.fails++
	if n := b.fails - breakerThreshold; n >= 0 {
		b.openedAt = now
		b.until = now.Add(breakerWindow(n))
		b.untilNS.Store(b.until.UnixNano())
		b.opens++
	}
}

// breakerWindow is the open window after the (breakerThreshold+n)-th consecutive failure.
func breakerWindow(n int) time.Duration {
	ms := math.Round(float64(breakerFirst/time.Millisecond) * math.Pow(breakerFactor, float64(n)))
	if ms >= float64(breakerMax/time.Millisecond) {
		return breakerMax
	}
	return time.Duration(ms) * time.Millisecond
}

// BreakerState is a breaker as the admin API shows it.
type BreakerState struct {
	Open     bool      // reports whether requests are being skipped now
	Until    time.Time // end of the current or last window; zero when closed
	Failures int       // consecutive failures
	Opens    uint64    // times opened or extended since start
}

func (b *breaker) state() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BreakerState{
		Open:     !b.until.IsZero() && b.clock.Now().Before(b.until),
		Until:    b.until,
		Failures: b.fails,
		Opens:    b.opens,
	}
}

// openFor returns how long the breaker stays open from now (0 when it allows requests).
func (b *breaker) openFor() time.Duration {
	if b.untilNS.Load() == 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until.IsZero() {
		return 0
	}
	if d := b.until.Sub(b.clock.Now()); d > 0 {
		return d
	}
	return 0
}
