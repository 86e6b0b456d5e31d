package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Explain is the slow path for people writing rules (hooktap explain): it classifies one
// exchange with the same code the proxy runs (begin and finish in match.go), with a tracer
// on the per-exchange state that records, at the points where matching decides, why each
// candidate rule matched or not. The tracer is nil on every other path, so the proxy pays a
// nil check at those points and nothing else.

// Explanation is what Explain found about one exchange.
type Explanation struct {
	// Method is the method matched: the request's, or the one a POST's override asks for.
	// Path is the request's canonical path (see "Path templates"), Query its raw query.
	Method, Path, Query string
	Status              int
	// Wanted is Wants: false means the proxy forwards the exchange without tapping it and
	// no rule is considered (Rules is empty).
	Wanted bool
	// Rules are the candidate rules (method and path matched), in file order.
	Rules []RuleTrace
	// UserLookups are the [classify] lookups made for the acting user.
	UserLookups []LookupTrace
	// Events are the events that would be sent, copied (they do not alias the exchange).
	Events []Event
	// Unmatched reports whether the exchange counts as an unmatched write; Route is its route
	// shape (see [AppendRouteShape]).
	Unmatched bool
	Route     string
}

// RuleTrace is one candidate rule's outcome.
type RuleTrace struct {
	Name string
	Line int // of [[rule]]; 0 for a rule built in Go
	// Matched: status and every condition held, the rule's emits were tried.
	Matched bool
	// Ignored: the rule says ignore = true (a known write, not an event), so Matched means
	// the write is accounted for and emits nothing.
	Ignored bool
	// Failed says why the rule did not match: the first condition that failed with the value
	// seen, a status not in the rule's list, a failed lookup. "" when Matched.
	Failed string
	// Lookups are the rule's lookups, in the order made.
	Lookups []LookupTrace
	// Notes are the conditions of emits that failed (the rule matched, that event was not
	// made).
	Notes []string
	// Events indexes the rule's events in Explanation.Events.
	Events []int
}

// LookupTrace is one lookup as made (or not made).
type LookupTrace struct {
	Name   string // the lookup's name
	Target string // path?query asked of the upstream
	Status int    // the answer's status; 0 when it failed or was not made
	Body   string // the answer (at most 512 bytes)
	// Failed: transport error, timeout, or no upstream to ask; NotMade: a placeholder had no
	// value, so the lookup was not made (and did not fail); Cached: answered from the lookup
	// cache, not asked of the upstream.
	Failed, NotMade, Cached bool
}

// tracer records one exchange's trace. Its methods run only when state.tr is set.
type tracer struct {
	m     *Matcher
	rules []RuleTrace // per candidate, as state.cands
	user  []LookupTrace
	emit  *cemit // the emit whose conditions are being checked, or nil
	hits  uint64 // the cache hits counted so far, to tell a cached answer
}

// at returns candidate ci's trace, growing the list to the state's candidates.
func (t *tracer) at(s *state, ci int) *RuleTrace {
	for len(t.rules) < len(s.cands) {
		r := s.m.rules[s.cands[len(t.rules)]]
		t.rules = append(t.rules, RuleTrace{Name: r.name, Line: r.line})
	}
	return &t.rules[ci]
}

func (t *tracer) fail(s *state, ci int, why string) {
	if r := t.at(s, ci); r.Failed == "" && !r.Matched {
		r.Failed = why
	}
}

// condFailed records condition c as the reason: the rule's first, or a note on an emit.
func (t *tracer) condFailed(s *state, c *cond, x *Exchange) {
	if len(s.cands) == 0 {
		return
	}
	why := describeCond(c) + ": got " + s.seen(&c.e, x)
	if c.other != nil {
		why += " and " + s.seen(c.other, x)
	}
	if t.emit != nil {
		note := "emit " + t.emit.name
		if s.inItem {
			note += fmt.Sprintf(" (element %d)", s.itemIdx)
		}
		r := t.at(s, s.cur)
		r.Notes = append(r.Notes, note+": "+why)
		return
	}
	t.fail(s, s.cur, why)
}

