package rules

import (
	"bytes"
	"fmt"

	"github.com/tidwall/gjson"
)

// This file holds the sources and the filter that web forms and redirects need (WordPress's
// admin screens, for one): every value of a repeated query parameter or form field
// (queryall., formall.: "post[]=1&post[]=2"), a comma-separated list (|split: "ids=1,2"),
// the query and fragment of the upstream's redirect (location., location#fragment), and a
// lookup's answer as plain text (lookup.<name>#body, which later lookups of the rule may
// insert: a nonce), and the response body as text (respbody: an HTML or XML answer).

// parseListExpr compiles the heads queryall, formall, location, location#fragment and
// respbody.
func parseListExpr(e *expr, head, tail string, dotted bool) error {
	switch head {
	case "queryall", "formall", "location":
		if !dotted || tail == "" {
			what := map[string]string{"queryall": "parameter", "formall": "field", "location": "parameter"}[head]
			return fmt.Errorf("%q: %s.<%s> needs a name", e.text, head, what)
		}
		e.src = map[string]source{"queryall": srcQueryAll, "formall": srcFormAll, "location": srcLocation}[head]
		e.name = tail
	case "location#fragment", "respbody":
		if dotted {
			return fmt.Errorf("%q: %s takes no path", e.text, head)
		}
		e.src = srcLocationFrag
		if head == "respbody" {
			e.src = srcRespBody
		}
	}
	return nil
}

// listSource reports whether e reads an array that each may iterate: the JSON sources, the
// repeated-value sources, or any value through a last |titlelist or |split.
func listSource(e *expr) bool {
	switch e.src {
	case srcReq, srcResp, srcLookup, srcItem, srcQueryAll, srcFormAll:
		return eachFilters(e.filters)
	}
	return len(e.filters) > 0 && (e.filters[len(e.filters)-1] == fSplit || e.filters[len(e.filters)-1] == fTitleList)
}

// lookupRefs appends the indexes of the lookups e reads (a concatenation's operands too).
func lookupRefs(e *expr, dst []int) []int {
	switch e.src {
	case srcConcat:
		for i := range e.parts {
			dst = lookupRefs(&e.parts[i], dst)
		}
	case srcLookup, srcLookupStatus, srcLookupBody:
		dst = append(dst, e.idx)
	}
	return dst
}

// evalList evaluates the sources of this file.
func (s *state) evalList(e *expr, x *Exchange) value {
	switch e.src {
	case srcQueryAll:
		return s.allParams(x.Query, e.name)
	case srcFormAll:
		if x.Header == nil || len(x.Body) == 0 || !hasPrefixFold(x.Header.Peek("Content-Type"), "application/x-www-form-urlencoded") {
			return value{}
		}
		return s.allParams(formPairs(x), e.name)
	case srcLocation, srcLocationFrag:
		if x.RespHeader == nil {
			return value{}
		}
		loc := x.RespHeader.Peek("Location")
		if len(loc) == 0 {
			return value{}
		}
		frag := []byte(nil)
		hasFrag := false
		if i := bytes.IndexByte(loc, '#'); i >= 0 {
			loc, frag, hasFrag = loc[:i], loc[i+1:], true
		}
		if e.src == srcLocationFrag {
			if !hasFrag {
				return value{}
			}
			s.scratch = appendUnescape(s.scratch[:0], frag, false)
			return value{kind: vText, text: s.scratch}
		}
		i := bytes.IndexByte(loc, '?')
		if i < 0 {
			return value{}
		}
		v, ok := findParam(loc[i+1:], e.name, &s.scratch, false)
		if !ok {
			return value{}
		}
		return value{kind: vText, text: v}
	case srcRespBody:
		if x.RespTrunc || len(x.RespBody) == 0 {
			return value{}
		}
		return value{kind: vText, text: x.RespBody}
	case srcLookupBody:
		// Only a 2xx answer's text: an error page must not become a value (a nonce in the
		// next lookup's URL, say).
		l := s.lookupOf(e, x)
		if l == nil || l.status < 200 || l.status > 299 {
			return value{}
		}
		return value{kind: vText, text: bytes.TrimSpace(l.body)}
	}
	return value{}
}

// allParams returns every value of the form-urlencoded pairs of q named name, decoded, as a
// JSON array of strings in s.lists (which only grows during an exchange; see titleList);
// missing when there is none.
func (s *state) allParams(q []byte, name string) value {
	start := len(s.lists)
	s.lists = append(s.lists, '[')
	n := 0
	for len(q) > 0 {
		var k, v []byte
		k, v, q = nextPair(q)
		if !keyEqual(k, name) {
			continue
		}
		if n > 0 {
			s.lists = append(s.lists, ',')
		}
		n++
		s.scratch = appendUnescape(s.scratch[:0], v, true)
		s.lists = appendJSONString(s.lists, s.scratch)
	}
	if n == 0 {
		s.lists = s.lists[:start]
		return value{}
	}
	s.lists = append(s.lists, ']')
	return value{kind: vJSON, res: gjson.Result{Type: gjson.JSON, Raw: b2s(s.lists[start:])}}
}

// splitList reads v as a comma-separated list ("1,2, 3"): a JSON array of strings, each
// element without the spaces around it, empty elements dropped, in s.lists. A JSON array is
// kept as it is; a JSON object is missing.
func (s *state) splitList(v value) value {
	if v.kind == vJSON {
		switch {
		case v.res.IsArray():
			return v
		case v.res.IsObject():
			return value{}
		}
	}
	t := v.asText()
	start := len(s.lists)
	s.lists = append(s.lists, '[')
	n := 0
	for len(t) > 0 {
		el := t
		if i := bytes.IndexByte(t, ','); i >= 0 {
			el, t = t[:i], t[i+1:]
		} else {
			t = nil
		}
		el = bytes.TrimSpace(el)
		if len(el) == 0 {
			continue
		}
		if n > 0 {
			s.lists = append(s.lists, ',')
		}
		n++
		s.lists = appendJSONString(s.lists, el)
	}
	s.lists = append(s.lists, ']')
	return value{kind: vJSON, res: gjson.Result{Type: gjson.JSON, Raw: b2s(s.lists[start:])}}
}

// userLookup returns [classify] lookup idx, made now (after the earlier lookups its path
// reads) if it was not yet.
func (s *state) userLookup(idx int, x *Exchange) *lookRes {
	l := &s.ulooks[idx]
	if !l.done {
		cl := &s.m.userLookups[idx]
		for _, d := range cl.deps {
			s.userLookup(d, x)
		}
		s.fetch(cl, "[classify]", l, x, 0)
	}
	return l
}

// beforeLookups reports whether e, in the path of a lookup made before forwarding, reads
// only the request and lookups made before forwarding (done holds the rule's earlier
// lookups).
func beforeLookups(e *expr, done []clookup) bool {
	switch e.src {
	case srcConcat:
		for i := range e.parts {
			p := &e.parts[i]
			if st := p.stage(); st != stReq && st != stItem && !beforeLookups(p, done) {
				return false
			}
		}
		return true
	case srcLookup, srcLookupStatus, srcLookupBody:
		return e.idx >= 0 && e.idx < len(done) && !done[e.idx].after
	}
	return false
}
