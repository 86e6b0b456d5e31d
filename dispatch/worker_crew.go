package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// crew is one webhook's workers when the queue lets them fetch for themselves (a
// [sharedFetcher], the memory queue): each worker waits in Fetch for one delivery, attempts
// it and fetches again, so an event wakes one goroutine, the one that attempts it, and a
// worker with backlog waiting keeps going without parking. Up to max_in_flight_per_hook
// workers are started, on demand: a new one when the last idle worker takes a delivery,
// so that one is always waiting for the next (each does one attempt at a time, so the
// worker count is the per-hook cap).
//
// While the webhook is blocked (its breaker open or half-open, or a Retry-After pause, with
// on_skip = "retry"), fetching is what runHook's fetcher does, done by one worker at a time
// (the gate): it waits out the window, then fetches one delivery, the probe, while the
// others wait for the gate, so that the end of a window lets one request out, not one per
// worker.
type crew struct {
	d *Dispatcher
	h *hook

	wg      sync.WaitGroup // the workers but the first (runHook's own goroutine)
	idle    atomic.Int32   // workers waiting for a delivery (not holding one)
	workers atomic.Int32   // workers started; at most perHook
	gate    sync.Mutex     // held by the one worker fetching while the webhook is blocked

	mu sync.Mutex // guards fctx, fcancel
	// Fetch waits under fctx, which an attempt that blocks the webhook cancels (see
	// interruptFetch); the first worker to find it cancelled renews it.
	fctx    context.Context
	fcancel context.CancelFunc
}

// runCrew is runHook for a queue whose Fetch may be shared: it runs the webhook's first
// worker itself, starts the others as needed, and returns once every worker has returned
// (when ctx ends, when the hook is unsubscribed or gone, or when the queue closes), their
// attempts finished and settled.
func (d *Dispatcher) runCrew(ctx context.Context, h *hook) {
	c := &crew{d: d, h: h}
	c.fctx, c.fcancel = context.WithCancel(ctx)
	h.setFetchCancel(c.fcancel)
	c.workers.Store(1)
	c.idle.Store(1)
	c.work(ctx)
	c.wg.Wait()
	c.mu.Lock()
	c.fcancel()
	c.mu.Unlock()
}

// fetchCtx returns the context for the next Fetch: the current one, or a new one under ctx
// when an attempt cancelled it, reporting then that the caller should look at the webhook's
// state again before fetching.
func (c *crew) fetchCtx(ctx context.Context) (fctx context.Context, renewed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fctx.Err() != nil && ctx.Err() == nil {
		c.fcancel()
		c.fctx, c.fcancel = context.WithCancel(ctx)
		c.h.setFetchCancel(c.fcancel)
		return c.fctx, true
	}
	return c.fctx, false
}

// spawn starts one more worker unless perHook are running.
func (c *crew) spawn(ctx context.Context) {
	for {
		n := c.workers.Load()
		if int(n) >= c.d.set.perHook {
			return
		}
		if c.workers.CompareAndSwap(n, n+1) {
			break
		}
	}
	c.idle.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.work(ctx)
	}()
}

// work is one worker of the crew: it fetches a delivery, attempts it, and starts over,
// until ctx ends, the hook is gone, or the queue says to stop.
func (c *crew) work(ctx context.Context) {
	d, h := c.d, c.h
	w := newWorker()
	wake := make(chan struct{}, 1)
	buf := make([]*Delivery, 0, 1)
	for ctx.Err() == nil && !h.gone.Load() {
		fctx, renewed := c.fetchCtx(ctx)
		if renewed {
			continue // look at what cancelled it
		}
		var dl *Delivery
		var ok bool
		if !d.set.dropOnSkip && (h.br.untilNS.Load() != 0 || h.pausedUntil.Load() != 0) {
			dl, ok = c.fetchGated(ctx, fctx, wake, buf)
		} else {
			dl, ok = c.fetch(ctx, fctx, wake, buf)
		}
		if !ok {
			return
		}
		if dl == nil {
			continue
		}
		// This worker is no longer waiting: make sure another one is.
		if c.idle.Add(-1) == 0 && len(d.sem) < cap(d.sem) {
			c.spawn(ctx)
		}
		c.run(ctx, w, dl)
		c.idle.Add(1)
	}
}

// fetch fetches one delivery for an unblocked webhook. It returns nil when it only waited
// or was interrupted, and false when the worker should return.
func (c *crew) fetch(ctx, fctx context.Context, wake chan struct{}, buf []*Delivery) (*Delivery, bool) {
	d, h := c.d, c.h
	batch, err := d.queue.Fetch(fctx, h.id, buf[:0:1])
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNotSubscribed) {
			return nil, false
		}
		if fctx.Err() == nil { // else interrupted: the loop renews fctx
			d.log.Warn("dispatch: fetching deliveries", "webhook", h.id, "err", err)
			d.sleep(ctx, wake, d.clock.Now().Add(fetchErrorBackoff))
		}
		return nil, true
	}
	if len(batch) == 0 {
		return nil, true
	}
	dl := batch[0]
	batch[0] = nil
	return dl, true
}

// fetchGated is fetch while the webhook is, or was just, blocked: under the gate, it waits
// out the window, then for the probe's outcome, then fetches one delivery, as the
// fetcher's next does.
func (c *crew) fetchGated(ctx, fctx context.Context, wake chan struct{}, buf []*Delivery) (*Delivery, bool) {
	d, h := c.d, c.h
	c.gate.Lock()
	defer c.gate.Unlock()
	if ctx.Err() != nil || fctx.Err() != nil {
		return nil, true // the loop looks again
	}
	if !d.set.dropOnSkip {
		now := d.clock.Now()
		if wait := h.blockedFor(d.clock); wait > 0 {
			d.sleep(ctx, wake, now.Add(wait))
			return nil, true
		}
	}
	if h.br.room(1) <= 0 {
		select {
		case <-h.freed: // the probe's worker pokes it, after Record
		case <-ctx.Done():
		}
		return nil, true
	}
	return c.fetch(ctx, fctx, wake, buf)
}

// run makes dl's attempt once dl has a global in-flight slot and the breaker allows its
// request, or settles dl without an attempt, as the fetcher's hand and the worker's work do.
func (c *crew) run(ctx context.Context, w *worker, dl *Delivery) {
	d, h := c.d, c.h
	if wait := h.blockedFor(d.clock); wait > 0 {
		d.putBack(h, dl, wait) // see fetcher.hand
		return
	}
	if !d.acquire(ctx) {
		if ctx.Err() != nil {
			return // dl stays unacknowledged
		}
		d.skip(h, dl)
		return
	}
	if !h.br.Allow() {
		<-d.sem
		d.putBack(h, dl, h.blockedFor(d.clock))
		return
	}
	h.inflight.Add(1)
	d.attempt(w, h, dl)
	h.inflight.Add(-1)
	<-d.sem
	poke(h.freed)
}
