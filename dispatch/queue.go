package dispatch

import (
	"context"
	"encoding/hex"
	"errors"
	"time"
)

// Queue is the seam between "events accepted" (Dispatcher.Enqueue) and "deliveries attempted"
// (the per-webhook workers): publish, fetch and settle. It is shaped after a durable,
// acknowledged, redelivering queue (NATS JetStream) and implemented in memory by
// [MemoryQueue]. What Dead settles is kept in the queue's [DeadLetterStore]:
//
//   - Publish stores one event once; the queue fans it out to every subscribed webhook whose
//     filter matches the event name. JetStream: one stream, one subject per event name
//     (e.g. "hooktap.event.page_created"), the [Message] as the message (both payloads, the id
//     as Nats-Msg-Id for publish de-duplication on an external cluster, the accepted time).
//   - Each webhook is a subscription ([Subscription]): JetStream: one durable pull consumer per
//     webhook, filtered to the subjects of its events ("*" = every event subject), explicit
//     ack, MaxDeliver unlimited (the dispatcher decides when a delivery is dead), AckWait at
//     least [Subscription.AckWait].
//   - The dispatcher pulls ready deliveries per webhook with Fetch, only when it has a free
//     slot for that webhook and the webhook's breaker allows a request. A webhook whose
//     breaker is open, or that a 429/503 Retry-After paused, is simply not fetched from: its
//     backlog waits in the queue without using up attempts.
//   - Every fetched [Delivery] is settled exactly once, after the attempt's outcome is known
//     (never before): Ack (delivered, or dropped on purpose), Retry (nak with a delay: it
//     comes back from Fetch no earlier than the delay, with Attempt+1), or Dead (retries
//     exhausted: JetStream term, and the delivery is kept as a dead letter, which the
//     [DeadLetterStore] lists and puts back).
//   - A delivery fetched but never settled (crash, kill -9, shutdown past the deadline) comes
//     back after AckWait in a durable queue; receivers see the same webhook-id again.
//
// # Ownership
//
// Publish borrows the Message: the queue copies whatever it keeps before returning. A
// *Delivery returned by Fetch belongs to the queue; the dispatcher may read it (its byte
// slices included) until it passes it to Ack, Retry or Dead, and must not touch it after,
// because the queue may recycle it.
//
// # Concurrency
//
// Every method is safe for concurrent use. Fetch for one hook may be called by one goroutine
// at a time (the dispatcher's fetcher for that webhook); Fetch for different hooks runs
// concurrently. (A queue whose Fetch for one hook may be called by many goroutines at
// once, as the memory queue's, says so by an unexported method, and the dispatcher's
// workers then fetch for themselves.) Ack/Retry/Dead are called from many worker goroutines at once.
//
// # Lifecycle
//
// A Queue is built with no I/O. The dispatcher calls Open once from Run before anything else
// (JetStream: start the embedded server or connect, create or update the stream), then
// Subscribe for each active webhook, and Close once when Run returns. Publish before Open
// or after Close returns [ErrClosed]; the dispatcher makes Enqueue wait (bounded) for Open.
//
// # Choosing an implementation
//
// [New] builds the queue named by [Config].Queue ("memory" is built in; a
// durable implementation adds its case to newQueue in dispatcher.go); [NewWithQueue] takes
// any Queue that is also a [DeadLetterStore] (the store its Dead writes to), e.g. one built
// by a test. Either way the Dispatcher owns the queue: Run opens and closes it.
//
// # Errors
//
// Publish reports [ErrQueueFull] when a bounded queue cannot take another event (the memory
// queue's size, JetStream's max_bytes/max_msgs), [ErrClosed] after Close, and any other
// error (wrapped, e.g. a store timeout) as a store error. Fetch returns ctx.Err() when ctx
// ends, [ErrClosed] after Close, and [ErrNotSubscribed] when the hook has no subscription
// (removed by Unsubscribe).
type Queue interface {
	// Open starts the queue (connects, creates streams). Called once, by Run, before any
	// other method but Publish (which may race with it and then gets ErrClosed).
	Open(ctx context.Context) error

	// Publish stores m for every subscribed webhook whose event filter matches m.Event. It
	// returns once the event is stored (JetStream: the stream's publish ack), or with an
	// error. The queue bounds that wait itself by enqueue_timeout (the dispatcher passes a
	// context without deadline, so that Enqueue allocates no context per event); ctx only
	// carries cancellation. An event that no subscription matches may be discarded and is
	// not an error. Publish is on the proxy's write path: it must not allocate per event
	// beyond what storing needs, and must not wait on deliveries.
	Publish(ctx context.Context, m *Message) error

	// Subscribe creates the webhook's subscription, or updates its event filter, keeping
	// its pending deliveries and dead letters. Only events published after the first
	// Subscribe are delivered to it (JetStream: DeliverNew policy on creation).
	Subscribe(ctx context.Context, s Subscription) error

	// Unsubscribe deletes the webhook's subscription and discards its pending deliveries
	// (the count discarded is returned, for the dispatcher's drop counters). Its dead
	// letters are kept (a deactivated webhook's stay listed, and can be redelivered once
	// it subscribes again) until the queue's own bound or retention drops them, or until
	// the dispatcher purges them ([DeadLetterStore].PurgeDead) because the webhook was
	// deleted. Unsubscribing an unknown hook is not an error (0, nil).
	Unsubscribe(ctx context.Context, hook string) (discarded int, err error)

	// Fetch appends to dst up to cap(dst)-len(dst) deliveries for hook that are ready now
	// (never before their Retry delay), oldest first, waiting until at least one is ready
	// or ctx ends. Each returned delivery must be settled with Ack, Retry or Dead.
	Fetch(ctx context.Context, hook string, dst []*Delivery) ([]*Delivery, error)

	// Ack settles d as done (delivered, or dropped by policy): it is not delivered again.
	Ack(d *Delivery) error

	// Retry settles d as failed: it is fetched again, with Attempt+1, no sooner than delay
	// from now (JetStream: NakWithDelay). delay <= 0 means as soon as possible.
	Retry(d *Delivery, delay time.Duration) error

	// Dead settles d as failed for good (JetStream: Term), keeping it as a dead letter for
	// d.Hook with reason (a short, bounded text such as "retries exhausted: status 500")
	// in the queue's [DeadLetterStore].
	Dead(d *Delivery, reason string) error

	// Depth reports what the queue holds: in total and per subscribed hook.
	Depth(ctx context.Context) (QueueDepth, error)

	// Close stops the queue: blocked Fetch calls return ErrClosed. In a durable queue,
	// deliveries fetched and not yet settled stay unacknowledged and come back after
	// AckWait on the next start. Close is idempotent.
	Close() error
}

