package proxy

import "hooktap/rules"

// Tap is the classifier as the proxy sees it. rules.Classifier satisfies it.
//
// For every request the proxy calls Wants with the method and raw path only. When it returns
// false (every read, most writes) the request takes the pass-through path: no copy, no
// further call. When it returns true the proxy keeps a bounded copy of the request body,
// calls Before (which may make lookups through x.Upstream), forwards the request, and calls
// After with the response filled in. When Before sets x.RespUnneeded (no rule can match
// whatever the answer), the response body streams to the client uncopied and After sees
// none.
type Tap interface {
	// Wants reports whether a request with this method and raw path could match a rule.
	// It must not allocate and must not keep its arguments.
	Wants(method, path []byte) bool
	// Before runs before the request is forwarded.
	Before(x *rules.Exchange)
	// After runs once the upstream has answered, before the response goes to the client. A
	// non-nil error means an event was recognised but could not be stored, and the proxy
	// answers 503 instead of the upstream's response (the upstream write has happened; the
	// proxy logs that).
	After(x *rules.Exchange) error
}

// unmatchedRecorder is a Tap that counts the writes it did not want (rules.Classifier is
// one): the proxy reports each write it forwards untapped, with the upstream's status. It
// must not allocate in steady state and must not keep its arguments.
type unmatchedRecorder interface {
	RecordUnmatched(method, path, query []byte, status int)
}
