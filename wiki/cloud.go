package wiki

import (
	"strings"
)

// v2JSON is Confluence Cloud's v2 shape of a page, blog post, footer comment or attachment.
func (w *Wiki) v2JSON(c *content) map[string]any {
	out := map[string]any{"id": c.restID(), "status": c.status, "title": c.title}
	if s := w.spaces[c.space]; s != nil {
		out["spaceId"] = ids(s.id)
	}
	switch c.typ {
	case "page":
		if c.parent != 0 {
			out["parentId"], out["parentType"] = ids(c.parent), "page"
		}
		out["position"] = c.position
	case "comment":
		if p := w.contents[c.container]; p != nil {
			if p.typ == "blogpost" {
				out["blogPostId"] = ids(p.id)
			} else {
				out["pageId"] = ids(p.id)
			}
		}
		if c.parent != 0 {
			out["parentCommentId"] = ids(c.parent)
		}
	case "attachment":
		if p := w.contents[c.container]; p != nil {
			if p.typ == "blogpost" {
				out["blogPostId"] = ids(p.id)
			} else {
				out["pageId"] = ids(p.id)
			}
		}
		out["mediaType"], out["fileSize"], out["comment"] = c.mediaType, c.fileSize, c.comment
	}
	out["authorId"] = c.creator
	out["createdAt"] = iso(c.created)
	out["version"] = map[string]any{"createdAt": iso(c.modified), "message": "", "number": c.version,
		"minorEdit": false, "authorId": c.modifier}
	if c.typ != "attachment" {
		out["body"] = map[string]any{"storage": map[string]any{"representation": "storage", "value": c.body}}
	}
	out["_links"] = map[string]any{"webui": "/spaces/" + c.space + "/pages/" + ids(c.id), "tinyui": "/x/" + ids(c.id)}
	return out
}

// v2Kinds maps a v2 collection to the content type it holds.
var v2Kinds = map[string]string{"pages": "page", "blogposts": "blogpost", "footer-comments": "comment",
	"inline-comments": "comment", "attachments": "attachment"}

// cloudLocked routes /wiki/api/v2/<seg...>.
func (w *Wiki) cloudLocked(r *req, seg []string) {
	m := r.method()
	typ, ok := v2Kinds[seg[0]]
	switch {
	case seg[0] == "spaces" && len(seg) == 2 && m == "GET":
		w.v2SpaceLocked(r, seg[1])
	case !ok || len(seg) > 2:
		r.fail(404, "null for uri: "+string(r.ctx.Path()))
	case len(seg) == 1:
		if m != "POST" || typ == "attachment" {
			r.badMethod()
			return
		}
		w.v2CreateLocked(r, typ, seg[0] == "inline-comments")
	default:
		w.v2ItemLocked(r, typ, seg[1])
	}
}

// v2SpaceLocked serves GET /wiki/api/v2/spaces/{id}.
func (w *Wiki) v2SpaceLocked(r *req, id string) {
	for _, s := range w.spaces {
		if ids(s.id) == id {
			r.json(200, map[string]any{"id": ids(s.id), "key": s.key, "name": s.name, "type": "global",
				"status": "current", "authorId": s.creator, "createdAt": iso(s.created),
				"homepageId": ids(s.homepage)})
			return
		}
	}
	r.fail(404, "No space with id "+id)
}

// v2ItemLocked serves GET, PUT and DELETE on /wiki/api/v2/<collection>/{id}, whose content
// must be of type typ.
func (w *Wiki) v2ItemLocked(r *req, typ, id string) {
	c := w.findLocked(id, "any")
	if c == nil || c.typ != typ || c.status == "draft" {
		notFound(r, id)
		return
	}
	switch r.method() {
	case "GET":
		if st := r.query("status"); st != "" && !contains(strings.Split(st, ","), c.status) {
			notFound(r, id)
			return
		}
		r.json(200, w.v2JSON(c))
	case "PUT":
		if typ == "attachment" {
			r.badMethod()
			return
		}
		w.v2UpdateLocked(r, c)
	case "DELETE":
		w.v2DeleteLocked(r, c, id)
	default:
		r.badMethod()
	}
}

// v2UpdateLocked serves PUT on a v2 content item: a new title or body with the next version
// number, or restoring trashed content (status current).
func (w *Wiki) v2UpdateLocked(r *req, c *content) {
	var in struct {
		Status  string                  `json:"status"`
		Title   string                  `json:"title"`
		Body    *struct{ Value string } `json:"body"`
		Version *struct {
			Number int `json:"number"`
		} `json:"version"`
	}
	if !r.decode(&in) {
		return
	}
	if in.Version == nil || in.Version.Number != c.version+1 {
		r.fail(409, "Version must be incremented on update. Current version is: "+itoa(c.version))
		return
	}
	switch {
	case c.status == "trashed" && in.Status == "current":
		c.status = "current"
	case c.status == "trashed":
		r.fail(400, "Cannot update trashed content: restore it first by setting status to current")
		return
	case in.Status != "" && in.Status != "current":
		r.fail(400, "Cannot change status of content from current to "+in.Status)
		return
	default:
		if in.Title != "" && in.Title != c.title {
			if c.typ != "comment" && w.titleTakenLocked(c.typ, c.space, in.Title, c.id) {
				r.fail(400, "A "+c.typ+" with this title already exists in this space")
				return
			}
			c.title = in.Title
		}
		if in.Body != nil {
			c.body = in.Body.Value
		}
	}
	c.version++
	c.modifier, c.modified = r.user.key, w.now()
	w.indexTitleLocked(c)
	r.json(200, w.v2JSON(c))
}

