package rules

import "strings"

// This file holds the each within an each: an emit whose each reads a per-element lookup
// ("each = lookup.tags" where the lookup "tags" has each = "queryall.post[]") makes one event
// per element of every element's answer (each tag of each post), so that a write naming
// several objects can emit per object and per thing on it.

// nestedEach compiles an emit's each that reads a per-element lookup: it sets ce.outer to
// the lookup's array and ce.each to the lookup's value, and returns the lookup's each as
// written (the array whose per-element lookups the emit reads); "" when the each reads no
// per-element lookup (compileEmit compiles it then).
func (d *decoder) nestedEach(ce *cemit, em *Emit, ep, where string, sc *scope) string {
	text := strings.TrimSpace(em.Each)
	tail, ok := strings.CutPrefix(text, "lookup.")
	if !ok {
		return ""
	}
	name := tail
	if i := strings.IndexAny(tail, ".#|"); i >= 0 {
		name = tail[:i]
	}
	over := ""
	for i, l := range sc.lookups {
		if l == name && i < len(sc.lookupEach) {
			over = sc.lookupEach[i]
		}
	}
	if over == "" {
		return ""
	}
	isc := *sc
	isc.item, isc.each = true, over
	e, err := parseExpr(text, &isc)
	switch {
	case err != nil:
		d.errorf(ep+sep+"each", where, "each: %v", err)
	case e.src != srcLookup || !eachFilters(e.filters):
		d.errorf(ep+sep+"each", where, "each %q: must read a JSON array of the lookup, with no filter but a last |titlelist", em.Each)
	default:
		o, err := parseExpr(over, sc)
		if err != nil { // the lookup's own each was reported already
			return over
		}
		ce.each, ce.outer = &e, &o
	}
	ce.over = over
	return over
}
