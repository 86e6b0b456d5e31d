package dispatch

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// runHook is one webhook's fetcher (with a queue whose Fetch may be shared, its crew of
// workers instead, see runCrew): it pulls ready deliveries from the queue while the
// webhook may be sent to and has free per-hook slots, takes a global in-flight slot for each,
// and hands it to one of up to max_in_flight_per_hook workers, started as needed. It returns
// when ctx ends, when the hook is unsubscribed or gone (410), or when the queue closes; it
// then waits for its workers, whose attempts finish and settle.
func (d *Dispatcher) runHook(ctx context.Context, h *hook) {
	if _, ok := d.queue.(sharedFetcher); ok {
		d.runCrew(ctx, h)
		return
	}
	f := &fetcher{d: d, h: h, jobs: make(chan *Delivery, d.set.perHook), buf: make([]*Delivery, 0, d.set.perHook)}
	f.renew(ctx)
	defer f.stop()
	for ctx.Err() == nil && !h.gone.Load() {
		batch, ok := f.next(ctx)
		if !ok {
			return // deliveries in batch stay unacknowledged
		}
		for i, dl := range batch {
			batch[i] = nil
			if !f.hand(ctx, dl) {
				return // the rest of batch stays unacknowledged
			}
		}
	}
}

// fetcher is the state of one runHook. Owned by runHook's goroutine.
type fetcher struct {
	d *Dispatcher
	h *hook
	// jobs holds at most perHook deliveries (in flight ≤ perHook), so handing one over
	// never waits for a worker to be ready. Closed by stop.
	jobs    chan *Delivery
	wg      sync.WaitGroup // the workers
	workers int            // workers started
	buf     []*Delivery    // Fetch's batch
	// Fetch waits under fctx, which an attempt that blocks the webhook cancels (see
	// interruptFetch); a cancelled one is renewed, and the loop starts over so that the
	// checks in next see what cancelled it.
	fctx    context.Context
	fcancel context.CancelFunc
}

// renew gives the fetcher a new Fetch context under ctx.
func (f *fetcher) renew(ctx context.Context) {
	f.fctx, f.fcancel = context.WithCancel(ctx)
	f.h.setFetchCancel(f.fcancel)
}

// stop ends the Fetch context and waits for the workers to finish what they were handed.
func (f *fetcher) stop() {
	f.fcancel()
	close(f.jobs)
	f.wg.Wait()
}

// next waits until the webhook may be fetched from and fetches what may be attempted now:
// no more than its free slots, the free global slots (at least 1) and what its breaker lets
// start (one delivery, the probe, when a window has just ended). It returns no deliveries
// when it only waited, and false when runHook should return.
func (f *fetcher) next(ctx context.Context) ([]*Delivery, bool) {
	d, h := f.d, f.h
	if f.fctx.Err() != nil {
		f.fcancel()
		f.renew(ctx)
		return nil, true
	}
	if !d.set.dropOnSkip {
		// A blocked webhook is not fetched from: its backlog waits in the queue
		// without using up attempts. The wake-up time counts from a reading of the
		// clock taken before blockedFor's own: read after, it could be late by however
		// far the clock moved in between, and the fetcher would oversleep the window.
		now := d.clock.Now()
		if wait := h.blockedFor(d.clock); wait > 0 {
			d.sleep(ctx, h.wake, now.Add(wait))
			return nil, true
		}
	}
	free := h.br.room(d.set.perHook - int(h.inflight.Load()))
	if free <= 0 {
		select {
		case <-h.freed: // the probe's worker pokes it too, after Record
		case <-ctx.Done():
		}
		return nil, true
	}
	// Fetch no more than the global slots free now, so that fetched deliveries seldom
	// wait for one (a durable queue redelivers what is held past its ack wait).
	free = min(free, max(cap(d.sem)-len(d.sem), 1))
	batch, err := d.queue.Fetch(f.fctx, h.id, f.buf[:0:free])
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNotSubscribed) {
			return nil, false
		}
		if f.fctx.Err() == nil { // else interrupted: next renews fctx
			d.log.Warn("dispatch: fetching deliveries", "webhook", h.id, "err", err)
			d.sleep(ctx, h.wake, d.clock.Now().Add(fetchErrorBackoff))
		}
	}
	return batch, true
}

