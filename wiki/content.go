package wiki

import (
	"sort"
	"strings"
)

// contentJSON is Confluence's Content shape, always expanded (space, history, version,
// ancestors, container, body, labels).
func (w *Wiki) contentJSON(base string, c *content) map[string]any {
	out := map[string]any{
		"id":     c.restID(),
		"type":   c.typ,
		"status": c.status,
		"title":  c.title,
	}
	if s := w.spaces[c.space]; s != nil {
		out["space"] = map[string]any{"id": s.id, "key": s.key, "name": s.name, "type": "global",
			"_links": map[string]any{"webui": "/display/" + s.key, "self": base + "/rest/api/space/" + s.key}}
	}
	out["history"] = map[string]any{"latest": true, "createdBy": w.userJSON(base, c.creator), "createdDate": iso(c.created)}
	out["version"] = map[string]any{"by": w.userJSON(base, c.modifier), "when": iso(c.modified),
		"number": c.version, "minorEdit": false}
	anc := []any{}
	for _, a := range w.ancestorsLocked(c) {
		anc = append(anc, map[string]any{"id": ids(a.id), "type": a.typ, "status": a.status, "title": a.title})
	}
	out["ancestors"] = anc
	if c.container != 0 {
		if p := w.contents[c.container]; p != nil {
			out["container"] = map[string]any{"id": ids(p.id), "type": p.typ, "status": p.status, "title": p.title}
		}
	}
	if c.typ != "attachment" {
		out["body"] = map[string]any{"storage": map[string]any{"value": c.body, "representation": "storage"}}
	}
	lbls := []any{}
	for _, l := range c.labels {
		lbls = append(lbls, w.labelJSON(l))
	}
	out["metadata"] = map[string]any{"labels": map[string]any{"results": lbls, "start": 0, "limit": 200, "size": len(lbls)}}
	ext := map[string]any{}
	switch c.typ {
	case "page", "blogpost":
		ext["position"] = c.position
	case "comment":
		ext["location"] = c.location
	case "attachment":
		ext["mediaType"] = c.mediaType
		ext["fileSize"] = c.fileSize
		ext["comment"] = c.comment
	}
	if c.blueprint != nil {
		ext["blueprint"] = c.blueprint
	}
	out["extensions"] = ext
	links := map[string]any{"self": base + "/rest/api/content/" + c.restID(), "base": base, "context": ""}
	switch c.typ {
	case "page", "blogpost":
		links["webui"] = "/pages/viewpage.action?pageId=" + ids(c.id)
		links["tinyui"] = "/x/" + ids(c.id)
	case "comment":
		links["webui"] = "/pages/viewpage.action?pageId=" + ids(c.container) + "&focusedCommentId=" + ids(c.id)
	case "attachment":
		links["webui"] = "/pages/viewpageattachments.action?pageId=" + ids(c.container)
		links["download"] = "/download/attachments/" + ids(c.container) + "/" + c.title + "?version=" + itoa(c.version)
	}
	out["_links"] = links
	return out
}

func (c *content) restID() string {
	if c.typ == "attachment" {
		return "att" + ids(c.id)
	}
	return ids(c.id)
}

func (w *Wiki) labelJSON(name string) map[string]any {
	return map[string]any{"prefix": "global", "name": name, "id": ids(w.labelIDLocked(name)), "label": name}
}

