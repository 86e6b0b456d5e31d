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

// tseg is one segment of a path template.
type tseg struct {
	lit   string
	param string // {param}
	rest  bool   // {param...}
	opt   bool   // {param*}: a rest that may be empty (optional.go)
}

// tmplPart is a piece of a lookup or invalidate template: literal text or a value.
type tmplPart struct {
	lit string
	e   *expr // nil for literal
	raw bool  // a path binding: inserted raw (it is already URL-encoded)
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
	call        *xcall // an xmlrpc lookup's call (xmlrpc.go); nil for a GET
	deps        []int  // [classify] lookups: the earlier ones its path reads (lists.go)
}

type cemit struct {
	name  string // interned from Names
	conds []cond
	each  *expr
	// eachLookups has bit i set when the rule's lookup i is per element of the same array as
	// each: an element whose lookup failed emits nothing (on_lookup_error = "skip").
	eachLookups uint64
	payload     *pnode
	full        *pnode // nil when the emit has no full table
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

// pnode is a node of a compiled payload: an object key holding either a value or more keys.
type pnode struct {
	key  string // JSON-encoded key followed by ':'
	name string
	e    *expr
	lit  string // a TOML literal, as JSON
	num  bool   // the expression ends in |num (applied inside arrays and objects too)
	kids []*pnode
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
		if l.XMLRPC != "" || l.Params != nil {
			d.errorf(lp+sep+"xmlrpc", where, "lookup %q: a [classify] lookup cannot be an xmlrpc lookup", l.Name)
		}
		if l.Path == "" {
			d.errorf(lp, where, "lookup %q: path is required", l.Name)
		} else if !strings.HasPrefix(l.Path, "/") {
			d.errorf(lp+sep+"path", where, "lookup %q: path %q must start with /", l.Name, l.Path)
		} else {
			parts, err := parseURLTemplate(l.Path, &scope{memo: d.memo, user: true, lookups: usc.lookups[:len(usc.lookups)-1]})
			if err == nil {
				for _, pt := range parts {
					if pt.e != nil && pt.e.src == srcUser {
						err = fmt.Errorf("%s: a user lookup cannot read user", pt.e.text)
					}
					if pt.e != nil {
						cl.deps = lookupRefs(pt.e, cl.deps)
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
		if s.opt {
			n.end = append(n.end, idx) // the path may end here
		}
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
			case (e.src != srcReq && e.src != srcResp || !eachFilters(e.filters)) && (e.src == srcLookup || e.src == srcItem || !listSource(&e)):
				d.errorf(lp+sep+"each", where, "lookup %q: each %q: must read a JSON array of req or resp, with no filter but a last |titlelist", l.Name, l.Each)
			case e.stage() == stResp && !cl.after:
				d.errorf(lp+sep+"each", where, "lookup %q: each %q is not known before forwarding (stage = \"after\"?)", l.Name, l.Each)
			default:
				cl.each, cl.skipMissing = &e, true
			}
			lsc.item, lsc.each = true, strings.TrimSpace(l.Each)
		}
		// A lookup's path may read the lookups before it (lists.go).
		lsc.lookups, lsc.lookupEach = sc.lookups[:i], sc.lookupEach[:i]
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
				if pt.e != nil && !cl.after && pt.e.stage() != stReq && pt.e.stage() != stItem && !beforeLookups(pt.e, cr.lookups) {
					d.errorf(lp+sep+"path", where, "lookup %q: %s is not known before forwarding (stage = \"after\"?)", l.Name, pt.e.text)
				}
			}
			cl.parts = parts
		}
		d.compileXMLRPCLookup(&l, &cl, &lsc, lp, where)
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

func (d *decoder) compileEmit(em *Emit, ep, where string, sc *scope) (cemit, bool) {
	nerr := len(d.errs)
	ce := cemit{}
	if em.Event == "" {
		d.errorf(ep, where, "emit: event is required")
	} else if n, ok := Name([]byte(em.Event)); !ok {
		d.errorf(ep+sep+"event", where, "unknown event %q", em.Event)
	} else {
		ce.name = n
	}
	esc := *sc
	if em.Each != "" {
		e, err := parseExpr(em.Each, sc)
		switch {
		case err != nil:
			d.errorf(ep+sep+"each", where, "each: %v", err)
		case e.src != srcReq && e.src != srcResp && e.src != srcLookup && e.src != srcItem && !listSource(&e):
			d.errorf(ep+sep+"each", where, "each %q: must read a JSON array (req, resp or lookup)", em.Each)
		case !eachFilters(e.filters) && !listSource(&e):
			d.errorf(ep+sep+"each", where, "each %q: takes no filter but a last |titlelist", em.Each)
		default:
			ce.each = &e
		}
		esc.item, esc.each = true, strings.TrimSpace(em.Each)
	}
	conds, errs := parseConds(em.When, d.keysOf(ep+sep+"when", em.When), &esc)
	for _, err := range errs {
		d.errorf(ep+sep+"when", where, "emit %s: %v", em.Event, err)
	}
	ce.conds = conds
	root := &pnode{}
	d.addPayload(root, em.Payload, ep+sep+"payload", where, &esc, true)
	ce.payload = root
	if len(em.Full) > 0 {
		full := &pnode{}
		d.addPayload(full, em.Payload, ep+sep+"payload", where, &esc, false)
		d.addPayload(full, em.Full, ep+sep+"full", where, &esc, true)
		ce.full = full
	}
	return ce, len(d.errs) == nerr
}

// eachFilters reports whether an each may read a value through filters: none, or any ending
// in |titlelist (which makes an array).
func eachFilters(fs []filter) bool {
	return len(fs) == 0 || fs[len(fs)-1] == fTitleList
}

var envelopeKeys = map[string]bool{"timestamp": true, "event": true, "userKey": true}

// addPayload adds a payload table's keys to the tree under root. With check false the table
// was already checked (the payload table re-added to the full tree): errors are not reported
// twice.
func (d *decoder) addPayload(root *pnode, m map[string]any, path, where string, sc *scope, check bool) {
	report := func(format string, args ...any) {
		if check {
			d.errorf(path, where, format, args...)
		}
	}
	for _, k := range d.keysOf(path, m) {
		parts := strings.Split(k, ".")
		bad := false
		for _, p := range parts {
			if p == "" {
				report("payload key %q has an empty part", k)
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		if len(parts) == 1 && envelopeKeys[k] {
			report("payload key %q is part of the envelope", k)
			continue
		}
		n := root
		for i, p := range parts {
			var c *pnode
			for _, kid := range n.kids {
				if kid.name == p {
					c = kid
				}
			}
			last := i == len(parts)-1
			if c == nil {
				c = &pnode{name: p, key: string(appendJSONString(nil, []byte(p))) + ":"}
				n.kids = append(n.kids, c)
			} else if last && c.kids == nil {
				// The same key in payload and full: full's value replaces it for full webhooks.
				c.e, c.lit, c.num = nil, "", false
			} else if last || c.e != nil || c.lit != "" {
				report("payload key %q is given twice, or both as a value and an object", k)
				bad = true
				break
			}
			n = c
		}
		if bad {
			continue
		}
		switch v := m[k].(type) {
		case string:
			e, err := parseExpr(v, sc)
			if err != nil {
				report("payload %q: %v", k, err)
				continue
			}
			n.e = &e
			for _, f := range e.filters {
				n.num = f == fNum
			}
		case int64:
			n.lit = strconv.FormatInt(v, 10)
		case float64:
			n.lit = strconv.FormatFloat(v, 'g', -1, 64)
		case bool:
			n.lit = strconv.FormatBool(v)
		default:
			report("payload %q: a value must be an expression string, a number or a boolean, not %s", k, tomlType(m[k]))
		}
	}
}

// parseTemplate parses a rule's path template.
func parseTemplate(s string) ([]tseg, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, errors.New("must start with /")
	}
	if strings.ContainsAny(s, "?#") {
		return nil, errors.New("a path template has no query (use a query.<name> condition)")
	}
	if s == "/" {
		return []tseg{{lit: ""}}, nil
	}
	segs := strings.Split(s[1:], "/")
	out := make([]tseg, 0, len(segs))
	seen := map[string]bool{}
	for i, g := range segs {
		if g == "" && i == len(segs)-1 {
			return nil, errors.New("a trailing slash: request paths are matched without one")
		}
		if g == "" {
			return nil, errors.New("empty segment")
		}
		if !strings.ContainsAny(g, "{}") {
			// Request paths are matched in canonical form (path.go): a literal is written
			// in it too, and one that no canonical path holds is refused.
			if strings.IndexByte(g, ';') >= 0 {
				return nil, fmt.Errorf("segment %q: ';' starts a path parameter, which is dropped before matching", g)
			}
			lit := string(appendCanonSeg(nil, []byte(g)))
			if lit == "." || lit == ".." {
				return nil, fmt.Errorf("segment %q: a dot segment is resolved before matching, so it never matches", g)
			}
			out = append(out, tseg{lit: lit})
			continue
		}
		if g[0] != '{' || g[len(g)-1] != '}' {
			return nil, fmt.Errorf("segment %q: a {name} must be a whole segment", g)
		}
		name := g[1 : len(g)-1]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		opt := optionalRest(&name)
		rest = rest || opt
		if !isIdent(name) {
			return nil, fmt.Errorf("segment %q: a name is letters, digits and _", g)
		}
		if rest && i != len(segs)-1 {
			return nil, fmt.Errorf("segment %q: {name...} must be the last segment", g)
		}
		if seen[name] {
			return nil, fmt.Errorf("segment %q: {%s} is bound twice", g, name)
		}
		seen[name] = true
		out = append(out, tseg{param: name, rest: rest, opt: opt})
	}
	return out, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// templateAsURL writes a path template back as a URL template ("{id}" placeholders).
func templateAsURL(t []tseg) string {
	var b strings.Builder
	for _, s := range t {
		b.WriteByte('/')
		if s.param != "" {
			b.WriteString("{" + s.param + "}")
		} else {
			b.WriteString(s.lit)
		}
	}
	return b.String()
}

// parseURLTemplate parses "/rest/api/content/{id}?expand={req.x}": a {name} is a path
// binding of the rule, inserted raw; anything else in braces is an expression, inserted
// percent-encoded.
func parseURLTemplate(s string, sc *scope) ([]tmplPart, error) {
	var out []tmplPart
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, tmplPart{lit: s})
			break
		}
		if i > 0 {
			if strings.IndexByte(s[:i], '}') >= 0 {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, tmplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, errors.New("unclosed {")
		}
		inner := s[i+1 : i+j]
		s = s[i+j+1:]
		src := inner
		raw := false
		if isIdent(inner) {
			src, raw = "path."+inner, true
		}
		e, err := parseExpr(src, sc)
		if err != nil {
			return nil, fmt.Errorf("{%s}: %v", inner, err)
		}
		out = append(out, tmplPart{e: &e, raw: raw})
	}
	return out, nil
}
