package rules

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

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

// splitConcat splits s at each " + " outside quotes and brackets; nil when there is none.
func splitConcat(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == '+' && depth == 0 && i > 0 && s[i-1] == ' ' && i+1 < len(s) && s[i+1] == ' ':
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if out == nil {
		return nil
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// parseExpr compiles an expression string.
func parseExpr(s string, sc *scope) (expr, error) {
	if ops := splitFirst(s); ops != nil {
		return parseFirst(s, ops, sc)
	}
	if ops := splitConcat(s); ops != nil {
		e := expr{text: s, src: srcConcat}
		for _, op := range ops {
			if op == "" {
				return e, fmt.Errorf("%q: + needs an expression on each side", s)
			}
			p, err := parseExpr(op, sc)
			if err != nil {
				return e, err
			}
			e.parts = append(e.parts, p)
		}
		return e, nil
	}
	e := expr{text: s}
	// Filters are known names at the end; gjson paths may themselves hold '|'.
	for {
		i := strings.LastIndexByte(s, '|')
		if i < 0 {
			break
		}
		var f filter
		switch s[i+1:] {
		case "num":
			f = fNum
		case "str":
			f = fStr
		case "bool":
			f = fBool
		case "lower":
			f = fLower
		case "ms":
			f = fMs
		case "titlelist":
			f = fTitleList
		case "split":
			f = fSplit
		default:
			if isLower(s[i+1:]) {
				return e, fmt.Errorf("unknown filter %q in %q (want num, str, bool, lower, ms or titlelist)", "|"+s[i+1:], e.text)
			}
		}
		if f == 0 {
			break
		}
		e.filters = append([]filter{f}, e.filters...)
		s = s[:i]
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		e.src, e.name = srcLit, s[1:len(s)-1]
		return e, nil
	}
	head, tail, dotted := strings.Cut(s, ".")
	needName := func(what string) error {
		if !dotted || tail == "" {
			return fmt.Errorf("%q: %s.<%s> needs a name", e.text, head, what)
		}
		return nil
	}
	switch head {
	case "path":
		if err := needName("segment"); err != nil {
			return e, err
		}
		e.src, e.name = srcPath, tail
		if sc != nil {
			if tail == sc.rest && tail != "" {
				e.rest, e.idx = true, sc.restIdx
				return e, nil
			}
			for i, p := range sc.params {
				if p == tail {
					e.idx = i
					return e, nil
				}
			}
			return e, fmt.Errorf("%q: the path has no segment {%s}", e.text, tail)
		}
	case "query":
		e.src = srcQuery
		if err := needName("parameter"); err != nil {
			return e, err
		}
		e.name = tail
	case "header":
		e.src = srcHeader
		if err := needName("Name"); err != nil {
			return e, err
		}
		e.name = tail
	case "respheader":
		e.src = srcRespHeader
		if err := needName("Name"); err != nil {
			return e, err
		}
		e.name = tail
	case "respcookie":
		if err := needName("name"); err != nil {
			return e, err
		}
		if err := parseCookieExpr(&e, tail); err != nil {
			return e, err
		}
	case "form":
		e.src = srcForm
		if err := needName("field"); err != nil {
			return e, err
		}
		e.name = tail
	case "req", "resp", "item", "xmlrpc", "xmlresp":
		e.src = map[string]source{"req": srcReq, "resp": srcResp, "item": srcItem, "xmlrpc": srcReq, "xmlresp": srcResp}[head]
		e.xml = head == "xmlrpc" || head == "xmlresp"
		if err := checkXMLRPCExpr(&e, head, tail, sc); err != nil {
			return e, err
		}
		if head == "item" && sc != nil && !sc.item {
			return e, fmt.Errorf("%q: item is only known inside an emit with each", e.text)
		}
		if dotted {
			if err := checkGJSON(tail); err != nil {
				return e, fmt.Errorf("%q: bad JSON path: %v", e.text, err)
			}
			e.gpath = tail
			e.proj = parseProjection(tail)
		}
		if sc != nil && sc.memo != nil && e.src != srcItem {
			e.slot = sc.memo.slot(e.memoSource(), e.gpath)
		}
	case "lookup":
		name := tail
		e.src = srcLookup
		if i := strings.IndexByte(tail, '.'); i >= 0 {
			name, e.gpath = tail[:i], tail[i+1:]
			if err := checkGJSON(e.gpath); err != nil {
				return e, fmt.Errorf("%q: bad JSON path: %v", e.text, err)
			}
			e.proj = parseProjection(e.gpath)
		} else if j := strings.IndexByte(tail, '#'); j >= 0 {
			switch tail[j:] {
			case "#status":
				name, e.src = tail[:j], srcLookupStatus
			case "#body":
				name, e.src = tail[:j], srcLookupBody
			default:
				return e, fmt.Errorf("%q: after lookup.<name> only #status, #body or a JSON path may follow", e.text)
			}
		}
		if name == "" {
			return e, fmt.Errorf("%q: lookup.<name> needs a name", e.text)
		}
		e.name = name
		if sc != nil {
			e.idx = -1
			for i, l := range sc.lookups {
				if l == name {
					e.idx = i
				}
			}
			if e.idx < 0 {
				if sc.user {
					return e, fmt.Errorf("%q: [classify] has no lookup %q", e.text, name)
				}
				return e, fmt.Errorf("%q: the rule has no lookup %q", e.text, name)
			}
			e.global = sc.user
			if e.idx < len(sc.lookupEach) && sc.lookupEach[e.idx] != "" && (!sc.item || sc.each != sc.lookupEach[e.idx]) {
				return e, fmt.Errorf("%q: lookup %q is made per element of %q: only an emit with each = %q reads it", e.text, name, sc.lookupEach[e.idx], sc.lookupEach[e.idx])
			}
		}
	case "queryall", "formall", "location", "location#fragment", "respbody":
		if err := parseListExpr(&e, head, tail, dotted); err != nil {
			return e, err
		}
	case "status", "method", "user", "now":
		if dotted {
			return e, fmt.Errorf("%q: %s takes no path", e.text, head)
		}
		e.src = map[string]source{"status": srcStatus, "method": srcMethod, "user": srcUser, "now": srcNow}[head]
	case "basic":
		if s != "basic.user" {
			return e, fmt.Errorf("%q: unknown expression (basic.user?)", e.text)
		}
		e.src = srcBasicUser
	default:
		return e, fmt.Errorf("unknown expression %q (want path., query., header., form., req, status, respheader., resp, lookup., item, method, user, basic.user, now or 'text')", e.text)
	}
	return e, nil
}

var gjsonModifiers = map[string]bool{
	"reverse": true, "ugly": true, "pretty": true, "this": true, "valid": true, "flatten": true,
	"join": true, "keys": true, "values": true, "tostr": true, "fromstr": true, "group": true, "dig": true,
}

// checkGJSON reports why p is not a usable gjson path. gjson itself accepts anything, and
// answers nothing for a path it cannot follow; this catches the mistakes that would make a
// rule silently never match.
func checkGJSON(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	depth := 0
	inStr := false
	comp := 0 // length of the current component
	for i := 0; i < len(p); i++ {
		c := p[i]
		if inStr {
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '\\':
			i++
			comp++
		case '"':
			if depth > 0 {
				inStr = true
			}
			comp++
		case '(', '[', '{':
			depth++
			comp++
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced %q", c)
			}
			comp++
		case '.', '|':
			if depth == 0 {
				if comp == 0 {
					return fmt.Errorf("empty component")
				}
				comp = 0
				continue
			}
			comp++
		case '@':
			if depth == 0 && comp == 0 {
				j := i + 1
				for j < len(p) && (p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z') {
					j++
				}
				if !gjsonModifiers[p[i+1:j]] {
					return fmt.Errorf("unknown modifier %q", p[i:j])
				}
			}
			comp++
		default:
			comp++
		}
	}
	if inStr {
		return fmt.Errorf("unterminated string")
	}
	if depth != 0 {
		return fmt.Errorf("unbalanced brackets")
	}
	if comp == 0 {
		return fmt.Errorf("empty component")
	}
	return nil
}

// value kinds.
const (
	vMissing uint8 = iota
	vText          // text: plain text, written as a JSON string
	vNum           // text: digits, written as a JSON number
	vBool          // text: "true" or "false"
	vJSON          // res: a JSON value
)

// value is an expression's result. Its slices alias the exchange or the state's scratch
// buffers and live until the next evaluation.
type value struct {
	kind uint8
	text []byte
	res  gjson.Result
}

// asText returns the value as plain text: a JSON string's contents, other JSON as written.
func (v *value) asText() []byte {
	if v.kind == vJSON {
		if v.res.Type == gjson.String {
			return s2b(v.res.Str)
		}
		return s2b(v.res.Raw)
	}
	return v.text
}

// b2s and s2b view bytes as a string and back without copying. The result must not outlive
// the original, and bytes from s2b must not be written. This is the package's only unsafe
// code.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func s2b(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// jsonValue views a JSON document at path; the whole document when path is "".
func jsonValue(doc []byte, path string) value {
	if len(doc) == 0 {
		return value{}
	}
	var r gjson.Result
	if path == "" {
		r = gjson.Parse(b2s(doc))
	} else {
		r = gjson.Get(b2s(doc), path)
	}
	if !r.Exists() {
		return value{}
	}
	return value{kind: vJSON, res: r}
}

// eval computes e for the exchange.
func (s *state) eval(e *expr, x *Exchange) value {
	v := s.evalSource(e, x)
	for _, f := range e.filters {
		if v.kind == vMissing {
			return v
		}
		v = s.applyFilter(f, v)
	}
	return v
}

func (s *state) evalSource(e *expr, x *Exchange) value {
	switch e.src {
	case srcConcat:
		// Operands may use the scratch buffers; their text is copied as soon as it is read.
		var buf []byte
		s.concat, buf = nil, s.concat[:0]
		for i := range e.parts {
			v := s.eval(&e.parts[i], x)
			if v.kind == vMissing {
				s.concat = buf
				return value{}
			}
			buf = append(buf, v.asText()...)
		}
		s.concat = buf
		return value{kind: vText, text: buf}
	case srcFirst:
		return s.first(e, x)
	case srcRespCookie:
		return s.respCookie(e, x)
	case srcLit:
		return value{kind: vText, text: s2b(e.name)}
	case srcPath:
		raw, ok := s.segment(e.idx, e.rest)
		if !ok {
			return value{}
		}
		s.scratch = appendUnescape(s.scratch[:0], raw, false)
		return value{kind: vText, text: s.scratch}
	case srcQuery:
		raw, ok := findParam(x.Query, e.name, &s.scratch)
		if !ok {
			return value{}
		}
		return value{kind: vText, text: raw}
	case srcHeader:
		if x.Header == nil {
			return value{}
		}
		if h := x.Header.Peek(e.name); len(h) > 0 {
			return value{kind: vText, text: h}
		}
	case srcRespHeader:
		if x.RespHeader == nil {
			return value{}
		}
		if h := x.RespHeader.Peek(e.name); len(h) > 0 {
			return value{kind: vText, text: h}
		}
	case srcForm:
		if f, ok := s.formField(x, e.name); ok {
			return value{kind: vText, text: f}
		}
	case srcReq, srcResp:
		if e.slot > 0 && e.slot <= len(s.memo) && s.memo[e.slot-1].gen == s.gen {
			return s.memo[e.slot-1].v
		}
		doc := x.Body
		if x.BodyTrunc {
			doc = nil // a cut JSON document would be misread
		}
		if e.src == srcResp {
			doc = x.RespBody
			if x.RespTrunc {
				doc = nil
			}
		}
		if e.xml {
			doc = s.xmlDoc(x, e.src == srcResp)
		}
		v := s.jsonAt(doc, e)
		if e.slot > 0 && e.slot <= len(s.memo) {
			s.memo[e.slot-1] = memoVal{v: v, gen: s.gen}
		}
		return v
	case srcItem:
		if !s.inItem {
			return value{}
		}
		if e.gpath == "" {
			return value{kind: vJSON, res: s.item}
		}
		return s.itemAt(e)
	case srcLookup:
		l := s.lookupOf(e, x)
		if l == nil || l.status == 0 {
			return value{}
		}
		return s.jsonAt(l.body, e)
	case srcQueryAll, srcFormAll, srcLocation, srcLocationFrag, srcLookupBody, srcRespBody:
		return s.evalList(e, x)
	case srcLookupStatus:
		st := 0
		if l := s.lookupOf(e, x); l != nil {
			st = l.status
		}
		s.scratch = strconv.AppendInt(s.scratch[:0], int64(st), 10)
		return value{kind: vNum, text: s.scratch}
	case srcStatus:
		if x.Status == 0 {
			return value{}
		}
		s.scratch = strconv.AppendInt(s.scratch[:0], int64(x.Status), 10)
		return value{kind: vNum, text: s.scratch}
	case srcMethod:
		return value{kind: vText, text: s2b(methodNames[s.method])}
	case srcUser:
		u := s.userKey(x)
		if len(u) == 0 {
			return value{}
		}
		return value{kind: vText, text: u}
	case srcBasicUser:
		if u := s.basicUser(x); len(u) > 0 {
			return value{kind: vText, text: u}
		}
	case srcNow:
		s.scratch = strconv.AppendInt(s.scratch[:0], s.now, 10)
		return value{kind: vNum, text: s.scratch}
	}
	return value{}
}

func (s *state) applyFilter(f filter, v value) value {
	switch f {
	case fNum:
		if v.kind == vJSON && (v.res.Type == gjson.JSON) {
			return v // arrays and objects are converted when written
		}
		t := v.asText()
		i := 0
		for i < len(t) && (t[i] < '0' || t[i] > '9') {
			i++
		}
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if i == j {
			return value{}
		}
		for i < j-1 && t[i] == '0' { // "att007" -> 7: a JSON number has no leading zeros
			i++
		}
		return value{kind: vNum, text: t[i:j]}
	case fStr:
		return value{kind: vText, text: v.asText()}
	case fBool:
		t := v.asText()
		if string(t) == "true" || string(t) == "1" {
			return value{kind: vBool, text: s2b("true")}
		}
		return value{kind: vBool, text: s2b("false")}
	case fLower:
		t := v.asText()
		s.scratch2 = s.scratch2[:0]
		for _, c := range t {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			s.scratch2 = append(s.scratch2, c)
		}
		return value{kind: vText, text: s.scratch2}
	case fMs:
		if v.kind == vNum || v.kind == vJSON && v.res.Type == gjson.Number {
			return value{kind: vNum, text: v.asText()}
		}
		ms, ok := parseISOMillis(v.asText())
		if !ok {
			return value{}
		}
		s.scratch2 = strconv.AppendInt(s.scratch2[:0], ms, 10)
		return value{kind: vNum, text: s.scratch2}
	case fTitleList:
		return s.titleList(v)
	case fSplit:
		return s.splitList(v)
	}
	return v
}

// titleList reads v as TiddlyWiki reads a title list (a tags or list field,
// $tw.utils.parseStringArray): a JSON array is kept as it is; a string is split into titles
// separated by white space, a title with spaces written in double square brackets, repeats
// dropped, as a JSON array of strings; other JSON (objects, numbers, booleans, null) is
// missing.
//
// The array is appended to s.lists, which only grows during an exchange: the array may be
// iterated (each) while other titleList values are made.
func (s *state) titleList(v value) value {
	if v.kind == vJSON {
		switch {
		case v.res.IsArray():
			return v
		case v.res.Type != gjson.String:
			return value{}
		}
	}
	start := len(s.lists)
	s.lists = append(s.lists, '[')
	s.listIdx = s.listIdx[:0]
	t := v.asText()
	for i := 0; i < len(t); {
		var title []byte
		if open, end, ok := bracketedTitle(t, i); ok {
			title, i = t[open:end], end+2
		} else if n := jsSpaceAt(t, i); n > 0 {
			i += n
			continue
		} else {
			j := i
			for j < len(t) {
				if n := jsSpaceAt(t, j); n > 0 {
					break
				}
				_, size := utf8.DecodeRune(t[j:])
				j += size
			}
			title, i = t[i:j], j
		}
		if len(title) == 0 {
			continue
		}
		mark := len(s.lists)
		if len(s.listIdx) > 0 {
			s.lists = append(s.lists, ',')
		}
		el := len(s.lists)
		s.lists = appendJSONString(s.lists, title)
		if s.repeated(start, el) {
			s.lists = s.lists[:mark]
			continue
		}
		s.listIdx = append(s.listIdx, int32(el-start), int32(len(s.lists)-start))
	}
	s.lists = append(s.lists, ']')
	return value{kind: vJSON, res: gjson.Result{Type: gjson.JSON, Raw: b2s(s.lists[start:])}}
}

// repeated reports whether the JSON string written at s.lists[el:] equals one written
// before it in the array that starts at s.lists[start] (whose elements s.listIdx holds).
func (s *state) repeated(start, el int) bool {
	cur := s.lists[el:]
	for k := 0; k < len(s.listIdx); k += 2 {
		if bytes.Equal(s.lists[start+int(s.listIdx[k]):start+int(s.listIdx[k+1])], cur) {
			return true
		}
	}
	return false
}

// bracketedTitle reports whether a "[[title]]" starts at t[i:], as TiddlyWiki's list regular
// expression /(?:^|[^\S\xA0])(?:\[\[(.*?)\]\])(?=[^\S\xA0]|$)/ matches it there: at the start, or
// after one white-space character at i; the title ends at the first "]]" that is followed by
// white space or the end, and holds no line break. It returns the title's bounds.
func bracketedTitle(t []byte, i int) (open, end int, ok bool) {
	open = i
	if i > 0 || len(t) == 0 || t[0] != '[' {
		n := jsSpaceAt(t, i)
		if n == 0 {
			return 0, 0, false
		}
		open = i + n
	}
	if !bytes.HasPrefix(t[open:], []byte("[[")) {
		return 0, 0, false
	}
	open += 2
	for k := open; k+1 < len(t); {
		if t[k] == ']' && t[k+1] == ']' {
			if n := jsSpaceAt(t, k+2); n > 0 || k+2 == len(t) {
				return open, k, true
			}
		}
		r, size := utf8.DecodeRune(t[k:])
		if r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' {
			return 0, 0, false // JavaScript's . matches no line terminator
		}
		k += size
	}
	return 0, 0, false
}

