// Package rules reads hooktap's rules file and classifies proxied exchanges into webhook
// events.
//
// The rules file is TOML with the sections [proxy], [admin], [dispatch], [classify],
// [[webhook]] and [[rule]] (see [File]). It is decoded strictly: an unknown key, a value of
// the wrong type, a bad template or expression, an unknown event name is an error naming the
// file, the line and the rule or webhook; every error in the file is reported, not just the
// first. Load decodes and validates; Compile turns the rules into an immutable [Matcher].
//
// # Rules
//
// A rule matches an exchange (a request and the upstream's answer) and emits one or more
// events:
//
//	[[rule]]
//	name   = "page created"
//	method = "POST"                       # or ["PUT", "POST"]
//	path   = "/rest/api/content"
//	status = [200]                        # default ["2xx"]
//	when   = { "req.type" = "page" }      # all conditions must hold
//
//	[[rule.emit]]
//	event   = "page_created"
//	payload = { "page.id" = "resp.id|num" }
//	full    = { "page.title" = "resp.title", "page.spaceKey" = "resp.space.key" }
//
//	[[rule.emit]]
//	event   = "content_created"
//	payload = { "content.id" = "resp.id|num" }
//
// Every rule that matches an exchange emits; rules are independent of each other and their
// order in the file does not matter.
//
// # Method
//
// method is one method or a list. The effective method is the request's, unless a POST
// carries X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override, or a form field or query
// parameter _method, naming another; then that one.
//
// # Path templates
//
// path is matched against the raw request path, segment by segment, with no normalisation:
// a literal segment matches itself, "{name}" matches any one non-empty segment and binds it,
// and a last segment "{name...}" matches the rest of the path (one or more segments) and
// binds it. "/wiki/api/v2/pages/{id}" matches "/wiki/api/v2/pages/42" and binds id = "42".
// Bound values are percent-decoded when read.
//
// # Expressions
//
// Conditions, payload values, each and lookup placeholders read values with expressions:
//
//	path.<name>        a path segment bound by the template
//	query.<name>       a query parameter (decoded); the first if repeated
//	header.<Name>      a request header (case-insensitive)
//	form.<field>       a field of a form-urlencoded or multipart request body
//	req                the JSON request body; req.<gjson path> a value in it
//	status             the upstream's status code
//	respheader.<Name>  an upstream response header
//	resp               the JSON response body; resp.<gjson path> a value in it
//	lookup.<name>      a lookup's JSON answer; lookup.<name>.<gjson path> a value in it;
//	                   lookup.<name>#status its HTTP status (0 when it failed)
//	item               the current element under each; item.<gjson path> a value in it
//	method             the effective method
//	user               the acting user (see [classify] user)
//	basic.user         the user name of the request's Basic authorization
//	now                the event time, Unix milliseconds
//	'text'             a literal string
//
// gjson paths are compiled at load time. An expression that finds nothing yields "missing".
//
// # Conditions
//
// when (on a rule, or on one emit) maps expressions to conditions, all of which must hold:
//
//	"req.type"              = "page"                    # equals (a string, number or bool)
//	"req.status"            = ["current", "draft"]      # one of
//	"resp.error"            = { exists = false }        # exists / does not exist
//	"path.title"            = { matches = "^Talk:" }    # regular expression (RE2)
//	"lookup.content.status" = { not = "trashed" }       # not equal
//	"query.status"          = { not_one_of = ["a","b"] }
//
// A missing value equals nothing and fails every condition except exists = false, not and
// not_one_of.
//
// # Payloads
//
// A payload always starts with the envelope {"timestamp":<ms>,"event":"<name>","userKey":"<user>"},
// then the payload table's keys in file order. A dotted key nests: "page.id" and "page.title"
// build {"page":{"id":...,"title":...}}. A value is an expression string, optionally followed
// by filters, or a TOML literal (number, bool). Filters:
//
//	|num     a JSON number: digits kept, a non-digit prefix stripped ("att123" -> 123)
//	|str     a JSON string
//	|bool    a JSON boolean ("true"/"1" -> true)
//	|lower   lower-cased string
//
// Without a filter, JSON sources (req, resp, lookup, item) copy the JSON value as it is, and
// text sources (path, query, header, form, ...) become JSON strings. A key whose value is
// missing is left out, and an object left empty is left out too. The full table adds keys
// for webhooks with payload = "full", merged into the same objects.
//
// # Lookups
//
//	[[rule.lookup]]
//	name  = "content"
//	path  = "/rest/api/content/{id}?status=any&expand=ancestors,space,version"
//	stage = "before"                      # or "after"
//
// A lookup is a GET to the upstream with the client's own Authorization and Cookie headers.
// {id} is a path segment of the rule; {expression} any expression. Answers are cached (an
// LRU with a TTL, [classify] cache_size and cache_ttl); a write matched by a rule drops the
// cached lookups of the objects it touches (invalidate). A lookup that fails or times out is
// counted, and the rule's on_lookup_error decides: "skip" (emit nothing) or "emit".
//
// # Concurrency
//
// A [Matcher] is immutable after Compile and safe for concurrent use. A [Classifier] holds the
// current Matcher in an atomic pointer; Reload swaps in a new one without stopping traffic.
//
// # Allocation
//
// Wants, Before and After allocate nothing per exchange in steady state: payloads are
// appended into pooled buffers, events into a reused slice, and lookups' cache entries are
// the only per-exchange memory kept.
package rules
