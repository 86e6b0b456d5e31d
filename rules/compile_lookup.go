package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// compileUserLookups compiles the [[classify.lookup]]s, declaring their names in usc: made
// after forwarding, when user needs them, their paths may read the request and the response
// but not user.
func (d *decoder) compileUserLookups(ls []Lookup, usc *scope) []clookup {
	var out []clookup
	for i, l := range ls {
		lp := "classify" + sep + "lookup" + sep + strconv.Itoa(i)
		where := "[classify]"
		d.declareLookup(usc, l.Name, i, lp, where)
		if l.Stage != "" && l.Stage != "after" || l.Each != "" {
			d.errorf(lp, where, "lookup %q: a [classify] lookup is made after forwarding, when user needs it: it takes no stage or each", l.Name)
		}
		cl := clookup{name: l.Name, after: true, cache: l.Cache == nil || *l.Cache, skipMissing: true}
		if l.XMLRPC != "" || l.Params != nil {
			d.errorf(lp+sep+"xmlrpc", where, "lookup %q: a [classify] lookup cannot be an xmlrpc lookup", l.Name)
		}
		if d.lookupPathGiven(&l, lp, where) {
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
		out = append(out, cl)
	}
	return out
}

// declareLookups declares a rule's lookups in sc, names and each, before any is compiled, so
// that conditions and emits may read them; at most 64.
func (d *decoder) declareLookups(ls []Lookup, p, where string, sc *scope) {
	if len(ls) > 64 {
		d.errorf(p+sep+"lookup", where, "%d lookups: at most 64 per rule", len(ls))
	}
	for i, l := range ls {
		lp := p + sep + "lookup" + sep + strconv.Itoa(i)
		d.declareLookup(sc, l.Name, i, lp, where)
		sc.lookupEach = append(sc.lookupEach, strings.TrimSpace(l.Each))
	}
}

// declareLookup adds lookup i's name to sc, reporting a missing or duplicate one.
func (d *decoder) declareLookup(sc *scope, name string, i int, lp, where string) {
	if name == "" {
		d.errorf(lp, where, "lookup #%d: name is required", i+1)
	}
	for _, prev := range sc.lookups {
		if prev == name && name != "" {
			d.errorf(lp+sep+"name", where, "duplicate lookup %q", name)
		}
	}
	sc.lookups = append(sc.lookups, name)
}

// compileLookup compiles one of a rule's lookups: its stage, its each (a per-element lookup)
// and its path, whose expressions must be known at that stage and may not read lookups.
func (d *decoder) compileLookup(l Lookup, i int, prev []clookup, lp, where string, sc *scope) clookup {
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
		d.compileLookupEach(&l, &cl, &lsc, lp, where)
	}
	// A lookup's path may read the lookups before it (lists.go).
	lsc.lookups, lsc.lookupEach = sc.lookups[:i], sc.lookupEach[:i]
	if d.lookupPathGiven(&l, lp, where) {
		parts, err := parseURLTemplate(l.Path, &lsc)
		if err != nil {
			d.errorf(lp+sep+"path", where, "lookup %q: path %q: %v", l.Name, l.Path, err)
		}
		for _, pt := range parts {
			if pt.e != nil && !cl.after && pt.e.stage() != stReq && pt.e.stage() != stItem && !beforeLookups(pt.e, prev) {
				d.errorf(lp+sep+"path", where, "lookup %q: %s is not known before forwarding (stage = \"after\"?)", l.Name, pt.e.text)
			}
		}
		cl.parts = parts
	}
	d.compileXMLRPCLookup(&l, &cl, &lsc, lp, where)
	return cl
}

// compileLookupEach compiles a per-element lookup's each, a JSON array of req (or of resp,
// after forwarding), and lets its path read item.
func (d *decoder) compileLookupEach(l *Lookup, cl *clookup, lsc *scope, lp, where string) {
	e, err := parseExpr(strings.TrimSpace(l.Each), lsc)
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

// lookupPathGiven reports whether a lookup has a path starting with '/', reporting a missing
// or relative one.
func (d *decoder) lookupPathGiven(l *Lookup, lp, where string) bool {
	switch {
	case l.Path == "":
		d.errorf(lp, where, "lookup %q: path is required", l.Name)
	case !strings.HasPrefix(l.Path, "/"):
		d.errorf(lp+sep+"path", where, "lookup %q: path %q must start with /", l.Name, l.Path)
	default:
		return true
	}
	return false
}