// jsSpaceAt returns the length in bytes of the character at t[i:] when it is one of
// JavaScript's \s other than the no-break space U+00A0 (TiddlyWiki's [^\S\xA0]), else 0.
func jsSpaceAt(t []byte, i int) int {
	if i >= len(t) {
		return 0
	}
	if c := t[i]; c < utf8.RuneSelf {
		if c == ' ' || c >= '\t' && c <= '\r' {
			return 1
		}
		return 0
	}
	r, size := utf8.DecodeRune(t[i:])
	switch {
	case r == 0x1680, r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f,
		r == 0x205f, r == 0x3000, r == 0xfeff:
		return size
	}
	return 0
}

// parseISOMillis reads an ISO-8601 date-time, "2026-01-01T10:00:00.123Z" or with an offset
// ("+01:00", "+0100") or none (UTC), seconds and fraction optional, or a date alone, as Unix
// milliseconds. It does not allocate.
func parseISOMillis(t []byte) (int64, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(b) > 0
	}
	if len(t) < 10 || t[4] != '-' || t[7] != '-' {
		return 0, false
	}
	y, ok1 := num(t[0:4])
	mo, ok2 := num(t[5:7])
	d, ok3 := num(t[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	var h, mi, sec, ms, off int
	rest := t[10:]
	if len(rest) > 0 {
		if rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ' || len(rest) < 6 || rest[3] != ':' {
			return 0, false
		}
		var ok4, ok5 bool
		h, ok4 = num(rest[1:3])
		mi, ok5 = num(rest[4:6])
		if !ok4 || !ok5 || h > 23 || mi > 59 {
			return 0, false
		}
		rest = rest[6:]
		if len(rest) >= 3 && rest[0] == ':' {
			var ok bool
			if sec, ok = num(rest[1:3]); !ok || sec > 60 {
				return 0, false
			}
			rest = rest[3:]
			if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
				i := 1
				for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
					if i <= 3 {
						ms = ms*10 + int(rest[i]-'0')
					}
					i++
				}
				if i == 1 {
					return 0, false
				}
				for k := i; k <= 3; k++ {
					ms *= 10
				}
				rest = rest[i:]
			}
		}
		switch {
		case len(rest) == 0:
		case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		case rest[0] == '+' || rest[0] == '-':
			z := rest[1:]
			if len(z) == 5 && z[2] == ':' {
				z = []byte{z[0], z[1], z[3], z[4]}[:4:4]
			}
			oh, okh := num(z[:min(2, len(z))])
			om, okm := num(z[min(2, len(z)):])
			if len(z) != 4 || !okh || !okm || oh > 23 || om > 59 {
				return 0, false
			}
			off = (oh*60 + om) * 60
			if rest[0] == '-' {
				off = -off
			}
		default:
			return 0, false
		}
	}
	secs := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC).Unix() - int64(off)
	return secs*1000 + int64(ms), true
}

