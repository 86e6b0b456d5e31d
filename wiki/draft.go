package wiki

// The blueprint create dialog: drafts, and publishing them.

import (
	"bytes"
	"strings"
)

// createDraftLocked serves the blueprint create dialog's create-draft call.
func (w *Wiki) createDraftLocked(r *req) {
	if r.method() != "POST" {
		r.badMethod()
		return
	}
	var in struct {
		SpaceKey           string         `json:"spaceKey"`
		ContentBlueprintID string         `json:"contentBlueprintId"`
		ModuleCompleteKey  string         `json:"moduleCompleteKey"`
		Title              string         `json:"title"`
		Context            map[string]any `json:"context"`
	}
	if !r.decode(&in) {
		return
	}
	if in.ContentBlueprintID == "" || in.ModuleCompleteKey == "" {
		r.fail(400, "contentBlueprintId and moduleCompleteKey are required")
		return
	}
	ci := contentIn{Type: "page", Title: in.Title, Status: "draft", Space: &struct{ Key string }{in.SpaceKey}}
	c, status, msg := w.newContentLocked(r.user, &ci)
	if c == nil {
		r.fail(status, msg)
		return
	}
	idx := in.ModuleCompleteKey
	if i := strings.LastIndexByte(idx, ':'); i >= 0 {
		idx = idx[i+1:]
	}
	c.blueprint = map[string]any{"id": in.ContentBlueprintID, "indexKey": idx, "spaceKey": in.SpaceKey,
		"moduleCompleteKey": in.ModuleCompleteKey, "context": in.Context}
	r.json(200, map[string]any{"draftId": c.id, "contentId": c.id, "title": c.title,
		"url": r.base + "/pages/resumedraft.action?draftId=" + ids(c.id)})
}

// publishBlueprintLocked serves POST /rest/api/content/blueprint/instance/{draftId}.
func (w *Wiki) publishBlueprintLocked(r *req, id string) {
	c := w.findLocked(id, "draft")
	if c == nil || c.blueprint == nil {
		notFound(r, id)
		return
	}
	var in contentIn
	if len(bytes.TrimSpace(r.ctx.PostBody())) > 0 && !r.decode(&in) {
		return
	}
	if in.Title != "" {
		c.title = in.Title
	}
	if b := in.body(); b != "" {
		c.body = b
	}
	if w.titleTakenLocked(c.typ, c.space, c.title, c.id) {
		r.fail(400, "A page with this title already exists in this space")
		return
	}
	c.status = "current"
	c.modified = w.now()
	c.modifier = r.user.key
	w.indexTitleLocked(c)
	r.json(200, w.contentJSON(r.base, c))
}