// DeadLetterStore holds the dead letters that a [Queue]'s Dead keeps, by webhook, for the
// admin API to list and put back: [MemoryQueue] and [JetStreamQueue] are both. Its methods
// are safe for concurrent use with each other and with the queue's; they fail with
// [ErrClosed] while the queue is not open (the memory queue's never do).
type DeadLetterStore interface {
	// DeadLetters lists up to max dead letters of hook (max <= 0: all), oldest first.
	DeadLetters(ctx context.Context, hook string, max int) ([]DeadLetter, error)

	// Redeliver puts the dead letter id of hook back as a pending delivery, Attempt 1 and
	// the same ID (so receivers see the same webhook-id); it returns ErrNotFound when there
	// is no such dead letter, and ErrNotSubscribed when hook has no subscription.
	Redeliver(ctx context.Context, hook string, id ID) error

	// RedeliverAll puts every dead letter of hook back, returning how many.
	RedeliverAll(ctx context.Context, hook string) (int, error)

	// PurgeDead discards every dead letter of hook and returns how many. The dispatcher
	// calls it, after Unsubscribe, for a webhook that was deleted (no longer in the
	// configuration at all; not one merely deactivated or gone), because nothing can list
	// or redeliver those dead letters any more: the admin API never reuses a deleted
	// webhook's ID. What it discards is counted as dropped, reason "dead_deleted"; an
	// unknown hook is not an error (0, nil).
	PurgeDead(ctx context.Context, hook string) (int, error)
}

// Sentinel errors of the queue seam and the dispatcher. Callers compare with errors.Is.
var (
	// ErrQueueFull: the queue is at its bound and did not store the event.
	ErrQueueFull = errors.New("dispatch: queue full")
	// ErrClosed: the queue or dispatcher is not running (not yet opened, or shut down).
	ErrClosed = errors.New("dispatch: closed")
	// ErrNotSubscribed: Fetch (or a redelivery) for a hook with no subscription.
	ErrNotSubscribed = errors.New("dispatch: hook not subscribed")
	// ErrNotFound: no such webhook or dead letter.
	ErrNotFound = errors.New("dispatch: not found")
	// ErrStore: the queue failed to store an event for a reason other than being full (the
	// wrapped cause says which); Enqueue wraps store errors with it.
	ErrStore = errors.New("dispatch: store error")
)

// IDLen is the length of an [ID] in bytes.
const IDLen = 32

// ID identifies one accepted event, and so every delivery made of it: it is sent as
// webhook-id, the same on every attempt and redelivery, and the same to every webhook that
// receives the event (as Standard Webhooks' message id). It is 32 lowercase hex digits: 16
// chosen at random when the Dispatcher is built, then a 16-digit sequence number, so IDs are
// unique across restarts and across hooktap instances sharing one queue. It is a value (no
// allocation to make or copy); String and [ParseID] convert at the edges (admin API, NATS
// headers).
type ID [IDLen]byte

// String returns the ID as text.
func (id ID) String() string { return string(id[:]) }

