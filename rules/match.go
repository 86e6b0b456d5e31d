package rules

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// env is what matching needs from its caller: the lookup cache, the counters and the clock.
type env struct {
	cache *lookupCache // nil: no caching
	stats *counters    // nil: not counted
	now   func() time.Time
	log   *slog.Logger // nil: failures not logged
}

// lookRes is one lookup's outcome for one candidate rule.
type lookRes struct {
	status int
	body   []byte
	done   bool
	failed bool
	// A per-element lookup's answers are elems[first:first+n] of the state, one per element
	// in array order (the elements beyond n count as failed).
	first, n int
}

// state is the per-exchange matching state, pooled. Every slice in it is reused.
type state struct {
	m      *Matcher
	env    *env
	begun  bool
	method uint8
	// matched: a rule's method, path, status and conditions held in finish (or its lookup
	// failed); false makes a write an unmatched one (see unmatched.go).
	matched bool

	// path is the request's canonical path: x.Path when it is canonical, else pathBuf; nil
	// when the request cannot match (no method, no leading '/').
	path, pathBuf []byte
	// routeBuf and routeBuf2 hold a route parameter's value and path (route.go).
	routeBuf, routeBuf2 []byte

	cands []int32   // candidate rules (method and path matched), in file order
	reqOK []bool    // per candidate: request conditions held
	looks []lookRes // per candidate x m.maxLookups
	cur   int       // the candidate being evaluated

	scratch, scratch2, auth, url, lbuf, userBuf, cmp, concat []byte
	// lists holds the arrays made by |titlelist in this exchange, appended and never
	// overwritten until the next exchange (an each may iterate one while others are made);
	// listIdx is the scratch index of one array's elements.
	lists    []byte
	listIdx  []int32
	item     gjson.Result
	itemIdx  int // the element's index in its array
	inItem   bool
	userDone bool
	now      int64

	elems  []lookRes // per-element lookups' answers (see lookRes.first)
	ulooks []lookRes // [classify] lookups, made when user needs them

	events []Event
	buf    []byte

	// memo holds req and resp values already looked up in this phase of the exchange
	// (valid when their gen is the current one); a new phase (Before, After) bumps gen.
	memo []memoVal
	gen  uint32

	xml xmlState // the exchange's XML-RPC documents (xmlrpc.go)

	// tr records why each candidate rule matched or not; set only by Explain (explain.go),
	// nil on the proxy's path.
	tr *tracer
}

type memoVal struct {
	v   value
	gen uint32
}

// newPhase invalidates the memo: the exchange's bodies may have changed.
func (s *state) newPhase() {
	if cap(s.memo) < s.m.memoSlots {
		s.memo = make([]memoVal, s.m.memoSlots)
	}
	s.memo = s.memo[:s.m.memoSlots]
	s.gen++
	if s.gen == 0 { // wrapped: old entries could look current
		clear(s.memo)
		s.gen = 1
	}
}

// maxKeep bounds each buffer a pooled state keeps between exchanges; a larger one (a huge
// payload or lookup answer) is dropped on release.
const maxKeep = 256 << 10

// release drops the matcher and any oversized buffer before the state goes back to its pool.
func (s *state) release() {
	s.m, s.env = nil, nil
	s.path = nil // may alias the exchange's
	s.item = gjson.Result{}
	for _, b := range []*[]byte{&s.pathBuf, &s.scratch, &s.scratch2, &s.auth, &s.url, &s.lbuf, &s.userBuf, &s.cmp, &s.concat, &s.lists, &s.buf, &s.xml.req, &s.xml.resp, &s.xml.call, &s.xml.raw} {
		if cap(*b) > maxKeep {
			*b = nil
		}
	}
	if cap(s.events) > 1024 {
		s.events = nil
	}
	if cap(s.listIdx) > 1024 {
		s.listIdx = nil
	}
	clear(s.events[:cap(s.events)]) // drop references to payload buffers
	for i := range s.looks {
		s.looks[i] = lookRes{}
	}
	if cap(s.elems) > 1024 {
		s.elems = nil
	}
	clear(s.elems[:cap(s.elems)])
	clear(s.ulooks[:cap(s.ulooks)])
}