// v2DeleteLocked serves DELETE on a v2 content item (asked for as id): current content goes to
// the trash, trashed content is purged with ?purge=true.
func (w *Wiki) v2DeleteLocked(r *req, c *content, id string) {
	if r.query("purge") == "true" {
		if c.status != "trashed" {
			r.fail(400, "Only trashed content can be purged")
			return
		}
		w.purgeLocked(c)
		r.noContent()
		return
	}
	if c.status != "current" {
		notFound(r, id)
		return
	}
	w.trashLocked(r.user, c)
	r.noContent()
}

func (w *Wiki) v2CreateLocked(r *req, typ string, inline bool) {
	var in struct {
		SpaceID         string `json:"spaceId"`
		Status          string `json:"status"`
		Title           string `json:"title"`
		ParentID        string `json:"parentId"`
		PageID          string `json:"pageId"`
		BlogPostID      string `json:"blogPostId"`
		ParentCommentID string `json:"parentCommentId"`
		Body            *struct {
			Representation string `json:"representation"`
			Value          string `json:"value"`
		} `json:"body"`
	}
	if !r.decode(&in) {
		return
	}
	ci := contentIn{Type: typ, Title: in.Title, Status: in.Status}
	if in.Body != nil {
		ci.Body = &struct {
			Storage *struct {
				Value string `json:"value"`
			} `json:"storage"`
		}{Storage: &struct {
			Value string `json:"value"`
		}{in.Body.Value}}
	}
	if typ == "comment" {
		target := in.PageID
		if target == "" {
			target = in.BlogPostID
		}
		if in.ParentCommentID != "" {
			pc := w.findLocked(in.ParentCommentID, "")
			if pc == nil || pc.typ != "comment" {
				r.fail(400, "Could not find parent comment")
				return
			}
			target = ids(pc.container)
			ci.Ancestors = append(ci.Ancestors, struct {
				ID string `json:"id"`
			}{in.ParentCommentID})
		}
		ci.Container = &struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}{ID: target}
		if inline {
			ci.Extensions = &struct {
				Location string `json:"location"`
			}{"inline"}
		}
	} else {
		for _, s := range w.spaces {
			if ids(s.id) == in.SpaceID {
				ci.Space = &struct{ Key string }{s.key}
			}
		}
		if ci.Space == nil {
			r.fail(400, "No space with id "+in.SpaceID)
			return
		}
		if in.ParentID != "" {
			ci.Ancestors = append(ci.Ancestors, struct {
				ID string `json:"id"`
			}{in.ParentID})
		}
	}
	c, status, msg := w.newContentLocked(r.user, &ci)
	if c == nil {
		r.fail(status, msg)
		return
	}
	code := 200
	if typ == "comment" {
		code = 201
	}
	r.json(code, w.v2JSON(c))
}

// cloudV1Locked serves Cloud's v1 page move, PUT /wiki/rest/api/content/{id}/move/{position}/{targetId},
// and the rest of /wiki/rest/api as /rest/api.
func (w *Wiki) cloudV1Locked(r *req, seg []string) {
	if len(seg) != 5 || seg[0] != "content" || seg[2] != "move" {
		w.restLocked(r, seg) // the rest of Cloud's v1 is DC's /rest/api under /wiki
		return
	}
	if r.method() != "PUT" {
		r.badMethod()
		return
	}
	c := w.findLocked(seg[1], "")
	t := w.findLocked(seg[4], "")
	if c == nil || c.typ != "page" {
		notFound(r, seg[1])
		return
	}
	if t == nil || t.typ != "page" || t.id == c.id {
		r.fail(400, "Invalid move target "+seg[4])
		return
	}
	for a := t; a != nil; a = w.contents[a.parent] {
		if a.id == c.id {
			r.fail(400, "Cannot move a page below itself")
			return
		}
		if a.parent == 0 {
			break
		}
	}
	switch seg[3] {
	case "append":
		c.parent, c.space = t.id, t.space
		c.position = w.nextPositionLocked(t.id, t.space)
	case "before", "after":
		c.parent, c.space = t.parent, t.space
		pos := t.position
		if seg[3] == "after" {
			pos++
		}
		for _, o := range w.contents {
			if o.typ == "page" && o.parent == t.parent && o.space == t.space && o.position >= pos && o.id != c.id {
				o.position++
			}
		}
		c.position = pos
		w.nextPositionLocked(t.parent, t.space) // the siblings moved up by one
	default:
		r.fail(400, "Invalid position "+seg[3]+": use append, before or after")
		return
	}
	c.version++
	c.modifier, c.modified = r.user.key, w.now()
	r.json(200, map[string]any{"pageId": ids(c.id)})
}