// hand gives dl to a worker, starting one when every worker is busy, once dl has a global
// in-flight slot and the breaker allows its request; or it settles dl without an attempt.
// It reports false when ctx ended first (dl stays unacknowledged).
func (f *fetcher) hand(ctx context.Context, dl *Delivery) bool {
	d, h := f.d, f.h
	if wait := h.blockedFor(d.clock); wait > 0 {
		// The breaker opened (or a Retry-After arrived) while Fetch waited. With
		// on_skip = "retry" the delivery goes back for when the window ends; the
		// queue counts that as an attempt (JetStream cannot un-count a
		// delivery), so this rare race costs it one step of its schedule.
		f.putBack(dl, wait)
		return true
	}
	if !d.acquire(ctx) {
		if ctx.Err() != nil {
			return false
		}
		d.skip(h, dl)
		return true
	}
	if !h.br.Allow() {
		// The window ended while Fetch waited and another delivery is the probe (or the
		// breaker reopened meanwhile): dl waits for its outcome (as above, the queue
		// counts that as an attempt).
		<-d.sem
		f.putBack(dl, h.blockedFor(d.clock))
		return true
	}
	// Allowed: dl's attempt is made, and if dl is the probe, its Record ends the probe.
	if int(h.inflight.Add(1)) > f.workers {
		f.workers++ // every delivery in flight has a worker: at most perHook
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			d.work(h, f.jobs)
		}()
	}
	f.jobs <- dl
	return true
}

// putBack settles dl without an attempt while its webhook is blocked for wait: skipped with
// on_skip = "drop", else retried when the block ends.
func (f *fetcher) putBack(dl *Delivery, wait time.Duration) { f.d.putBack(f.h, dl, wait) }

// putBack settles dl of h without an attempt while h is blocked for wait; see fetcher.putBack.
func (d *Dispatcher) putBack(h *hook, dl *Delivery, wait time.Duration) {
	if d.set.dropOnSkip {
		d.skip(h, dl)
	} else {
		d.settle(d.queue.Retry(dl, wait), h, "retry")
	}
}

// acquire takes a global in-flight slot: waiting as long as needed, or with on_skip = "drop"
// at most inFlightSkipWait (Confluence's dispatch timeout). It reports whether it got one.
func (d *Dispatcher) acquire(ctx context.Context) bool {
	select {
	case d.sem <- struct{}{}:
		return true
	default:
	}
	var timeout <-chan time.Time
	if d.set.dropOnSkip {
		t := time.NewTimer(inFlightSkipWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case d.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-timeout:
		return false
	}
}

// skip drops dl without an attempt (on_skip = "drop"), counting it.
func (d *Dispatcher) skip(h *hook, dl *Delivery) {
	h.count[outSkipped].Add(1)
	d.drops[dropSkipped].Add(1)
	d.settle(d.queue.Ack(dl), h, "ack")
	if d.settled != nil {
		d.settled(h.id, nil)
	}
}

// settle logs a failure to settle a delivery (the delivery then comes back from a durable
// queue after its ack wait).
func (d *Dispatcher) settle(err error, h *hook, op string) {
	if err != nil {
		d.log.Warn("dispatch: settling delivery", "webhook", h.id, "op", op, "err", err)
	}
}

// sleep waits until the injected clock reaches until, or until wake is poked or ctx ends.
func (d *Dispatcher) sleep(ctx context.Context, wake chan struct{}, until time.Time) {
	stop := d.clock.At(until, func() { poke(wake) })
	select {
	case <-wake:
	case <-ctx.Done():
	}
	stop()
}

// work is one of a hook's workers: it attempts the deliveries it is handed until jobs is
// closed.
func (d *Dispatcher) work(h *hook, jobs <-chan *Delivery) {
	w := newWorker()
	for dl := range jobs {
		d.attempt(w, h, dl)
		h.inflight.Add(-1)
		<-d.sem
		poke(h.freed)
	}
}

// worker is the reusable per-goroutine state of delivery: request, response, signing state
// and scratch buffers. Owned by one goroutine.
type worker struct {
	req    fasthttp.Request
	resp   fasthttp.Response
	cfg    *hookConfig // the configuration sign was keyed for
	sign   signer
	rng    *rand.ChaCha8
	reqID  []byte
	ts     []byte
	hub    []byte
	std    []byte
	record Attempt
}

func newWorker() *worker {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand panics instead)
	return &worker{
		rng:   newChaCha(seed),
		reqID: make([]byte, 0, 36),
		ts:    make([]byte, 0, 20),
		hub:   make([]byte, 0, 7+64),
		std:   make([]byte, 0, 2*(3+44)+1), // room for two signatures (rotation)
	}
}