func (t *tracer) statusFailed(s *state, ci int, status int) {
	t.fail(s, ci, fmt.Sprintf("status %d: want %s", status, statusList(s.m.rules[s.cands[ci]])))
}

func (t *tracer) lookupSkipped(s *state, ci int) {
	r := t.at(s, ci)
	var names []string
	for _, l := range r.Lookups {
		if l.Failed {
			names = append(names, strconv.Quote(l.Name))
		}
	}
	why := "a lookup failed"
	if len(names) > 0 {
		why = "lookup " + strings.Join(names, ", ") + " failed"
	}
	t.fail(s, ci, why+` (on_lookup_error = "skip": no event)`)
}

func (t *tracer) matched(s *state, ci int) {
	r := t.at(s, ci)
	r.Matched, r.Failed = true, ""
	r.Ignored = s.m.rules[s.cands[ci]].ignore
}

func (t *tracer) emitted(s *state, ev int) {
	r := t.at(s, s.cur)
	r.Events = append(r.Events, ev)
}

func (t *tracer) lookup(s *state, l *clookup, rule string, res *lookRes) {
	lt := LookupTrace{Name: l.name, Target: s.lookupTarget(l), Status: res.status, Body: clip(string(res.body), 512), Failed: res.failed}
	lt.NotMade = !res.failed && res.status == 0
	if st := s.env.stats; st != nil {
		h := st.cacheHits.Load()
		lt.Cached, t.hits = h > t.hits, h
	}
	if rule == "[classify]" {
		t.user = append(t.user, lt)
		return
	}
	r := t.at(s, s.cur)
	r.Lookups = append(r.Lookups, lt)
}

// statusList writes a rule's statuses: "2xx", "200, 201", "2xx, 404".
func statusList(r *crule) string {
	var parts []string
	for st := 0; st < 640; {
		if st%100 == 0 && st+100 <= 640 {
			all := true
			for k := st; k < st+100; k++ {
				if !r.statusOK(k) {
					all = false
					break
				}
			}
			if all {
				parts = append(parts, strconv.Itoa(st/100)+"xx")
				st += 100
				continue
			}
		}
		if r.statusOK(st) {
			parts = append(parts, strconv.Itoa(st))
		}
		st++
	}
	return strings.Join(parts, ", ")
}

// Explain classifies x as Before and After would, uncached and uncounted like [Matcher.Match],
// and says why each candidate rule matched or not. Lookups go to x.Upstream (nil: every
// lookup fails). It is slow (it allocates), for tools.
func (m *Matcher) Explain(x *Exchange) *Explanation {
	return m.explain(x, &plainEnv)
}

// Explain classifies x as Before and After would, with the Classifier's clock, lookup cache
// and counters, counting an unmatched write as After does, and says why each candidate rule
// matched or not; the events are returned, not handed to the sink. It is slow (it
// allocates), for tools: hooktap explain plays a case file or a HAR file through it.
func (c *Classifier) Explain(x *Exchange) *Explanation {
	m := c.m.Load()
	e := c.environment()
	if !m.Wants(x.Method, x.Path) {
		ex := m.explain(x, e)
		c.RecordUnmatched(x.Method, x.Path, x.Query, x.Status)
		return ex
	}
	c.stats.exchanges.Add(1)
	ex := m.explain(x, e)
	if ex.Unmatched {
		c.miss.record(x.Method, x.Path, x.Query, x.Status, e.now().UnixMilli())
	}
	for _, ev := range ex.Events {
		c.stats.events[nameIndex[ev.Name]].Add(1)
	}
	return ex
}

