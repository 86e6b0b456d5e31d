package rules

import "time"

// File is the whole rules file, as decoded from TOML. Every section is optional; a zero field
// means its documented default, which Load fills in. main passes each section to the package
// that owns that part: Proxy to proxy.New, Dispatch and Webhooks to dispatch.New, Admin to
// admin.New, Classify and Rules to Compile.
type File struct {
	Proxy    ProxySection    `toml:"proxy"`
	Admin    AdminSection    `toml:"admin"`
	Dispatch DispatchSection `toml:"dispatch"`
	Classify ClassifySection `toml:"classify"`
	Webhooks []Webhook       `toml:"webhook"`
	Rules    []Rule          `toml:"rule"`

	// Path is the file this was loaded from ("" when decoded from memory). Not in TOML.
	Path string `toml:"-"`

	// meta keeps the key order and lines found by Parse, for Compile. nil for a File built in
	// Go, whose payload keys are then taken in sorted order.
	meta *decoder
	// matcher is what Parse compiled from this File; see Matcher.
	matcher *Matcher
}

// ProxySection is [proxy]: where clients connect and the upstream wiki/CMS.
type ProxySection struct {
	Listen   string `toml:"listen"`   // default ":8080"
	Upstream string `toml:"upstream"` // required: "http://host:port" of the wiki/CMS
	// HostHeader, when set, replaces the client's Host header on forwarded requests. Default
	// "": the client's Host is kept, as wikis build absolute URLs from it.
	HostHeader string `toml:"host_header"`

	ReadTimeout     time.Duration `toml:"read_timeout"`     // client request read, body included; default 10m (large uploads)
	WriteTimeout    time.Duration `toml:"write_timeout"`    // client response write; default 10m
	IdleTimeout     time.Duration `toml:"idle_timeout"`     // client keep-alive idle; default 90s
	UpstreamTimeout time.Duration `toml:"upstream_timeout"` // upstream response headers; default 60s, then 504
	DialTimeout     time.Duration `toml:"dial_timeout"`     // upstream connect; default 3s, then 502
	MaxConns        int           `toml:"max_conns"`        // upstream connections; default 1024
	MaxHeaderBytes  int           `toml:"max_header_bytes"` // request/response header block; default 65536
	TapBodyLimit    int           `toml:"tap_body_limit"`   // bytes of a tapped request/response body kept for rules; default 1 MiB
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"` // in-flight requests' grace on SIGTERM; default 30s
}

// AdminSection is [admin]: the admin API, metrics and web page.
type AdminSection struct {
	Listen   string `toml:"listen"`    // default "127.0.0.1:8081"; "off" disables the listener
	Token    string `toml:"token"`     // bearer/basic token for writes; "" with no token_env = read-only API
	TokenEnv string `toml:"token_env"` // name of an environment variable holding the token
	// ReadToken (or the variable named by ReadTokenEnv) may read what the admin token may
	// read, and change nothing. With either token set, reads of webhooks, deliveries and
	// dead letters need one of them.
	ReadToken    string `toml:"read_token"`
	ReadTokenEnv string `toml:"read_token_env"`
}

