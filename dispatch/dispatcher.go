package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// An Option sets something of a Dispatcher that is not in Config because no rules file says
// it.
type Option func(*Dispatcher)

// WithVersion makes every attempt's User-Agent hooktap/<v> (default: hooktap/dev).
func WithVersion(v string) Option {
	return func(d *Dispatcher) { d.userAgent = "hooktap/" + v }
}

const (
	// inFlightSkipWait is how long a delivery waits for a global in-flight slot before it
	// is skipped when on_skip = "drop" (Confluence's dispatchTimeout).
	inFlightSkipWait = 250 * time.Millisecond
	// maxResponseBody is the most of a response body the client reads: what is kept per
	// attempt in the delivery log. A longer body is not read further (the connection is
	// closed), so an attempt holds at most this much whatever the receiver sends; the
	// status decides the outcome (see readLimited).
	maxResponseBody = 16 << 10
	// fetchErrorBackoff is the pause after a failed Fetch before the next one.
	fetchErrorBackoff = time.Second
)

// Hook is a webhook as the dispatcher runs it: a runtime identity plus its configuration.
// ID is the key of everything per-webhook (queue subscription, breaker, counters, delivery
// log, dead letters) and must be stable across reloads for those to carry over; webhooks
// from the rules file use their name (see [Dispatcher.SetWebhooks]), the admin API gives the
// webhooks it creates IDs of its own (e.g. "api-7") and may rename them freely.
type Hook struct {
	ID      string // unique; "" means Webhook.Name
	Webhook Webhook
}

// Dispatcher accepts events (Enqueue), keeps them in a [Queue] and delivers them to the
// webhooks subscribed to them. See the package documentation.
type Dispatcher struct {
	set       settings
	log       *slog.Logger
	queue     Queue
	dead      DeadLetterStore // the queue's dead letters: queue itself
	clock     clock
	client    *fasthttp.Client
	userAgent string
	policy    atomic.Pointer[TargetPolicy] // set.policy, plus hooktap's own listeners
	idPrefix  [IDLen / 2]byte              // random hex, per Dispatcher
	seq       atomic.Uint64                // ID sequence
	msgPool   sync.Pool                    // *Message, for Enqueue
	sem       chan struct{}                // global in-flight slots; never closed

	started atomic.Bool   // Run was called
	open    atomic.Bool   // the queue is open and Run is not shutting down
	ready   chan struct{} // closed once the queue is open
	stopped chan struct{} // closed when Run starts shutting down

	accepted atomic.Uint64
	drops    [numDrops]atomic.Uint64

	// interest holds the events the subscribed webhooks want, as bits of eventIndex
	// (allEvents for "*"), set by reconcile. When the queue is this process's own (local),
	// Enqueue counts an event no one wants in noSubscriber instead of storing it: a rule
	// whose events nobody subscribes to costs no store round trip on the client's write.
	interest     atomic.Uint64
	local        bool
	noSubscriber atomic.Uint64

	mu      sync.Mutex       // guards hooks, order, running
	hooks   map[string]*hook // by ID
	order   []string         // IDs in configuration order
	running bool             // Run's loop accepts reload requests

	reload  chan chan error // SetHooks -> Run
	recheck chan struct{}   // 1-buffered: a hook went gone or was reactivated

	// settled, when set (by tests, before Run), is called after every attempt (a non-nil
	// Attempt) and every skip (nil), once the delivery is settled.
	settled func(hookID string, a *Attempt)
}

// Drop reasons: every event or delivery given up without an attempt is counted under one.
const (
	dropQueueFull    = iota // Enqueue: the queue is at its bound
	dropStoreError          // Enqueue: the queue failed to store the event
	dropClosed              // Enqueue: not running (before Run or during shutdown)
	dropSkipped             // on_skip = "drop": breaker open, Retry-After pause or no in-flight slot
	dropUnsubscribed        // pending deliveries discarded when a webhook was removed or deactivated
	dropDeadDeleted         // dead letters discarded (PurgeDead) when a webhook was deleted
	numDrops
)

var dropNames = [numDrops]string{"queue_full", "store_error", "closed", "skipped", "unsubscribed", "dead_deleted"}