func (s *state) reset(m *Matcher, e *env) {
	s.m, s.env = m, e
	s.newPhase()
	s.begun, s.method, s.matched = false, 0, false
	s.path = nil
	s.cands = s.cands[:0]
	s.lbuf = s.lbuf[:0]
	s.lists = s.lists[:0]
	s.userBuf = s.userBuf[:0]
	s.userDone, s.inItem = false, false
	s.item = gjson.Result{}
	s.elems = s.elems[:0]
	n := len(m.userLookups)
	if cap(s.ulooks) < n {
		s.ulooks = make([]lookRes, n)
	}
	s.ulooks = s.ulooks[:n]
	clear(s.ulooks)
}

// lookup returns the current candidate's lookup idx, or nil when it was not made. For a
// per-element lookup it is the current element's answer; an element it did not reach
// counts as failed.
func (s *state) lookup(idx int) *lookRes {
	if idx < 0 || idx >= s.m.maxLookups {
		return nil
	}
	l := &s.looks[s.cur*s.m.maxLookups+idx]
	if !l.done {
		return nil
	}
	if s.m.rules[s.cands[s.cur]].lookups[idx].each != nil {
		if !s.inItem || s.itemIdx >= l.n {
			return &failedLook
		}
		return &s.elems[l.first+s.itemIdx]
	}
	return l
}

// failedLook stands for a per-element lookup not made for lack of budget.
var failedLook = lookRes{done: true, failed: true}

// lookupOf returns the lookup e reads: the current rule's, or a [classify] lookup, made now
// if it was not yet.
func (s *state) lookupOf(e *expr, x *Exchange) *lookRes {
	if !e.global {
		return s.lookup(e.idx)
	}
	if e.idx < 0 || e.idx >= len(s.ulooks) {
		return nil
	}
	return s.userLookup(e.idx, x)
}

// Wants reports whether a request with this method and raw path could match a rule. It is
// conservative: a POST may carry a method override, so it is checked against every method.
// The path is matched in its canonical form (see "Path templates"). It does not allocate.
func (m *Matcher) Wants(method, path []byte) bool {
	mi := methodIndex(method)
	if mi == 0 || len(path) == 0 || path[0] != '/' {
		return false
	}
	want := uint8(1) << mi
	if mi == mPOST {
		want = 0xff
	}
	if m.root.mask&want == 0 {
		return false
	}
	if isCanonPath(path) {
		return m.route != nil && m.route.applies(path) || m.root.wants(path[1:], want, m.rules)
	}
	if canonLen(path) <= canonBufMax {
		var buf [canonBufMax]byte
		c := appendCanonPath(buf[:0], path)
		return m.route != nil && m.route.applies(c) || m.root.wants(c[1:], want, m.rules)
	}
	bp := canonBufs.Get().(*[]byte)
	c := appendCanonPath((*bp)[:0], path)
	ok := m.route != nil && m.route.applies(c) || m.root.wants(c[1:], want, m.rules)
	if cap(c) <= maxKeep {
		*bp = c[:0]
		canonBufs.Put(bp)
	}
	return ok
}

func anyMethod(list []int32, want uint8, rules []*crule) bool {
	for _, i := range list {
		if rules[i].methods&want != 0 {
			return true
		}
	}
	return false
}

// cutSlash splits p at its first '/': the segment, the rest after the '/', and whether there
// was one.
func cutSlash(p []byte) (seg, rest []byte, more bool) {
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:], true
	}
	return p, nil, false
}

func (n *tnode) wants(p []byte, want uint8, rules []*crule) bool {
	if n.mask&want == 0 {
		return false
	}
	if len(n.rest) > 0 && len(p) > 0 && anyMethod(n.rest, want, rules) {
		return true
	}
	seg, tail, more := cutSlash(p)
	if c := n.lit[string(seg)]; c != nil {
		if more && c.wants(tail, want, rules) || !more && anyMethod(c.end, want, rules) {
			return true
		}
	}
	if c := n.param; c != nil && len(seg) > 0 {
		if more && c.wants(tail, want, rules) || !more && anyMethod(c.end, want, rules) {
			return true
		}
	}
	return false
}

