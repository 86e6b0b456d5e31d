package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Matcher is a compiled rule set: an index of the rules by literal path segments and method,
// with every template, condition and JSON path compiled. It is immutable and safe for
// concurrent use.
type Matcher struct {
	rules []*crule
	root  *tnode
	user  []expr // [classify] user, tried in order
	// maxLookups is the most lookups any rule declares, for sizing per-exchange state.
	maxLookups int
	// memoSlots is the number of distinct req and resp paths (see memoTable).
	memoSlots int
	// userLookups are the [classify] lookups that user may read, made lazily.
	userLookups []clookup
	// lookupTimeout bounds one lookup ([classify] lookup_timeout); eachLimit bounds the
	// elements of a per-element lookup ([classify] each_lookup_limit).
	lookupTimeout time.Duration
	eachLimit     int
	route         *route // [classify] route_param (route.go); nil for none
}

// Len returns the number of rules.
func (m *Matcher) Len() int { return len(m.rules) }

// LookupTimeout returns [classify] lookup_timeout of the file m was compiled from (default
// 2s): how long one Fetch may take. The Fetcher must bound each Fetch by it (the proxy
// reads it for every lookup, so that a reload applies); an answer that comes later is
// discarded and the lookup counts as failed.
func (m *Matcher) LookupTimeout() time.Duration { return m.lookupTimeout }

// method indices and bits.
const (
	mGET = 1 + iota
	mPOST
	mPUT
	mPATCH
	mDELETE
)

var methodNames = [...]string{"", "GET", "POST", "PUT", "PATCH", "DELETE"}

// methodIndex returns the index of an upper-case method name, 0 if unknown.
func methodIndex(b []byte) uint8 {
	switch string(b) {
	case "GET":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	}
	return 0
}

type clookup struct {
	name  string
	parts []tmplPart
	after bool
	cache bool
	each  *expr // per-element: the array whose elements item reads in parts
	// skipMissing: a placeholder with no value means the lookup is not made (per-element
	// and [classify] lookups), rather than made with the placeholder left empty.
	skipMissing bool
}

// crule is a compiled rule.
type crule struct {
	name    string
	line    int
	methods uint8 // bit 1<<methodIndex
	tmpl    []tseg
	status  [10]uint64 // bitmap of statuses 0..639

	reqConds, respConds, lookConds []cond
	lookups                        []clookup
	emitOnLookupError              bool
	invalidate                     [][]tmplPart
	emits                          []cemit
}

func (r *crule) statusOK(st int) bool {
	return st >= 0 && st < 640 && r.status[st/64]&(1<<(st%64)) != 0
}

// tnode is a node of the path index.
type tnode struct {
	lit   map[string]*tnode
	param *tnode
	end   []int32 // rules whose template ends here
	rest  []int32 // rules whose catch-all starts here
	mask  uint8   // methods of every rule at or below this node
}

// Compile compiles f's rules (and [classify] user) into a Matcher. It reports every error in
// the rules as [Errors]. Parse already compiles once to validate, so Compile on a loaded File
// does not fail.
func Compile(f *File) (*Matcher, error) {
	d := f.meta
	if d == nil {
		d = &decoder{name: f.Path}
	}
	d2 := *d
	d2.errs = nil
	m, errs := compile(f, &d2)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return m, nil
}

