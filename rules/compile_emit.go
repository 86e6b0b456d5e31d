package rules

import (
	"strconv"
	"strings"
)

type cemit struct {
	name  string // interned from Names
	conds []cond
	each  *expr
	// outer is the array of a per-element lookup that each reads ("each = lookup.tags" for a
	// lookup with each = "queryall.post[]"): the emit runs over outer's elements, then over
	// each element's answer (nested.go); nil otherwise.
	outer *expr
	// over is the array whose per-element lookups the emit reads, as written: each's, or
	// outer's.
	over string
	// eachLookups has bit i set when the rule's lookup i is per element of the same array as
	// each: an element whose lookup failed emits nothing (on_lookup_error = "skip").
	eachLookups uint64
	payload     *pnode
	full        *pnode // nil when the emit has no full table
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

// compileEmits compiles a rule's emits, of which there must be one at least; an emit with each
// is told which of the rule's per-element lookups run over the same array.
func (d *decoder) compileEmits(cr *crule, emits []Emit, p, where string, sc *scope) {
	switch {
	case cr.ignore && len(emits) > 0:
		d.errorf(p+sep+"ignore", where, "ignore = true and %d [[rule.emit]]: a rule that ignores a write emits nothing", len(emits))
		return
	case cr.ignore:
		return
	case len(emits) == 0 && !d.bad[p+sep+"emit"]:
		d.errorf(p, where, "no [[rule.emit]]: a rule must emit at least one event (or say ignore = true for a known write that is not one)")
	}
	for i := range emits {
		ep := p + sep + "emit" + sep + strconv.Itoa(i)
		if ce, ok := d.compileEmit(&emits[i], ep, where, sc); ok {
			if ce.over != "" {
				for li, le := range sc.lookupEach {
					if le == ce.over {
						ce.eachLookups |= 1 << li
					}
				}
			}
			cr.emits = append(cr.emits, ce)
		}
	}
}

// compileEmit compiles one emit: its event, each, conditions and payload trees.
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
	if outer := d.nestedEach(&ce, em, ep, where, sc); outer != "" {
		esc.item, esc.each = true, outer
	} else if em.Each != "" {
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
		ce.over = esc.each
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
