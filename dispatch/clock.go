package dispatch

import "time"

// clock is the time source of the breaker, the retry schedule and the memory queue's
// delays. Tests inject a fake one and advance it by hand: no test sleeps.
type clock interface {
	Now() time.Time
	// At calls f (in its own goroutine, or at once when t has passed) at time t and returns
	// a function that cancels the call, reporting whether it stopped it. The deadline is
	// absolute so that a fake clock advanced between computing it and registering it
	// cannot make a waiter miss it.
	At(t time.Time, f func()) (stop func() bool)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) At(t time.Time, f func()) func() bool {
	return time.AfterFunc(time.Until(t), f).Stop
}
