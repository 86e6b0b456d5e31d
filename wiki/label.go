package wiki

// Labels on content: add, list, remove, and the label lookup.

import (
	"bytes"
	"strings"
)

// labelLocked serves GET/POST .../label, DELETE .../label/{name} and DELETE .../label?name=.
func (w *Wiki) labelLocked(r *req, id string, rest []string) {
	c := w.findLocked(id, "")
	if c == nil {
		notFound(r, id)
		return
	}
	switch {
	case len(rest) == 0 && r.method() == "GET":
		w.labelList(r, c.labels)
	case len(rest) == 0 && r.method() == "POST":
		type lbl struct {
			Prefix string `json:"prefix"`
			Name   string `json:"name"`
		}
		var list []lbl
		body := bytes.TrimSpace(r.ctx.PostBody())
		if len(body) > 0 && body[0] == '{' {
			var one lbl
			if !r.decode(&one) {
				return
			}
			list = []lbl{one}
		} else if !r.decode(&list) {
			return
		}
		for _, l := range list {
			if !validLabel(l.Name) || (l.Prefix != "" && l.Prefix != "global" && l.Prefix != "my" && l.Prefix != "team") {
				r.fail(400, "Invalid label: "+l.Name)
				return
			}
		}
		for _, l := range list {
			name := strings.ToLower(l.Name)
			if !contains(c.labels, name) {
				w.labelIDLocked(name)
				c.labels = append(c.labels, name)
			}
		}
		w.labelList(r, c.labels)
	case (len(rest) == 0 || len(rest) == 1) && r.method() == "DELETE":
		name := r.query("name")
		if len(rest) == 1 {
			name = rest[0]
		}
		name = strings.ToLower(name)
		if !contains(c.labels, name) {
			r.fail(404, "Label "+name+" is not on content "+c.restID())
			return
		}
		c.labels = remove(c.labels, name)
		r.noContent()
	default:
		r.badMethod()
	}
}

func validLabel(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	return !strings.ContainsAny(s, " :;,.?&[]()#^*@!<>")
}

func (w *Wiki) labelList(r *req, labels []string) {
	res := []any{}
	for _, l := range labels {
		res = append(res, w.labelJSON(l))
	}
	r.json(200, map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)})
}

// getLabelLocked serves GET /rest/api/label?name=: 404 when no content or space holds it.
func (w *Wiki) getLabelLocked(r *req) {
	name := strings.ToLower(r.query("name"))
	holders := w.labelHoldersLocked(name)
	if name == "" || (len(holders) == 0 && !w.labelOnSpaceLocked(name)) {
		r.fail(404, "No label found with name: "+name)
		return
	}
	res := []any{}
	for _, c := range holders {
		res = append(res, map[string]any{"contentType": c.typ, "contentId": c.id, "title": c.title})
	}
	r.json(200, map[string]any{"label": w.labelJSON(name),
		"associatedContents": map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res)}})
}