func (w *Wiki) ancestorsLocked(c *content) []*content {
	var chain []*content
	p := c.parent
	if c.typ == "comment" || c.typ == "attachment" {
		p = c.container
	}
	for i := 0; p != 0 && i < 1000; i++ {
		a := w.contents[p]
		if a == nil {
			break
		}
		chain = append(chain, a)
		p = a.parent
	}
	// root first, as Confluence lists them
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

// findLocked finds content by REST id and status filter ("" means current).
func (w *Wiki) findLocked(idText, status string) *content {
	id, ok := parseID(idText)
	if !ok {
		return nil
	}
	c := w.contents[id]
	if c == nil {
		return nil
	}
	if status == "" {
		status = "current"
	}
	if status != "any" && c.status != status {
		return nil
	}
	return c
}

func notFound(r *req, id string) { r.fail(404, "No content found with id: ContentId{id="+id+"}") }

func (w *Wiki) listContentLocked(r *req) {
	typ, key, title, status := r.query("type"), r.query("spaceKey"), r.query("title"), r.query("status")
	if typ == "" {
		typ = "page"
	}
	if status == "" {
		status = "current"
	}
	var list []*content
	for _, c := range w.contents {
		if c.typ == typ && (key == "" || c.space == key) && (title == "" || c.title == title) &&
			(status == "any" || c.status == status) {
			list = append(list, c)
		}
	}
	w.results(r, list)
}

func (w *Wiki) results(r *req, list []*content) {
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	res := []any{}
	for _, c := range list {
		res = append(res, w.contentJSON(r.base, c))
	}
	r.json(200, map[string]any{"results": res, "start": 0, "limit": 25, "size": len(res),
		"_links": map[string]any{"base": r.base, "context": ""}})
}

func (w *Wiki) getContentLocked(r *req, id string) {
	c := w.findLocked(id, r.query("status"))
	if c == nil {
		notFound(r, id)
		return
	}
	r.json(200, w.contentJSON(r.base, c))
}

// contentIn is the request body of POST and PUT /rest/api/content.
type contentIn struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    string                `json:"status"`
	Space     *struct{ Key string } `json:"space"`
	Ancestors []struct {
		ID string `json:"id"`
	} `json:"ancestors"`
	Container *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"container"`
	Body *struct {
		Storage *struct {
			Value string `json:"value"`
		} `json:"storage"`
	} `json:"body"`
	Version *struct {
		Number int `json:"number"`
	} `json:"version"`
	Extensions *struct {
		Location string `json:"location"`
	} `json:"extensions"`
}

func (in *contentIn) body() string {
	if in.Body != nil && in.Body.Storage != nil {
		return in.Body.Storage.Value
	}
	return ""
}

func (w *Wiki) createContentLocked(r *req) {
	var in contentIn
	if !r.decode(&in) {
		return
	}
	c, status, msg := w.newContentLocked(r.user, &in)
	if c == nil {
		r.fail(status, msg)
		return
	}
	r.json(200, w.contentJSON(r.base, c))
}

// newContentLocked validates and stores a new page, blog post or comment.
func (w *Wiki) newContentLocked(u *user, in *contentIn) (*content, int, string) {
	if in.Status == "" {
		in.Status = "current"
	}
	if in.Status != "current" && in.Status != "draft" {
		return nil, 400, "Unsupported content status: " + in.Status
	}
	c := &content{typ: in.Type, status: in.Status, title: in.Title, body: in.body(), version: 1,
		creator: u.key, modifier: u.key, created: w.now(), modified: w.now()}
	switch in.Type {
	case "page", "blogpost":
		if in.Space == nil || w.spaces[in.Space.Key] == nil {
			return nil, 400, "Could not create content with type " + in.Type + ": space does not exist"
		}
		if strings.TrimSpace(in.Title) == "" {
			return nil, 400, "Content title is required"
		}
		c.space = in.Space.Key
		if in.Status == "current" && w.titleTakenLocked(in.Type, c.space, in.Title, 0) {
			return nil, 400, "A " + in.Type + " with this title already exists: A " + in.Type +
				" already exists with the title " + in.Title + " in this space"
		}
		if in.Type == "page" {
			if len(in.Ancestors) > 0 {
				p := w.findLocked(in.Ancestors[len(in.Ancestors)-1].ID, "")
				if p == nil || p.typ != "page" || p.space != c.space {
					return nil, 400, "Could not find parent page"
				}
				c.parent = p.id
			}
			c.position = w.nextPositionLocked(c.parent, c.space)
		}
	case "comment":
		if in.Container == nil {
			return nil, 400, "Comment must have a container"
		}
		p := w.findLocked(in.Container.ID, "")
		if p == nil || (p.typ != "page" && p.typ != "blogpost" && p.typ != "attachment") {
			return nil, 400, "Could not find container of comment"
		}
		c.container, c.space, c.location = p.id, p.space, "footer"
		if in.Extensions != nil && in.Extensions.Location == "inline" {
			c.location = "inline"
		}
		if len(in.Ancestors) > 0 {
			pc := w.findLocked(in.Ancestors[len(in.Ancestors)-1].ID, "")
			if pc == nil || pc.typ != "comment" {
				return nil, 400, "Could not find parent comment"
			}
			c.parent = pc.id
		}
		if c.title == "" {
			c.title = "Re: " + p.title
		}
	case "":
		return nil, 400, "Content type is required"
	default:
		return nil, 400, "Unsupported content type: " + in.Type
	}
	w.nextCont++
	c.id = w.nextCont
	w.contents[c.id] = c
	w.indexTitleLocked(c)
	return c, 200, ""
}

type titleKey struct{ typ, space, title string }

type posKey struct {
	space  string
	parent int64
}

// indexTitleLocked records c's title if c is a current page or blog post. It is called
// wherever content becomes current or changes title; removals are not tracked, the lookup
// checks instead.
func (w *Wiki) indexTitleLocked(c *content) {
	if c.status == "current" && (c.typ == "page" || c.typ == "blogpost") {
		w.titles[titleKey{c.typ, c.space, c.title}] = c.id
	}
}

// titleTakenLocked reports whether a current page or blog post other than except holds the
// title in the space. Titles are unique among current content, so the index holds the one
// candidate; an entry left by a trash, purge or rename is stale and dropped here.
func (w *Wiki) titleTakenLocked(typ, space, title string, except int64) bool {
	k := titleKey{typ, space, title}
	id, ok := w.titles[k]
	if !ok {
		return false
	}
	c := w.contents[id]
	if c == nil || c.status != "current" || c.title != title || c.typ != typ || c.space != space {
		delete(w.titles, k)
		return false
	}
	return id != except
}

// nextPositionLocked hands out the next position among a parent's children (the end).
func (w *Wiki) nextPositionLocked(parent int64, space string) int {
	k := posKey{space, parent}
	n := w.nextPos[k]
	w.nextPos[k] = n + 1
	return n
}

func (w *Wiki) updateContentLocked(r *req, id string) {
	c := w.findLocked(id, "any")
	if c == nil || c.status == "draft" {
		notFound(r, id)
		return
	}
	var in contentIn
	if !r.decode(&in) {
		return
	}
	if in.Type != "" && in.Type != c.typ {
		r.fail(400, "Content type cannot be changed from "+c.typ+" to "+in.Type)
		return
	}
	if in.Version == nil || in.Version.Number != c.version+1 {
		r.fail(409, "Version must be incremented on update. Current version is: "+itoa(c.version))
		return
	}
	switch {
	case c.status == "trashed" && in.Status == "current":
		// restore from the trash; nothing else changes
		if (c.typ == "page" || c.typ == "blogpost") && w.titleTakenLocked(c.typ, c.space, c.title, c.id) {
			r.fail(400, "A "+c.typ+" with this title already exists in this space")
			return
		}
		c.status = "current"
	case c.status == "trashed":
		r.fail(400, "Cannot update trashed content: restore it first by setting status to current")
		return
	case in.Status != "" && in.Status != "current":
		r.fail(400, "Cannot change status of content from current to "+in.Status)
		return
	default:
		if in.Title != "" && in.Title != c.title {
			if (c.typ == "page" || c.typ == "blogpost") && w.titleTakenLocked(c.typ, c.space, in.Title, c.id) {
				r.fail(400, "A "+c.typ+" with this title already exists in this space")
				return
			}
			c.title = in.Title
		}
		if b := in.body(); b != "" || (in.Body != nil && in.Body.Storage != nil) {
			c.body = b
		}
		if c.typ == "page" && len(in.Ancestors) > 0 {
			p := w.findLocked(in.Ancestors[len(in.Ancestors)-1].ID, "")
			if p == nil || p.typ != "page" || p.space != c.space {
				r.fail(400, "Could not find parent page")
				return
			}
			for a := p; a != nil; a = w.contents[a.parent] {
				if a.id == c.id {
					r.fail(400, "Cannot move a page below itself")
					return
				}
				if a.parent == 0 {
					break
				}
			}
			if p.id != c.parent {
				c.parent = p.id
				c.position = w.nextPositionLocked(p.id, c.space)
			}
		}
	}
	c.version++
	c.modifier, c.modified = r.user.key, w.now()
	w.indexTitleLocked(c)
	r.json(200, w.contentJSON(r.base, c))
}

func (w *Wiki) deleteContentLocked(r *req, id string) {
	if r.query("status") == "trashed" {
		c := w.findLocked(id, "trashed")
		if c == nil {
			notFound(r, id)
			return
		}
		w.purgeLocked(c)
		r.noContent()
		return
	}
	c := w.findLocked(id, "")
	if c == nil {
		notFound(r, id)
		return
	}
	w.trashLocked(r.user, c)
	r.noContent()
}

// trashLocked sends pages, blog posts and attachments to the trash and deletes comments.
func (w *Wiki) trashLocked(u *user, c *content) {
	if c.typ == "comment" {
		w.purgeLocked(c)
		return
	}
	c.status = "trashed"
	c.modifier, c.modified = u.key, w.now()
	// children of a trashed page move up to its parent, as in Confluence
	if c.typ == "page" {
		for _, o := range w.contents {
			if o.typ == "page" && o.parent == c.id {
				o.parent = c.parent
			}
		}
	}
}

// purgeLocked deletes content for good, with its comments and attachments.
func (w *Wiki) purgeLocked(c *content) {
	delete(w.contents, c.id)
	for _, o := range w.contents {
		if o.container == c.id || (o.typ == "comment" && o.parent == c.id) {
			w.purgeLocked(o)
		}
	}
}

func (w *Wiki) childLocked(r *req, id string, rest []string) {
	c := w.findLocked(id, "")
	if c == nil {
		notFound(r, id)
		return
	}
	if len(rest) == 0 {
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
		return
	}
	kind := rest[0]
	if kind == "attachment" && (len(rest) > 1 || r.method() != "GET") {
		w.attachmentLocked(r, c, rest[1:])
		return
	}
	if r.method() != "GET" || len(rest) != 1 {
		r.badMethod()
		return
	}
	var list []*content
	for _, o := range w.contents {
		if o.status != "current" {
			continue
		}
		switch {
		case kind == "page" && o.typ == "page" && o.parent == c.id,
			kind == "comment" && o.typ == "comment" && o.container == c.id,
			kind == "attachment" && o.typ == "attachment" && o.container == c.id:
			list = append(list, o)
		}
	}
	if kind == "page" {
		sort.Slice(list, func(i, j int) bool { return list[i].position < list[j].position })
		res := []any{}
		for _, o := range list {
			res = append(res, w.contentJSON(r.base, o))
		}
		r.json(200, map[string]any{"results": res, "start": 0, "limit": 25, "size": len(res)})
		return
	}
	w.results(r, list)
}