func compile(f *File, d *decoder) (*Matcher, Errors) {
	saved := d.errs
	d.errs = nil
	defer func() { d.errs = saved }()
	if d.name == "" {
		d.name = "rules"
	}
	m := &Matcher{root: &tnode{}, lookupTimeout: f.Classify.LookupTimeout, eachLimit: f.Classify.EachLookupLimit,
		route: compileRoute(&f.Classify)}
	if m.lookupTimeout <= 0 {
		m.lookupTimeout = 2 * time.Second
	}
	if m.eachLimit <= 0 {
		m.eachLimit = 50
	}
	d.memo = memoTable{}
	usc := &scope{user: true}
	for i, l := range f.Classify.Lookups {
		lp := "classify" + sep + "lookup" + sep + strconv.Itoa(i)
		where := "[classify]"
		if l.Name == "" {
			d.errorf(lp, where, "lookup #%d: name is required", i+1)
		}
		for _, prev := range usc.lookups {
			if prev == l.Name && l.Name != "" {
				d.errorf(lp+sep+"name", where, "duplicate lookup %q", l.Name)
			}
		}
		usc.lookups = append(usc.lookups, l.Name)
		if l.Stage != "" && l.Stage != "after" || l.Each != "" {
			d.errorf(lp, where, "lookup %q: a [classify] lookup is made after forwarding, when user needs it: it takes no stage or each", l.Name)
		}
		cl := clookup{name: l.Name, after: true, cache: l.Cache == nil || *l.Cache, skipMissing: true}
		if l.Path == "" {
			d.errorf(lp, where, "lookup %q: path is required", l.Name)
		} else if !strings.HasPrefix(l.Path, "/") {
			d.errorf(lp+sep+"path", where, "lookup %q: path %q must start with /", l.Name, l.Path)
		} else {
			parts, err := parseURLTemplate(l.Path, &scope{memo: d.memo})
			if err == nil {
				for _, pt := range parts {
					if pt.e != nil && pt.e.src == srcUser {
						err = fmt.Errorf("%s: a user lookup cannot read user", pt.e.text)
					}
				}
			}
			if err != nil {
				d.errorf(lp+sep+"path", where, "lookup %q: path %q: %v", l.Name, l.Path, err)
			}
			cl.parts = parts
		}
		m.userLookups = append(m.userLookups, cl)
	}
	for i, u := range f.Classify.User {
		e, err := parseExpr(u, usc)
		if err == nil && e.src == srcUser {
			err = errors.New("user cannot refer to user")
		}
		if err != nil {
			d.errorf("classify"+sep+"user", "[classify]", "user[%d]: %v", i, err)
			continue
		}
		m.user = append(m.user, e)
	}
	if len(f.Classify.User) == 0 {
		for _, u := range []string{"respheader.X-AUSERNAME", "basic.user"} {
			e, _ := parseExpr(u, &scope{})
			m.user = append(m.user, e)
		}
	}
	names := map[string]int{}
	for i := range f.Rules {
		r := &f.Rules[i]
		where := "rule #" + strconv.Itoa(i+1)
		if r.Name != "" {
			where = "rule " + strconv.Quote(r.Name)
		}
		p := "rule" + sep + strconv.Itoa(i)
		line := r.Line
		if line == 0 {
			line = d.line(p)
		}
		if r.Name == "" {
			if !d.bad[p+sep+"name"] {
				d.errorf(p, where, "name is required")
			}
		} else if prev, dup := names[r.Name]; dup {
			d.errorf(p+sep+"name", where, "duplicate rule name (first at line %d)", prev)
		} else {
			names[r.Name] = line
		}
		cr := d.compileRule(r, p, where)
		if cr == nil {
			continue
		}
		cr.line = line
		if len(cr.lookups) > m.maxLookups {
			m.maxLookups = len(cr.lookups)
		}
		idx := int32(len(m.rules))
		m.rules = append(m.rules, cr)
		m.root.insert(cr.tmpl, idx, cr.methods)
	}
	m.memoSlots = len(d.memo)
	return m, d.errs
}

func (n *tnode) insert(t []tseg, idx int32, mask uint8) {
	n.mask |= mask
	if len(t) == 0 {
		n.end = append(n.end, idx)
		return
	}
	s := t[0]
	switch {
	case s.rest:
		n.rest = append(n.rest, idx)
		return
	case s.param != "":
		if n.param == nil {
			n.param = &tnode{}
		}
		n.param.insert(t[1:], idx, mask)
	default:
		if n.lit == nil {
			n.lit = map[string]*tnode{}
		}
		c := n.lit[s.lit]
		if c == nil {
			c = &tnode{}
			n.lit[s.lit] = c
		}
		c.insert(t[1:], idx, mask)
	}
}