// New fills cfg's defaults, checks cfg (see [Config.Validate]) and hooks (see
// [Webhook.Validate]) and returns a Dispatcher with the queue that cfg.Queue names. It does
// no I/O and starts no goroutines; Run does.
// secret_env is read from the environment here (and on each SetWebhooks).
func New(cfg Config, hooks []Webhook, log *slog.Logger, opts ...Option) (*Dispatcher, error) {
	set, err := resolveSettings(cfg)
	if err != nil {
		_, _, herr := resolveHooks(fromWebhooks(hooks), set.timeout, set.policy)
		return nil, errors.Join(err, herr)
	}
	q, err := newQueue(cfg, set, log)
	if err != nil {
		_, _, herr := resolveHooks(fromWebhooks(hooks), set.timeout, set.policy)
		return nil, errors.Join(err, herr)
	}
	return newDispatcher(set, fromWebhooks(hooks), q, log, realClock{}, opts...)
}

// NewWithQueue is New with a queue built by the caller (cfg.Queue is then ignored), which
// must also be the [DeadLetterStore] of the dead letters its Dead keeps. The Dispatcher owns
// q: Run opens it and closes it.
func NewWithQueue(cfg Config, hooks []Webhook, q Queue, log *slog.Logger, opts ...Option) (*Dispatcher, error) {
	if q == nil {
		return nil, errors.New("dispatch: nil queue")
	}
	s, ok := q.(store)
	if !ok {
		return nil, fmt.Errorf("dispatch: queue %T keeps no dead letters (not a DeadLetterStore)", q)
	}
	set, err := resolveSettings(cfg)
	if err != nil {
		return nil, err
	}
	return newDispatcher(set, fromWebhooks(hooks), s, log, realClock{}, opts...)
}

// store is what a Dispatcher runs on: a [Queue] and the [DeadLetterStore] its Dead keeps
// dead letters in.
type store interface {
	Queue
	DeadLetterStore
}

// newQueue builds the queue that cfg names: "memory", or a JetStream queue for "disk" (the
// default) and nats:// URLs. Neither does I/O here.
func newQueue(cfg Config, set settings, log *slog.Logger) (store, error) {
	if set.queue == "memory" {
		return NewMemoryQueue(set.queueSize), nil
	}
	q, err := NewJetStreamQueue(cfg, log)
	if err != nil {
		return nil, err
	}
	return q, nil
}

func newDispatcher(set settings, hooks []Hook, q store, log *slog.Logger, c clock, opts ...Option) (*Dispatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		set:       set,
		log:       log,
		queue:     q,
		dead:      q,
		clock:     c,
		userAgent: defaultUserAgent,
		sem:       make(chan struct{}, set.maxInFlight),
		ready:     make(chan struct{}),
		stopped:   make(chan struct{}),
		hooks:     make(map[string]*hook),
		reload:    make(chan chan error),
		recheck:   make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(d)
	}
	d.local = isLocal(q)
	d.msgPool.New = func() any { return new(Message) }
	var rnd [IDLen / 4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("dispatch: id prefix: %w", err)
	}
	hex.Encode(d.idPrefix[:], rnd[:])
	d.policy.Store(set.policy)
	d.client = &fasthttp.Client{
		MaxConnsPerHost:               set.maxInFlight,
		MaxConnWaitTimeout:            set.timeout,
		MaxIdleConnDuration:           idleConnTimeout,
		DialTimeout:                   d.dial,
		MaxResponseBodySize:           maxResponseBody,
		NoDefaultUserAgentHeader:      true,
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: true,
	}
	if err := d.SetHooks(hooks); err != nil {
		return nil, err
	}
	return d, nil
}

// SetWebhooks replaces the set of webhooks with those of a rules file, each identified by its
// name. See SetHooks.
func (d *Dispatcher) SetWebhooks(hooks []Webhook) error {
	return d.SetHooks(fromWebhooks(hooks))
}

