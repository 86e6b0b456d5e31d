package dispatch

// The memory queue lets several goroutines wait in Fetch for one hook at once (a webhook's
// workers fetch for themselves, see crew): each waiter parks on a 1-buffered channel of its
// own, and what makes a delivery ready wakes one waiter per delivery, so that an event
// wakes the one goroutine that will attempt it and no other.

// sharedFetcher is a [Queue] whose Fetch may be called for one hook by many goroutines at
// once: the dispatcher's workers then fetch their own deliveries, with no fetcher goroutine
// and hand-off between the queue and them. [MemoryQueue] is one.
type sharedFetcher interface {
	Queue
	sharedFetch()
}

func (q *MemoryQueue) sharedFetch() {}

var _ sharedFetcher = (*MemoryQueue)(nil)

// waitLocked registers a new waiter of h and returns its channel, which wakeOneLocked or
// wakeAllLocked pokes. The caller waits on it with q.mu released, then calls leaveLocked.
// Channels are reused, so waiting does not allocate once h has had as many waiters at once.
func (h *memHook) waitLocked() chan struct{} {
	var ch chan struct{}
	if n := len(h.spare); n > 0 {
		ch = h.spare[n-1]
		h.spare[n-1] = nil
		h.spare = h.spare[:n-1]
	} else {
		ch = make(chan struct{}, 1)
	}
	h.waiters = append(h.waiters, ch)
	return ch
}

// leaveLocked ends the wait on ch: it unregisters ch if no wake-up did, empties it and
// keeps it for reuse. It reports whether a wake-up (or a timer) had poked ch, as far as
// can be seen now: ch was unregistered by a wake-up, or is still full.
func (h *memHook) leaveLocked(ch chan struct{}) (woken bool) {
	woken = true
	for i, x := range h.waiters {
		if x == ch {
			copy(h.waiters[i:], h.waiters[i+1:])
			h.waiters[len(h.waiters)-1] = nil
			h.waiters = h.waiters[:len(h.waiters)-1]
			woken = false
			break
		}
	}
	select {
	case <-ch:
		woken = true
	default:
	}
	h.spare = append(h.spare, ch)
	return woken
}

// wakeOneLocked wakes the waiter that parked last (its goroutine and caches are the
// warmest), if any: one delivery became ready.
func (h *memHook) wakeOneLocked() {
	if n := len(h.waiters); n > 0 {
		ch := h.waiters[n-1]
		h.waiters[n-1] = nil
		h.waiters = h.waiters[:n-1]
		poke(ch)
	}
}

// wakeAllLocked wakes every waiter: the hook was unsubscribed.
func (h *memHook) wakeAllLocked() {
	for i, ch := range h.waiters {
		poke(ch)
		h.waiters[i] = nil
	}
	h.waiters = h.waiters[:0]
}
