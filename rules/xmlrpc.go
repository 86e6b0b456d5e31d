package rules

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// XML-RPC (see "XML-RPC" in doc.go): the xmlrpc and xmlresp expressions read a methodCall
// request and a methodResponse answer converted once per exchange to JSON, so that gjson
// paths, each, filters and conditions work on them as on any JSON body; an xmlrpc lookup
// POSTs a methodCall built from its params and reads the answer the same way.

// Poster is a Fetcher that can also POST a body to the upstream: the proxy's is one. An
// xmlrpc lookup needs it; with a Fetcher that is not a Poster it fails.
type Poster interface {
	// Post POSTs body (of contentType) to pathAndQuery on the upstream and appends the
	// response body to dst, as Fetch does for a GET.
	Post(dst, pathAndQuery, contentType, body []byte) (status int, out []byte, err error)
}

// xmlrpcMaxDepth bounds the nesting of values read from a body (arrays and structs).
const xmlrpcMaxDepth = 64

// xmlState is the exchange's XML-RPC documents, converted on first use in each phase.
type xmlState struct {
	req, resp       []byte // the JSON documents; nil when the body is no methodCall/methodResponse
	reqGen, respGen uint32 // the state's gen when converted; 0 = not yet
	call, raw       []byte // an xmlrpc lookup's methodCall, and its raw answer
}

// xmlDoc returns the JSON form of the exchange's request (a methodCall) or response (a
// methodResponse), converting it on first use in this phase; nil when the body is not one
// or was cut at the tap limit.
func (s *state) xmlDoc(x *Exchange, resp bool) []byte {
	xs := &s.xml
	if !resp {
		if xs.reqGen != s.gen {
			xs.reqGen = s.gen
			xs.req = xs.req[:0]
			ok := false
			if !x.BodyTrunc {
				xs.req, ok = appendXMLRPCJSON(xs.req, x.Body, false)
			}
			if !ok {
				xs.req = xs.req[:0]
			}
		}
		return xs.req
	}
	if xs.respGen != s.gen {
		xs.respGen = s.gen
		xs.resp = xs.resp[:0]
		ok := false
		if !x.RespTrunc && x.RespBody != nil {
			xs.resp, ok = appendXMLRPCJSON(xs.resp, x.RespBody, true)
		}
		if !ok {
			xs.resp = xs.resp[:0]
		}
	}
	return xs.resp
}

// xmlrpcCreds says where a method of the blog APIs takes the user name and password: their
// parameter indexes, or -1, -1 for a method without (system.*, pingback.*).
func xmlrpcCreds(method []byte) (user, pass int) {
	m := b2s(method)
	switch {
	case m == "wp.getUsersBlogs":
		return 0, 1
	case m == "blogger.getUsersBlogs", m == "blogger.getUserInfo":
		return 1, 2
	case strings.HasPrefix(m, "blogger."):
		return 2, 3
	case strings.HasPrefix(m, "wp."), strings.HasPrefix(m, "metaWeblog."), strings.HasPrefix(m, "mt."):
		return 1, 2
	}
	return -1, -1
}

// xmlScanner reads XML-RPC's subset of XML: elements without attributes, text with the
// predefined and numeric entities, CDATA sections, comments and processing instructions
// skipped. It does not allocate.
type xmlScanner struct {
	b   []byte
	pos int
}

// tag kinds.
const (
	tagOpen = iota + 1
	tagClose
	tagEmpty // <name/>
)