// DispatchSection is [dispatch]: the queue and the delivery policy.
type DispatchSection struct {
	// Queue is "memory", "disk" (default: embedded JetStream in DataDir) or
	// "nats://host:4222,nats://host2:4222" (an external JetStream cluster).
	Queue   string `toml:"queue"`
	DataDir string `toml:"data_dir"` // default "./data"

	MaxInFlight        int           `toml:"max_in_flight"`          // deliveries in flight in total; default 500
	MaxInFlightPerHook int           `toml:"max_in_flight_per_hook"` // per webhook; default 64
	Timeout            time.Duration `toml:"timeout"`                // per attempt; default 20s
	Retry              []Duration    `toml:"retry"`                  // delays after each failure; default 5s,5m,30m,2h,5h,10h; [] = never retry
	OnSkip             string        `toml:"on_skip"`                // "retry" (default) | "drop" (Confluence's behaviour)
	OnStoreError       string        `toml:"on_store_error"`         // "reject" (default: 503 to the client) | "pass"
	EnqueueTimeout     time.Duration `toml:"enqueue_timeout"`        // bound on the write path's wait for the store; default 5s
	MemoryQueueSize    int           `toml:"memory_queue_size"`      // events held by queue = "memory"; default 65536
	HistorySize        int           `toml:"history_size"`           // attempts kept per webhook for the admin API; default 100

	// AllowTargets lists webhook targets that the target policy would otherwise refuse
	// (loopback, link-local, private, unique-local, unspecified, IPv4-mapped and cloud
	// metadata addresses): IP addresses ("127.0.0.1", "::1"), CIDR prefixes ("10.1.0.0/16")
	// or host names ("hooks.internal"). Default: none; public addresses are always allowed.
	AllowTargets []string `toml:"allow_targets"`

	// External NATS only.
	NATSCreds    string `toml:"nats_creds"`    // path to a .creds file
	NATSUser     string `toml:"nats_user"`     // user/password auth
	NATSPassword string `toml:"nats_password"` // or nats_password_env
	NATSPassEnv  string `toml:"nats_password_env"`
	NATSToken    string `toml:"nats_token_env"` // name of an env var holding a token

	// Stream limits (disk and nats).
	MaxAge   time.Duration `toml:"max_age"`   // how long undelivered events are kept; default 168h
	MaxBytes int64         `toml:"max_bytes"` // stream size cap in bytes; default 1 GiB (further writes are store errors)
}

// Duration is a time.Duration written in TOML as a string ("5s", "2h").
type Duration = time.Duration

// ClassifySection is [classify]: settings shared by all rules.
type ClassifySection struct {
	// User lists expressions tried in order for the acting user (the payload's "userKey");
	// the first non-empty wins. Default ["respheader.X-AUSERNAME", "basic.user"]. An
	// expression may read lookup.<name> of a Lookups entry.
	User          []string      `toml:"user"`
	CacheSize     int           `toml:"cache_size"`     // lookup cache entries; default 10000
	CacheTTL      time.Duration `toml:"cache_ttl"`      // lookup cache lifetime; default 30s
	LookupTimeout time.Duration `toml:"lookup_timeout"` // one lookup (or one per-element lookup, all elements); default 2s
	// EachLookupLimit bounds the elements a per-element lookup (Lookup.Each) looks up in one
	// exchange; further elements count as failed. Default 50.
	EachLookupLimit int `toml:"each_lookup_limit"`
	// Lookups ([[classify.lookup]]) are lookups the User expressions may read, made after
	// forwarding and only when an earlier User expression has no value; their paths may use
	// request and response expressions. Each and Stage are not allowed.
	Lookups []Lookup `toml:"lookup"`
	// RouteParam names a query parameter that carries the request's path (WordPress's
	// rest_route): at a request path listed in RouteAt (default ["/"]) a request with it is
	// matched as if its path were RoutePrefix followed by the parameter's value. Default ""
	// (none). See route.go.
	RouteParam  string   `toml:"route_param"`
	RouteAt     []string `toml:"route_at"`
	RoutePrefix string   `toml:"route_prefix"`
}