// appendValue writes v as JSON.
func appendValue(dst []byte, v *value, num bool) []byte {
	switch v.kind {
	case vText:
		return appendJSONString(dst, v.text)
	case vNum, vBool:
		return append(dst, v.text...)
	case vJSON:
		if num && v.res.Type == gjson.JSON {
			return appendNumified(dst, v.res)
		}
		return append(dst, v.res.Raw...)
	}
	return append(dst, "null"...)
}

// appendNumified copies a JSON array or object, applying |num to the ids inside it: each
// string element of an array, and each string value of an object key that names an id ("id",
// "...Id", "..._id"), that holds digits after an optional non-digit prefix (as "att123")
// becomes a number. Other values keep their type, so a user key such as "ff8080810001" next
// to an id stays a string.
func appendNumified(dst []byte, r gjson.Result) []byte {
	switch r.Type {
	case gjson.String:
		t := r.Str
		i := 0
		for i < len(t) && (t[i] < '0' || t[i] > '9') {
			i++
		}
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if i == j || j != len(t) {
			return append(dst, r.Raw...)
		}
		for i < j-1 && t[i] == '0' {
			i++
		}
		return append(dst, t[i:j]...)
	case gjson.JSON:
		obj := r.IsObject()
		if obj {
			dst = append(dst, '{')
		} else {
			dst = append(dst, '[')
		}
		first := true
		r.ForEach(func(k, v gjson.Result) bool {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if obj {
				dst = append(dst, k.Raw...)
				dst = append(dst, ':')
				if v.Type == gjson.String && !isIDKey(k.Str) {
					dst = append(dst, v.Raw...)
					return true
				}
			}
			dst = appendNumified(dst, v)
			return true
		})
		if obj {
			return append(dst, '}')
		}
		return append(dst, ']')
	}
	return append(dst, r.Raw...)
}