func newChaCha(seed [32]byte) *rand.ChaCha8 { return rand.NewChaCha8(seed) }

// prepare builds the request for one attempt of dl at now: URL, headers and both
// signatures. It does not allocate once the worker's buffers have grown.
func (d *Dispatcher) prepare(w *worker, cfg *hookConfig, dl *Delivery, now time.Time) {
	req := &w.req
	if w.cfg != cfg {
		if w.cfg == nil || w.cfg.secret != cfg.secret || w.cfg.prev != cfg.prev {
			w.sign = newRotatingSigner(cfg.secret, cfg.prev)
		}
		w.cfg = cfg
		// What is the same for every attempt to this webhook is set once (the URL is
		// parsed once); the headers below replace their previous values.
		req.Reset()
		req.Header.DisableNormalizing()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(cfg.url)
		req.Header.SetContentType("application/json; charset=utf-8")
		req.Header.SetUserAgent(d.userAgent)
	}
	req.Header.Set("X-Event-Key", dl.Event)
	w.reqID = appendUUID(w.reqID[:0], w.rng)
	req.Header.SetBytesV("X-Request-Id", w.reqID)
	req.Header.SetBytesV("webhook-id", dl.ID[:])
	w.ts = strconv.AppendInt(w.ts[:0], now.Unix(), 10)
	req.Header.SetBytesV("webhook-timestamp", w.ts)
	body := dl.Body(cfg.full)
	if w.sign.hasSecret() {
		w.hub = w.sign.appendHub(w.hub[:0], body)
		req.Header.SetBytesV("X-Hub-Signature", w.hub)
		req.Header.SetBytesV("X-Hub-Signature-256", w.hub) // what GitHub-style receivers read
		w.std = w.sign.appendStandard(w.std[:0], dl.ID[:], w.ts, body)
		req.Header.SetBytesV("webhook-signature", w.std)
	}
	req.SetBodyRaw(body)
}

// appendUUID appends a random (version 4) UUID in its text form.
func appendUUID(dst []byte, rng *rand.ChaCha8) []byte {
	var u [16]byte
	a, b := rng.Uint64(), rng.Uint64()
	for i := 0; i < 8; i++ {
		u[i], u[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const digits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[c>>4], digits[c&15])
	}
	return dst
}