// skipMisc skips white space, comments, processing instructions and a doctype.
func (sc *xmlScanner) skipMisc() {
	for {
		for sc.pos < len(sc.b) && isXMLSpace(sc.b[sc.pos]) {
			sc.pos++
		}
		rest := sc.b[sc.pos:]
		if len(rest) < 2 || rest[0] != '<' || rest[1] != '?' && rest[1] != '!' {
			return
		}
		var end []byte
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end = []byte("?>")
		case bytes.HasPrefix(rest, []byte("<!--")):
			end = []byte("-->")
		case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
			end = []byte(">")
		default:
			return
		}
		i := bytes.Index(rest[2:], end)
		if i < 0 {
			sc.pos = len(sc.b)
			return
		}
		sc.pos += 2 + i + len(end)
	}
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// tag reads the next tag after white space and comments: its kind and name; 0 when there
// is none there (text, the end, or a malformed tag).
func (sc *xmlScanner) tag() (kind int, name []byte) {
	sc.skipMisc()
	if sc.pos >= len(sc.b) || sc.b[sc.pos] != '<' || bytes.HasPrefix(sc.b[sc.pos:], []byte("<![CDATA[")) {
		return 0, nil
	}
	i := sc.pos + 1
	kind = tagOpen
	if i < len(sc.b) && sc.b[i] == '/' {
		kind = tagClose
		i++
	}
	start := i
	for i < len(sc.b) && sc.b[i] != '>' && sc.b[i] != '/' && !isXMLSpace(sc.b[i]) {
		i++
	}
	name = sc.b[start:i]
	for i < len(sc.b) && isXMLSpace(sc.b[i]) {
		i++
	}
	if i < len(sc.b) && sc.b[i] == '/' && kind == tagOpen {
		kind = tagEmpty
		i++
	}
	if i >= len(sc.b) || sc.b[i] != '>' || len(name) == 0 {
		return 0, nil
	}
	sc.pos = i + 1
	return kind, name
}

// expect reads a tag of this kind and name and reports whether it was there.
func (sc *xmlScanner) expect(kind int, name string) bool {
	save := sc.pos
	k, n := sc.tag()
	if k == kind && b2s(n) == name {
		return true
	}
	sc.pos = save
	return false
}

// open reads <name> (true, false) or <name/> (true, true).
func (sc *xmlScanner) open(name string) (ok, empty bool) {
	save := sc.pos
	k, n := sc.tag()
	if b2s(n) == name && (k == tagOpen || k == tagEmpty) {
		return true, k == tagEmpty
	}
	sc.pos = save
	return false, false
}

// appendText decodes the character data up to the next tag (entities, CDATA) onto dst as
// the contents of a JSON string (escaped, without quotes). It reports false for a
// malformed entity or an unterminated CDATA section.
func (sc *xmlScanner) appendText(dst []byte) ([]byte, bool) {
	for sc.pos < len(sc.b) {
		c := sc.b[sc.pos]
		switch {
		case c == '<':
			rest := sc.b[sc.pos:]
			if bytes.HasPrefix(rest, []byte("<![CDATA[")) {
				end := bytes.Index(rest, []byte("]]>"))
				if end < 0 {
					return dst, false
				}
				dst = appendJSONInner(dst, rest[9:end])
				sc.pos += end + 3
				continue
			}
			if bytes.HasPrefix(rest, []byte("<!--")) {
				end := bytes.Index(rest, []byte("-->"))
				if end < 0 {
					return dst, false
				}
				sc.pos += end + 3
				continue
			}
			return dst, true
		case c == '&':
			end := bytes.IndexByte(sc.b[sc.pos:], ';')
			if end < 2 || end > 12 {
				return dst, false
			}
			ent := sc.b[sc.pos+1 : sc.pos+end]
			sc.pos += end + 1
			var r rune
			switch b2s(ent) {
			case "lt":
				r = '<'
			case "gt":
				r = '>'
			case "amp":
				r = '&'
			case "quot":
				r = '"'
			case "apos":
				r = '\''
			default:
				if ent[0] != '#' {
					return dst, false
				}
				base, digits := 10, ent[1:]
				if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
					base, digits = 16, digits[1:]
				}
				n, err := strconv.ParseUint(b2s(digits), base, 32)
				if err != nil || n > 0x10FFFF {
					return dst, false
				}
				r = rune(n)
			}
			var tmp [utf8.UTFMax]byte
			w := utf8.EncodeRune(tmp[:], r)
			dst = appendJSONInner(dst, tmp[:w])
		default:
			i := sc.pos
			for i < len(sc.b) && sc.b[i] != '<' && sc.b[i] != '&' {
				i++
			}
			dst = appendJSONInner(dst, sc.b[sc.pos:i])
			sc.pos = i
		}
	}
	return dst, true
}

// appendJSONInner writes s escaped as inside a JSON string, without the quotes.
func appendJSONInner(dst, s []byte) []byte {
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
	return append(dst, s[start:]...)
}