func (n *tnode) collect(p []byte, out []int32) []int32 {
	if len(n.rest) > 0 && len(p) > 0 {
		out = append(out, n.rest...)
	}
	seg, tail, more := cutSlash(p)
	if c := n.lit[string(seg)]; c != nil {
		if more {
			out = c.collect(tail, out)
		} else {
			out = append(out, c.end...)
		}
	}
	if c := n.param; c != nil && len(seg) > 0 {
		if more {
			out = c.collect(tail, out)
		} else {
			out = append(out, c.end...)
		}
	}
	return out
}

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
		if v, ok := findParam(x.Query, "_method", &s.scratch); ok {
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

// formField returns a field of a form-urlencoded or multipart request body.
func (s *state) formField(x *Exchange, name string) ([]byte, bool) {
	if x.Header == nil || len(x.Body) == 0 {
		return nil, false
	}
	ct := x.Header.Peek("Content-Type")
	switch {
	case hasPrefixFold(ct, "application/x-www-form-urlencoded"):
		return findParam(x.Body, name, &s.scratch)
	case hasPrefixFold(ct, "multipart/form-data"):
		i := bytes.Index(ct, []byte("boundary="))
		if i < 0 {
			return nil, false
		}
		b := ct[i+len("boundary="):]
		if j := bytes.IndexByte(b, ';'); j >= 0 {
			b = b[:j]
		}
		b = bytes.Trim(bytes.TrimSpace(b), `"`)
		if len(b) == 0 {
			return nil, false
		}
		return multipartField(x.Body, b, name)
	}
	return nil, false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], s2b(prefix))
}

// multipartField finds the part named name in a multipart body and returns its content.
func multipartField(body, boundary []byte, name string) ([]byte, bool) {
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return nil, false
		}
		if i < 2 || body[i-1] != '-' || body[i-2] != '-' {
			body = body[i+len(boundary):]
			continue
		}
		body = body[i+len(boundary):]
		if bytes.HasPrefix(body, []byte("--")) {
			return nil, false
		}
		hdrEnd := bytes.Index(body, []byte("\r\n\r\n"))
		if hdrEnd < 0 {
			return nil, false
		}
		hdr := body[:hdrEnd]
		content := body[hdrEnd+4:]
		end := -1
		for k := 0; ; {
			j := bytes.Index(content[k:], boundary)
			if j < 0 {
				break
			}
			j += k
			if j >= 4 && string(content[j-4:j]) == "\r\n--" {
				end = j - 4
				break
			}
			k = j + 1
		}
		if end < 0 {
			return nil, false // the part does not end: the body was cut
		}
		if partNamed(hdr, name) {
			return content[:end], true
		}
		body = content[end:]
	}
}

// partNamed reports whether a part's headers carry name="<name>" (not filename=).
func partNamed(hdr []byte, name string) bool {
	for off := 0; ; {
		i := bytes.Index(hdr[off:], []byte(`name="`))
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		if i > 0 && hdr[i-1] != ' ' && hdr[i-1] != ';' {
			continue
		}
		v := hdr[i+len(`name="`):]
		if len(v) > len(name) && b2s(v[:len(name)]) == name && v[len(name)] == '"' {
			return true
		}
	}
}

// conds reports whether every condition holds. A condition that reads a lookup that failed
// is not checked (the rule chose on_lookup_error = "emit").
func (s *state) conds(cs []cond, x *Exchange) bool {
	for i := range cs {
		c := &cs[i]
		if s.lookupFailed(&c.e) || c.other != nil && s.lookupFailed(c.other) {
			continue
		}
		v := s.eval(&c.e, x)
		if c.other != nil {
			if !s.compare(c, &v, x) {
				if s.tr != nil {
					s.tr.condFailed(s, c, x)
				}
				return false
			}
			continue
		}
		if !c.holds(&v) {
			if s.tr != nil {
				s.tr.condFailed(s, c, x)
			}
			return false
		}
	}
	return true
}

// lookupFailed reports whether e reads a rule's lookup that failed or was not made.
func (s *state) lookupFailed(e *expr) bool {
	if e.src != srcLookup && e.src != srcLookupStatus && e.src != srcLookupBody || e.global {
		return false
	}
	l := s.lookup(e.idx)
	return l == nil || l.failed
}

