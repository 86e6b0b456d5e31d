package rules

import (
	"errors"
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
	lastParam     bool   // [classify] repeated_params = "last": a repeated parameter's last value counts
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
	call        *xcall // an xmlrpc lookup's call (xmlrpc.go); nil for a GET
	deps        []int  // [classify] lookups: the earlier ones its path reads (lists.go)
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
	ignore                         bool // ignore = true: a known write that is not an event
}

// statusOK reports whether the upstream's status st is one of the rule's.
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
// does not fail, and [File.Matcher] returns that first compilation without a second one.
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

// compile compiles f into a Matcher with d's key-path index, collecting every error; d's
// earlier errors are kept apart and restored.
func compile(f *File, d *decoder) (*Matcher, Errors) {
	saved := d.errs
	d.errs = nil
	defer func() { d.errs = saved }()
	if d.name == "" {
		d.name = "rules"
	}
	c := f.Classify // a File built in Go may leave defaults to fill
	c.SetDefaults()
	m := newMatcher(&c)
	d.memo = memoTable{}
	usc := &scope{user: true}
	m.userLookups = d.compileUserLookups(c.Lookups, usc)
	m.user = d.compileUser(c.User, usc)
	d.compileRules(m, f.Rules)
	m.memoSlots = len(d.memo)
	return m, d.errs
}

// newMatcher returns a Matcher without rules, with [classify]'s lookup bounds (defaults
// filled) and route.
func newMatcher(c *ClassifySection) *Matcher {
	return &Matcher{root: &tnode{}, lookupTimeout: c.LookupTimeout, eachLimit: c.EachLookupLimit,
		route: compileRoute(c), lastParam: c.RepeatedParams == "last"}
}

// compileUser compiles [classify] user (defaults filled), the expressions tried in order
// for the acting user, which may read the [classify] lookups declared in usc.
func (d *decoder) compileUser(user []string, usc *scope) []expr {
	var out []expr
	for i, u := range user {
		e, err := parseExpr(u, usc)
		if err == nil && e.src == srcUser {
			err = errors.New("user cannot refer to user")
		}
		if err != nil {
			d.errorf("classify"+sep+"user", "[classify]", "user[%d]: %v", i, err)
			continue
		}
		out = append(out, e)
	}
	return out
}

// compileRules compiles the rules into m, in file order, reporting a missing or duplicate
// name; a rule with any error is left out.
func (d *decoder) compileRules(m *Matcher, rules []Rule) {
	names := map[string]int{}
	for i := range rules {
		r := &rules[i]
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
		m.add(cr)
	}
}

// add appends a compiled rule to m and indexes it by path and methods.
func (m *Matcher) add(cr *crule) {
	if len(cr.lookups) > m.maxLookups {
		m.maxLookups = len(cr.lookups)
	}
	idx := int32(len(m.rules))
	m.rules = append(m.rules, cr)
	m.root.insert(cr.tmpl, idx, cr.methods)
}

// insert adds rule idx, whose template is t, under n.
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
	cr.methods = d.compileMethods(r.Method, p, where)
	sc := &scope{memo: d.memo}
	pathOK := d.compilePath(cr, r.Path, p, where, sc)
	cr.status = d.compileStatus(r.Status, p, where)
	emit, ok := onLookupError[r.OnLookupError]
	if !ok {
		d.errorf(p+sep+"on_lookup_error", where, "on_lookup_error must be \"skip\" or \"emit\", not %q", r.OnLookupError)
	}
	cr.emitOnLookupError = emit
	d.declareLookups(r.Lookups, p, where, sc)
	for i, l := range r.Lookups {
		lp := p + sep + "lookup" + sep + strconv.Itoa(i)
		cr.lookups = append(cr.lookups, d.compileLookup(l, i, cr.lookups, lp, where, sc))
	}
	d.compileConds(cr, r.When, p, where, sc)
	d.compileInvalidate(cr, r.Invalidate, pathOK, p, where, sc)
	cr.ignore = r.Ignore
	d.compileEmits(cr, r.Emit, p, where, sc)
	if len(d.errs) > nerr {
		return nil
	}
	return cr
}

// onLookupError maps a rule's on_lookup_error to whether it emits when a lookup fails.
var onLookupError = map[string]bool{"": false, "skip": false, "emit": true}

// compileMethods returns the bit set (1<<methodIndex) of a rule's methods, reporting a
// missing or unknown one.
func (d *decoder) compileMethods(methods []string, p, where string) uint8 {
	if len(methods) == 0 && !d.bad[p+sep+"method"] {
		d.errorf(p, where, "method is required")
	}
	var set uint8
	for _, mname := range methods {
		mi := methodIndex([]byte(strings.ToUpper(mname)))
		if mi == 0 {
			d.errorf(p+sep+"method", where, "unknown method %q (want GET, POST, PUT, PATCH or DELETE)", mname)
			continue
		}
		set |= 1 << mi
	}
	return set
}

// compilePath parses a rule's path template into cr.tmpl and declares its bindings in sc. It
// reports whether the path is good.
func (d *decoder) compilePath(cr *crule, path, p, where string, sc *scope) bool {
	if path == "" {
		if !d.bad[p+sep+"path"] {
			d.errorf(p, where, "path is required")
		}
		return false
	}
	t, err := parseTemplate(path)
	if err != nil {
		d.errorf(p+sep+"path", where, "path %q: %v", path, err)
	}
	cr.tmpl = t
	for i, s := range t {
		if s.rest {
			sc.rest, sc.restIdx = s.param, i
		} else {
			sc.params = append(sc.params, s.param)
		}
	}
	return err == nil
}

// compileStatus returns the bitmap of a rule's statuses (see crule.status): codes (201) and
// classes ("2xx"); by default "2xx".
func (d *decoder) compileStatus(status []any, p, where string) (set [10]uint64) {
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
			set[v/64] |= 1 << (v % 64)
		case string:
			if len(v) != 3 || v[0] < '1' || v[0] > '5' || v[1:] != "xx" {
				d.errorf(p+sep+"status", where, "status %q: want a code (200) or a class (\"2xx\")", v)
				continue
			}
			base := int(v[0]-'0') * 100
			for st := base; st < base+100; st++ {
				set[st/64] |= 1 << (st % 64)
			}
		default:
			d.errorf(p+sep+"status", where, "status must hold codes (200) or classes (\"2xx\"), not %s", tomlType(s))
		}
	}
	return set
}

// compileConds compiles a rule's when, sorting the conditions by when they can be checked:
// on the request, on the response, or after a lookup.
func (d *decoder) compileConds(cr *crule, when map[string]any, p, where string, sc *scope) {
	conds, errs := parseConds(when, d.keysOf(p+sep+"when", when), sc)
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
}

// compileInvalidate compiles a rule's invalidate templates, which may read its path bindings;
// without an invalidate list, a rule with a method other than GET drops its own path.
func (d *decoder) compileInvalidate(cr *crule, inv []string, pathOK bool, p, where string, sc *scope) {
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
}