// SetHooks replaces the set of webhooks (a reload, or the admin API adding, changing or
// removing one). Every hook is checked first; on any error nothing changes and all errors are
// returned, joined. A hook whose ID is kept keeps its breaker, counters, delivery log,
// pending deliveries and dead letters, with its new configuration used from its next
// attempt. A removed or newly inactive hook stops being fetched and its pending deliveries
// are discarded (counted as dropped, reason "unsubscribed"); a new or newly active one gets
// the events accepted after SetHooks returns. While Run is running, SetHooks returns once
// the queue's subscriptions are updated.
func (d *Dispatcher) SetHooks(hooks []Hook) error {
	ids, cfgs, err := resolveHooks(hooks, d.set.timeout, d.set.policy)
	if err != nil {
		return err
	}
	d.mu.Lock()
	next := make(map[string]*hook, len(ids))
	for i, id := range ids {
		h := d.hooks[id]
		if h == nil {
			h = d.newHook(id)
		} else if h.gone.Load() && h.cfg.Load().url != cfgs[i].url {
			h.gone.Store(false) // a new URL: the receiver that said 410 is not this one
		}
		h.cfg.Store(cfgs[i])
		next[id] = h
	}
	d.hooks, d.order = next, ids
	running := d.running
	d.mu.Unlock()
	if !running {
		return nil
	}
	done := make(chan error, 1)
	select {
	case d.reload <- done:
		return <-done
	case <-d.stopped:
		return ErrClosed
	}
}

// Reactivate turns a webhook that a 410 Gone deactivated back on (a reload keeps it
// deactivated unless it changes the webhook's URL).
func (d *Dispatcher) Reactivate(id string) error {
	h := d.hook(id)
	if h == nil {
		return ErrNotFound
	}
	if h.gone.CompareAndSwap(true, false) {
		poke(d.recheck)
	}
	return nil
}

func (d *Dispatcher) hook(id string) *hook {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hooks[id]
}

// Enqueue accepts ev for delivery to every active webhook subscribed to ev.Name: it copies ev
// into the queue (the queue's own bound applies to the wait) and returns. It does not
// allocate in the steady state. When the event cannot be stored, the drop is counted by
// reason and, with on_store_error = "reject", Enqueue returns ErrQueueFull, ErrClosed, or
// an error wrapping ErrStore; with "pass" it returns nil. Before Run has opened the queue,
// Enqueue waits for it up to enqueue_timeout. An event that no subscribed webhook wants is
// counted (Stats.NoSubscriber) and not stored, unless the queue is an external NATS stream.
func (d *Dispatcher) Enqueue(ev *rules.Event) error {
	if !d.open.Load() {
		if err := d.waitOpen(); err != nil {
			return d.dropped(dropClosed, err)
		}
	}
	if d.local {
		if bit, ok := eventIndex[ev.Name]; ok && d.interest.Load()&(1<<bit) == 0 {
			d.noSubscriber.Add(1)
			return nil
		}
	}
	m := d.msgPool.Get().(*Message)
	d.nextID(&m.ID)
	m.Event, m.Time, m.Accepted = ev.Name, ev.Time, d.clock.Now()
	m.Payload, m.Full = ev.Payload, ev.Full
	err := d.queue.Publish(context.Background(), m)
	*m = Message{}
	d.msgPool.Put(m)
	switch {
	case err == nil:
		d.accepted.Add(1)
		return nil
	case errors.Is(err, ErrQueueFull):
		return d.dropped(dropQueueFull, ErrQueueFull)
	case errors.Is(err, ErrClosed):
		return d.dropped(dropClosed, ErrClosed)
	default:
		return d.dropped(dropStoreError, fmt.Errorf("%w: %w", ErrStore, err))
	}
}

var _ rules.Sink = (*Dispatcher)(nil)

func (d *Dispatcher) dropped(reason int, err error) error {
	d.drops[reason].Add(1)
	if d.set.passStoreErrors {
		return nil
	}
	return err
}

func (d *Dispatcher) waitOpen() error {
	select {
	case <-d.stopped:
		return ErrClosed
	default:
	}
	t := time.NewTimer(d.set.enqueueTimeout)
	defer t.Stop()
	select {
	case <-d.ready:
		if d.open.Load() {
			return nil
		}
		return ErrClosed
	case <-d.stopped:
		return ErrClosed
	case <-t.C:
		return ErrClosed
	}
}

// nextID writes a fresh ID: the Dispatcher's random prefix and the next sequence number.
func (d *Dispatcher) nextID(id *ID) {
	copy(id[:], d.idPrefix[:])
	const digits = "0123456789abcdef"
	n := d.seq.Add(1)
	for i := IDLen - 1; i >= IDLen/2; i-- {
		id[i] = digits[n&15]
		n >>= 4
	}
}

