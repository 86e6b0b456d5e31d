package wiki

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var userNameRE = regexp.MustCompile(`^[a-z0-9._@-]{1,255}$`)

// userRouteLocked serves GET /rest/api/user?username=|key= and /rest/api/user/current.
func (w *Wiki) userRouteLocked(r *req, seg []string) {
	if r.method() != "GET" {
		r.badMethod()
		return
	}
	switch {
	case len(seg) == 0:
		u := w.users[r.query("username")]
		if u == nil && r.query("key") != "" {
			u = w.userByKey(r.query("key"))
		}
		if u == nil {
			r.fail(404, "No user found with username: "+r.query("username")+r.query("key"))
			return
		}
		out := w.userJSON(r.base, u.key)
		if u.disabled {
			out["status"] = "disabled"
		} else {
			out["status"] = "current"
		}
		r.json(200, out)
	case len(seg) == 1 && seg[0] == "current":
		r.json(200, w.userJSON(r.base, r.user.key))
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	}
}

// adminUserLocked serves /rest/api/admin/user[...].
func (w *Wiki) adminUserLocked(r *req, seg []string) {
	m := r.method()
	switch {
	case len(seg) == 0 && m == "POST":
		var in struct {
			UserName       string `json:"userName"`
			FullName       string `json:"fullName"`
			Email          string `json:"email"`
			Password       string `json:"password"`
			NotifyViaEmail bool   `json:"notifyViaEmail"`
		}
		if !r.decode(&in) {
			return
		}
		name := strings.ToLower(in.UserName)
		switch {
		case !userNameRE.MatchString(name):
			r.fail(400, "Invalid user name: "+in.UserName)
			return
		case in.FullName == "" || !strings.Contains(in.Email, "@"):
			r.fail(400, "fullName and a valid email are required")
			return
		case in.Password == "" && !in.NotifyViaEmail:
			r.fail(400, "A password is required unless notifyViaEmail is true")
			return
		case w.users[name] != nil:
			r.fail(409, "A user with the name "+name+" already exists")
			return
		}
		w.nextUser++
		u := &user{name: name, key: fmt.Sprintf("ff808081%024x", w.nextUser), fullName: in.FullName,
			email: in.Email, password: in.Password, groups: map[string]bool{UserGroup: true}}
		w.users[name] = u
		r.ctx.Response.Header.Set("Location", r.base+"/rest/api/user?key="+u.key)
		r.ctx.SetStatusCode(201)
	case len(seg) == 1 && m == "DELETE":
		u := w.users[seg[0]]
		if u == nil {
			r.fail(404, "No user found with username: "+seg[0])
			return
		}
		if u == r.user {
			r.fail(400, "You cannot delete yourself")
			return
		}
		delete(w.users, u.name)
		r.noContent()
	case len(seg) == 2 && m == "PUT" && (seg[1] == "disable" || seg[1] == "enable"):
		u := w.users[seg[0]]
		if u == nil {
			r.fail(404, "No user found with username: "+seg[0])
			return
		}
		if u == r.user {
			r.fail(400, "You cannot disable yourself")
			return
		}
		u.disabled = seg[1] == "disable"
		r.noContent()
	default:
		r.badMethod()
	}
}

// groupRouteLocked serves GET /rest/api/group and /rest/api/group/{name}.
func (w *Wiki) groupRouteLocked(r *req, seg []string) {
	if r.method() != "GET" {
		r.badMethod()
		return
	}
	switch len(seg) {
	case 0:
		names := make([]string, 0, len(w.groups))
		for g := range w.groups {
			names = append(names, g)
		}
		sort.Strings(names)
		res := []any{}
		for _, g := range names {
			res = append(res, groupJSON(r.base, g))
		}
		r.json(200, map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)})
	case 1:
		if !w.groups[seg[0]] {
			r.fail(404, "No group found with name: "+seg[0])
			return
		}
		r.json(200, groupJSON(r.base, seg[0]))
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	}
}

func groupJSON(base, name string) map[string]any {
	return map[string]any{"type": "group", "name": name, "_links": map[string]any{"self": base + "/rest/api/group/" + name}}
}

// adminGroupLocked serves POST /rest/api/admin/group and DELETE /rest/api/admin/group/{name}.
func (w *Wiki) adminGroupLocked(r *req, seg []string) {
	m := r.method()
	switch {
	case len(seg) == 0 && m == "POST":
		var in struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if !r.decode(&in) {
			return
		}
		name := strings.ToLower(in.Name)
		if in.Type != "" && in.Type != "group" || !userNameRE.MatchString(name) {
			r.fail(400, "Invalid group: "+in.Name)
			return
		}
		if w.groups[name] {
			r.fail(409, "A group with the name "+name+" already exists")
			return
		}
		w.groups[name] = true
		r.json(201, groupJSON(r.base, name))
	case len(seg) == 1 && m == "DELETE":
		if !w.groups[seg[0]] {
			r.fail(404, "No group found with name: "+seg[0])
			return
		}
		if seg[0] == AdminGroup {
			r.fail(400, "The group "+AdminGroup+" cannot be deleted")
			return
		}
		delete(w.groups, seg[0])
		for _, u := range w.users {
			delete(u.groups, seg[0])
		}
		r.noContent()
	default:
		r.badMethod()
	}
}