// appendXMLRPCJSON converts a methodCall (resp false) to
// {"method":"...","params":[...],"user":"...","password":"..."} or a methodResponse (resp
// true) to {"value":...} or {"fault":{...}}, appending to dst. It reports false when body is
// not one (what it appended is then to be discarded). It does not allocate beyond dst.
func appendXMLRPCJSON(dst, body []byte, resp bool) ([]byte, bool) {
	sc := xmlScanner{b: body}
	ok := false
	if resp {
		dst, ok = sc.response(dst)
	} else {
		dst, ok = sc.call(dst)
	}
	if !ok {
		return dst, false
	}
	sc.skipMisc()
	return dst, sc.pos == len(sc.b)
}

func (sc *xmlScanner) call(dst []byte) ([]byte, bool) {
	sc.skipMisc()
	if !sc.expect(tagOpen, "methodCall") || !sc.expect(tagOpen, "methodName") {
		return dst, false
	}
	dst = append(dst, `{"method":"`...)
	m0 := len(dst)
	var ok bool
	if dst, ok = sc.appendText(dst); !ok || !sc.expect(tagClose, "methodName") {
		return dst, false
	}
	m1 := len(dst)
	dst = append(dst, `","params":[`...)
	var spans [8][2]int // the first params' JSON in dst
	n := 0
	if open, empty := sc.open("params"); open && !empty {
		for !sc.expect(tagClose, "params") {
			if !sc.expect(tagOpen, "param") {
				return dst, false
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			start := len(dst)
			if dst, ok = sc.value(dst, 0); !ok || !sc.expect(tagClose, "param") {
				return dst, false
			}
			if n < len(spans) {
				spans[n] = [2]int{start, len(dst)}
			}
			n++
		}
	}
	dst = append(dst, ']')
	user, pass := xmlrpcCreds(dst[m0:m1])
	for _, c := range [...]struct {
		key string
		i   int
	}{{`,"user":`, user}, {`,"password":`, pass}} {
		if c.i >= 0 && c.i < n && c.i < len(spans) && dst[spans[c.i][0]] == '"' {
			dst = append(dst, c.key...)
			dst = append(dst, dst[spans[c.i][0]:spans[c.i][1]]...)
		}
	}
	if pass >= 0 && pass < n && pass < len(spans) {
		dst = maskSpan(dst, spans[pass][0], spans[pass][1])
	}
	dst = append(dst, '}')
	return dst, sc.expect(tagClose, "methodCall")
}

// passwordMask stands in params for the password, which only the password member holds
// (refused outside an xmlrpc lookup's params): xmlrpc.params and xmlrpc.params.N, readable
// anywhere, never carry it.
const passwordMask = `"***"`

// maskSpan replaces dst[lo:hi] with passwordMask, moving what follows.
func maskSpan(dst []byte, lo, hi int) []byte {
	end := len(dst)
	n := end + len(passwordMask) - (hi - lo)
	if n > end {
		dst = append(dst, passwordMask[:n-end]...)
	}
	copy(dst[lo+len(passwordMask):], dst[hi:end])
	copy(dst[lo:], passwordMask)
	return dst[:n]
}

func (sc *xmlScanner) response(dst []byte) ([]byte, bool) {
	sc.skipMisc()
	if !sc.expect(tagOpen, "methodResponse") {
		return dst, false
	}
	var ok bool
	switch {
	case sc.expect(tagOpen, "fault"):
		dst = append(dst, `{"fault":`...)
		if dst, ok = sc.value(dst, 0); !ok || !sc.expect(tagClose, "fault") {
			return dst, false
		}
	case sc.expect(tagOpen, "params"):
		dst = append(dst, `{"value":`...)
		if !sc.expect(tagOpen, "param") {
			return dst, false
		}
		if dst, ok = sc.value(dst, 0); !ok || !sc.expect(tagClose, "param") || !sc.expect(tagClose, "params") {
			return dst, false
		}
	default:
		return dst, false
	}
	dst = append(dst, '}')
	return dst, sc.expect(tagClose, "methodResponse")
}

// rawText returns the character data up to the next '<', without surrounding white space
// (numbers, booleans: no entities).
func (sc *xmlScanner) rawText() []byte {
	i := bytes.IndexByte(sc.b[sc.pos:], '<')
	if i < 0 {
		i = len(sc.b) - sc.pos
	}
	t := bytes.TrimSpace(sc.b[sc.pos : sc.pos+i])
	sc.pos += i
	return t
}

// value reads <value>...</value> onto dst as JSON: a string (untyped text, <string>,
// <dateTime.iso8601>, <base64>), a number (<int>, <i4>, <i8>, <double>), a boolean, null
// (<nil/>), an object (<struct>) or an array (<array>).
func (sc *xmlScanner) value(dst []byte, depth int) ([]byte, bool) {
	if depth > xmlrpcMaxDepth {
		return dst, false
	}
	open, empty := sc.open("value")
	if !open {
		return dst, false
	}
	if empty {
		return append(dst, `""`...), true
	}
	var ok bool
	save := sc.pos
	kind, name := sc.tag()
	if kind != tagOpen && kind != tagEmpty {
		sc.pos = save // text, possibly empty: a string
		dst = append(dst, '"')
		if dst, ok = sc.appendText(dst); !ok {
			return dst, false
		}
		return append(dst, '"'), sc.expect(tagClose, "value")
	}
	tname := b2s(name)
	if kind == tagEmpty {
		switch tname {
		case "string", "dateTime.iso8601", "base64":
			dst = append(dst, `""`...)
		case "nil", "ex:nil":
			dst = append(dst, "null"...)
		case "struct":
			dst = append(dst, "{}"...)
		case "array":
			dst = append(dst, "[]"...)
		default:
			return dst, false
		}
		return dst, sc.expect(tagClose, "value")
	}
	switch tname {
	case "string", "dateTime.iso8601", "base64":
		dst = append(dst, '"')
		if tname == "string" {
			if dst, ok = sc.appendText(dst); !ok {
				return dst, false
			}
		} else {
			dst = appendJSONInner(dst, sc.rawText())
		}
		dst = append(dst, '"')
	case "int", "i4", "i8":
		t := sc.rawText()
		neg := len(t) > 0 && t[0] == '-'
		if len(t) > 0 && (t[0] == '-' || t[0] == '+') {
			t = t[1:]
		}
		if len(t) == 0 {
			return dst, false
		}
		for _, c := range t {
			if c < '0' || c > '9' {
				return dst, false
			}
		}
		for len(t) > 1 && t[0] == '0' {
			t = t[1:]
		}
		if neg && !(len(t) == 1 && t[0] == '0') {
			dst = append(dst, '-')
		}
		dst = append(dst, t...)
	case "double":
		f, err := strconv.ParseFloat(b2s(sc.rawText()), 64)
		if err != nil || f-f != 0 { // malformed, NaN or infinite: not JSON
			return dst, false
		}
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	case "boolean":
		switch b2s(sc.rawText()) {
		case "1", "true":
			dst = append(dst, "true"...)
		case "0", "false":
			dst = append(dst, "false"...)
		default:
			return dst, false
		}
	case "struct":
		dst = append(dst, '{')
		for i := 0; !sc.expect(tagClose, "struct"); i++ {
			if !sc.expect(tagOpen, "member") || !sc.expect(tagOpen, "name") {
				return dst, false
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			if dst, ok = sc.appendText(dst); !ok || !sc.expect(tagClose, "name") {
				return dst, false
			}
			dst = append(dst, `":`...)
			if dst, ok = sc.value(dst, depth+1); !ok || !sc.expect(tagClose, "member") {
				return dst, false
			}
		}
		return append(dst, '}'), sc.expect(tagClose, "value")
	case "array":
		dst = append(dst, '[')
		if open, empty := sc.open("data"); !open {
			return dst, false
		} else if !empty {
			for i := 0; !sc.expect(tagClose, "data"); i++ {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, ok = sc.value(dst, depth+1); !ok {
					return dst, false
				}
			}
		}
		if !sc.expect(tagClose, "array") {
			return dst, false
		}
		return append(dst, ']'), sc.expect(tagClose, "value")
	default:
		return dst, false
	}
	if !sc.expect(tagClose, tname) {
		return dst, false
	}
	return dst, sc.expect(tagClose, "value")
}

// xcall is an xmlrpc lookup's call: the method and its compiled params.
type xcall struct {
	method string
	params []xparam
}

// xparam is one compiled param of an xmlrpc lookup: an expression, a literal (lit holds its
// <value>), or an array or struct of xparams.
type xparam struct {
	e     *expr
	lit   string
	kids  []xparam
	names []string // struct member names, sorted; nil for an array
	isArr bool
}

// compileXParam compiles a param: a string is an expression, an integer or boolean a
// literal, an array an <array>, a table a <struct> (its members sorted by name).
func compileXParam(v any, sc *scope) (xparam, error) {
	switch x := v.(type) {
	case string:
		e, err := parseExpr(strings.TrimSpace(x), sc)
		if err != nil {
			return xparam{}, err
		}
		return xparam{e: &e}, nil
	case int64:
		return xparam{lit: "<value><int>" + strconv.FormatInt(x, 10) + "</int></value>"}, nil
	case bool:
		b := "0"
		if x {
			b = "1"
		}
		return xparam{lit: "<value><boolean>" + b + "</boolean></value>"}, nil
	case []any:
		p := xparam{isArr: true}
		for _, el := range x {
			k, err := compileXParam(el, sc)
			if err != nil {
				return p, err
			}
			p.kids = append(p.kids, k)
		}
		return p, nil
	case map[string]any:
		p := xparam{names: make([]string, 0, len(x))}
		for k := range x {
			p.names = append(p.names, k)
		}
		sort.Strings(p.names)
		for _, k := range p.names {
			kid, err := compileXParam(x[k], sc)
			if err != nil {
				return p, fmt.Errorf("%s: %v", k, err)
			}
			p.kids = append(p.kids, kid)
		}
		return p, nil
	}
	return xparam{}, fmt.Errorf("a param must be an expression string, an integer, a boolean, an array or a table, not %T", v)
}

// exprs calls f on every expression of p.
func (p *xparam) exprs(f func(*expr)) {
	if p.e != nil {
		f(p.e)
	}
	for i := range p.kids {
		p.kids[i].exprs(f)
	}
}

// appendCall writes the methodCall of c. It reports false when a param's expression has
// no value (the lookup is then not made).
func (s *state) appendCall(dst []byte, c *xcall, x *Exchange) ([]byte, bool) {
	dst = append(dst, `<?xml version="1.0"?><methodCall><methodName>`...)
	dst = appendXMLText(dst, c.method)
	dst = append(dst, "</methodName><params>"...)
	for i := range c.params {
		dst = append(dst, "<param>"...)
		var ok bool
		if dst, ok = s.appendXParam(dst, &c.params[i], x); !ok {
			return dst, false
		}
		dst = append(dst, "</param>"...)
	}
	return append(dst, "</params></methodCall>"...), true
}

func (s *state) appendXParam(dst []byte, p *xparam, x *Exchange) ([]byte, bool) {
	switch {
	case p.e != nil:
		v := s.eval(p.e, x)
		switch v.kind {
		case vMissing:
			return dst, false
		case vJSON:
			return appendXMLJSON(dst, v.res, 0), true
		case vNum:
			dst = append(dst, "<value><int>"...)
			dst = append(dst, v.text...)
			return append(dst, "</int></value>"...), true
		case vBool:
			if b2s(v.text) == "true" {
				return append(dst, "<value><boolean>1</boolean></value>"...), true
			}
			return append(dst, "<value><boolean>0</boolean></value>"...), true
		}
		dst = append(dst, "<value><string>"...)
		dst = appendXMLText(dst, b2s(v.text))
		return append(dst, "</string></value>"...), true
	case p.lit != "":
		return append(dst, p.lit...), true
	case p.isArr:
		dst = append(dst, "<value><array><data>"...)
		for i := range p.kids {
			var ok bool
			if dst, ok = s.appendXParam(dst, &p.kids[i], x); !ok {
				return dst, false
			}
		}
		return append(dst, "</data></array></value>"...), true
	}
	dst = append(dst, "<value><struct>"...)
	for i := range p.kids {
		dst = append(dst, "<member><name>"...)
		dst = appendXMLText(dst, p.names[i])
		dst = append(dst, "</name>"...)
		var ok bool
		if dst, ok = s.appendXParam(dst, &p.kids[i], x); !ok {
			return dst, false
		}
		dst = append(dst, "</member>"...)
	}
	return append(dst, "</struct></value>"...), true
}

// appendXMLJSON writes a JSON value as an XML-RPC <value>: a string as <string>, an integer
// as <int>, another number as <double>, true/false as <boolean>, null as <nil/>, an array
// as <array>, an object as <struct>.
func appendXMLJSON(dst []byte, r gjson.Result, depth int) []byte {
	switch r.Type {
	case gjson.String:
		dst = append(dst, "<value><string>"...)
		dst = appendXMLText(dst, r.Str)
		return append(dst, "</string></value>"...)
	case gjson.Number:
		if r.Num == float64(int64(r.Num)) && bytes.IndexAny(s2b(r.Raw), ".eE") < 0 {
			dst = append(dst, "<value><int>"...)
			dst = append(dst, r.Raw...)
			return append(dst, "</int></value>"...)
		}
		dst = append(dst, "<value><double>"...)
		dst = strconv.AppendFloat(dst, r.Num, 'f', -1, 64)
		return append(dst, "</double></value>"...)
	case gjson.True:
		return append(dst, "<value><boolean>1</boolean></value>"...)
	case gjson.False:
		return append(dst, "<value><boolean>0</boolean></value>"...)
	case gjson.Null:
		return append(dst, "<value><nil/></value>"...)
	}
	if depth > xmlrpcMaxDepth {
		return append(dst, "<value><nil/></value>"...)
	}
	if r.IsArray() {
		dst = append(dst, "<value><array><data>"...)
		r.ForEach(func(_, v gjson.Result) bool {
			dst = appendXMLJSON(dst, v, depth+1)
			return true
		})
		return append(dst, "</data></array></value>"...)
	}
	dst = append(dst, "<value><struct>"...)
	r.ForEach(func(k, v gjson.Result) bool {
		dst = append(dst, "<member><name>"...)
		dst = appendXMLText(dst, k.Str)
		dst = append(dst, "</name>"...)
		dst = appendXMLJSON(dst, v, depth+1)
		dst = append(dst, "</member>"...)
		return true
	})
	return append(dst, "</struct></value>"...)
}

// appendXMLText writes s as XML character data.
func appendXMLText(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '&':
			rep = "&amp;"
		case '\r':
			rep = "&#13;"
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, rep...)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

var textXML = []byte("text/xml")

// prepareCall writes l's methodCall into the state. It reports false when a param has no
// value: the lookup is then not made.
func (s *state) prepareCall(l *clookup, x *Exchange) bool {
	var ok bool
	s.xml.call, ok = s.appendCall(s.xml.call[:0], l.call, x)
	return ok
}

// postCall makes an xmlrpc lookup: it POSTs the prepared call to s.url and appends the
// answer's JSON form to s.lbuf (nothing when the answer is no methodResponse: its values
// are then missing).
func (s *state) postCall(l *clookup, x *Exchange) (status int, body []byte, err error) {
	p, isPoster := x.Upstream.(Poster)
	if !isPoster {
		return 0, s.lbuf, fmt.Errorf("rules: lookup %q: the upstream cannot POST", l.name)
	}
	status, s.xml.raw, err = p.Post(s.xml.raw[:0], s.url, textXML, s.xml.call)
	if err != nil || status == 0 {
		return status, s.lbuf, err
	}
	begin := len(s.lbuf)
	out, ok := appendXMLRPCJSON(s.lbuf, s.xml.raw, true)
	if !ok {
		out = out[:begin]
	}
	return status, out, nil
}

// Post implements Poster for xmlrpc lookups: it answers by "POST path method params", the
// params as JSON with the password shown as "***", and records each call so.
func (f *CaseFetcher) Post(dst, pq, contentType, body []byte) (int, []byte, error) {
	key := "POST " + string(pq) + " " + xmlrpcCallKey(body)
	f.Calls = append(f.Calls, key)
	if f.NoAnswers {
		return 0, dst, ErrNoAnswer
	}
	a, ok := f.Answers[key]
	if !ok {
		return 404, append(dst, "not found"...), nil
	}
	f.Elapsed += a.Delay
	if a.Err {
		return 0, dst, fmt.Errorf("fake: connection refused")
	}
	return a.Status, append(dst, a.Body...), nil
}

// xmlrpcCallKey shows a methodCall as "method [params]" with its password as "***".
func xmlrpcCallKey(body []byte) string {
	doc, ok := appendXMLRPCJSON(nil, body, false)
	if !ok {
		return "(not a methodCall)"
	}
	r := gjson.ParseBytes(doc)
	method := r.Get("method").String()
	_, pass := xmlrpcCreds([]byte(method))
	var b strings.Builder
	b.WriteString(method + " [")
	for i, p := range r.Get("params").Array() {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == pass {
			b.WriteString(`"***"`)
		} else {
			b.WriteString(p.Raw)
		}
	}
	b.WriteString("]")
	return b.String()
}

// memoSource is the source under which e's value is memoised: XML-RPC documents apart from
// the JSON bodies.
func (e *expr) memoSource() source {
	if e.xml {
		return e.src + 64
	}
	return e.src
}

// checkXMLRPCExpr refuses the reads of the request's password outside an xmlrpc lookup's
// params: the whole document and its password member, so that no payload, condition or
// lookup path can carry it.
func checkXMLRPCExpr(e *expr, head, tail string, sc *scope) error {
	if head != "xmlrpc" || sc != nil && sc.xparams {
		return nil
	}
	if tail == "" {
		return fmt.Errorf("%q: xmlrpc needs a path (xmlrpc.method, xmlrpc.params.N..., xmlrpc.user): the whole call holds the password", e.text)
	}
	first, _, _ := strings.Cut(tail, ".")
	if strings.HasPrefix(first, "password") {
		return fmt.Errorf("%q: xmlrpc.password is the client's password: only an xmlrpc lookup's params may read it", e.text)
	}
	if first, _, _ = strings.Cut(first, "|"); first != "method" && first != "params" && first != "user" {
		// A wildcard (xmlrpc.pass*), an escape (xmlrpc.p\assword), a modifier
		// (xmlrpc.@this) or a multipath would reach the password member too.
		return fmt.Errorf("%q: xmlrpc.<path> starts with method, params or user", e.text)
	}
	return nil
}

// compileXMLRPCLookup compiles l's xmlrpc and params into cl.
func (d *decoder) compileXMLRPCLookup(l *Lookup, cl *clookup, lsc *scope, lp, where string) {
	if l.XMLRPC == "" {
		if l.Params != nil {
			d.errorf(lp+sep+"params", where, "lookup %q: params is for an xmlrpc lookup (xmlrpc = \"method\")", l.Name)
		}
		return
	}
	for _, c := range l.XMLRPC {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '/') {
			d.errorf(lp+sep+"xmlrpc", where, "lookup %q: xmlrpc %q: a method name holds letters, digits, '_', '.', ':' and '/'", l.Name, l.XMLRPC)
			return
		}
	}
	if l.Cache != nil && *l.Cache {
		d.errorf(lp+sep+"cache", where, "lookup %q: an xmlrpc lookup is made with the client's credentials and is never cached: cache must be false", l.Name)
	}
	cl.cache = false
	psc := *lsc
	psc.xparams = true
	c := &xcall{method: l.XMLRPC}
	for i, v := range l.Params {
		p, err := compileXParam(v, &psc)
		if err != nil {
			d.errorf(lp+sep+"params", where, "lookup %q: params[%d]: %v", l.Name, i, err)
			continue
		}
		p.exprs(func(e *expr) {
			if !cl.after && e.stage() != stReq && e.stage() != stItem {
				d.errorf(lp+sep+"params", where, "lookup %q: params[%d]: %s is not known before forwarding (stage = \"after\"?)", l.Name, i, e.text)
			}
		})
		c.params = append(c.params, p)
	}
	cl.call = c
}

// lookupTarget names the lookup just made for traces: its path and query, or for an xmlrpc
// lookup "POST path method [params]" with the password shown as "***".
func (s *state) lookupTarget(l *clookup) string {
	if l.call == nil {
		return string(s.url)
	}
	return "POST " + string(s.url) + " " + xmlrpcCallKey(s.xml.call)
}