// IsZero reports whether id is the zero ID (no ID).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the text form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != IDLen {
		return id, errors.New("dispatch: bad delivery id: want 32 hex digits")
	}
	var scratch [IDLen / 2]byte
	if _, err := hex.Decode(scratch[:], []byte(s)); err != nil {
		return id, errors.New("dispatch: bad delivery id: want 32 hex digits")
	}
	for i := 0; i < IDLen; i++ {
		if s[i] >= 'A' && s[i] <= 'F' {
			return id, errors.New("dispatch: bad delivery id: want lowercase hex")
		}
	}
	copy(id[:], s)
	return id, nil
}

// Message is one accepted event as the queue stores it.
type Message struct {
	// ID is the event's stable id (see [ID]).
	ID ID
	// Event is the event name, one of rules.Names (a constant string).
	Event string
	// Time is the event's time in Unix milliseconds (the payload's "timestamp").
	Time int64
	// Accepted is when Enqueue accepted the event (first-accepted time; JetStream: the
	// stream message's timestamp). Used for the oldest-age gauge and the delivery log.
	Accepted time.Time
	// Payload is the id-only JSON body.
	Payload []byte
	// Full is the body for webhooks with payload = "full"; nil when it equals Payload.
	Full []byte
}

// Body returns the bytes a webhook with the given payload mode receives.
func (m *Message) Body(full bool) []byte {
	if full && m.Full != nil {
		return m.Full
	}
	return m.Payload
}

// Delivery is one message to be delivered to one webhook: the unit that Fetch returns and
// Ack/Retry/Dead settle. Its Message fields (byte slices included) are valid until settled.
type Delivery struct {
	Message
	// Hook is the webhook's ID (see [Hook]).
	Hook string
	// Attempt is the number of this attempt, from 1: 1 + the number of times this delivery
	// was fetched and then retried or left unacknowledged (JetStream: NumDelivered). A
	// redelivered dead letter starts again at 1.
	Attempt int

	// q is the queue implementation's own handle for settling (memory: its entry state;
	// JetStream: the jetstream.Msg). Only the queue that returned the delivery reads it.
	q any
	// due is when the delivery is ready (memory queue: Retry's deadline). Owned by the queue.
	due time.Time
	// heapIndex is the delivery's place in the memory queue's delayed heap (-1 if none).
	heapIndex int
}

// Subscription is a webhook as the queue sees it.
type Subscription struct {
	// Hook is the webhook's ID, unique, stable across reloads (see [Hook]). A queue that
	// needs restricted names (JetStream durable names: no '.', '*', '>', spaces) maps it
	// itself, e.g. to a hash, and keeps the mapping deterministic.
	Hook string
	// Events are event names from rules.Names, or the single element "*" for every event.
	Events []string
	// AckWait is the longest the dispatcher may hold a fetched delivery before settling it
	// (the attempt timeout plus the wait for an in-flight slot, plus margin). A durable
	// queue redelivers a delivery held longer.
	AckWait time.Duration
}

// DeadLetter is a delivery that exhausted its retries (or was dead-lettered on purpose).
type DeadLetter struct {
	ID       ID
	Hook     string
	Event    string
	Time     int64     // event time, Unix ms
	Accepted time.Time // first accepted
	Died     time.Time // when it was dead-lettered
	Attempts int       // attempts made
	Reason   string    // why: "retries exhausted: status 500", "gone: status 410", ...
}

// QueueDepth is what a queue holds, for the admin API and metrics.
type QueueDepth struct {
	// Events is the number of events stored (memory: messages held by at least one
	// pending or dead delivery; JetStream: stream messages).
	Events int
	// Bytes is the payload bytes stored (approximate for JetStream: stream bytes).
	Bytes int64
	// Oldest is the Accepted time of the oldest event stored; zero when empty.
	Oldest time.Time
	// Hooks has one entry per subscribed hook.
	Hooks map[string]HookDepth
	// Evicted is the total of HookDepth.Evicted since the queue opened, unsubscribed
	// hooks included (a counter: it never decreases).
	Evicted int
	// DeadEvicted is the total of HookDepth.DeadEvicted since the queue opened (a
	// counter); 0 for a queue whose dead letters are dropped only by retention it does
	// not count.
	DeadEvicted int
}

// HookDepth is one hook's share of a queue.
type HookDepth struct {
	Pending int       // waiting to be fetched (ready now or delayed by Retry)
	Fetched int       // fetched and not yet settled (JetStream: NumAckPending)
	Dead    int       // dead letters kept
	Oldest  time.Time // Accepted time of the oldest pending or fetched delivery; zero if none
	// Evicted counts pending deliveries the queue itself dropped to make room for new
	// events (memory queue: the oldest of the longest backlog when full); 0 for a queue
	// that never drops what it accepted.
	Evicted int
	// DeadEvicted counts dead letters the queue itself dropped to stay within its
	// dead-letter bound (memory queue: the oldest of the hook with the most).
	DeadEvicted int
}
