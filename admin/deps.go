package admin

import (
	"context"
	"time"

	"hooktap/rules"
)

// The interfaces below are what the admin server needs from the other parts. They belong here,
// with their consumer; dispatch.Dispatcher satisfies [Dispatcher] directly (a test pins it),
// and main adapts the proxy's and the classifier's counters to [ProxyStats] and
// [ClassifierStats] where their shapes differ.

// WebhookSetter takes the merged webhook set (the rules file's plus the API's) and applies
// it at once.
type WebhookSetter interface {
	// SetWebhooks replaces the set of webhooks; names are unique.
	SetWebhooks(hooks []rules.Webhook) error
}

// HistoryReader reads a webhook's recent delivery attempts.
type HistoryReader interface {
	// History appends the recent attempts of the webhook named name to dst, oldest first.
	History(name string, dst []Attempt) []Attempt
}

// StatsReader reads the dispatcher's counters.
type StatsReader interface {
	// Stats returns a snapshot of the delivery counters.
	Stats() Stats
}

// DeadLetters lists and redelivers deliveries that exhausted their retries.
type DeadLetters interface {
	// Dead appends the dead deliveries of the webhook named name to dst.
	Dead(name string, dst []DeadDelivery) []DeadDelivery
	// Redeliver queues again the dead delivery id of the webhook named name, or all of them
	// when id is "". It returns how many were queued.
	Redeliver(name, id string) (int, error)
}

// Pinger sends the test connection request.
type Pinger interface {
	// Ping POSTs {"test": true} with X-Event-Key: diagnostics:ping to url and reports the
	// answer. It never touches a breaker.
	Ping(ctx context.Context, url string) PingResult
}

// Dispatcher is everything the admin server needs from the dispatcher.
type Dispatcher interface {
	WebhookSetter
	HistoryReader
	StatsReader
	DeadLetters
	Pinger
}

// Attempt is one delivery attempt.
type Attempt struct {
	Time       time.Time
	Event      string
	DeliveryID string // the webhook-id header: the same on every attempt of one delivery
	Status     int    // 0 when no answer came
	Duration   time.Duration
	Outcome    string // "success", "failure" (non-2xx), "error" (no answer), "skipped"
	Err        string
	Response   []byte // the start of the response body
}

// DeadDelivery is a delivery that exhausted its retries.
type DeadDelivery struct {
	ID       string // the delivery id (webhook-id)
	Event    string
	Time     time.Time // when it was accepted
	Attempts int
	LastErr  string
}

// PingResult is what a test connection got.
type PingResult struct {
	Status   int
	Duration time.Duration
	Err      string
	Body     []byte
}

// Stats is a snapshot of the dispatcher's counters.
type Stats struct {
	QueueDepth int64
	OldestAge  time.Duration // age of the oldest undelivered event; 0 when none
	InFlight   int64
	Drops      map[string]uint64 // by reason
	Webhooks   map[string]HookStats
}

// HookStats are one webhook's counters.
type HookStats struct {
	Outcomes     map[string]uint64 // by outcome: success, failure, error, skipped, dead, dropped
	BreakerOpen  bool
	OpenUntil    time.Time
	Failures     int // consecutive failures
	LastDelivery time.Time
	LastStatus   int
	Dead         int
}

// ProxyStats reads the proxy's counters. Only builtin types, so that neither package imports
// the other.
type ProxyStats interface {
	// RangeRequests calls fn for each proxied request counter: method, status class (1 to 5;
	// 0 when the upstream did not answer) and count.
	RangeRequests(fn func(method string, class int, n uint64))
}

// ClassifierStats reads the classifier's counters.
type ClassifierStats interface {
	// RangeEvents calls fn with the count of each event name recognised.
	RangeEvents(fn func(name string, n uint64))
	// LookupStats returns the lookups made to the upstream and the lookup cache's hits and
	// misses.
	LookupStats() (lookups, hits, misses uint64)
}

// Checker is one readiness check: the upstream is reachable, the queue is writable.
type Checker interface {
	// Check returns nil when ready, or why not.
	Check(ctx context.Context) error
}

// CheckFunc adapts a function to [Checker].
type CheckFunc func(ctx context.Context) error

// Check calls f.
func (f CheckFunc) Check(ctx context.Context) error { return f(ctx) }

// Check is a named readiness check.
type Check struct {
	Name    string // shown in /readyz's answer: "upstream", "queue"
	Checker Checker
}

// Deps are the parts the admin server works with. Dispatcher is required; the rest may be
// zero.
type Deps struct {
	Dispatcher Dispatcher
	Proxy      ProxyStats      // nil: no proxy metrics
	Classifier ClassifierStats // nil: no event and lookup metrics
	Checks     []Check         // readiness checks; none: ready while the process runs

	// FileWebhooks are the rules file's webhooks: listed, never changed by the API.
	FileWebhooks []rules.Webhook
	// Events are the event names webhooks may subscribe to; nil means rules.Names.
	Events []string
	// DataDir is where API-made webhooks are kept (file admin-webhooks.json, mode 0600);
	// "" keeps them in memory only, lost on restart.
	DataDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}
