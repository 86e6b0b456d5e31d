package rules

// Event is one webhook event recognised in an exchange: a name from [Names] and its payload in
// the two shapes Confluence sends.
//
// An Event handed to a [Sink] is borrowed: its byte slices alias the classifier's pooled
// buffers and are valid only until Enqueue returns. A sink that keeps an event copies it.
type Event struct {
	// Name is one of the 43 Confluence event names ("page_created", ...). It is a constant
	// string from the name table, never built per request.
	Name string
	// Time is when the upstream answered, in Unix milliseconds; it is also the payload's
	// "timestamp".
	Time int64
	// Payload is the id-only JSON object (Confluence Data Center's default shape), starting
	// with {"timestamp":...,"event":...,"userKey":...}.
	Payload []byte
	// Full is the same object with the fields marked for payload = "full"; nil when the rule
	// marks none, in which case full-mode webhooks get Payload.
	Full []byte
}

// Sink accepts the events that the classifier recognises. dispatch.Dispatcher satisfies it.
type Sink interface {
	// Enqueue accepts ev (copying what it keeps) or reports why it could not. A non-nil error
	// means the event is lost and the client should be told (on_store_error = "reject"); a
	// sink configured to let such failures pass counts them and returns nil.
	Enqueue(ev *Event) error
}

// Peeker reads one header by name, case-insensitively, without allocating. The proxy
// implements it over fasthttp's headers; tests implement it over a map.
type Peeker interface {
	// Peek returns the value of the first header named name, or nil.
	Peek(name string) []byte
}

// Fetcher makes lookups: GET requests to the upstream on behalf of the client whose exchange
// is being classified, with that client's credentials (Authorization, Cookie).
type Fetcher interface {
	// Fetch GETs pathAndQuery from the upstream and appends the response body to dst. It
	// returns the status and the extended dst. A transport error or timeout is err.
	Fetch(dst []byte, pathAndQuery []byte) (status int, body []byte, err error)
}

// Exchange is what the proxy hands the classifier about one request that a rule may want. The
// proxy owns it and every slice in it; none of it may be kept after the call that received it
// returns. Response fields are zero in Before and filled in After.
type Exchange struct {
	Method     []byte // as sent by the client; method overrides are the classifier's to apply
	Path       []byte // raw path, no query, not normalised or decoded
	Query      []byte // raw query string without '?'
	Header     Peeker // request headers
	Body       []byte // the request body, or its first BodyLimit bytes
	BodyTrunc  bool   // reports whether Body was cut at the proxy's tap limit
	Status     int    // upstream status; 0 before forwarding
	RespHeader Peeker // upstream response headers; nil before forwarding
	RespBody   []byte // the upstream response body (bounded like Body); nil before forwarding
	RespTrunc  bool   // reports whether RespBody was cut at the proxy's tap limit
	Upstream   Fetcher
	RemoteAddr []byte // client IP as text

	// RespUnneeded is set by Before when no rule can match this exchange whatever the
	// upstream answers (every candidate rule's request conditions failed): the proxy then
	// passes the response through without copying its body. After must still be called.
	RespUnneeded bool

	// State belongs to the classifier between Before and After (a pointer to its own pooled
	// per-exchange state); the proxy only carries it and clears it after After.
	State any
}