func (m *Matcher) explain(x *Exchange, e *env) *Explanation {
	ex := &Explanation{Method: string(x.Method), Query: string(x.Query), Status: x.Status}
	ex.Wanted = m.Wants(x.Method, x.Path)
	if len(x.Path) > 0 && x.Path[0] == '/' {
		ex.Path = string(appendCanonPath(nil, x.Path))
	} else {
		ex.Path = string(x.Path)
	}
	write := isWrite(x.Method) && x.Status >= 200 && x.Status <= 399
	if write {
		ex.Route = string(AppendRouteShape(nil, x.Path, x.Query))
	}
	if !ex.Wanted {
		ex.Unmatched = write
		return ex
	}
	s := &state{}
	s.tr = &tracer{m: m}
	if e.stats != nil {
		s.tr.hits = e.stats.cacheHits.Load()
	}
	// The request side as Before sees it: no response yet.
	req := *x
	req.Status, req.RespHeader, req.RespBody, req.RespTrunc = 0, nil, nil, false
	m.begin(s, &req, e)
	if s.method != 0 {
		ex.Method = methodNames[s.method]
	}
	events, _ := m.finish(s, x, nil, nil)
	if len(s.cands) > 0 {
		s.tr.at(s, len(s.cands)-1) // every candidate has its trace, tried or not
	}
	ex.Rules = s.tr.rules[:len(s.cands)]
	ex.UserLookups = s.tr.user
	for _, ev := range events {
		ev.Payload = append([]byte(nil), ev.Payload...)
		if ev.Full != nil {
			ev.Full = append([]byte(nil), ev.Full...)
		}
		ex.Events = append(ex.Events, ev)
	}
	ex.Unmatched = write && !s.matched
	return ex
}

// seen formats e's value for a trace: JSON as written, text quoted, "missing"; a secret
// header's value redacted.
func (s *state) seen(e *expr, x *Exchange) string {
	v := s.eval(e, x)
	if v.kind == vMissing {
		return "missing"
	}
	if readsSecret(e) {
		return Redacted
	}
	var t string
	switch v.kind {
	case vJSON:
		t = v.res.Raw
		if v.res.Type == gjson.String {
			t = strconv.Quote(v.res.Str)
		}
	case vNum, vBool:
		t = string(v.text)
	default:
		t = strconv.Quote(string(v.text))
	}
	return clip(t, 200)
}

// Redacted stands for a secret's value in what Explain and hooktap explain show.
const Redacted = "[redacted]"

// SecretHeader reports whether a header's value is a credential never to be shown:
// Authorization, Proxy-Authorization, Cookie, Set-Cookie, and API keys and tokens.
func SecretHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return strings.Contains(n, "token") || strings.Contains(n, "api-key") || strings.Contains(n, "apikey") || strings.Contains(n, "csrf")
}

func readsSecret(e *expr) bool {
	switch e.src {
	case srcHeader, srcRespHeader:
		return SecretHeader(e.name)
	case srcRespCookie:
		return e.cookie.part == cookieValue // a cookie's value may be a session
	case srcConcat, srcFirst:
		for i := range e.parts {
			if readsSecret(&e.parts[i]) {
				return true
			}
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// describeCond writes a condition as the rules file has it: when "req.type" = "page".
func describeCond(c *cond) string {
	w := "when " + strconv.Quote(c.e.text) + " "
	switch c.op {
	case opEq:
		return w + "= " + c.vals[0].String()
	case opOneOf:
		return w + "one of " + litList(c.vals)
	case opExists:
		return w + "exists = " + strconv.FormatBool(c.exists)
	case opMatches:
		return w + "matches " + strconv.Quote(c.re.String())
	case opNot:
		return w + "not " + c.vals[0].String()
	case opNotOneOf:
		return w + "not_one_of " + litList(c.vals)
	}
	name := map[op]string{opSame: "same", opDiffers: "differs", opIn: "in", opNotIn: "not_in"}[c.op]
	return w + name + " " + strconv.Quote(c.other.text)
}

func (l litVal) String() string {
	if l.isNum || l.isBool {
		return l.s
	}
	return strconv.Quote(l.s)
}

func litList(ls []litVal) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
