package rules

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// xmlrpcMaxDepth bounds the nesting of values read from a body (arrays and structs).
const xmlrpcMaxDepth = 64

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
	tname := b2s(name)
	switch {
	case kind != tagOpen && kind != tagEmpty:
		sc.pos = save // text, possibly empty: a string
		dst = append(dst, '"')
		if dst, ok = sc.appendText(dst); !ok {
			return dst, false
		}
		dst = append(dst, '"')
	case kind == tagEmpty:
		dst, ok = appendEmptyValue(dst, tname)
	case tname == "struct":
		dst, ok = sc.structValue(dst, depth)
	case tname == "array":
		dst, ok = sc.arrayValue(dst, depth)
	default:
		dst, ok = sc.scalar(dst, tname)
	}
	if !ok {
		return dst, false
	}
	return dst, sc.expect(tagClose, "value")
}

// appendEmptyValue writes the JSON of a value written as an empty element (<string/>,
// <nil/>, <struct/>, <array/>); false for another.
func appendEmptyValue(dst []byte, tname string) ([]byte, bool) {
	switch tname {
	case "string", "dateTime.iso8601", "base64":
		return append(dst, `""`...), true
	case "nil", "ex:nil":
		return append(dst, "null"...), true
	case "struct":
		return append(dst, "{}"...), true
	case "array":
		return append(dst, "[]"...), true
	}
	return dst, false
}

// scalar reads the content of a <tname> value that holds text, and its closing tag, onto
// dst as JSON.
func (sc *xmlScanner) scalar(dst []byte, tname string) ([]byte, bool) {
	var ok bool
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
		if dst, ok = appendXMLInt(dst, sc.rawText()); !ok {
			return dst, false
		}
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
	default:
		return dst, false
	}
	return dst, sc.expect(tagClose, tname)
}

// appendXMLInt writes an <int>'s text t as a JSON number: an optional sign, digits, leading
// zeros dropped (and the sign of a zero).
func appendXMLInt(dst, t []byte) ([]byte, bool) {
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
	return append(dst, t...), true
}

// structValue reads a <struct>'s members, up to its closing tag, onto dst as a JSON object.
func (sc *xmlScanner) structValue(dst []byte, depth int) ([]byte, bool) {
	var ok bool
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
	return append(dst, '}'), true
}

// arrayValue reads an <array>'s <data>, up to its closing tag, onto dst as a JSON array.
func (sc *xmlScanner) arrayValue(dst []byte, depth int) ([]byte, bool) {
	var ok bool
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
	return append(dst, ']'), true
}
