package dispatch

import (
	"context"
	"fmt"
	"time"
)

// Stats is a snapshot of the dispatcher for the admin API and metrics.
type Stats struct {
	Accepted uint64 // events accepted by Enqueue
	// NoSubscriber counts the events Enqueue did not store because no subscribed webhook
	// wants them (memory queue and embedded JetStream; an external stream gets them all).
	NoSubscriber uint64
	InFlight     int               // attempts in flight across all webhooks
	Drops        map[string]uint64 // events or deliveries given up without an attempt, by reason
	// Queue is what the queue holds; QueueAge is now − Queue.Oldest (0 when empty).
	Queue    QueueDepth
	QueueAge time.Duration
	Hooks    []HookStats // in configuration order
}

// HookStats is one webhook's numbers.
type HookStats struct {
	ID     string
	Name   string
	URL    string
	Events []string
	Active bool // configured active
	Gone   bool // deactivated by a 410 Gone (Reactivate turns it back on)

	Delivered uint64 // 2xx
	Failed    uint64 // failed attempts (see Failures for why)
	Retried   uint64 // failed attempts scheduled again
	Dead      uint64 // deliveries given up (retries exhausted, or 410)
	Skipped   uint64 // deliveries dropped unattempted (on_skip = "drop")
	Evicted   uint64 // pending deliveries the queue dropped to make room (memory queue, when full)
	// DeadEvicted counts dead letters the queue dropped to stay within its dead-letter
	// bound (memory queue: the oldest of the webhook with the most).
	DeadEvicted uint64
	// Failures counts failed attempts by reason: status_4xx, status_5xx, status_other,
	// throttled (429/503), gone (410), timeout, connection.
	Failures map[string]uint64

	Breaker     BreakerState
	PausedUntil time.Time // Retry-After pause; zero when none
	InFlight    int
	Depth       HookDepth // the hook's share of the queue (zero when not subscribed)

	// Latency is the time from the event's acceptance to its 2xx, per delivered delivery
	// (retries included); AttemptDuration is request to response (or error), per attempt.
	Latency         Histogram
	AttemptDuration Histogram
}

// Stats returns a snapshot. The queue part comes from Queue.Depth; its error is returned
// with the rest of the snapshot filled in.
func (d *Dispatcher) Stats(ctx context.Context) (Stats, error) {
	s := Stats{
		Accepted:     d.accepted.Load(),
		NoSubscriber: d.noSubscriber.Load(),
		InFlight:     len(d.sem),
		Drops:        make(map[string]uint64, numDrops),
	}
	for i := range d.drops {
		s.Drops[dropNames[i]] = d.drops[i].Load()
	}
	qd, err := d.queue.Depth(ctx)
	if err != nil {
		err = fmt.Errorf("dispatch: queue depth: %w", err)
	}
	s.Queue = qd
	s.Drops["evicted"] = uint64(qd.Evicted)
	s.Drops["dead_evicted"] = uint64(qd.DeadEvicted)
	now := d.clock.Now()
	if !qd.Oldest.IsZero() {
		s.QueueAge = now.Sub(qd.Oldest)
	}
	d.mu.Lock()
	hooks := make([]*hook, 0, len(d.order))
	for _, id := range d.order {
		hooks = append(hooks, d.hooks[id])
	}
	d.mu.Unlock()
	for _, h := range hooks {
		cfg := h.cfg.Load()
		hs := HookStats{
			ID: h.id, Name: cfg.name, URL: cfg.url, Events: append([]string(nil), cfg.events...),
			Active: cfg.active, Gone: h.gone.Load(),
			Delivered:       h.count[outDelivered].Load(),
			Failed:          h.count[outFailed].Load(),
			Retried:         h.count[outRetried].Load(),
			Dead:            h.count[outDead].Load(),
			Skipped:         h.count[outSkipped].Load(),
			Evicted:         uint64(qd.Hooks[h.id].Evicted),
			DeadEvicted:     uint64(qd.Hooks[h.id].DeadEvicted),
			Failures:        make(map[string]uint64),
			Breaker:         h.br.state(),
			InFlight:        int(h.inflight.Load()),
			Depth:           qd.Hooks[h.id],
			Latency:         h.latency.snapshot(),
			AttemptDuration: h.duration.snapshot(),
		}
		for i := outStatus4xx; i < numOutcomes; i++ {
			hs.Failures[outcomeNames[i]] = h.count[i].Load()
		}
		if p := h.pausedUntil.Load(); p > now.UnixNano() {
			hs.PausedUntil = time.Unix(0, p)
		}
		s.Hooks = append(s.Hooks, hs)
	}
	return s, err
}

// History returns the last history_size attempts to webhook id, newest first.
func (d *Dispatcher) History(id string) ([]Attempt, error) {
	h := d.hook(id)
	if h == nil {
		return nil, ErrNotFound
	}
	return h.hist.list(), nil
}

// Dead lists up to max dead letters of webhook id (max <= 0: all), oldest first.
func (d *Dispatcher) Dead(ctx context.Context, id string, max int) ([]DeadLetter, error) {
	if d.hook(id) == nil {
		return nil, ErrNotFound
	}
	return d.dead.DeadLetters(ctx, id, max)
}

// Redeliver puts one dead letter of webhook id back in its queue, as attempt 1 with the same
// webhook-id. deliveryID is the text form of the [ID].
func (d *Dispatcher) Redeliver(ctx context.Context, id, deliveryID string) error {
	h := d.hook(id)
	if h == nil {
		return ErrNotFound
	}
	did, err := ParseID(deliveryID)
	if err != nil {
		return err
	}
	if err := d.dead.Redeliver(ctx, id, did); err != nil {
		return fmt.Errorf("dispatch: redeliver %s to %q: %w", deliveryID, id, err)
	}
	return nil
}

// RedeliverAll puts every dead letter of webhook id back in its queue and returns how many.
func (d *Dispatcher) RedeliverAll(ctx context.Context, id string) (int, error) {
	if d.hook(id) == nil {
		return 0, ErrNotFound
	}
	n, err := d.dead.RedeliverAll(ctx, id)
	if err != nil {
		return n, fmt.Errorf("dispatch: redeliver all to %q: %w", id, err)
	}
	return n, nil
}
