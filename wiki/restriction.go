package wiki

// Content restrictions (read/update, by group and user).

import (
	"strings"
)

// restrictionIn is one operation's restrictions in a PUT or POST .../restriction body.
type restrictionIn struct {
	Operation    string `json:"operation"`
	Restrictions struct {
		User []struct {
			Username string `json:"username"`
			UserKey  string `json:"userKey"`
		} `json:"user"`
		Group []struct {
			Name string `json:"name"`
		} `json:"group"`
	} `json:"restrictions"`
}

// restrictionLocked serves .../restriction and .../restriction/byOperation/{op}/{group/{g}|user}.
func (w *Wiki) restrictionLocked(r *req, id string, rest []string) {
	c := w.findLocked(id, "")
	if c == nil || (c.typ != "page" && c.typ != "blogpost") {
		notFound(r, id)
		return
	}
	if c.restrictions == nil {
		c.restrictions = map[string][]string{}
	}
	m := r.method()
	switch {
	case len(rest) == 0 && m == "GET":
	case len(rest) == 0 && (m == "PUT" || m == "POST"):
		if !w.setRestrictionsLocked(r, c, m == "PUT") {
			return
		}
	case len(rest) == 0 && m == "DELETE":
		c.restrictions = map[string][]string{}
	case len(rest) >= 3 && rest[0] == "byOperation" && (m == "PUT" || m == "DELETE" || m == "GET"):
		w.restrictionByOpLocked(r, c, rest[1:])
		return
	default:
		r.badMethod()
		return
	}
	w.restrictionsJSON(r, c)
}

// setRestrictionsLocked applies a .../restriction body to c: with replace (PUT) the
// operations it names are replaced, without (POST) they are added to. On a bad body it
// answers and returns false, and c is unchanged.
func (w *Wiki) setRestrictionsLocked(r *req, c *content, replace bool) bool {
	var in []restrictionIn
	if !r.decode(&in) {
		return false
	}
	next := map[string][]string{}
	for k, v := range c.restrictions {
		next[k] = append([]string(nil), v...)
	}
	for _, op := range in {
		if op.Operation != "read" && op.Operation != "update" {
			r.fail(400, "Unknown operation: "+op.Operation)
			return false
		}
		if replace { // PUT replaces the operations it names
			delete(next, op.Operation)
		}
	}
	for _, op := range in {
		for _, u := range op.Restrictions.User {
			target := w.users[u.Username]
			if target == nil {
				target = w.userByKey(u.UserKey)
			}
			if target == nil {
				r.fail(400, "Unknown user: "+u.Username+u.UserKey)
				return false
			}
			if !contains(next[op.Operation], "user:"+target.key) {
				next[op.Operation] = append(next[op.Operation], "user:"+target.key)
			}
		}
		for _, g := range op.Restrictions.Group {
			if !w.groups[g.Name] {
				r.fail(400, "Unknown group: "+g.Name)
				return false
			}
			if !contains(next[op.Operation], "group:"+g.Name) {
				next[op.Operation] = append(next[op.Operation], "group:"+g.Name)
			}
		}
	}
	c.restrictions = next
	return true
}

// restrictionByOpLocked serves GET (is it there), PUT (add) and DELETE (remove) on
// .../restriction/byOperation/<rest...>, rest being {op}/group/{g} or {op}/user.
func (w *Wiki) restrictionByOpLocked(r *req, c *content, rest []string) {
	op := rest[0]
	if op != "read" && op != "update" {
		r.fail(400, "Unknown operation: "+op)
		return
	}
	subject, ok := w.restrictionSubjectLocked(r, rest[1:])
	if !ok {
		return
	}
	has := contains(c.restrictions[op], subject)
	switch r.method() {
	case "GET":
		if !has {
			r.fail(404, "No such restriction")
			return
		}
	case "PUT":
		if !has {
			c.restrictions[op] = append(c.restrictions[op], subject)
		}
	case "DELETE":
		if !has {
			r.fail(404, "No such restriction")
			return
		}
		c.restrictions[op] = remove(c.restrictions[op], subject)
	}
	r.noContent()
}

// restrictionSubjectLocked resolves group/{g} or user (?userName= or ?key=) to the
// "group:<name>" or "user:<key>" a restriction holds; if there is none it answers and
// returns false.
func (w *Wiki) restrictionSubjectLocked(r *req, rest []string) (string, bool) {
	switch {
	case rest[0] == "group" && len(rest) == 2:
		if !w.groups[rest[1]] {
			r.fail(404, "No group found with name: "+rest[1])
			return "", false
		}
		return "group:" + rest[1], true
	case rest[0] == "user" && len(rest) == 1:
		u := w.users[r.query("userName")]
		if u == nil {
			u = w.userByKey(r.query("key"))
		}
		if u == nil {
			r.fail(404, "No user found")
			return "", false
		}
		return "user:" + u.key, true
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
		return "", false
	}
}

func (w *Wiki) restrictionsJSON(r *req, c *content) {
	res := []any{}
	for _, op := range []string{"read", "update"} {
		users, groups := []any{}, []any{}
		for _, s := range c.restrictions[op] {
			kind, v, _ := strings.Cut(s, ":")
			if kind == "user" {
				users = append(users, w.userJSON(r.base, v))
			} else {
				groups = append(groups, map[string]any{"type": "group", "name": v})
			}
		}
		res = append(res, map[string]any{"operation": op,
			"restrictions": map[string]any{
				"user":  map[string]any{"results": users, "start": 0, "limit": 200, "size": len(users)},
				"group": map[string]any{"results": groups, "start": 0, "limit": 200, "size": len(groups)}},
			"content": map[string]any{"id": ids(c.id), "type": c.typ}})
	}
	r.json(200, map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)})
}
