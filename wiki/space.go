package wiki

import (
	"regexp"
	"sort"
	"time"
)

var themes = map[string]string{
	DefaultTheme: "Default Theme",
	"com.atlassian.confluence.themes.documentation:documentation": "Documentation Theme",
	"com.example.confluence.themes.dark:dark":                     "Dark Theme",
}

func themeJSON(key string) map[string]any {
	return map[string]any{"themeKey": key, "name": themes[key], "description": themes[key],
		"_links": map[string]any{"self": "/rest/api/settings/theme/" + key}}
}

var spaceKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)

// createSpaceLocked adds a space and its home page.
func (w *Wiki) createSpaceLocked(key, name, desc, creator string, at time.Time) *space {
	w.nextSp++
	s := &space{id: w.nextSp, key: key, name: name, description: desc, creator: creator, modifier: creator,
		created: at, modified: at}
	w.spaces[key] = s
	w.nextCont++
	home := &content{id: w.nextCont, typ: "page", status: "current", title: name + " Home", space: key,
		version: 1, creator: creator, modifier: creator, created: at, modified: at}
	w.contents[home.id] = home
	w.indexTitleLocked(home)
	s.homepage = home.id
	return s
}

func (w *Wiki) spaceJSON(base string, s *space) map[string]any {
	out := map[string]any{
		"id": s.id, "key": s.key, "name": s.name,
		"description": map[string]any{"plain": map[string]any{"value": s.description, "representation": "plain"}},
		"type":        "global",
		"status":      "current",
		"history":     map[string]any{"createdBy": w.userJSON(base, s.creator), "createdDate": iso(s.created)},
	}
	if h := w.contents[s.homepage]; h != nil {
		out["homepage"] = map[string]any{"id": ids(h.id), "type": h.typ, "status": h.status, "title": h.title}
	}
	if s.logo != 0 {
		out["icon"] = map[string]any{"path": "/download/attachments/" + ids(s.homepage) + "/logo?version=1", "width": 48, "height": 48, "isDefault": false}
	} else {
		out["icon"] = map[string]any{"path": "/images/logo/default-space-logo-256.png", "width": 48, "height": 48, "isDefault": true}
	}
	lbls := []any{}
	for _, l := range s.labels {
		lbls = append(lbls, w.labelJSON(l))
	}
	out["metadata"] = map[string]any{"labels": map[string]any{"results": lbls, "size": len(lbls)}}
	out["_links"] = map[string]any{"webui": "/display/" + s.key, "self": base + "/rest/api/space/" + s.key}
	return out
}

// spaceRouteLocked routes /rest/api/space/<seg...>.
func (w *Wiki) spaceRouteLocked(r *req, seg []string) {
	m := r.method()
	if len(seg) == 0 {
		switch m {
		case "GET":
			w.listSpacesLocked(r)
		case "POST":
			w.createSpaceReqLocked(r)
		default:
			r.badMethod()
		}
		return
	}
	s := w.spaces[seg[0]]
	if s == nil {
		r.fail(404, "No space with key : "+seg[0])
		return
	}
	if len(seg) == 1 {
		switch m {
		case "GET":
			r.json(200, w.spaceJSON(r.base, s))
		case "PUT":
			w.updateSpaceLocked(r, s)
		case "DELETE":
			w.deleteSpaceLocked(r, s)
		default:
			r.badMethod()
		}
		return
	}
	switch seg[1] {
	case "permissions":
		w.spacePermLocked(r, s, seg[2:])
	case "theme":
		if len(seg) != 2 {
			r.fail(404, "null for uri: "+string(r.ctx.Path()))
			return
		}
		w.spaceThemeLocked(r, s)
	default:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	}
}

