package rules

import (
	"log/slog"
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

// reset readies the state for a new exchange with m and e.
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