// Run opens the queue, subscribes the active webhooks and delivers until ctx ends. Then it
// stops intake (Enqueue returns ErrClosed), stops fetching, lets the attempts in flight
// finish (each is bounded by its timeout) and settle, leaves everything else unacknowledged
// in the queue, closes the queue and returns. It returns an error only when the queue cannot
// be opened. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("dispatch: Run called twice")
	}
	defer d.queue.Close()
	if err := d.queue.Open(ctx); err != nil {
		close(d.stopped)
		return fmt.Errorf("dispatch: opening queue: %w", err)
	}
	hookCtx, stopHooks := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	running := make(map[string]*runningHook)
	known := make(map[string]bool) // hook IDs configured at the last reconcile

	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	d.reconcile(hookCtx, &wg, running, known)
	d.open.Store(true)
	close(d.ready)

	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case done := <-d.reload:
			done <- d.reconcile(hookCtx, &wg, running, known)
		case <-d.recheck:
			if err := d.reconcile(hookCtx, &wg, running, known); err != nil {
				d.log.Warn("dispatch: updating subscriptions", "err", err)
			}
		}
	}

	d.open.Store(false)
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
	close(d.stopped)
	stopHooks()
	wg.Wait()
	return nil
}

// runningHook is a hook's fetcher as Run tracks it. Owned by Run.
type runningHook struct {
	h      *hook
	cancel context.CancelFunc
	events []string // the filter last subscribed
}

// reconcile makes the queue's subscriptions and the running fetchers match the configured
// hooks, and purges the dead letters of hooks deleted since the last call (known holds the
// IDs configured then, and is updated). Called only by Run.
func (d *Dispatcher) reconcile(ctx context.Context, wg *sync.WaitGroup, running map[string]*runningHook, known map[string]bool) error {
	d.mu.Lock()
	want := make(map[string]*hook, len(d.hooks))
	var deleted []string
	for id := range known {
		if d.hooks[id] == nil {
			deleted = append(deleted, id)
			delete(known, id)
		}
	}
	for id, h := range d.hooks {
		known[id] = true
		if h.cfg.Load().active && !h.gone.Load() {
			want[id] = h
		}
	}
	d.mu.Unlock()

	var errs []error
	for id, r := range running {
		if want[id] == r.h {
			continue
		}
		r.cancel()
		delete(running, id)
		n, err := d.queue.Unsubscribe(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("dispatch: unsubscribing %q: %w", id, err))
		}
		d.drops[dropUnsubscribed].Add(uint64(n))
	}
	// After Unsubscribe: attempts still in flight to a deleted hook settle into nothing, so
	// no dead letter of it is left behind.
	for _, id := range deleted {
		n, err := d.dead.PurgeDead(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("dispatch: purging dead letters of %q: %w", id, err))
		}
		d.drops[dropDeadDeleted].Add(uint64(n))
	}
	for id, h := range want {
		cfg := h.cfg.Load()
		r := running[id]
		if r != nil && slices.Equal(r.events, cfg.events) {
			continue
		}
		sub := Subscription{Hook: id, Events: cfg.events, AckWait: cfg.timeout + d.set.timeout + 30*time.Second}
		if err := d.queue.Subscribe(ctx, sub); err != nil {
			errs = append(errs, fmt.Errorf("dispatch: subscribing %q: %w", id, err))
			continue
		}
		if r != nil {
			r.events = cfg.events
			continue
		}
		hctx, cancel := context.WithCancel(ctx)
		running[id] = &runningHook{h: h, cancel: cancel, events: cfg.events}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.runHook(hctx, h)
		}()
	}
	d.interest.Store(interestOf(running))
	return errors.Join(errs...)
}

// allEvents is the interest of a webhook subscribed to "*".
const allEvents = ^uint64(0)

// interestOf returns the events the running hooks are subscribed to, as bits of eventIndex.
func interestOf(running map[string]*runningHook) uint64 {
	var m uint64
	for _, r := range running {
		for _, e := range r.events {
			if e == "*" {
				return allEvents
			}
			if bit, ok := eventIndex[e]; ok {
				m |= 1 << bit
			}
		}
	}
	return m
}

// isLocal reports whether q's subscriptions are all this process's: the memory queue and
// the embedded JetStream server. An external NATS stream may have consumers that other
// instances subscribed, so every event is published to it.
func isLocal(q store) bool {
	switch q := q.(type) {
	case *MemoryQueue:
		return true
	case *JetStreamQueue:
		return q.external == nil
	}
	return false
}
