package wiki

// Content restrictions (read/update, by group and user).

import (
	"strings"
)

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
	type restrIn struct {
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
	m := r.method()
	switch {
	case len(rest) == 0 && m == "GET":
	case len(rest) == 0 && (m == "PUT" || m == "POST"):
		var in []restrIn
		if !r.decode(&in) {
			return
		}
		next := map[string][]string{}
		for k, v := range c.restrictions {
			next[k] = append([]string(nil), v...)
		}
		for _, op := range in {
			if op.Operation != "read" && op.Operation != "update" {
				r.fail(400, "Unknown operation: "+op.Operation)
				return
			}
			if m == "PUT" { // PUT replaces the operations it names
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
					return
				}
				if !contains(next[op.Operation], "user:"+target.key) {
					next[op.Operation] = append(next[op.Operation], "user:"+target.key)
				}
			}
			for _, g := range op.Restrictions.Group {
				if !w.groups[g.Name] {
					r.fail(400, "Unknown group: "+g.Name)
					return
				}
				if !contains(next[op.Operation], "group:"+g.Name) {
					next[op.Operation] = append(next[op.Operation], "group:"+g.Name)
				}
			}
		}
		c.restrictions = next
	case len(rest) == 0 && m == "DELETE":
		c.restrictions = map[string][]string{}
	case len(rest) >= 3 && rest[0] == "byOperation" && (m == "PUT" || m == "DELETE" || m == "GET"):
		op := rest[1]
		if op != "read" && op != "update" {
			r.fail(400, "Unknown operation: "+op)
			return
		}
		var subject string
		switch {
		case rest[2] == "group" && len(rest) == 4:
			if !w.groups[rest[3]] {
				r.fail(404, "No group found with name: "+rest[3])
				return
			}
			subject = "group:" + rest[3]
		case rest[2] == "user" && len(rest) == 3:
			u := w.users[r.query("userName")]
			if u == nil {
				u = w.userByKey(r.query("key"))
			}
			if u == nil {
				r.fail(404, "No user found")
				return
			}
			subject = "user:" + u.key
		default:
			r.fail(404, "null for uri: "+string(r.ctx.Path()))
			return
		}
		has := contains(c.restrictions[op], subject)
		switch m {
		case "GET":
			if !has {
				r.fail(404, "No such restriction")
				return
			}
			r.noContent()
			return
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
		return
	default:
		r.badMethod()
		return
	}
	w.restrictionsJSON(r, c)
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