// isIDKey reports whether an object key names an id: "id", or ending in "Id" or "_id".
func isIDKey(k string) bool {
	return k == "id" || strings.HasSuffix(k, "Id") || strings.HasSuffix(k, "_id")
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendUnescape percent-decodes s (and '+' as space when plus) onto dst.
func appendUnescape(dst, s []byte, plus bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0:
			dst = append(dst, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		case c == '+' && plus:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// appendEscape percent-encodes s for a URL path segment or query value.
func appendEscape(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
	}
	return dst
}

// findParam finds the first name=value pair of a form-urlencoded string whose decoded name
// is name, and returns its decoded value (in *buf).
func findParam(q []byte, name string, buf *[]byte) ([]byte, bool) {
	for len(q) > 0 {
		var pair []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, nil
		}
		k, v := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if !keyEqual(k, name) {
			continue
		}
		*buf = appendUnescape((*buf)[:0], v, true)
		return *buf, true
	}
	return nil, false
}

// keyEqual reports whether the form-encoded key k decodes to name.
func keyEqual(k []byte, name string) bool {
	if bytes.IndexByte(k, '%') < 0 && bytes.IndexByte(k, '+') < 0 {
		return b2s(k) == name
	}
	j := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '+' {
			c = ' '
		} else if c == '%' && i+2 < len(k) && unhex(k[i+1]) >= 0 && unhex(k[i+2]) >= 0 {
			c = byte(unhex(k[i+1])<<4 | unhex(k[i+2]))
			i += 2
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

// basicUser decodes the user name of a Basic Authorization header into the state.
func (s *state) basicUser(x *Exchange) []byte {
	if x.Header == nil {
		return nil
	}
	h := x.Header.Peek("Authorization")
	if len(h) < 6 || !bytes.EqualFold(h[:6], []byte("Basic ")) {
		return nil
	}
	enc := bytes.TrimSpace(h[6:])
	n := base64.StdEncoding.DecodedLen(len(enc))
	if cap(s.auth) < n {
		s.auth = make([]byte, n)
	}
	m, err := base64.StdEncoding.Decode(s.auth[:n], enc)
	if err != nil {
		return nil
	}
	u := s.auth[:m]
	if i := bytes.IndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return u
}

// litVal is a constant in a condition.
type litVal struct {
	s      string
	n      float64
	isNum  bool
	isBool bool
	b      bool
}

func toLit(v any) (litVal, bool) {
	switch x := v.(type) {
	case string:
		return litVal{s: x}, true
	case int64:
		return litVal{s: strconv.FormatInt(x, 10), n: float64(x), isNum: true}, true
	case float64:
		return litVal{s: strconv.FormatFloat(x, 'f', -1, 64), n: x, isNum: true}, true
	case bool:
		return litVal{s: strconv.FormatBool(x), isBool: true, b: x}, true
	}
	return litVal{}, false
}

// equal reports whether v equals the constant l.
func (l *litVal) equal(v *value) bool {
	switch v.kind {
	case vMissing:
		return false
	case vJSON:
		switch v.res.Type {
		case gjson.String:
			return !l.isNum && !l.isBool && v.res.Str == l.s
		case gjson.Number:
			return l.isNum && v.res.Num == l.n || !l.isNum && !l.isBool && v.res.Raw == l.s
		case gjson.True, gjson.False:
			return l.isBool && l.b == (v.res.Type == gjson.True) || !l.isBool && !l.isNum && v.res.Raw == l.s
		}
		return false
	}
	t := b2s(v.text)
	if l.isNum {
		f, err := strconv.ParseFloat(t, 64)
		return err == nil && f == l.n
	}
	return t == l.s
}

type op uint8

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

// cond is one compiled condition: an expression and a test.
type cond struct {
	e      expr
	op     op
	vals   []litVal
	exists bool
	re     *regexp.Regexp
	other  *expr // opSame, opDiffers: the expression compared with
}

// stage says when the condition can be checked: the later of its expressions' stages.
func (c *cond) stage() stage {
	st := c.e.stage()
	if c.other != nil && c.other.stage() > st {
		st = c.other.stage()
	}
	return st
}

// holds reports whether the condition holds for v.
func (c *cond) holds(v *value) bool {
	switch c.op {
	case opExists:
		return (v.kind != vMissing) == c.exists
	case opEq, opOneOf:
		for i := range c.vals {
			if c.vals[i].equal(v) {
				return true
			}
		}
		return false
	case opNot, opNotOneOf:
		for i := range c.vals {
			if c.vals[i].equal(v) {
				return false
			}
		}
		return true
	case opMatches:
		if v.kind == vMissing {
			return false
		}
		return c.re.Match(v.asText())
	}
	return false
}

// parseConds compiles a when table. It returns the conditions in key order.
func parseConds(m map[string]any, keys []string, sc *scope) ([]cond, []error) {
	var out []cond
	var errs []error
	for _, k := range keys {
		e, err := parseExpr(k, sc)
		if err != nil {
			errs = append(errs, fmt.Errorf("when: %v", err))
			continue
		}
		cs, err := parseTest(e, m[k], sc)
		if err != nil {
			errs = append(errs, fmt.Errorf("when %q: %v", k, err))
			continue
		}
		out = append(out, cs...)
	}
	return out, errs
}

func parseTest(e expr, v any, sc *scope) ([]cond, error) {
	switch x := v.(type) {
	case []any:
		c := cond{e: e, op: opOneOf}
		for _, el := range x {
			l, ok := toLit(el)
			if !ok {
				return nil, fmt.Errorf("one-of values must be strings, numbers or booleans")
			}
			c.vals = append(c.vals, l)
		}
		if len(c.vals) == 0 {
			return nil, fmt.Errorf("empty one-of list never matches")
		}
		return []cond{c}, nil
	case map[string]any:
		if len(x) == 0 {
			return nil, fmt.Errorf("empty condition table")
		}
		var out []cond
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := x[k]
			switch k {
			case "exists":
				b, ok := val.(bool)
				if !ok {
					return nil, fmt.Errorf("exists must be true or false")
				}
				out = append(out, cond{e: e, op: opExists, exists: b})
			case "matches":
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("matches must be a regular expression string")
				}
				re, err := regexp.Compile(s)
				if err != nil {
					return nil, fmt.Errorf("bad regular expression %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				}
				out = append(out, cond{e: e, op: opMatches, re: re})
			case "not":
				l, ok := toLit(val)
				if !ok {
					return nil, fmt.Errorf("not must be a string, number or boolean")
				}
				out = append(out, cond{e: e, op: opNot, vals: []litVal{l}})
			case "not_one_of":
				list, ok := val.([]any)
				if !ok {
					return nil, fmt.Errorf("not_one_of must be an array")
				}
				c := cond{e: e, op: opNotOneOf}
				for _, el := range list {
					l, ok := toLit(el)
					if !ok {
						return nil, fmt.Errorf("not_one_of values must be strings, numbers or booleans")
					}
					c.vals = append(c.vals, l)
				}
				out = append(out, c)
			case "same", "differs", "in", "not_in":
				src, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("%s must be an expression string", k)
				}
				o, err := parseExpr(src, sc)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
				c := cond{e: e, op: map[string]op{"same": opSame, "differs": opDiffers, "in": opIn, "not_in": opNotIn}[k], other: &o}
				out = append(out, c)
			default:
				return nil, fmt.Errorf("unknown test %q (want exists, matches, not, not_one_of, same, differs, in or not_in)", k)
			}
		}
		return out, nil
	default:
		l, ok := toLit(v)
		if !ok {
			return nil, fmt.Errorf("a condition must be a value, an array or a table")
		}
		return []cond{{e: e, op: opEq, vals: []litVal{l}}}, nil
	}
}

// isLower reports whether s is a non-empty run of lower-case letters.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}