// attempt makes one attempt of dl to h, records it and settles dl.
func (d *Dispatcher) attempt(w *worker, h *hook, dl *Delivery) {
	cfg := h.cfg.Load()
	start := d.clock.Now()
	d.prepare(w, cfg, dl, start)
	took, err := d.send(w, cfg.timeout)
	now := d.clock.Now()

	status := 0
	if err == nil {
		status = w.resp.StatusCode()
	}
	reason := outcomeOf(err, status)
	ok := reason == outDelivered
	h.br.Record(ok, now.Sub(start))
	h.duration.observe(took)
	if ok {
		h.latency.observe(now.Sub(dl.Accepted))
	}
	var retryAfter time.Duration
	if reason == outThrottled {
		if retryAfter = parseRetryAfter(w.resp.Header.Peek("Retry-After"), now); retryAfter > 0 {
			h.pause(now.Add(retryAfter))
		}
	}
	if reason == outGone || (!ok && h.blockedFor(d.clock) > 0) {
		h.interruptFetch()
	}

	rec := &w.record
	*rec = Attempt{Time: start, Event: dl.Event, ID: dl.ID, Attempt: dl.Attempt, Status: status,
		Duration: took, Outcome: outcomeNames[reason]}
	if err != nil {
		rec.Error = err.Error()
	}
	h.hist.add(rec, w.resp.Body())
	h.count[reason].Add(1)
	d.conclude(w, h, cfg, dl, reason, status, retryAfter)
	if d.settled != nil {
		d.settled(h.id, rec)
	}
	w.resp.Reset()
}

// send makes the request that prepare built, within timeout: once more, on another
// connection, when the receiver closed a reused one as the request went out (fasthttp does
// not retry a POST itself). It reads at most maxResponseBody of the answer (a longer body is
// an answer, cut) and returns how long the request took.
func (d *Dispatcher) send(w *worker, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	deadline := t0.Add(timeout)
	err := d.client.DoDeadline(&w.req, &w.resp, deadline)
	if err != nil && staleConn(err, &w.resp) {
		err = d.client.DoDeadline(&w.req, &w.resp, deadline)
	}
	if err == nil {
		markServed(&w.resp)
	}
	err = readLimited(err, &w.resp)
	return time.Since(t0), err
}

// outcomeOf returns the outcome counter of an attempt that ended with err, or else with
// status: outDelivered for a 2xx, else the failure reason.
func outcomeOf(err error, status int) int {
	switch {
	case err != nil:
		switch {
		case isRefused(err):
			return outRefused
		case isTimeout(err):
			return outTimeout
		}
		return outConnection
	case status >= 200 && status < 300:
		return outDelivered
	case status == fasthttp.StatusGone:
		return outGone
	case status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable:
		return outThrottled
	case status >= 400 && status < 500:
		return outStatus4xx
	case status >= 500:
		return outStatus5xx
	}
	return outStatusOther
}

// conclude settles dl after its attempt ended with reason: Ack when delivered; Dead, and the
// webhook deactivated, on 410 Gone; else Retry after the schedule's next delay (at least
// retryAfter), or Dead once the schedule is exhausted.
func (d *Dispatcher) conclude(w *worker, h *hook, cfg *hookConfig, dl *Delivery, reason, status int, retryAfter time.Duration) {
	switch reason {
	case outDelivered:
		d.settle(d.queue.Ack(dl), h, "ack")
		return
	case outGone:
		h.count[outFailed].Add(1)
		h.count[outDead].Add(1)
		d.settle(d.queue.Dead(dl, "gone: status 410"), h, "dead")
		if h.gone.CompareAndSwap(false, true) {
			d.log.Warn("dispatch: receiver answered 410 Gone; webhook deactivated", "webhook", h.id, "name", cfg.name)
			poke(d.recheck)
		}
		return
	}
	h.count[outFailed].Add(1)
	delay, more := retryDelay(d.set.retry, dl.Attempt, float64(w.rng.Uint64()>>11)/(1<<53), retryAfter)
	if more {
		h.count[outRetried].Add(1)
		d.settle(d.queue.Retry(dl, delay), h, "retry")
		return
	}
	h.count[outDead].Add(1)
	why := "retries exhausted: " + outcomeNames[reason]
	if status != 0 {
		why += " " + strconv.Itoa(status)
	}
	id, event := dl.ID, dl.Event
	d.settle(d.queue.Dead(dl, why), h, "dead")
	d.log.Info("dispatch: delivery dead", "webhook", h.id, "id", id.String(), "event", event, "reason", why)
}
