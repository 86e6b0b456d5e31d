// Package rules reads hooktap's rules file and classifies proxied exchanges into webhook
// events.
//
// The rules file is TOML with the sections [proxy], [admin], [dispatch], [classify],
// [[webhook]] and [[rule]] (see [File]). It is decoded strictly: an unknown key, a value of
// the wrong type, a bad template or expression, an unknown event name is an error naming the
// file, the line and the rule or webhook; every error in the file is reported, not just the
// first. Load decodes and validates; Compile turns the rules into an immutable [Matcher].
//
// # Errors
//
// Load and Parse return an [Errors], one [Error] per mistake in line order, printed one per
// line as
//
//	rules.toml:13: rule "page created": path "/rest/api/content/{id": segment "{id": a {name} must be a whole segment
//	rules.toml:16: rule "page created": unknown event "page_create"
//
// A good file's [File.Summary] is one line: "rules.toml: 61 rules, 43 events, 2 webhooks".
// Every section's zero fields are filled with the defaults documented in model.go.
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
// order in the file does not matter, except that the events of one exchange come out in the
// order of the rules, then of the emits. name, method, path and at least one emit are
// required; name is unique.
//
// status lists codes (201) and classes ("2xx"). The exchange must have one of them.
//
// # Method
//
// method is one method or a list, of GET POST PUT PATCH DELETE. The effective method is the
// request's, unless a POST carries X-HTTP-Method-Override, X-HTTP-Method or
// X-Method-Override, or a query parameter or form field _method, naming another (in any
// case); then that one.
//
// # Path templates
//
// path is matched against the raw request path, segment by segment, with no normalisation:
// a literal segment matches itself, "{name}" matches any one non-empty segment and binds it,
// and a last segment "{name...}" matches the rest of the path (one or more segments) and
// binds it. "/wiki/api/v2/pages/{id}" matches "/wiki/api/v2/pages/42" and binds id = "42".
// Bound values are percent-decoded when read. A template has no query: use query.<name>
// conditions. A path may match several templates ("/space/{key}" and "/space/_private");
// every matching rule emits.
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
// gjson paths are checked at load time (empty components, unbalanced brackets, unknown
// @modifiers); any gjson syntax works, including queries ("results.#(name==\"x\").id"),
// multipaths ("results.#.{id}", "[{id}]") and pipes ("ancestors|@reverse|0.id"). An
// expression that finds nothing yields "missing": an absent header, query parameter, form
// field or JSON value; a header with an empty value counts as absent, a query parameter
// with an empty value does not.
//
// A request or response body that the proxy cut at its tap limit (Exchange.BodyTrunc,
// RespTrunc) is not read as JSON: req and resp values are missing. Form fields are read from
// what was kept, a multipart part only when it ends before the cut.
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
//	"req.ancestors|@reverse|0.id" = { differs = "lookup.before.ancestors|@reverse|0.id" }
//	"req.ancestors|@reverse|0.id" = { same = "lookup.before.ancestors|@reverse|0.id" }
//
// A missing value equals nothing and fails every condition except exists = false, not and
// not_one_of. Numbers compare as numbers (2 equals 2.0 and "2" in a path or query) but a JSON
// string "2" does not equal the number 2; booleans equal JSON true/false and the text
// "true"/"false". A table may hold several tests, all of which must hold.
//
// differs and same compare two expressions as text: differs holds when both have a value and
// the values differ; same is its negation (it holds when either is missing). They detect a
// change, as a page whose parent in the request differs from its parent before the write.
//
// Conditions are checked as soon as their values are known: those reading only the request
// before forwarding (and a rule whose request conditions fail makes no lookup), those
// reading the response after, those reading a lookup after the lookup. Emit conditions are
// checked for each event (for each element under each).
//
// # Payloads
//
// A payload always starts with the envelope {"timestamp":<ms>,"event":"<name>","userKey":"<user>"},
// then the payload table's keys in file order. A dotted key nests: "page.id" and "page.title"
// build {"page":{"id":...,"title":...}}. A value is an expression string, optionally followed
// by filters, or a TOML literal (number, bool). The envelope's keys cannot be set. Filters,
// applied left to right ("req.kind|lower|str"):
//
//	|num     a JSON number: digits kept, a non-digit prefix stripped ("att123" -> 123);
//	         missing when there is no digit. On a JSON array or object, every string of
//	         digits (after a prefix) inside it becomes a number: "resp.results.#.{id}|num"
//	         gives [{"id":123},{"id":124}]
//	|str     a JSON string (JSON values other than strings as their text)
//	|bool    a JSON boolean ("true"/"1" -> true, anything else false)
//	|lower   lower-cased string
//
// Without a filter, JSON sources (req, resp, lookup, item) copy the JSON value as it is, and
// text sources (path, query, header, form, ...) become JSON strings; status, now and
// lookup.<name>#status are numbers. A key whose value is missing is left out, and an object
// left empty is left out too. The full table adds keys for webhooks with payload = "full",
// merged into the same objects after the payload's keys; a full key equal to a payload key
// replaces that value for full webhooks.
//
// each makes one event per element of the JSON array it reads from req, resp or a lookup
// ("req", "resp.results"); inside the emit, item reads the element. A value that is not an
// array emits nothing.
//
// # Lookups
//
//	[[rule.lookup]]
//	name  = "content"
//	path  = "/rest/api/content/{id}?status=any&expand=ancestors,space,version"
//	stage = "before"                      # or "after"
//	cache = true                          # default
//
// A lookup is a GET to the upstream with the client's own Authorization and Cookie headers
// (made by [Exchange].Upstream; the proxy applies [classify] lookup_timeout). {id} is a path
// segment of the rule, inserted as sent; {expression} is any expression, inserted
// percent-encoded. A before lookup may use only the request; an after lookup may also use
// the response. Answers with a 2xx status are cached by path (without query) together with
// their query, in an LRU of [classify] cache_size entries living cache_ttl; a cached answer
// is shared by every client, so a lookup whose answer depends on who asks sets
// cache = false.
//
// A write matched by a rule (method, path and status; whatever its conditions) drops the
// cached lookups of the paths in its invalidate list, templates filled like lookup paths.
// The default is the rule's own path (for a rule with a method other than GET): a PUT to
// /rest/api/content/{id} drops the cached /rest/api/content/{id}. invalidate = [] drops
// nothing.
//
// A lookup fails when the upstream cannot be reached or does not answer in time (a 404 is an
// answer: see #status). Failures are counted, and the rule's on_lookup_error decides: "skip"
// (default: emit nothing) or "emit" (emit with what is known: conditions reading the failed
// lookup are not checked, and its values are missing).
//
// # Acting user
//
// [classify] user lists expressions tried in order for the envelope's userKey (and the user
// expression); the first with a non-empty value wins. Default: the X-AUSERNAME response
// header (Confluence's), then the Basic-auth user name; "" when none has a value.
//
// # Concurrency
//
// A [Matcher] is immutable after Compile and safe for concurrent use. A [Classifier] holds the
// current Matcher in an atomic pointer; Reload swaps in a new one without stopping traffic:
// an exchange begun (Before) with one Matcher finishes (After) with it. The lookup cache is
// shared and safe for concurrent use. The Classifier starts no goroutine.
//
// # Allocation
//
// Wants, Before and After allocate nothing per exchange in steady state: payloads are
// appended into pooled buffers, events into a reused slice, and lookups' cache entries are
// the only per-exchange memory kept. (gjson queries, multipaths and modifiers allocate;
// plain paths do not.) The Events handed to the Sink alias pooled buffers and are valid only
// during Enqueue.
package rules
