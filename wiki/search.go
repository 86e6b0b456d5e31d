package wiki

import (
	"regexp"
	"strings"
)

// cqlClause is one "field = value" (or "field != value") of a CQL query.
var cqlClause = regexp.MustCompile(`^\s*(\w+)\s*(!?=)\s*("([^"]*)"|'([^']*)'|[^\s"']+)\s*$`)

var cqlAnd = regexp.MustCompile(`(?i)\s+and\s+`)

// searchLocked serves GET /rest/api/content/search?cql=: the subset of CQL made of clauses
// "field = value" and "field != value" joined by AND, over the fields id, type, space, title,
// label, parent (the direct parent page) and ancestor (any page above). Like Confluence's
// search it finds current content only.
func (w *Wiki) searchLocked(r *req) {
	cql := r.query("cql")
	if strings.TrimSpace(cql) == "" {
		r.fail(400, "cql is required")
		return
	}
	type clause struct{ field, op, val string }
	var cs []clause
	for _, part := range cqlAnd.Split(cql, -1) {
		m := cqlClause.FindStringSubmatch(part)
		if m == nil {
			r.fail(400, "Could not parse cql: "+cql)
			return
		}
		val := m[3]
		if m[4] != "" || strings.HasPrefix(val, `"`) {
			val = m[4]
		} else if m[5] != "" || strings.HasPrefix(val, `'`) {
			val = m[5]
		}
		f := strings.ToLower(m[1])
		switch f {
		case "id", "type", "space", "title", "label", "parent", "ancestor":
		default:
			r.fail(400, "Could not parse cql: unsupported field "+m[1])
			return
		}
		cs = append(cs, clause{f, m[2], val})
	}
	var list []*content
	for _, c := range w.contents {
		if c.status != "current" {
			continue
		}
		ok := true
		for _, cl := range cs {
			var hit bool
			switch cl.field {
			case "id":
				hit = ids(c.id) == cl.val || c.restID() == cl.val
			case "type":
				hit = c.typ == cl.val
			case "space":
				hit = c.space == cl.val
			case "title":
				hit = c.title == cl.val
			case "label":
				hit = contains(c.labels, strings.ToLower(cl.val))
			case "parent":
				hit = c.typ == "page" && ids(c.parent) == cl.val
			case "ancestor":
				for _, a := range w.ancestorsLocked(c) {
					hit = hit || ids(a.id) == cl.val
				}
			}
			if hit == (cl.op == "!=") {
				ok = false
				break
			}
		}
		if ok {
			list = append(list, c)
		}
	}
	w.results(r, list)
}
