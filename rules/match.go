package rules

import (
	"bytes"
	"sync"
	"time"
)

// setPath sets s.path to x.Path's canonical form: x.Path itself when it is canonical, else
// built in s.pathBuf.
func (s *state) setPath(x *Exchange) {
	s.path = nil
	if len(x.Path) == 0 || x.Path[0] != '/' {
		return
	}
	s.path = x.Path
	if !isCanonPath(x.Path) {
		s.pathBuf = appendCanonPath(s.pathBuf[:0], x.Path)
		s.path = s.pathBuf
	}
	s.routePath(x)
}

// segment returns the idx-th segment of the exchange's canonical path (or, for rest,
// everything from it on), still percent-encoded.
func (s *state) segment(idx int, rest bool) ([]byte, bool) {
	if len(s.path) == 0 {
		return nil, false
	}
	p := s.path[1:]
	for i := 0; i < idx; i++ {
		j := bytes.IndexByte(p, '/')
		if j < 0 {
			return nil, false
		}
		p = p[j+1:]
	}
	if rest {
		return p, len(p) > 0
	}
	if j := bytes.IndexByte(p, '/'); j >= 0 {
		p = p[:j]
	}
	return p, true
}

var overrideHeaders = [...]string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// override returns the method a POST asks for through a header, a _method query parameter or
// a _method form field; 0 for none.
func (s *state) override(x *Exchange) uint8 {
	var name []byte
	if x.Header != nil {
		for _, h := range overrideHeaders {
			if v := x.Header.Peek(h); len(v) > 0 {
				name = v
				break
			}
		}
	}
	if name == nil {
		if v, ok := findParam(x.Query, "_method", &s.scratch, s.lastParam()); ok {
			name = v
		} else if v, ok := s.formField(x, "_method"); ok {
			name = v
		}
	}
	if len(name) == 0 || len(name) > 8 {
		return 0
	}
	var up [8]byte
	for i, c := range name {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return methodIndex(up[:len(name)])
}

// begin matches the request: method (with overrides), path, request-only conditions, and
// makes the rules' before-lookups.
func (m *Matcher) begin(s *state, x *Exchange, e *env) {
	s.reset(m, e)
	s.begun = true
	mi := methodIndex(x.Method)
	if mi == mPOST {
		if o := s.override(x); o != 0 {
			mi = o
		}
	}
	s.method = mi
	if mi == 0 || len(x.Path) == 0 || x.Path[0] != '/' {
		return
	}
	s.setPath(x)
	s.cands = m.root.collect(s.path[1:], s.cands[:0])
	n := 0
	for _, c := range s.cands {
		if m.rules[c].methods&(1<<mi) != 0 {
			s.cands[n] = c
			n++
		}
	}
	s.cands = s.cands[:n]
	// File order, so that events come out in the order of the rules.
	for i := 1; i < len(s.cands); i++ {
		for j := i; j > 0 && s.cands[j] < s.cands[j-1]; j-- {
			s.cands[j], s.cands[j-1] = s.cands[j-1], s.cands[j]
		}
	}
	if cap(s.reqOK) < n {
		s.reqOK = make([]bool, n)
	}
	s.reqOK = s.reqOK[:n]
	nl := n * m.maxLookups
	if cap(s.looks) < nl {
		s.looks = make([]lookRes, nl)
	}
	s.looks = s.looks[:nl]
	for i := range s.looks {
		s.looks[i] = lookRes{}
	}
	for i, c := range s.cands {
		r := m.rules[c]
		s.cur = i
		s.reqOK[i] = s.conds(r.reqConds, x)
		if !s.reqOK[i] {
			continue
		}
		for li := range r.lookups {
			if !r.lookups[li].after {
				s.doLookup(r, i, li, x)
			}
		}
	}
}

// finish matches the response and builds the events, appending them to dst and their
// payloads to buf.
func (m *Matcher) finish(s *state, x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	if !s.begun {
		m.begin(s, x, s.env)
	} else {
		s.setPath(x) // x's slices are valid only during the call: read x.Path again
	}
	s.newPhase()
	s.now = s.env.now().UnixMilli()
	for i, c := range s.cands {
		r := m.rules[c]
		s.cur = i
		if !r.statusOK(x.Status) {
			if s.tr != nil {
				s.tr.statusFailed(s, i, x.Status)
			}
			continue
		}
		if s.env.cache != nil {
			for _, inv := range r.invalidate {
				s.url, _ = s.appendURL(s.url[:0], inv, x)
				p := s.url
				if q := bytes.IndexByte(p, '?'); q >= 0 {
					p = p[:q]
				}
				s.env.cache.drop(p)
			}
		}
		if !s.reqOK[i] || !s.conds(r.respConds, x) {
			continue
		}
		failed := false
		for li := range r.lookups {
			if r.lookups[li].after {
				s.doLookup(r, i, li, x)
			}
			if l := &s.looks[i*m.maxLookups+li]; !l.done || l.failed && r.lookups[li].each == nil {
				failed = true
			}
		}
		if failed && !r.emitOnLookupError {
			s.matched = true // a lookup failure, counted apart, not a gap in the rules
			if s.tr != nil {
				s.tr.lookupSkipped(s, i)
			}
			continue
		}
		if !s.conds(r.lookConds, x) {
			continue
		}
		s.matched = true
		if s.tr != nil {
			s.tr.matched(s, i)
		}
		for ei := range r.emits {
			dst, buf = s.emit(&r.emits[ei], x, dst, buf)
		}
	}
	return dst, buf
}

var matchStates = sync.Pool{New: func() any { return new(state) }}

var plainEnv = env{now: time.Now}

// Match classifies one whole exchange (request and response) in a single call: lookups are
// made through x.Upstream, uncached and uncounted. It appends the events to dst and their
// payloads to buf and returns both; the events' slices alias buf. The Classifier is what the
// proxy uses; Match is for tools and tests.
func (m *Matcher) Match(x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	s := matchStates.Get().(*state)
	m.begin(s, x, &plainEnv)
	dst, buf = m.finish(s, x, dst, buf)
	s.release()
	matchStates.Put(s)
	return dst, buf
}
