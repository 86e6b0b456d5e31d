package admin

import (
	"context"
	"time"

	"hooktap/dispatch"
	"hooktap/rules"
)

// The interfaces below are what the admin server needs from the other parts. They belong here,
// with their consumer; *dispatch.Dispatcher satisfies [Dispatcher] directly (a test pins it),
// and main adapts the proxy's and the classifier's counters to [ProxyStats] and
// [ClassifierStats] where their shapes differ.

// HookSetter takes the merged webhook set (the rules file's plus the API's) and applies it
// at once. Each [dispatch.Hook] carries the id that keys its breaker, counters, delivery log
// and dead letters: a rules file webhook's name, or "api-<id>" for one made through the API.
type HookSetter interface {
	// SetHooks replaces the set of webhooks; on error nothing changes.
	SetHooks(hooks []dispatch.Hook) error
}

// HistoryReader reads a webhook's recent delivery attempts.
type HistoryReader interface {
	// History returns the recent attempts to the webhook with dispatcher id id, newest first.
	History(id string) ([]dispatch.Attempt, error)
}

// StatsReader reads the dispatcher's counters.
type StatsReader interface {
	// Stats returns a snapshot; an error says the queue part is missing.
	Stats(ctx context.Context) (dispatch.Stats, error)
}

// DeadLetters lists and redelivers deliveries that exhausted their retries.
type DeadLetters interface {
	// Dead lists up to max dead letters of webhook id (max <= 0: all), oldest first.
	Dead(ctx context.Context, id string, max int) ([]dispatch.DeadLetter, error)
	// Redeliver queues one dead letter again, with the same webhook-id.
	Redeliver(ctx context.Context, id, deliveryID string) error
	// RedeliverAll queues every dead letter of webhook id again and returns how many.
	RedeliverAll(ctx context.Context, id string) (int, error)
}

// Reactivator turns on a webhook that a 410 Gone turned off.
type Reactivator interface {
	// Reactivate turns webhook id back on.
	Reactivate(id string) error
}

// Dispatcher is everything the admin server needs from the dispatcher;
// *dispatch.Dispatcher satisfies it.
type Dispatcher interface {
	HookSetter
	HistoryReader
	StatsReader
	DeadLetters
	Reactivator
}

// PingFunc sends the test connection: {"test": true} with X-Event-Key: diagnostics:ping to
// url. dispatch.Ping is one.
type PingFunc func(ctx context.Context, url string) dispatch.PingResult

// ProxyStats reads the proxy's counters. The proxy's own Stats type is not named here, so
// that admin does not import proxy; main fills a [ProxyCounters] from proxy.Stats.
type ProxyStats interface {
	// ProxyCounters returns a snapshot of the proxy's counters.
	ProxyCounters() ProxyCounters
}

// ProxyStatsFunc adapts a function to [ProxyStats].
type ProxyStatsFunc func() ProxyCounters

// ProxyCounters calls f.
func (f ProxyStatsFunc) ProxyCounters() ProxyCounters { return f() }

// ProxyCounters are the proxy's counters since start.
type ProxyCounters struct {
	Requests       []RequestCount // answered requests, by method and status class
	UpstreamErrors uint64         // answered 502: upstream unreachable or broken
	Timeouts       uint64         // answered 504: upstream too slow
	Tapped         uint64         // exchanges handed to the classifier
	TapRejected    uint64         // writes answered 503 because their event could not be stored
	TapTruncated   uint64         // tapped exchanges whose body exceeded tap_body_limit
	Upgrades       uint64         // WebSocket upgrades tunnelled
	ClientErrors   uint64         // answered 400: the client's body could not be read
}

// RequestCount is one cell of the proxied requests counter.
type RequestCount struct {
	Method string // "GET", ..., "OTHER"
	Class  string // "1xx" to "5xx"
	N      uint64
}

// ClassifierStats reads the classifier's counters; *rules.Classifier satisfies it.
type ClassifierStats interface {
	// Stats returns a snapshot of the classifier's counters.
	Stats() rules.Stats
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
	Ping       PingFunc        // test connection; nil means the dispatcher's Ping (under its target policy, see TargetChecker)
	Proxy      ProxyStats      // nil: no proxy metrics
	Classifier ClassifierStats // nil: no event and lookup metrics
	Checks     []Check         // readiness checks; none: ready while the process runs

	// Webhooks are the rules file's webhooks: listed, never changed by the API.
	Webhooks []dispatch.Webhook
	// Events are the event names webhooks may subscribe to; nil means rules.Names.
	Events []string
	// DataDir is where API-made webhooks are kept (file admin-webhooks.json, mode 0600);
	// "" keeps them in memory only, lost on restart.
	DataDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}
