package rules

// source is where an expression reads its value.
type source uint8

const (
	srcLit source = iota
	srcPath
	srcQuery
	srcHeader
	srcForm
	srcReq
	srcStatus
	srcRespHeader
	srcResp
	srcLookup
	srcLookupStatus
	srcItem
	srcMethod
	srcUser
	srcBasicUser
	srcNow
	srcConcat     // parts joined as text: "resp._links.base + resp._links.webui"
	srcRespCookie // a cookie the response sets (cookie.go)
	srcFirst      // the first part with a value: "path.title ?? query.title" (first.go)
	// lists.go:
	srcQueryAll // every value of a repeated query parameter, a JSON array
	srcFormAll  // every value of a repeated form field, a JSON array
	srcLocation // a query parameter of the response's Location header
	srcLocationFrag
	srcLookupBody // a lookup's answer as text
	srcRespBody   // the response body as text
)

// filter transforms a value before it is compared or written.
type filter uint8

const (
	fNum filter = iota + 1
	fStr
	fBool
	fLower
	fMs
	fTitleList // TiddlyWiki's title list ("a [[two words]] b") as a JSON array of strings
	fSplit     // a comma-separated list as a JSON array of strings (lists.go)
)

// expr is a compiled expression.
type expr struct {
	src     source
	name    string      // header/query/form name, or literal text
	idx     int         // path segment index (srcPath), lookup index (srcLookup*)
	rest    bool        // srcPath: a catch-all binding, the rest of the path
	gpath   string      // gjson path into a JSON source; "" for the whole document
	proj    *projection // gpath when it is P.#.R, evaluated without gjson's allocations
	filters []filter
	text    string // as written, for errors
	slot    int    // req and resp paths: 1 + the index of the exchange's memo of this value; 0 = none
	global  bool   // srcLookup*: a [classify] lookup (idx indexes Matcher.userLookups)
	parts   []expr // srcConcat, srcFirst: the operands
	xml     bool   // srcReq, srcResp: read as XML-RPC (the xmlrpc and xmlresp expressions)

	cookie *cookiePattern // srcRespCookie: the cookie name's pattern (cookie.go)
}

// memoTable numbers the distinct req and resp paths of a Matcher, so that each is looked up
// once per exchange however many rules and payload keys read it.
type memoTable map[string]int

func (t memoTable) slot(src source, path string) int {
	k := string(rune('0'+src)) + path
	n, ok := t[k]
	if !ok {
		n = len(t) + 1
		t[k] = n
	}
	return n
}

// stage says when an expression's value is known.
type stage uint8

const (
	stReq    stage = iota // from the request alone
	stResp                // needs the upstream's answer
	stLookup              // needs a lookup
	stItem                // needs the current element of each
)

func (e *expr) stage() stage {
	switch e.src {
	case srcConcat, srcFirst:
		st := stReq
		for i := range e.parts {
			if p := e.parts[i].stage(); p > st {
				st = p
			}
		}
		return st
	case srcStatus, srcRespHeader, srcResp, srcUser, srcRespCookie, srcLocation, srcLocationFrag, srcRespBody:
		return stResp
	case srcLookup, srcLookupStatus, srcLookupBody:
		return stLookup
	case srcItem:
		return stItem
	}
	return stReq
}

// scope is what an expression may refer to while it is compiled.
type scope struct {
	params  []string // path parameter names, by segment index ("" for literal segments)
	rest    string   // name of the catch-all parameter, "" if none
	restIdx int
	lookups []string // lookup names
	item    bool     // inside an emit with each
	each    string   // the each expression of the emit or lookup being compiled, as written
	memo    memoTable
	// lookupEach holds, per lookup, the each of a per-element lookup ("" for a plain one).
	lookupEach []string
	// user: the lookups are [classify] lookups (expressions of [classify] user).
	user bool
	// xparams: the params of an xmlrpc lookup, which alone may read xmlrpc.password.
	xparams bool
}

const (
	opEq op = iota
	opOneOf
	opExists
	opMatches
	opNot
	opNotOneOf
	opSame    // holds unless both values exist and differ
	opDiffers // holds when both values exist and differ
	opIn      // holds when both exist and the value equals the other or one of its elements
	opNotIn   // the negation of opIn
)
