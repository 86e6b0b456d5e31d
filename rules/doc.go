// Package rules reads hooktap's rules file and classifies proxied exchanges into webhook
// events.
//
// The rules file is TOML with the sections [proxy], [admin], [dispatch], [classify],
// [[webhook]] and [[rule]]. Package config loads the whole file; this package owns
// [classify] and the rules ([File]) and the strict decoding with lines that every section is
// decoded with ([Doc]): an unknown key, a value of the wrong type, a bad template or
// expression, an unknown event name is an error naming the file, the line and the rule;
// every error in the file is reported, not just the first. [FromDoc] (or Parse, for a file
// of rules alone) decodes and validates the rules and compiles them, once, into an
// immutable [Matcher] ([File.Matcher]); Compile compiles a File built in Go.
//
// # Errors
//
// Parse, Load and config's loader return an [Errors], one [Error] per mistake in line order,
// printed one per line as
//
//	rules.toml:13: rule "page created": path "/rest/api/content/{id": segment "{id": a {name} must be a whole segment
//	rules.toml:16: rule "page created": unknown event "page_create"
//
// The zero fields of [classify] and of the rules are filled with the defaults documented in
// model.go; the other sections' are their packages' (see package config).
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
// order of the rules, then of the emits. name, method, path and at least one emit (or
// ignore = true, below) are required; name is unique.
//
// status lists codes (201) and classes ("2xx"). The exchange must have one of them.
//
// # Known writes that are not events
//
// A write the upstream accepted (2xx or 3xx) that no rule matched is counted as an unmatched
// write (see unmatched.go), so that a gap in the rules is never silent. Some writes are known
// and change nothing worth reporting: a refused call the wiki answers 200 with an error in
// the body, a preview, a null edit, WordPress's heartbeat, an XML-RPC read. A rule with
// ignore = true and no [[rule.emit]] says so: when it matches (method, path, status and
// conditions, as any rule), the write counts as matched and nothing is emitted.
//
//	[[rule]]
//	name   = "refused API call"
//	method = "POST"
//	path   = "/api.php"
//	when   = { "resp.error" = { exists = true } }
//	ignore = true
//
// hooktap explain shows such a match as "ignore = true: a known write, not an event", and a
// case file (hooktap test) shows each write that stays unmatched as "unmatched METHOD ROUTE".
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
// path is matched against the request path's canonical form (below), segment by segment: a
// literal segment matches itself, "{name}" matches any one segment and binds it, and a last
// segment "{name...}" matches the rest of the path (one or more segments) and binds it; a
// last segment "{name*}" is the same but may match nothing: "/index.php/{title*}" matches
// "/index.php" (path.title missing) and "/index.php/Main_Page".
// "/wiki/api/v2/pages/{id}" matches "/wiki/api/v2/pages/42" and binds id = "42". Bound
// values are taken from the canonical form and percent-decoded when read. A template has no
// query: use query.<name> conditions. A path may match several templates ("/space/{key}"
// and "/space/_private"); every matching rule emits.
//
// The proxy forwards the path exactly as sent, but wiki servers read many spellings of a
// path as the same resource, and a write spelled so must not slip past the rules. So the
// path is put in canonical form before matching, segment by segment:
//
//   - path parameters are dropped: from a segment's first ';' on ("content;jsessionid=x" is
//     "content", as Tomcat and Jersey read it);
//   - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded ("%63ontent"
//     is "content"); every other escape stays encoded, its hex digits in upper case, so that
//     "%2F" and "%3B" keep meaning a '/' and a ';' inside a segment ("a%2fb" is the one
//     segment "a%2Fb"); a '%' that starts no escape stands for itself ("%25");
//   - empty segments are dropped ("/rest//api" is "/rest/api"), and so a trailing slash
//     ("/rest/api/content/" is "/rest/api/content");
//   - "." segments are dropped, and a ".." segment goes up one segment, as servers resolve
//     it (RFC 3986 section 5.2.4; at the root it stays there): "/rest/api/x/../content" and
//     "/rest/api/%2E%2E/api/content" are "/rest/api/content", "/rest/..;/x" is "/x".
//
// Case is kept ("/REST/api" is not "/rest/api"), as is a '\'. A value holding a ';' must be
// sent percent-encoded (%3B), as URL-encoding clients do: a raw ';' starts a path parameter.
// A template's literal segments are read in canonical form too ("%7Euser" is "~user"); one
// holding a ';', a "." or ".." segment, an empty segment or a trailing slash is an error,
// since no canonical path holds it.
//
// # Route parameter
//
// Some servers take the path of the resource from a query parameter as well (WordPress under
// plain permalinks: "/index.php?rest_route=/wp/v2/posts/5" is "/wp-json/wp/v2/posts/5"):
//
//	[classify]
//	route_param  = "rest_route"
//	route_at     = ["/", "/index.php"]   # default ["/"]
//	route_prefix = "/wp-json"
//
// A request whose canonical path is one of route_at and that carries route_param (with a
// value starting with '/') is matched as if its path were route_prefix followed by the
// parameter's decoded value, put in canonical form; path.<name> and lookup placeholders read
// that path. Wants answers true for every route_at path.
//
// # Expressions
//
// Conditions, payload values, each and lookup placeholders read values with expressions:
//
//	path.<name>        a path segment bound by the template
//	query.<name>       a query parameter (decoded); the first if repeated (see below)
//	header.<Name>      a request header (case-insensitive)
//	form.<field>       a field of a form-urlencoded or multipart request body (the same)
//	req                the JSON request body; req.<gjson path> a value in it
//	status             the upstream's status code
//	respheader.<Name>  an upstream response header
//	respcookie.<name>  the value of a cookie the upstream's answer sets (below)
//	resp               the JSON response body; resp.<gjson path> a value in it
//	lookup.<name>      a lookup's JSON answer; lookup.<name>.<gjson path> a value in it;
//	                   lookup.<name>#status its HTTP status (0 when it failed)
//	item               the current element under each; item.<gjson path> a value in it
//	method             the effective method
//	user               the acting user (see [classify] user)
//	basic.user         the user name of the request's Basic authorization
//	xmlrpc.<path>      the request read as an XML-RPC methodCall (see "XML-RPC")
//	xmlresp.<path>     the response read as an XML-RPC methodResponse (see "XML-RPC")
//	now                the event time, Unix milliseconds
//	queryall.<name>    every value of a repeated query parameter, decoded, in order, as a
//	                   JSON array of strings ("post[]=1&post[]=2" -> ["1","2"]); missing when
//	                   there is none
//	formall.<field>    the same for a field of a form-urlencoded request body
//	location.<name>    a query parameter (decoded) of the upstream's Location header, the
//	                   target of a redirect ("edit.php?trashed=2&ids=1,2")
//	location#fragment  the fragment of the Location header, decoded ("#comment-12" ->
//	                   "comment-12")
//	respbody           the upstream's response body as text (an HTML or XML answer, for
//	                   matches); missing when empty or cut at the tap limit
//	lookup.<name>#body a lookup's answer as text, spaces around it trimmed (an answer that is
//	                   not JSON: a nonce); missing unless the lookup answered 2xx
//	'text'             a literal string
//	a + b              the texts of a and b joined (any number of operands, each with its own
//	                   filters): "resp._links.base + resp._links.webui"; missing when any
//	                   operand is missing; a JSON string
//	a ?? b             the first operand that has a value (any number of operands, each
//	                   with its own filters; ?? binds more loosely than +): MediaWiki's
//	                   title, "path.title ?? form.title ?? query.title"; missing when all are
//
// respcookie reads every Set-Cookie header of the answer (a MediaWiki save's 302 carries
// several), not only the first: the cookie's value, white space around it and surrounding
// double quotes dropped; an empty value is a value. In the name a '*' matches any run of
// characters (each but the last as few as it can), and "#name" or "#1".."#9" after it gives
// the matching cookie's whole name or the text that the n-th '*' matched instead of its value:
//
//	respcookie.*PostEditRevision*       "saved" from "wikiPostEditRevision345=saved; path=/"
//	respcookie.*PostEditRevision*#2     "345"
//	respcookie.*PostEditRevision*#name  "wikiPostEditRevision345"
//
// When several Set-Cookie headers match, the last counts, as a browser keeps it. A name
// holding a space or one of =;,"\ is an error; a literal '*' or '#' cannot be matched. The
// proxy's response headers give every Set-Cookie ([MultiPeeker]); a Peeker that is not a
// MultiPeeker gives only its first. explain redacts a cookie's value (it may be a session),
// not its #name or #n parts.
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
// A parameter or field sent more than once reads its first value, as Java servlets (and so
// Confluence) do; PHP (MediaWiki, WordPress) acts on the last one, so their packs say
// [classify] repeated_params = "last" (default "first"), and then query.<name>, form.<field>,
// the method override's _method and route_param read the last value. Otherwise
// action=query&action=edit, an edit to the wiki, would read as a query. In a form body cut
// at the tap limit the last whole value counts.
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
//	"item.name|lower"       = { in = "lookup.had.results.#.name" }
//	"item.name|lower"       = { not_in = "lookup.had.results.#.name" }
//
// A missing value equals nothing and fails every condition except exists = false, not,
// not_one_of, same and not_in. Numbers compare as numbers (2 equals 2.0 and "2" in a path or query) but a JSON
// string "2" does not equal the number 2; booleans equal JSON true/false and the text
// "true"/"false". A table may hold several tests, all of which must hold.
//
// differs and same compare two expressions as text: differs holds when both have a value and
// the values differ; same is its negation (it holds when either is missing). They detect a
// change, as a page whose parent in the request differs from its parent before the write.
//
// in holds when both have a value and the value's text equals the other's, or, when the other
// is a JSON array, the text of one of its elements (a label already on the object); not_in is
// its negation (it holds when either is missing).
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
//	|num     a JSON number: digits kept, a non-digit prefix and leading zeros stripped
//	         ("att123" -> 123); missing when there is no digit. On a JSON array or object,
//	         the ids inside it become numbers: string elements of arrays, and string values
//	         of keys that name an id ("id", "...Id", "..._id"), when they are digits after a
//	         prefix; "resp.results.#.{id,title}|num" gives [{"id":123,"title":"a"}], and a
//	         "creatorKey" beside the id stays a string
//	|str     a JSON string (JSON values other than strings as their text)
//	|bool    a JSON boolean ("true"/"1" -> true, anything else false)
//	|lower   lower-cased string
//	|ms      Unix milliseconds, a JSON number, from an ISO-8601 date-time
//	         ("2026-01-01T10:00:00.123Z", "...+01:00", "...+0100", no zone = UTC, seconds
//	         and fraction optional, or a date alone); a number is kept; missing otherwise
//	|split   a JSON array of strings from a comma-separated list ("4, 5,,6" ->
//	         ["4","5","6"]: spaces around each element trimmed, empty ones dropped); a JSON
//	         array is kept as it is; missing for a JSON object
//	|titlelist  a JSON array of strings from a TiddlyWiki title list (a tags or list field),
//	         as TiddlyWiki reads one: titles separated by white space, a title holding
//	         spaces in double square brackets, repeats dropped ("a [[two words]] b a" ->
//	         ["a","two words","b"]); a JSON array is kept as it is; missing for other JSON
//	         (an object, a number, a boolean, null). Precisely: each match in turn of
//	         /(?:^|[^\S\xA0])(?:\[\[(.*?)\]\])(?=[^\S\xA0]|$)|([\S\xA0]+)/ (JavaScript's
//	         white space, less the no-break space), empty titles skipped
//
// Without a filter, JSON sources (req, resp, lookup, item) copy the JSON value as it is, and
// text sources (path, query, header, form, ...) become JSON strings; status, now and
// lookup.<name>#status are numbers. A key whose value is missing is left out, and an object
// left empty is left out too. The full table adds keys for webhooks with payload = "full",
// merged into the same objects after the payload's keys; a full key equal to a payload key
// replaces that value for full webhooks.
//
// each makes one event per element of the JSON array it reads from req, resp or a lookup
// ("req", "resp.results"), or of a title list read with a last |titlelist
// ("lookup.before.tags|titlelist"); inside the emit, item reads the element. A value that is
// not an array emits nothing. With in and not_in, each spells out a set difference: one
// event per tag sent that the object did not have before,
//
//	each = "req.tags|titlelist"
//	when = { "item" = { not_in = "lookup.before.tags|titlelist" } }
//
// and one per tag it had that is not sent, each over the before list, not_in the sent one.
// each may also read queryall. and formall. (one event per post[] sent), and any value
// through a last |split (one per id of a redirect's "ids=1,2": each = "location.ids|split"). An emit with each may read the per-element lookups made over the same
// array (the same each, as written): lookup.<name> is then the current element's answer.
// (An emit may also run over a per-element lookup's answers: "Per-element lookups".)
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
// segment of the rule, inserted as it is in the canonical path (still percent-encoded);
// {expression} is any expression, inserted percent-encoded. A before lookup may use only
// the request; an after lookup may also use the response. Answers with a 2xx status are cached by path (without query) together with
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
// A lookup fails when the upstream cannot be reached or does not answer within [classify]
// lookup_timeout (a 404 is an answer: see #status). The Fetcher (the proxy) must bound each
// Fetch by it, reading [Classifier.LookupTimeout] for every lookup so that a reload applies;
// the classifier also times each Fetch on its own clock and discards an answer that comes
// later (counted in Stats.LookupsLate). Failures are counted, and the rule's on_lookup_error
// decides: "skip" (default: emit nothing) or "emit" (emit with what is known: conditions
// reading the failed lookup are not checked, and its values are missing).
//
// A lookup's path may read the rule's lookups declared before it (an after lookup any of
// them, a before lookup only before ones), and a [classify] lookup's path the [classify]
// lookups before it, which are then made first. A nonce that the upstream hands out to a
// logged-in browser is the usual case: WordPress's REST API ignores a browser's cookies
// without one, and admin-ajax.php?action=rest-nonce gives it as text:
//
//	[[rule.lookup]]
//	name  = "nonce"
//	path  = "/wp-admin/admin-ajax.php?action=rest-nonce"
//	cache = false
//	[[rule.lookup]]
//	name  = "before"
//	path  = "/?rest_route=/wp/v2/posts/{query.post}&context=edit&_wpnonce={lookup.nonce#body}"
//	cache = false
//
// Under one path the cache keeps the answers to up to 64 different queries
// (/rest/api/user?username=a and ?username=b); a write dropping the path drops them all.
//
// # Per-element lookups
//
// A lookup with each is made once per element of a JSON array of the request (or, with stage
// = "after", of the response; no filter but a last |titlelist), before or after forwarding as
// its stage says; its path reads the element with item:
//
//	[[rule.lookup]]
//	name  = "existing"
//	each  = "req"                                   # one GET per posted label
//	path  = "/rest/api/label?name={item.name|lower}"
//	cache = false
//
//	[[rule.emit]]
//	event   = "label_created"
//	each    = "req"                                 # the same array: element i reads answer i
//	when    = { "lookup.existing#status" = 404 }
//	payload = { "label.name" = "item.name|lower" }
//
// Only emits with the same each read it (a rule's when, an emit without each or over another
// array cannot: a load error). Its failures are per element: with on_lookup_error = "skip" an
// element whose per-element lookup failed emits nothing from the emits over that array, and
// the other elements emit as usual. A placeholder with no value (an element without a name)
// means that element's lookup is not made: its values are missing and it has not failed.
//
// An emit's each may read a per-element lookup itself: an each within an each. The emit then
// runs over the lookup's array (its each), and for each element over the array that the
// lookup's answer for it holds; item reads the inner element, and lookup.<name> of every
// per-element lookup over the same array reads the current outer element's answer. One
// label_added per post sent and tag it has after the write and not before (tags_before and
// post are per-element lookups over queryall.post[] too):
//
//	[[rule.lookup]]
//	name  = "tags_after"
//	each  = "queryall.post[]"
//	path  = "/posts/{item|num}/tags"
//	stage = "after"
//
//	[[rule.emit]]
//	event   = "label_added"
//	each    = "lookup.tags_after"                  # each post[], then each of its tags
//	when    = { "item.id" = { not_in = "lookup.tags_before.#.id" } }
//	payload = { "label.name" = "item.name", "labeled.id" = "lookup.post.id|num" }
//
// The inner array takes no filter but a last |titlelist; an outer element whose per-element
// lookups failed emits nothing (on_lookup_error = "skip"), nor one whose answer holds no
// array.
//
// The elements are looked up in order, bounded in number and time: at most [classify]
// each_lookup_limit elements (default 50), all of them within one lookup_timeout; after an
// element fails, or past either bound, the remaining elements are not looked up and count as
// failed (Stats.LookupsNotMade). The paths that use no per-element lookup are unchanged.
//
// # Acting user
//
// [classify] user lists expressions tried in order for the envelope's userKey (and the user
// expression); the first with a non-empty value wins. Default: the X-AUSERNAME response
// header (Confluence's), then the Basic-auth user name; "" when none has a value.
//
// user may read [classify] lookups, declared as [[classify.lookup]] (name, path, cache; no
// stage or each). Such a lookup is made after forwarding and only when user is needed (an
// event is emitted) and no earlier user expression has a value; once per exchange; through
// the cache like any other (shared by every client: the answer must not depend on who asks);
// its path may read the request and the response, and a placeholder with no value means it
// is not made. Its failure is counted and leaves its values missing: the next expression is
// tried. In front of Confluence, which names the user in X-AUSERNAME but webhooks carry keys:
//
//	[classify]
//	user = ["respheader.X-AUSERKEY", "lookup.me.userKey", "respheader.X-AUSERNAME", "basic.user"]
//
//	[[classify.lookup]]
//	name = "me"
//	path = "/rest/api/user?username={respheader.X-AUSERNAME}"
//
// # XML-RPC
//
// XML-RPC clients (WordPress's desktop and mobile apps, blog editors) POST a text/xml
// methodCall and get 200 with a methodResponse, a failure being a <fault> in a 200 answer.
// xmlrpc reads the request body, and xmlresp the response body, converted once per exchange
// to JSON, so that gjson paths, each, filters and conditions work on them as on req and resp:
//
//	xmlrpc   {"method":"wp.newPost","params":[1,"admin","s3cret",{"post_title":"Hi",...}],
//	          "user":"admin","password":"s3cret"}
//	xmlresp  {"value":"17"}, or {"fault":{"faultCode":403,"faultString":"Incorrect ..."}}
//
// A <struct> is an object (members in order), an <array> an array, <string> (or an untyped
// value), <dateTime.iso8601> and <base64> strings, <int>, <i4>, <i8> and <double> numbers,
// <boolean> true or false, <nil/> null. user and password are the params at the places the
// blog APIs put them: params.1 and params.2 for wp.*, metaWeblog.* and mt.* methods (params.0
// and params.1 for wp.getUsersBlogs), params.2 and params.3 for blogger.* (params.1 and
// params.2 for blogger.getUsersBlogs and getUserInfo); absent for other methods or when that
// param is no string. A body that is not a well-formed methodCall (or methodResponse), or
// was cut at the tap limit, reads as missing, as does nesting deeper than 64. A
// system.multicall (several calls in one) is one call of that name: the calls inside it are
// not matched as calls.
//
//	[classify]
//	user = ["basic.user", "xmlrpc.user"]
//
//	[[rule]]
//	name   = "xmlrpc post created"
//	method = "POST"
//	path   = "/xmlrpc.php"
//	status = [200]
//	when   = { "xmlrpc.method" = "wp.newPost", "xmlresp.value" = { exists = true } }
//
// The password: xmlrpc.password, and the whole xmlrpc document, may be read only by an
// xmlrpc lookup's params (below); anywhere else they are a load error, so that no payload,
// condition or lookup path can carry the password. xmlrpc.params.N reads any param, the
// password's too: a rule that writes one into a payload leaks it. Traces and case outputs
// show an xmlrpc lookup's password as "***".
//
// An xmlrpc lookup is a POST of a methodCall to its path, made with what the client sent
// (its user name and password, read from xmlrpc), since XML-RPC clients send no
// Authorization header:
//
//	[[rule.lookup]]
//	name   = "before"
//	path   = "/xmlrpc.php"
//	xmlrpc = "wp.getPost"
//	params = [1, "xmlrpc.user", "xmlrpc.password", "xmlrpc.params.3", ["'post_status'", "'terms'"]]
//
// Each of params is an expression (its value written as a <value>: a JSON string as
// <string>, an integer as <int>, another number as <double>, true/false as <boolean>, null as
// <nil/>, an array as <array>, an object as <struct>; text as <string>, a number from |num or
// status as <int>), an integer or boolean literal, an array or a table of such (a <struct>,
// members sorted by name). A param whose expression has no value means the lookup is not
// made (its values are missing; it has not failed). The answer, whatever its HTTP status, is
// read as xmlresp is: lookup.<name>.value.post_status, lookup.<name>.fault.faultCode (missing
// when it is no methodResponse); #status is the HTTP status. An xmlrpc lookup is never
// cached (cache = true is an error), may have each, stage and the rest like any lookup, and
// is not allowed in [classify]. It needs a Fetcher that is also a [Poster] (the proxy's is).
//
// Lookups before forwarding are made before the answer is known, so a call with a wrong
// password makes its before lookups with that password too (WordPress counts each as a
// failed login).
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
// appended into pooled buffers, events into a reused slice (per-element lookups' answers
// and |titlelist's arrays too), and lookups' cache entries are the only per-exchange memory kept. (gjson queries, multipaths and modifiers allocate;
// plain paths do not.) The Events handed to the Sink alias pooled buffers and are valid only
// during Enqueue.
package rules
