package wiki

// restLocked routes /rest/api/<seg...>.
func (w *Wiki) restLocked(r *req, seg []string) {
	m := r.method()
	n := len(seg)
	switch seg[0] {
	case "content":
		w.restContentLocked(r, seg)
	case "label":
		if n == 1 && m == "GET" {
			w.getLabelLocked(r)
			return
		}
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	case "space":
		w.spaceRouteLocked(r, seg[1:])
	case "settings":
		if n == 3 && seg[1] == "theme" && seg[2] == "selected" && m == "GET" {
			r.json(200, themeJSON(w.theme))
			return
		}
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	case "user":
		w.userRouteLocked(r, seg[1:])
	case "group":
		w.groupRouteLocked(r, seg[1:])
	case "admin":
		w.restAdminLocked(r, seg)
	case "longtask":
		if n == 2 && m == "GET" {
			r.json(200, map[string]any{"id": seg[1], "name": map[string]any{"key": "com.atlassian.confluence.space.delete"},
				"elapsedTime": 0, "percentageComplete": 100, "successful": true, "finished": true,
				"messages": []any{}})
			return
		}
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	}
}

// restContentLocked routes /rest/api/content[/<seg...>] (seg[0] is "content").
func (w *Wiki) restContentLocked(r *req, seg []string) {
	m := r.method()
	n := len(seg)
	switch {
	case n == 1:
		switch m {
		case "GET":
			w.listContentLocked(r)
		case "POST":
			w.createContentLocked(r)
		default:
			r.badMethod()
		}
	case n == 2 && seg[1] == "search" && m == "GET":
		w.searchLocked(r)
	case n == 4 && seg[1] == "blueprint" && seg[2] == "instance" && m == "POST":
		w.publishBlueprintLocked(r, seg[3])
	case n == 2:
		switch m {
		case "GET":
			w.getContentLocked(r, seg[1])
		case "PUT":
			w.updateContentLocked(r, seg[1])
		case "DELETE":
			w.deleteContentLocked(r, seg[1])
		default:
			r.badMethod()
		}
	case n >= 3 && seg[2] == "child":
		w.childLocked(r, seg[1], seg[3:])
	case n >= 3 && seg[2] == "label":
		w.labelLocked(r, seg[1], seg[3:])
	case n >= 3 && seg[2] == "restriction":
		w.restrictionLocked(r, seg[1], seg[3:])
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	}
}

// restAdminLocked routes /rest/api/admin/{user|group}/<seg...> (seg[0] is "admin"), for
// administrators only.
func (w *Wiki) restAdminLocked(r *req, seg []string) {
	n := len(seg)
	if !r.user.isAdmin() {
		r.fail(403, "User "+r.user.name+" does not have permission to administer users and groups")
		return
	}
	if n >= 2 && seg[1] == "user" {
		w.adminUserLocked(r, seg[2:])
		return
	}
	if n >= 2 && seg[1] == "group" {
		w.adminGroupLocked(r, seg[2:])
		return
	}
	r.fail(404, "null for uri: "+string(r.ctx.Path()))
}
