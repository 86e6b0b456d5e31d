package wiki

// Attachments: upload (one or several files in one multipart request), new versions, delete.

import (
	"bytes"
)

// attachmentLocked serves POST .../child/attachment, POST .../{attId}/data and DELETE .../{attId}.
func (w *Wiki) attachmentLocked(r *req, owner *content, rest []string) {
	if owner.typ != "page" && owner.typ != "blogpost" {
		r.fail(400, "Attachments can only be added to pages and blog posts")
		return
	}
	if r.method() == "POST" && !bytes.EqualFold(r.ctx.Request.Header.Peek("X-Atlassian-Token"), []byte("nocheck")) &&
		!bytes.EqualFold(r.ctx.Request.Header.Peek("X-Atlassian-Token"), []byte("no-check")) {
		r.fail(403, "XSRF check failed")
		return
	}
	switch {
	case len(rest) == 0 && r.method() == "POST":
		files, ok := r.uploads()
		if !ok {
			return
		}
		for i, f := range files {
			for _, o := range w.contents {
				if o.typ == "attachment" && o.container == owner.id && o.title == f.name && o.status == "current" {
					r.fail(400, "Cannot add a new attachment with same file name as an existing attachment: "+f.name)
					return
				}
			}
			for _, g := range files[:i] {
				if g.name == f.name {
					r.fail(400, "Cannot add a new attachment with same file name as an existing attachment: "+f.name)
					return
				}
			}
		}
		// One result per file part, in the order sent, as Confluence answers.
		results := make([]any, 0, len(files))
		for _, f := range files {
			a := w.newAttachmentLocked(r.user, owner, f.name, f.mediaType, f.comment, f.size)
			results = append(results, w.contentJSON(r.base, a))
		}
		r.json(200, map[string]any{"results": results, "start": 0, "limit": 50, "size": len(results)})
	case len(rest) == 2 && rest[1] == "data" && r.method() == "POST":
		a := w.findLocked(rest[0], "")
		if a == nil || a.typ != "attachment" || a.container != owner.id {
			notFound(r, rest[0])
			return
		}
		_, size, mediaType, comment, ok := r.upload()
		if !ok {
			return
		}
		a.version++
		a.fileSize, a.mediaType, a.comment = size, mediaType, comment
		a.modifier, a.modified = r.user.key, w.now()
		r.json(200, w.contentJSON(r.base, a))
	case len(rest) == 1 && r.method() == "DELETE":
		a := w.findLocked(rest[0], "")
		if a == nil || a.typ != "attachment" || a.container != owner.id {
			notFound(r, rest[0])
			return
		}
		w.trashLocked(r.user, a)
		r.noContent()
	default:
		r.badMethod()
	}
}

func (w *Wiki) newAttachmentLocked(u *user, owner *content, name, mediaType, comment string, size int) *content {
	w.nextCont++
	a := &content{id: w.nextCont, typ: "attachment", status: "current", title: name, space: owner.space,
		container: owner.id, version: 1, creator: u.key, modifier: u.key, created: w.now(), modified: w.now(),
		mediaType: mediaType, fileSize: size, comment: comment}
	w.contents[a.id] = a
	return a
}

// upload reads the first multipart "file" (and "comment") of the request; it answers 400 and
// reports false when there is none.
func (r *req) upload() (name string, size int, mediaType, comment string, ok bool) {
	files, ok := r.uploads()
	if !ok {
		return "", 0, "", "", false
	}
	f := files[0]
	return f.name, f.size, f.mediaType, f.comment, true
}

// uploaded is one "file" part of a multipart upload.
type uploaded struct {
	name, mediaType, comment string
	size                     int
}

// uploads reads every multipart "file" part of the request, in order; the i-th "comment"
// field is the i-th file's comment (Confluence's rule). It answers 400 and reports false when
// there is no file.
func (r *req) uploads() ([]uploaded, bool) {
	form, err := r.ctx.MultipartForm()
	if err != nil {
		r.fail(400, "Expected a multipart request with a file: "+err.Error())
		return nil, false
	}
	files := form.File["file"]
	if len(files) == 0 {
		r.fail(400, "At least one attachment file must be included")
		return nil, false
	}
	comments := form.Value["comment"]
	out := make([]uploaded, len(files))
	for i, f := range files {
		out[i] = uploaded{name: f.Filename, size: int(f.Size), mediaType: f.Header.Get("Content-Type")}
		if out[i].mediaType == "" {
			out[i].mediaType = "application/octet-stream"
		}
		if i < len(comments) {
			out[i].comment = comments[i]
		}
	}
	return out, true
}
