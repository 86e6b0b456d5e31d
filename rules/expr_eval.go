package rules

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"github.com/tidwall/gjson"
)

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

// evalSource computes e's value from its source, before filters. What most expressions
// read, the JSON documents (the bodies memoized per phase), literals and headers, is read
// here; the other sources one call further, in evalText.
func (s *state) evalSource(e *expr, x *Exchange) value {
	switch e.src {
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
		if l := s.lookupOf(e, x); l != nil && l.status != 0 {
			return s.jsonAt(l.body, e)
		}
		return value{}
	case srcLit:
		return value{kind: vText, text: s2b(e.name)}
	case srcHeader:
		return headerValue(x.Header, e.name)
	case srcRespHeader:
		return headerValue(x.RespHeader, e.name)
	}
	return s.evalText(e, x)
}

// evalText computes the value of a source that is not a JSON document, a literal or a
// header: a path segment, a query parameter, a form field, a number, a user, a list
// (lists.go), a response cookie, or an expression of other expressions.
func (s *state) evalText(e *expr, x *Exchange) value {
	switch e.src {
	case srcConcat:
		return s.concatenate(e, x)
	case srcFirst:
		return s.first(e, x)
	case srcRespCookie:
		return s.respCookie(e, x)
	case srcPath:
		raw, ok := s.segment(e.idx, e.rest)
		if !ok {
			return value{}
		}
		s.scratch = appendUnescape(s.scratch[:0], raw, false)
		return value{kind: vText, text: s.scratch}
	case srcQuery:
		if v, ok := findParam(x.Query, e.name, &s.scratch, s.lastParam()); ok {
			return value{kind: vText, text: v} // an empty value counts
		}
	case srcForm:
		if f, ok := s.formField(x, e.name); ok {
			return value{kind: vText, text: f}
		}
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
		if x.Status != 0 {
			s.scratch = strconv.AppendInt(s.scratch[:0], int64(x.Status), 10)
			return value{kind: vNum, text: s.scratch}
		}
	case srcMethod:
		return value{kind: vText, text: s2b(methodNames[s.method])}
	case srcUser:
		return nonEmpty(s.userKey(x))
	case srcBasicUser:
		return nonEmpty(s.basicUser(x))
	case srcNow:
		s.scratch = strconv.AppendInt(s.scratch[:0], s.now, 10)
		return value{kind: vNum, text: s.scratch}
	}
	return value{}
}

// nonEmpty is t as text, missing when empty.
func nonEmpty(t []byte) value {
	if len(t) == 0 {
		return value{}
	}
	return value{kind: vText, text: t}
}

// headerValue is the header named name, missing when absent or empty (or before there are
// headers: a nil h).
func headerValue(h Peeker, name string) value {
	if h == nil {
		return value{}
	}
	return nonEmpty(h.Peek(name))
}

// concatenate joins the texts of e's operands; missing when any is missing. Operands may use the
// scratch buffers; their text is copied as soon as it is read.
func (s *state) concatenate(e *expr, x *Exchange) value {
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
