package wiki

import (
	"bytes"
	"sort"
	"strings"
)

// uiLocked serves the web-UI form posts (*.action) that raise Confluence's UI-only events.
func (w *Wiki) uiLocked(r *req, path string) {
	if r.method() != "POST" {
		r.badMethod()
		return
	}
	tok := r.ctx.Request.Header.Peek("X-Atlassian-Token")
	if !bytes.EqualFold(tok, []byte("no-check")) && !bytes.EqualFold(tok, []byte("nocheck")) &&
		len(r.ctx.FormValue("atl_token")) == 0 {
		r.fail(403, "XSRF Security Token Missing")
		return
	}
	switch path {
	case "/pages/children/reorder.action":
		w.reorderLocked(r)
	case "/spaces/doupdatespacelogo.action":
		w.spaceLogoLocked(r)
	case "/spaces/doenabletheme.action":
		w.enableThemeLocked(r, false)
	case "/admin/doenabletheme.action":
		w.enableThemeLocked(r, true)
	case "/users/follow.action":
		w.followLocked(r, true)
	case "/users/unfollow.action":
		w.followLocked(r, false)
	default:
		r.fail(404, "No action at "+path)
	}
}

// spaceLogoLocked sets the logo of space ?key= to the uploaded image, which becomes an
// attachment of the space's home page.
func (w *Wiki) spaceLogoLocked(r *req) {
	s := w.spaces[r.query("key")]
	if s == nil {
		r.fail(404, "No space with key : "+r.query("key"))
		return
	}
	name, size, mediaType, _, ok := r.upload()
	if !ok {
		return
	}
	if !strings.HasPrefix(mediaType, "image/") {
		r.fail(400, "The space logo must be an image")
		return
	}
	home := w.contents[s.homepage]
	if home == nil {
		r.fail(400, "The space has no home page to hold its logo")
		return
	}
	a := w.newAttachmentLocked(r.user, home, name, mediaType, "space logo", size)
	s.logo = a.id
	s.modifier, s.modified = r.user.key, w.now()
	r.json(200, map[string]any{"space": map[string]any{"id": s.id, "key": s.key}, "logo": w.contentJSON(r.base, a)})
}

// enableThemeLocked sets the theme themeKey= of the site (site: administrators only) or of
// space ?key=.
func (w *Wiki) enableThemeLocked(r *req, site bool) {
	key := string(r.ctx.FormValue("themeKey"))
	if _, ok := themes[key]; !ok {
		r.fail(400, "No theme with key "+key)
		return
	}
	if site {
		if !r.user.isAdmin() {
			r.fail(403, "Only administrators can change the site theme")
			return
		}
		old := w.theme
		w.theme = key
		r.json(200, map[string]any{"spaceKey": "", "oldThemeKey": old, "newThemeKey": key})
		return
	}
	s := w.spaces[r.query("key")]
	if s == nil {
		r.fail(404, "No space with key : "+r.query("key"))
		return
	}
	old := s.theme
	if old == "" {
		old = w.theme
	}
	s.theme = key
	r.json(200, map[string]any{"spaceKey": s.key, "oldThemeKey": old, "newThemeKey": key})
}

// followLocked makes the caller follow (or, without follow, stop following) user ?username=.
func (w *Wiki) followLocked(r *req, follow bool) {
	u := w.users[r.query("username")]
	if u == nil {
		r.fail(404, "No user found with username: "+r.query("username"))
		return
	}
	if u == r.user {
		r.fail(400, "You cannot follow yourself")
		return
	}
	pair := [2]string{r.user.key, u.key}
	if follow {
		w.follows[pair] = true
	} else {
		delete(w.follows, pair)
	}
	r.json(200, map[string]any{"following": follow})
}

// reorderLocked sorts a page's children alphabetically (Space Tools > Reorder pages).
func (w *Wiki) reorderLocked(r *req) {
	p := w.findLocked(r.query("pageId"), "")
	if p == nil || p.typ != "page" {
		notFound(r, r.query("pageId"))
		return
	}
	var kids []*content
	for _, o := range w.contents {
		if o.typ == "page" && o.status == "current" && o.parent == p.id {
			kids = append(kids, o)
		}
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].position < kids[j].position })
	old := idList(kids)
	sort.SliceStable(kids, func(i, j int) bool { return strings.ToLower(kids[i].title) < strings.ToLower(kids[j].title) })
	for i, k := range kids {
		k.position = i
	}
	if n := len(kids); w.nextPos[posKey{p.space, p.id}] < n {
		w.nextPos[posKey{p.space, p.id}] = n
	}
	r.json(200, map[string]any{"pageId": p.id, "oldSortedChildren": old, "newSortedChildren": idList(kids)})
}

func idList(list []*content) []any {
	out := []any{}
	for _, c := range list {
		out = append(out, map[string]any{"id": c.id})
	}
	return out
}
