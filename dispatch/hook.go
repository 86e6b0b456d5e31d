package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Per-hook outcome counters.
const (
	outDelivered   = iota // 2xx
	outFailed             // any failed attempt (sum of the reasons below)
	outRetried            // failed and scheduled again
	outDead               // failed for good (retries exhausted or 410)
	outSkipped            // dropped without an attempt (on_skip = "drop")
	outStatus4xx          // failure reason: a 4xx other than 410 and 429
	outStatus5xx          // failure reason: a 5xx other than 503
	outStatusOther        // failure reason: 1xx/3xx (redirects are not followed)
	outThrottled          // failure reason: 429 or 503 (Retry-After honoured when present)
	outGone               // failure reason: 410 Gone, which deactivates the webhook
	outTimeout            // failure reason: no response within the timeout
	outConnection         // failure reason: connect, TLS or protocol error
	outRefused            // failure reason: the target policy refused the address dialled
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"delivered", "failed", "retried", "dead", "skipped",
	"status_4xx", "status_5xx", "status_other", "throttled", "gone", "timeout", "connection", "refused",
}

// hook is one webhook's runtime state. Its fields are safe for concurrent use as noted.
type hook struct {
	id          string
	cfg         atomic.Pointer[hookConfig] // swapped by SetHooks
	br          breaker
	hist        history
	gone        atomic.Bool   // a 410 deactivated it; Reactivate clears
	pausedUntil atomic.Int64  // unix ns before which no request is made (Retry-After)
	inflight    atomic.Int32  // attempts handed to workers and not yet settled
	freed       chan struct{} // 1-buffered: a worker finished an attempt; never closed
	wake        chan struct{} // 1-buffered: the fetcher should look again; never closed
	count       [numOutcomes]atomic.Uint64
	latency     histo // accepted -> delivered (2xx), per delivery
	duration    histo // request -> response or error, per attempt

	fetchMu     sync.Mutex
	fetchCancel context.CancelFunc // ends the fetcher's current Fetch; see interruptFetch
}

// setFetchCancel records the cancel function of the context the fetcher's next Fetch calls
// use.
func (h *hook) setFetchCancel(c context.CancelFunc) {
	h.fetchMu.Lock()
	h.fetchCancel = c
	h.fetchMu.Unlock()
}

// interruptFetch ends a Fetch the fetcher may be waiting in, once an attempt has blocked the
// webhook (the breaker opened, a Retry-After arrived) or a 410 deactivated it: otherwise the
// next delivery to arrive would be fetched only to be put back, which the queue counts as an
// attempt. Neither queue loses a message to a cancelled Fetch.
func (h *hook) interruptFetch() {
	h.fetchMu.Lock()
	if h.fetchCancel != nil {
		h.fetchCancel()
	}
	h.fetchMu.Unlock()
}

func (d *Dispatcher) newHook(id string) *hook {
	h := &hook{
		id:    id,
		br:    breaker{clock: d.clock, probe: !d.set.dropOnSkip},
		hist:  history{size: d.set.historySize},
		freed: make(chan struct{}, 1),
		wake:  make(chan struct{}, 1),
	}
	h.latency.init(latencyBounds)
	h.duration.init(attemptBounds)
	return h
}

// blockedFor returns how long no request may be made to h: the breaker's open window or a
// Retry-After pause, whichever ends later; 0 when requests may be made. It reads the clock
// only when one of them is set.
func (h *hook) blockedFor(c clock) time.Duration {
	w := h.br.openFor()
	if p := h.pausedUntil.Load(); p != 0 {
		d := time.Duration(p - c.Now().UnixNano())
		if d <= 0 {
			h.pausedUntil.CompareAndSwap(p, 0) // over: back to the fast path
		} else if d > w {
			w = d
		}
	}
	return w
}

// pause makes sure no request goes to h before until.
func (h *hook) pause(until time.Time) {
	u := until.UnixNano()
	for {
		old := h.pausedUntil.Load()
		if old >= u || h.pausedUntil.CompareAndSwap(old, u) {
			return
		}
	}
}

// Attempt is one delivery attempt as the delivery log keeps it.
type Attempt struct {
	Time     time.Time     // when the request started
	Event    string        // event name
	ID       ID            // webhook-id
	Attempt  int           // attempt number, from 1
	Status   int           // HTTP status; 0 when there was no response
	Duration time.Duration // request to response (or error)
	Outcome  string        // "delivered", or the failure reason: "status_5xx", "timeout", "gone", ...
	Error    string        // transport error text; "" with a response
	Body     []byte        // the first 16 KiB of the response body (no more is read)
}

// history is a ring of a hook's last size attempts. Records and their body buffers are
// reused, so recording does not allocate once the ring is full.
type history struct {
	size int

	mu   sync.Mutex // guards ring, next
	ring []Attempt
	next int
}

func (r *history) add(a *Attempt, body []byte) {
	if len(body) > maxResponseBody {
		body = body[:maxResponseBody]
	}
	r.mu.Lock()
	var slot *Attempt
	if len(r.ring) < r.size {
		r.ring = append(r.ring, Attempt{})
		slot = &r.ring[len(r.ring)-1]
	} else {
		slot = &r.ring[r.next]
		r.next = (r.next + 1) % r.size
	}
	buf := slot.Body[:0]
	*slot = *a
	slot.Body = append(buf, body...)
	r.mu.Unlock()
}

// list returns copies of the attempts, newest first.
func (r *history) list() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Attempt, 0, len(r.ring))
	n := len(r.ring)
	newest := n - 1
	if n == r.size {
		newest = (r.next - 1 + n) % n
	}
	for i := 0; i < n; i++ {
		a := r.ring[(newest-i+n)%n]
		a.Body = append([]byte(nil), a.Body...)
		out = append(out, a)
	}
	return out
}