// compare checks a same or differs condition: v against the value of c.other, as text.
func (s *state) compare(c *cond, v *value, x *Exchange) bool {
	if v.kind == vMissing {
		return c.op == opSame || c.op == opNotIn
	}
	s.cmp = append(s.cmp[:0], v.asText()...)
	w := s.eval(c.other, x)
	if w.kind == vMissing {
		return c.op == opSame || c.op == opNotIn
	}
	if c.op == opIn || c.op == opNotIn {
		found := false
		if w.kind == vJSON && w.res.IsArray() {
			w.res.ForEach(func(_, el gjson.Result) bool {
				t := el.Raw
				if el.Type == gjson.String {
					t = el.Str
				}
				found = t == b2s(s.cmp)
				return !found
			})
		} else {
			found = bytes.Equal(s.cmp, w.asText())
		}
		return found == (c.op == opIn)
	}
	differ := !bytes.Equal(s.cmp, w.asText())
	return differ == (c.op == opDiffers)
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

// appendURL fills a lookup or invalidate template. It reports whether every placeholder had
// a value (a missing one is left empty).
func (s *state) appendURL(dst []byte, parts []tmplPart, x *Exchange) ([]byte, bool) {
	all := true
	for i := range parts {
		p := &parts[i]
		if p.e == nil {
			dst = append(dst, p.lit...)
			continue
		}
		if p.raw {
			if seg, ok := s.segment(p.e.idx, p.e.rest); ok {
				dst = append(dst, seg...)
			} else {
				all = false
			}
			continue
		}
		v := s.eval(p.e, x)
		if v.kind != vMissing {
			dst = appendEscape(dst, v.asText())
		} else {
			all = false
		}
	}
	return dst, all
}

// doLookup makes lookup li of rule r for candidate ci, through the cache: once, or once per
// element of its each array.
func (s *state) doLookup(r *crule, ci, li int, x *Exchange) {
	l := &r.lookups[li]
	res := &s.looks[ci*s.m.maxLookups+li]
	if l.each == nil {
		*res = lookRes{}
		s.fetch(l, r.name, res, x, 0)
		return
	}
	// Per element: the elements share one lookup_timeout; after a failure, or past
	// each_lookup_limit, the rest are not looked up (and count as failed).
	*res = lookRes{done: true, first: len(s.elems)}
	arr := s.eval(l.each, x)
	if arr.kind != vJSON || !arr.res.IsArray() {
		return
	}
	deadline := s.env.now().Add(s.m.lookupTimeout).UnixNano()
	stop := false
	notMade := uint64(0)
	arr.res.ForEach(func(_, v gjson.Result) bool {
		if stop || res.n >= s.m.eachLimit || s.env.now().UnixNano() > deadline {
			stop = true
			notMade++
			return true
		}
		s.item, s.inItem, s.itemIdx = v, true, res.n
		s.elems = append(s.elems, lookRes{})
		e := &s.elems[len(s.elems)-1]
		s.fetch(l, r.name, e, x, deadline)
		res.n++
		stop = e.failed
		return true
	})
	s.item, s.inItem, s.itemIdx = gjson.Result{}, false, 0
	if notMade > 0 && s.env.stats != nil {
		s.env.stats.lookupsNotMade.Add(notMade)
	}
}

// fetch makes lookup l into res through the cache. A deadline (UnixNano, 0 for now +
// lookup_timeout) bounds it: an answer that comes later fails it.
func (s *state) fetch(l *clookup, rule string, res *lookRes, x *Exchange, deadline int64) {
	s.fetchOne(l, rule, res, x, deadline)
	if s.tr != nil {
		s.tr.lookup(s, l, rule, res)
	}
}

func (s *state) fetchOne(l *clookup, rule string, res *lookRes, x *Exchange, deadline int64) {
	*res = lookRes{done: true}
	var all bool
	s.url, all = s.appendURL(s.url[:0], l.parts, x)
	if !all && l.skipMissing {
		return // not made: its values are missing, and it did not fail
	}
	if l.call != nil && !s.prepareCall(l, x) {
		return // a param with no value: not made either
	}
	path, query := s.url, []byte(nil)
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path, query = path[:q], path[q+1:]
	}
	st := s.env.stats
	start := s.env.now()
	now := start.UnixNano()
	if s.env.cache != nil && l.cache {
		if e := s.env.cache.get(path, query, now); e != nil {
			res.status, res.body = e.status, e.body
			if st != nil {
				st.cacheHits.Add(1)
			}
			return
		}
	}
	if st != nil {
		st.lookups.Add(1)
	}
	if x.Upstream == nil {
		res.failed = true
		if st != nil {
			st.lookupErrors.Add(1)
		}
		return
	}
	if deadline == 0 {
		deadline = start.Add(s.m.lookupTimeout).UnixNano()
	}
	var gen uint64
	if s.env.cache != nil && l.cache {
		gen = s.env.cache.gen(path) // before asking: a drop from now on voids the answer
	}
	begin := len(s.lbuf)
	var status int
	var body []byte
	var err error
	if l.call != nil {
		status, body, err = s.postCall(l, x)
	} else {
		status, body, err = x.Upstream.Fetch(s.lbuf, s.url)
	}
	late := s.env.now().UnixNano() > deadline
	if err != nil || status == 0 || late {
		res.failed = true
		if st != nil {
			st.lookupErrors.Add(1)
			if late && err == nil && status != 0 {
				st.lookupLate.Add(1)
			}
		}
		if s.env.log != nil {
			s.env.log.Debug("rules: lookup failed", "rule", rule, "lookup", l.name, "path", string(s.url), "status", status, "late", late, "err", err)
		}
		return
	}
	s.lbuf = body
	res.status, res.body = status, body[begin:len(body):len(body)]
	if s.env.cache != nil && l.cache && status >= 200 && status < 300 {
		s.env.cache.put(path, query, status, res.body, now, gen)
	}
}