// listSpacesLocked serves GET /rest/api/space: every space, by id.
func (w *Wiki) listSpacesLocked(r *req) {
	list := make([]*space, 0, len(w.spaces))
	for _, s := range w.spaces {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	res := []any{}
	for _, s := range list {
		res = append(res, w.spaceJSON(r.base, s))
	}
	r.json(200, map[string]any{"results": res, "start": 0, "limit": 25, "size": len(res)})
}

// updateSpaceLocked serves PUT /rest/api/space/{key}: a new name, description or home page.
func (w *Wiki) updateSpaceLocked(r *req, s *space) {
	var in struct {
		Name        string `json:"name"`
		Description *struct {
			Plain struct {
				Value string `json:"value"`
			} `json:"plain"`
		} `json:"description"`
		Homepage *struct {
			ID string `json:"id"`
		} `json:"homepage"`
	}
	if !r.decode(&in) {
		return
	}
	if in.Homepage != nil {
		h := w.findLocked(in.Homepage.ID, "")
		if h == nil || h.space != s.key || h.typ != "page" {
			r.fail(400, "Homepage must be a page of the space")
			return
		}
		s.homepage = h.id
	}
	if in.Name != "" {
		s.name = in.Name
	}
	if in.Description != nil {
		s.description = in.Description.Plain.Value
	}
	s.modifier, s.modified = r.user.key, w.now()
	r.json(200, w.spaceJSON(r.base, s))
}

// deleteSpaceLocked serves DELETE /rest/api/space/{key} (administrators only): the space
// and its content go at once, and the answer is a finished long task.
func (w *Wiki) deleteSpaceLocked(r *req, s *space) {
	if !r.user.isAdmin() {
		r.fail(403, "User "+r.user.name+" does not have permission to delete space "+s.key)
		return
	}
	for id, c := range w.contents {
		if c.space == s.key {
			delete(w.contents, id)
		}
	}
	delete(w.spaces, s.key)
	w.nextTask++
	r.json(202, map[string]any{"id": ids(w.nextTask),
		"links": map[string]any{"status": r.base + "/rest/api/longtask/" + ids(w.nextTask)}})
}

// spaceThemeLocked serves GET, PUT and DELETE /rest/api/space/{key}/theme.
func (w *Wiki) spaceThemeLocked(r *req, s *space) {
	switch r.method() {
	case "GET":
		if s.theme == "" {
			r.fail(404, "No theme is set for space "+s.key)
			return
		}
		r.json(200, themeJSON(s.theme))
	case "PUT":
		var in struct {
			ThemeKey string `json:"themeKey"`
		}
		if !r.decode(&in) {
			return
		}
		if _, ok := themes[in.ThemeKey]; !ok {
			r.fail(400, "No theme with key "+in.ThemeKey)
			return
		}
		s.theme = in.ThemeKey
		r.json(200, themeJSON(s.theme))
	case "DELETE":
		s.theme = ""
		r.noContent()
	default:
		r.badMethod()
	}
}

func (w *Wiki) createSpaceReqLocked(r *req) {
	var in struct {
		Key         string `json:"key"`
		Name        string `json:"name"`
		Description *struct {
			Plain struct {
				Value string `json:"value"`
			} `json:"plain"`
		} `json:"description"`
	}
	if !r.decode(&in) {
		return
	}
	if !spaceKeyRE.MatchString(in.Key) {
		r.fail(400, "Invalid space key: "+in.Key)
		return
	}
	if in.Name == "" {
		r.fail(400, "Space name is required")
		return
	}
	if w.spaces[in.Key] != nil {
		r.fail(400, "A space already exists with key "+in.Key)
		return
	}
	desc := ""
	if in.Description != nil {
		desc = in.Description.Plain.Value
	}
	s := w.createSpaceLocked(in.Key, in.Name, desc, r.user.key, w.now())
	r.json(200, w.spaceJSON(r.base, s))
}

var spaceOps = map[string]bool{"read": true, "administer": true, "export": true, "restrict_content": true,
	"create": true, "delete": true, "delete_own": true, "archive": true}

func permJSON(p spacePerm) map[string]any {
	sub := map[string]any{"type": p.subject}
	if p.subject != "anonymous" {
		sub["identifier"] = p.ident
	}
	return map[string]any{"id": p.id, "subject": sub,
		"operation": map[string]any{"key": p.operation, "target": p.target}}
}

// spacePermLocked serves /rest/api/space/{key}/permissions[...].
func (w *Wiki) spacePermLocked(r *req, s *space, seg []string) {
	m := r.method()
	type op struct {
		Key    string `json:"key"`
		Target string `json:"target"`
	}
	switch {
	case len(seg) == 0 && m == "GET":
		res := []any{}
		for _, p := range s.perms {
			res = append(res, permJSON(p))
		}
		r.json(200, map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)})
	case len(seg) == 0 && m == "POST":
		var in struct {
			Subject struct {
				Type       string `json:"type"`
				Identifier string `json:"identifier"`
			} `json:"subject"`
			Operation op `json:"operation"`
		}
		if !r.decode(&in) {
			return
		}
		p, status, msg := w.grantLocked(s, in.Subject.Type, in.Subject.Identifier, in.Operation.Key, in.Operation.Target)
		if status != 0 {
			r.fail(status, msg)
			return
		}
		r.json(200, permJSON(p))
	case len(seg) == 1 && m == "DELETE":
		for i, p := range s.perms {
			if ids(p.id) == seg[0] {
				s.perms = append(s.perms[:i], s.perms[i+1:]...)
				r.noContent()
				return
			}
		}
		r.fail(404, "No space permission with id "+seg[0])
	case m == "PUT" && len(seg) >= 2 && (seg[len(seg)-1] == "grant" || seg[len(seg)-1] == "revoke"):
		var subject, ident string
		switch {
		case seg[0] == "anonymous" && len(seg) == 2:
			subject = "anonymous"
		case (seg[0] == "user" || seg[0] == "group") && len(seg) == 3:
			subject, ident = seg[0], seg[1]
		default:
			r.fail(404, "null for uri: "+string(r.ctx.Path()))
			return
		}
		var in []op
		if !r.decode(&in) {
			return
		}
		if len(in) == 0 {
			r.fail(400, "No permissions given")
			return
		}
		for _, o := range in {
			if seg[len(seg)-1] == "grant" {
				if _, status, msg := w.grantLocked(s, subject, ident, o.Key, o.Target); status != 0 && status != 409 {
					r.fail(status, msg)
					return
				}
				continue
			}
			for i, p := range s.perms {
				if p.subject == subject && p.ident == ident && p.operation == o.Key && p.target == orSpace(o.Target) {
					s.perms = append(s.perms[:i], s.perms[i+1:]...)
					break
				}
			}
		}
		r.noContent()
	default:
		r.badMethod()
	}
}

func orSpace(t string) string {
	if t == "" {
		return "space"
	}
	return t
}

// grantLocked adds a space permission; status 0 means done, 409 means it was there already.
func (w *Wiki) grantLocked(s *space, subject, ident, operation, target string) (spacePerm, int, string) {
	target = orSpace(target)
	switch subject {
	case "user":
		if w.userByKey(ident) == nil {
			if u := w.users[ident]; u != nil {
				ident = u.key
			} else {
				return spacePerm{}, 400, "No user with key " + ident
			}
		}
	case "group":
		if !w.groups[ident] {
			return spacePerm{}, 400, "No group with name " + ident
		}
	case "anonymous":
		ident = ""
	default:
		return spacePerm{}, 400, "Unknown subject type: " + subject
	}
	if !spaceOps[operation] {
		return spacePerm{}, 400, "Unknown operation: " + operation
	}
	for _, p := range s.perms {
		if p.subject == subject && p.ident == ident && p.operation == operation && p.target == target {
			return p, 409, "Permission already exists"
		}
	}
	w.nextPerm++
	p := spacePerm{id: w.nextPerm, subject: subject, ident: ident, operation: operation, target: target}
	s.perms = append(s.perms, p)
	return p, 0, ""
}
