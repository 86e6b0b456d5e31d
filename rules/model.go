package rules

import "time"

// File is the rules' part of a rules file, [classify] and the [[rule]]s, as decoded from TOML:
// what Compile compiles. The other sections belong to the packages that run them; package
// config decodes the whole file and embeds a File in its own. Every field is optional; a
// zero field means its documented default, which Parse fills in.
type File struct {
	Classify ClassifySection `toml:"classify"`
	Rules    []Rule          `toml:"rule"`

	// Path is the file this was loaded from ("" when decoded from memory). Not in TOML.
	Path string `toml:"-"`

	// meta keeps the key order and lines found by Parse, for Compile. nil for a File built in
	// Go, whose payload keys are then taken in sorted order.
	meta *decoder
	// matcher is what Parse compiled from this File; see Matcher.
	matcher *Matcher
}

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
	// RepeatedParams says which value query.<name> and form.<name> read when a parameter
	// or form field is sent more than once: "first" (default: Java servlets, Confluence) or
	// "last" (PHP: MediaWiki, WordPress), so that the rules read what the backend acts on.
	RepeatedParams string `toml:"repeated_params"`
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