// userKey returns the acting user: the first [classify] user expression with a value.
func (s *state) userKey(x *Exchange) []byte {
	if s.userDone {
		return s.userBuf
	}
	s.userDone = true
	for i := range s.m.user {
		v := s.eval(&s.m.user[i], x)
		if v.kind == vMissing {
			continue
		}
		if t := v.asText(); len(t) > 0 {
			s.userBuf = append(s.userBuf[:0], t...)
			break
		}
	}
	return s.userBuf
}

// emit builds ce's events (one, or one per element of each).
func (s *state) emit(ce *cemit, x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	if ce.each == nil {
		return s.emitOne(ce, x, dst, buf)
	}
	arr := s.eval(ce.each, x)
	if arr.kind != vJSON || !arr.res.IsArray() {
		return dst, buf
	}
	r := s.m.rules[s.cands[s.cur]]
	i := 0
	arr.res.ForEach(func(_, v gjson.Result) bool {
		s.item, s.inItem, s.itemIdx = v, true, i
		i++
		if ce.eachLookups != 0 && !r.emitOnLookupError && s.elementFailed(r, ce) {
			return true
		}
		dst, buf = s.emitOne(ce, x, dst, buf)
		return true
	})
	s.item, s.inItem, s.itemIdx = gjson.Result{}, false, 0
	return dst, buf
}

// elementFailed reports whether a per-element lookup over ce's array failed (or was not
// made) for the current element.
func (s *state) elementFailed(r *crule, ce *cemit) bool {
	for li := range r.lookups {
		if ce.eachLookups&(1<<li) == 0 {
			continue
		}
		if l := s.lookup(li); l == nil || l.failed {
			return true
		}
	}
	return false
}

func (s *state) emitOne(ce *cemit, x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	if s.tr != nil {
		s.tr.emit = ce
	}
	ok := s.conds(ce.conds, x)
	if s.tr != nil {
		s.tr.emit = nil
	}
	if !ok {
		return dst, buf
	}
	ev := Event{Name: ce.name, Time: s.now}
	start := len(buf)
	buf = s.appendPayload(buf, ce.name, ce.payload, x)
	ev.Payload = buf[start:len(buf):len(buf)]
	if ce.full != nil {
		start = len(buf)
		buf = s.appendPayload(buf, ce.name, ce.full, x)
		ev.Full = buf[start:len(buf):len(buf)]
	}
	if s.tr != nil {
		s.tr.emitted(s, len(dst))
	}
	return append(dst, ev), buf
}

func (s *state) appendPayload(buf []byte, name string, root *pnode, x *Exchange) []byte {
	buf = append(buf, `{"timestamp":`...)
	buf = appendInt(buf, s.now)
	buf = append(buf, `,"event":"`...)
	buf = append(buf, name...)
	buf = append(buf, `","userKey":`...)
	buf = appendJSONString(buf, s.userKey(x))
	buf, _ = s.appendKids(buf, root, x, false)
	return append(buf, '}')
}

// appendKids writes n's keys; keys whose value is missing and objects left empty are left
// out. It reports whether it wrote any key.
func (s *state) appendKids(buf []byte, n *pnode, x *Exchange, first bool) ([]byte, bool) {
	wrote := false
	for _, k := range n.kids {
		mark := len(buf)
		if !first {
			buf = append(buf, ',')
		}
		buf = append(buf, k.key...)
		switch {
		case k.kids != nil:
			buf = append(buf, '{')
			var any bool
			buf, any = s.appendKids(buf, k, x, true)
			if !any {
				buf = buf[:mark]
				continue
			}
			buf = append(buf, '}')
		case k.e != nil:
			v := s.eval(k.e, x)
			if v.kind == vMissing {
				buf = buf[:mark]
				continue
			}
			buf = appendValue(buf, &v, k.num)
		default:
			buf = append(buf, k.lit...)
		}
		first, wrote = false, true
	}
	return buf, wrote
}

func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
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