// compileRule compiles one rule, reporting its errors; nil when it has any.
func (d *decoder) compileRule(r *Rule, p, where string) *crule {
	nerr := len(d.errs)
	cr := &crule{name: r.Name}
	if len(r.Method) == 0 && !d.bad[p+sep+"method"] {
		d.errorf(p, where, "method is required")
	}
	for _, mname := range r.Method {
		mi := methodIndex([]byte(strings.ToUpper(mname)))
		if mi == 0 {
			d.errorf(p+sep+"method", where, "unknown method %q (want GET, POST, PUT, PATCH or DELETE)", mname)
			continue
		}
		cr.methods |= 1 << mi
	}
	sc := &scope{memo: d.memo}
	pathOK := false
	if r.Path == "" {
		if !d.bad[p+sep+"path"] {
			d.errorf(p, where, "path is required")
		}
	} else {
		t, err := parseTemplate(r.Path)
		if err != nil {
			d.errorf(p+sep+"path", where, "path %q: %v", r.Path, err)
		}
		pathOK = err == nil
		cr.tmpl = t
		for i, s := range t {
			if s.rest {
				sc.rest, sc.restIdx = s.param, i
			} else {
				sc.params = append(sc.params, s.param)
			}
		}
	}
	// Status.
	status := r.Status
	if len(status) == 0 {
		status = []any{"2xx"}
	}
	for _, s := range status {
		switch v := s.(type) {
		case int64:
			if v < 100 || v > 599 {
				d.errorf(p+sep+"status", where, "status %d is not an HTTP status", v)
				continue
			}
			cr.status[v/64] |= 1 << (v % 64)
		case string:
			if len(v) != 3 || v[0] < '1' || v[0] > '5' || v[1:] != "xx" {
				d.errorf(p+sep+"status", where, "status %q: want a code (200) or a class (\"2xx\")", v)
				continue
			}
			base := int(v[0]-'0') * 100
			for st := base; st < base+100; st++ {
				cr.status[st/64] |= 1 << (st % 64)
			}
		default:
			d.errorf(p+sep+"status", where, "status must hold codes (200) or classes (\"2xx\"), not %s", tomlType(s))
		}
	}
	switch r.OnLookupError {
	case "", "skip":
	case "emit":
		cr.emitOnLookupError = true
	default:
		d.errorf(p+sep+"on_lookup_error", where, "on_lookup_error must be \"skip\" or \"emit\", not %q", r.OnLookupError)
	}
	// Lookups.
	if len(r.Lookups) > 64 {
		d.errorf(p+sep+"lookup", where, "%d lookups: at most 64 per rule", len(r.Lookups))
	}
	for i, l := range r.Lookups {
		lp := p + sep + "lookup" + sep + strconv.Itoa(i)
		if l.Name == "" {
			d.errorf(lp, where, "lookup #%d: name is required", i+1)
		}
		for _, prev := range sc.lookups {
			if prev == l.Name && l.Name != "" {
				d.errorf(lp+sep+"name", where, "duplicate lookup %q", l.Name)
			}
		}
		sc.lookups = append(sc.lookups, l.Name)
		sc.lookupEach = append(sc.lookupEach, strings.TrimSpace(l.Each))
	}
	for i, l := range r.Lookups {
		lp := p + sep + "lookup" + sep + strconv.Itoa(i)
		cl := clookup{name: l.Name, cache: l.Cache == nil || *l.Cache}
		switch l.Stage {
		case "", "before":
		case "after":
			cl.after = true
		default:
			d.errorf(lp+sep+"stage", where, "lookup %q: stage must be \"before\" or \"after\", not %q", l.Name, l.Stage)
		}
		lsc := *sc
		lsc.lookups, lsc.lookupEach = nil, nil
		if l.Each != "" {
			e, err := parseExpr(strings.TrimSpace(l.Each), &lsc)
			switch {
			case err != nil:
				d.errorf(lp+sep+"each", where, "lookup %q: each: %v", l.Name, err)
			case e.src != srcReq && e.src != srcResp || !eachFilters(e.filters):
				d.errorf(lp+sep+"each", where, "lookup %q: each %q: must read a JSON array of req or resp, with no filter but a last |titlelist", l.Name, l.Each)
			case e.src == srcResp && !cl.after:
				d.errorf(lp+sep+"each", where, "lookup %q: each %q is not known before forwarding (stage = \"after\"?)", l.Name, l.Each)
			default:
				cl.each, cl.skipMissing = &e, true
			}
			lsc.item, lsc.each = true, strings.TrimSpace(l.Each)
		}
		if l.Path == "" {
			d.errorf(lp, where, "lookup %q: path is required", l.Name)
		} else if !strings.HasPrefix(l.Path, "/") {
			d.errorf(lp+sep+"path", where, "lookup %q: path %q must start with /", l.Name, l.Path)
		} else {
			parts, err := parseURLTemplate(l.Path, &lsc)
			if err != nil {
				d.errorf(lp+sep+"path", where, "lookup %q: path %q: %v", l.Name, l.Path, err)
			}
			for _, pt := range parts {
				if pt.e != nil && !cl.after && pt.e.stage() != stReq && pt.e.stage() != stItem {
					d.errorf(lp+sep+"path", where, "lookup %q: %s is not known before forwarding (stage = \"after\"?)", l.Name, pt.e.text)
				}
			}
			cl.parts = parts
		}
		cr.lookups = append(cr.lookups, cl)
	}
	// Conditions.
	conds, errs := parseConds(r.When, d.keysOf(p+sep+"when", r.When), sc)
	for _, err := range errs {
		d.errorf(p+sep+"when", where, "%v", err)
	}
	for _, c := range conds {
		switch c.stage() {
		case stReq:
			cr.reqConds = append(cr.reqConds, c)
		case stResp:
			cr.respConds = append(cr.respConds, c)
		default:
			cr.lookConds = append(cr.lookConds, c)
		}
	}
	// Invalidation.
	inv := r.Invalidate
	if inv == nil && cr.methods&^(1<<mGET) != 0 && pathOK {
		inv = []string{templateAsURL(cr.tmpl)}
	}
	for _, s := range inv {
		parts, err := parseURLTemplate(s, &scope{params: sc.params, rest: sc.rest, restIdx: sc.restIdx})
		if err != nil || !strings.HasPrefix(s, "/") {
			if err == nil {
				err = errors.New("must start with /")
			}
			d.errorf(p+sep+"invalidate", where, "invalidate %q: %v", s, err)
			continue
		}
		cr.invalidate = append(cr.invalidate, parts)
	}
	// Emits.
	if len(r.Emit) == 0 && !d.bad[p+sep+"emit"] {
		d.errorf(p, where, "no [[rule.emit]]: a rule must emit at least one event")
	}
	for i := range r.Emit {
		ep := p + sep + "emit" + sep + strconv.Itoa(i)
		if ce, ok := d.compileEmit(&r.Emit[i], ep, where, sc); ok {
			if each := strings.TrimSpace(r.Emit[i].Each); each != "" {
				for li, le := range sc.lookupEach {
					if le == each {
						ce.eachLookups |= 1 << li
					}
				}
			}
			cr.emits = append(cr.emits, ce)
		}
	}
	if len(d.errs) > nerr {
		return nil
	}
	return cr
}