// Webhook is one [[webhook]]: a subscriber.
type Webhook struct {
	Name      string `toml:"name"`       // required, unique
	URL       string `toml:"url"`        // required, http or https
	Secret    string `toml:"secret"`     // up to 255 characters; signs deliveries; "whsec_<base64>" = Standard Webhooks form
	SecretEnv string `toml:"secret_env"` // or the name of an env variable holding it
	// PreviousSecret (or the variable PreviousSecretEnv names) is the secret being rotated
	// out: webhook-signature then carries a signature with each, new first; X-Hub-Signature
	// only the new one's. Remove it to end the rotation. Requires a secret.
	PreviousSecret    string        `toml:"previous_secret"`
	PreviousSecretEnv string        `toml:"previous_secret_env"`
	Events            []string      `toml:"events"`  // event names, or ["*"]; required
	Active            *bool         `toml:"active"`  // default true
	Payload           string        `toml:"payload"` // "id" (default) | "full"
	Timeout           time.Duration `toml:"timeout"` // per attempt; default [dispatch] timeout

	Line int `toml:"-"` // line of [[webhook]] in the file, for errors
}

// Rule is one [[rule]]: which exchanges it matches and which events it emits. The language is
// documented in doc.go.
type Rule struct {
	Name   string   `toml:"name"`   // required, unique; shown in errors, logs and metrics
	Method []string `toml:"method"` // one or more of GET POST PUT PATCH DELETE; a string is accepted too
	Path   string   `toml:"path"`   // template: "/rest/api/content/{id}/label/{name}", "/files/{rest...}"
	// Status lists the upstream statuses that count: 200, or "2xx". Default ["2xx"].
	Status []any `toml:"status"`
	// When holds conditions that must all hold: "expression" = condition (see doc.go).
	When map[string]any `toml:"when"`
	// Lookups are GETs to the upstream made before or after forwarding.
	Lookups []Lookup `toml:"lookup"`
	// OnLookupError is "skip" (default: emit nothing when a lookup fails) or "emit" (emit with
	// what is known).
	OnLookupError string `toml:"on_lookup_error"`
	// Invalidate lists path templates (filled from this rule's path segments) whose cached
	// lookups this write drops. Default: the rule's own path with the write's segments.
	Invalidate []string `toml:"invalidate"`
	// Emit lists the events the rule produces.
	Emit []Emit `toml:"emit"`
	// Ignore marks a known write that is not an event (WordPress's heartbeat, an XML-RPC
	// read): when the rule matches, the write counts as matched, so it is not an unmatched
	// write, and nothing is emitted. Such a rule has no [[rule.emit]].
	Ignore bool `toml:"ignore"`

	Line int `toml:"-"` // line of [[rule]] in the file, for errors
}

// Emit is one [[rule.emit]]: an event name and its payload template.
type Emit struct {
	Event string `toml:"event"` // one of Names
	// When holds extra conditions for this event only (label_created only when the label is new).
	When map[string]any `toml:"when"`
	// Each makes one event per element of the JSON array the expression yields ("req",
	// "resp.results"); inside the payload, "item.<path>" reads the element.
	Each string `toml:"each"`
	// Payload maps dotted keys ("page.id") to expressions; keys keep their file order, after
	// the envelope (timestamp, event, userKey) that every payload starts with.
	Payload map[string]any `toml:"payload"`
	// Full adds keys sent only to webhooks with payload = "full".
	Full map[string]any `toml:"full"`
}

// Lookup is one [[rule.lookup]].
type Lookup struct {
	Name string `toml:"name"` // read as "lookup.<name>.<gjson path>"
	// Path is the GET's path and query, with {segment} and {expression} placeholders,
	// e.g. "/rest/api/content/{id}?status=any&expand=ancestors".
	Path  string `toml:"path"`
	Stage string `toml:"stage"` // "before" (default) or "after" forwarding
	Cache *bool  `toml:"cache"` // default true
	// Each makes the lookup per element: one GET for each element of the JSON array the
	// expression yields ("req", or "resp..." with stage "after"), whose path may read item.
	// Only emits with the same each read it, each element its own answer.
	Each string `toml:"each"`
	// XMLRPC, when set, makes the lookup an XML-RPC call of this method (a POST of a
	// methodCall to Path) with Params, whose answer is read as xmlresp is; see xmlrpc.go.
	XMLRPC string `toml:"xmlrpc"`
	Params []any  `toml:"params"`
}
