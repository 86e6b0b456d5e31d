package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// wpGaps are the WordPress events the pack cannot classify yet, with the reason (README):
// none.
var wpGaps = gapSet{}

// wpClient calls the WordPress REST API with an application password.
type wpClient struct {
	t          *testing.T
	base       string
	user, pass string
	hc         *http.Client
	plain      bool // plain permalinks: /?rest_route=/wp/v2/<path> instead of /wp-json/wp/v2/<path>
}

// call sends method to /wp-json/wp/v2/<path> with an optional JSON body and extra headers.
func (c *wpClient) call(method, path string, body any, hdr ...string) (int, gjson.Result) {
	c.t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url := c.base + "/wp-json/wp/v2/" + path
	if c.plain {
		url = c.base + "/?rest_route=/wp/v2/" + strings.Replace(path, "?", "&", 1)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.SetBasicAuth(c.user, c.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, gjson.ParseBytes(b)
}

// wpObj is the state of one object as the backend holds it; nil when it does not exist.
type wpObj struct {
	status, title, content, parent string
	terms                          []string // "tag:<name>" and "category:<name>" (posts)
	name                           string   // terms and users
}

// wpKind is a REST collection and the event family of its items.
type wpKind string

const (
	wpPost     wpKind = "posts"
	wpPage     wpKind = "pages"
	wpComment  wpKind = "comments"
	wpMedia    wpKind = "media"
	wpTag      wpKind = "tags"
	wpCategory wpKind = "categories"
	wpUser     wpKind = "users"
)

// wpState reads objects straight from the backend.
type wpState struct {
	c     *wpClient
	names map[string]string // "tags/2" -> "alpha"
}

func (s *wpState) termName(kind wpKind, id int64) string {
	k := string(kind) + "/" + strconv.FormatInt(id, 10)
	if n, ok := s.names[k]; ok {
		return n
	}
	st, r := s.c.call(http.MethodGet, k, nil)
	if st != 200 {
		s.c.t.Fatalf("GET %s: %d %s", k, st, r.Raw)
	}
	s.names[k] = r.Get("name").String()
	return s.names[k]
}

func (s *wpState) get(kind wpKind, id int64) *wpObj {
	s.c.t.Helper()
	st, r := s.c.call(http.MethodGet, fmt.Sprintf("%s/%d?context=edit", kind, id), nil)
	switch {
	case st == 404 || st == 410:
		return nil
	case st != 200:
		s.c.t.Fatalf("GET %s/%d: %d %s", kind, id, st, r.Raw)
	}
	o := &wpObj{status: r.Get("status").String(), title: r.Get("title.raw").String(), content: r.Get("content.raw").String(),
		parent: r.Get("parent").String(), name: r.Get("name").String()}
	if kind == wpUser {
		o.name = r.Get("username").String()
	}
	if kind == wpPost {
		for _, t := range r.Get("tags").Array() {
			o.terms = append(o.terms, s.termName(wpTag, t.Int()))
		}
		for _, t := range r.Get("categories").Array() {
			o.terms = append(o.terms, s.termName(wpCategory, t.Int()))
		}
	}
	return o
}

// allPosts reads every post that exists (the trash included), in as few requests as the
// REST API allows.
func (s *wpState) allPosts() map[int64]*wpObj {
	s.c.t.Helper()
	out := map[int64]*wpObj{}
	for page := 1; ; page++ {
		st, r := s.c.call(http.MethodGet, fmt.Sprintf("posts?context=edit&status=publish,future,draft,pending,private,trash&per_page=100&page=%d", page), nil)
		if st == 400 && r.Get("code").String() == "rest_post_invalid_page_number" {
			return out
		}
		if st != 200 {
			s.c.t.Fatalf("GET posts page %d: %d %s", page, st, r.Raw)
		}
		arr := r.Array()
		for _, p := range arr {
			o := &wpObj{status: p.Get("status").String()}
			for _, t := range p.Get("tags").Array() {
				o.terms = append(o.terms, s.termName(wpTag, t.Int()))
			}
			for _, t := range p.Get("categories").Array() {
				o.terms = append(o.terms, s.termName(wpCategory, t.Int()))
			}
			out[p.Get("id").Int()] = o
		}
		if len(arr) < 100 {
			return out
		}
	}
}

// wpRecord derives the events that one object's change from before to after means.
func wpRecord(kind wpKind, id int64, before, after *wpObj) []string {
	sid := strconv.FormatInt(id, 10)
	fam := map[wpKind]string{wpPost: "blog", wpPage: "page"}[kind]
	var out []string
	switch kind {
	case wpPost, wpPage:
		switch {
		case before == nil && after != nil:
			out = append(out, fam+"_created "+sid)
			for _, t := range after.terms {
				out = append(out, "label_added "+sid+"|"+t)
			}
		case before != nil && after == nil:
			out = append(out, fam+"_trashed "+sid)
		case before == nil:
		case before.status != "trash" && after.status == "trash":
			out = append(out, fam+"_removed "+sid)
		case before.status == "trash" && after.status != "trash":
			out = append(out, fam+"_restored "+sid)
		case before.parent != after.parent:
			out = append(out, "page_moved "+sid)
		case !slices.Equal(before.terms, after.terms) || before.title != after.title || before.content != after.content || before.status != after.status:
			out = append(out, fam+"_updated "+sid)
			for _, t := range setMinus(after.terms, before.terms) {
				out = append(out, "label_added "+sid+"|"+t)
			}
			for _, t := range setMinus(before.terms, after.terms) {
				out = append(out, "label_removed "+sid+"|"+t)
			}
		}
	case wpComment:
		switch {
		case before == nil && after != nil:
			out = append(out, "comment_created "+sid)
		case before != nil && before.status != "trash" && (after == nil || after.status == "trash"):
			out = append(out, "comment_removed "+sid)
		case before != nil && after != nil && before.content != after.content:
			out = append(out, "comment_updated "+sid)
		}
	case wpMedia:
		switch {
		case before == nil && after != nil:
			out = append(out, "attachment_created "+sid)
		case before != nil && after == nil:
			out = append(out, "attachment_trashed "+sid)
		case before != nil && after != nil && before.title != after.title:
			out = append(out, "attachment_updated "+sid)
		}
	case wpTag, wpCategory:
		switch {
		case before == nil && after != nil:
			out = append(out, "label_created "+after.name)
		case before != nil && after == nil:
			out = append(out, "label_deleted "+before.name)
		}
	case wpUser:
		switch {
		case before == nil && after != nil:
			out = append(out, "user_created "+after.name)
		case before != nil && after == nil:
			out = append(out, "user_removed "+before.name)
		}
	}
	return out
}

// wpKey names a delivered WordPress event as wpRecord names a recorded one.
func wpKey(d delivery) string {
	p := d.payload
	switch {
	case d.event == "label_added" || d.event == "label_removed":
		return d.event + " " + p.Get("labeled.id").String() + "|" + p.Get("label.name").String()
	case d.event == "label_created" || d.event == "label_deleted":
		return d.event + " " + p.Get("label.name").String()
	case strings.HasPrefix(d.event, "blog_"):
		return d.event + " " + p.Get("blog.id").String()
	case strings.HasPrefix(d.event, "page_"):
		return d.event + " " + p.Get("page.id").String()
	case strings.HasPrefix(d.event, "comment_"):
		return d.event + " " + p.Get("comment.id").String()
	case strings.HasPrefix(d.event, "attachment_"):
		return d.event + " " + p.Get("attachments.0.id").String()
	case strings.HasPrefix(d.event, "user_"):
		return d.event + " " + p.Get("userProfile.userKey").String()
	}
	return d.event + " ?" + p.Raw
}

func TestWordPress(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	start := time.Now()
	seed, n := workloadSeed(t)
	be := startBackend(t, "wordpress")
	rcv := newReceiver(t)
	ht := startHooktap(t, "wordpress", be.url(), rcv)
	hc := &http.Client{Timeout: 60 * time.Second}
	via := &wpClient{t: t, base: ht.url, user: be.env["USER"], pass: be.env["PASS"], hc: hc}
	direct := &wpClient{t: t, base: be.url(), user: be.env["USER"], pass: be.env["PASS"], hc: hc}
	state := &wpState{c: direct, names: map[string]string{}}

	rng := newRand(seed)
	next := 0
	uniq := func(p string) string { next++; return fmt.Sprintf("%s %d", p, next) }
	type ref struct {
		kind wpKind
		id   int64
	}
	// What the workload believes exists, to pick valid targets; the record never uses it.
	live := map[wpKind][]int64{}
	trashed := map[wpKind][]int64{}
	parent := map[int64]int64{} // page -> parent page
	commentPost := map[int64]int64{}
	pick := func(xs []int64) int64 { return xs[rng.IntN(len(xs))] }
	drop := func(xs []int64, x int64) []int64 {
		return slices.DeleteFunc(slices.Clone(xs), func(y int64) bool { return y == x })
	}
	var tagIDs, catIDs []int64
	tagIDs = nil
	catIDs = []int64{1} // Uncategorized
	// randIDs picks terms for a post: about a third of those of a kind, or (one post in four)
	// five in six, so that posts with more than 10 terms of a kind come and go.
	maxTerms := 0 // the most terms of a kind randIDs gave one post
	randIDs := func(xs []int64) []int64 {
		out := []int64{}
		heavy := rng.IntN(4) == 0
		for _, x := range xs {
			if heavy && rng.IntN(6) != 0 || !heavy && rng.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		maxTerms = max(maxTerms, len(out))
		return out
	}
	// isAncestor reports whether a is p or one of p's ancestors.
	isAncestor := func(a, p int64) bool {
		for i := 0; p != 0 && i < 1000; i++ {
			if p == a {
				return true
			}
			p = parent[p]
		}
		return false
	}
	var record []string
	counts := map[string]int{}
	deleteVia := func(path string) (int, gjson.Result) { // plain DELETE or a method override
		switch rng.IntN(4) {
		case 0:
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			return via.call(http.MethodPost, path+sep+"_method=DELETE", nil)
		case 1:
			return via.call(http.MethodPost, path, nil, "X-HTTP-Method-Override", "DELETE")
		}
		return via.call(http.MethodDelete, path, nil)
	}
	expect := func(i int, what string, st, want int, r gjson.Result) {
		if st != want {
			t.Fatalf("action %d %s: status %d, want %d: %.300s", i, what, st, want, r.Raw)
		}
	}

	for i := 0; i < n; i++ {
		var touched []ref
		snap := func() map[ref]*wpObj {
			m := map[ref]*wpObj{}
			for _, r := range touched {
				m[r] = state.get(r.kind, r.id)
			}
			return m
		}
		var before map[ref]*wpObj
		act := func(kind string, refs ...ref) {
			touched = refs
			before = snap()
			counts[kind]++
		}
		// created reports an object made by this action: it did not exist before.
		var created []ref
		k := rng.IntN(100)
		if len(live[wpPost]) < 2 || len(live[wpPage]) < 2 || len(tagIDs) < 2 {
			k = []int{0, 35, 85}[i%3]
		}
		switch {
		case k < 10: // post create
			act("post create")
			body := map[string]any{"title": uniq("Post"), "content": fmt.Sprintf("body %d", rng.Int()), "status": []string{"publish", "draft"}[rng.IntN(2)], "tags": randIDs(tagIDs)}
			if cs := randIDs(catIDs); len(cs) > 0 {
				body["categories"] = cs
			}
			st, r := via.call(http.MethodPost, "posts", body)
			expect(i, "post create", st, 201, r)
			live[wpPost] = append(live[wpPost], r.Get("id").Int())
			created = append(created, ref{wpPost, r.Get("id").Int()})
		case k < 20: // post update, sometimes retagged
			id := pick(live[wpPost])
			act("post update", ref{wpPost, id})
			body := map[string]any{"content": fmt.Sprintf("new body %d", rng.Int())}
			if rng.IntN(2) == 0 {
				body["tags"] = randIDs(tagIDs)
			}
			st, r := via.call([]string{http.MethodPost, http.MethodPut, http.MethodPatch}[rng.IntN(3)], fmt.Sprintf("posts/%d", id), body)
			expect(i, "post update", st, 200, r)
		case k < 25: // post to the trash
			id := pick(live[wpPost])
			act("post trash", ref{wpPost, id})
			st, r := deleteVia(fmt.Sprintf("posts/%d", id))
			expect(i, "post trash", st, 200, r)
			live[wpPost], trashed[wpPost] = drop(live[wpPost], id), append(trashed[wpPost], id)
		case k < 28 && len(trashed[wpPost]) > 0: // restore
			id := pick(trashed[wpPost])
			act("post restore", ref{wpPost, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("posts/%d", id), map[string]any{"status": "publish"})
			expect(i, "post restore", st, 200, r)
			trashed[wpPost], live[wpPost] = drop(trashed[wpPost], id), append(live[wpPost], id)
		case k < 31: // purge, from the trash or not
			var id int64
			if len(trashed[wpPost]) > 0 && rng.IntN(2) == 0 {
				id = pick(trashed[wpPost])
			} else {
				id = pick(live[wpPost])
			}
			act("post purge", ref{wpPost, id})
			st, r := deleteVia(fmt.Sprintf("posts/%d?force=true", id))
			expect(i, "post purge", st, 200, r)
			live[wpPost], trashed[wpPost] = drop(live[wpPost], id), drop(trashed[wpPost], id)
			for c, p := range commentPost {
				if p == id {
					delete(commentPost, c)
					live[wpComment] = drop(live[wpComment], c)
					trashed[wpComment] = drop(trashed[wpComment], c)
				}
			}
		case k < 33 && len(trashed[wpPost]) > 0: // trash again: 410, no event
			id := pick(trashed[wpPost])
			act("error post trash twice", ref{wpPost, id})
			st, r := via.call(http.MethodDelete, fmt.Sprintf("posts/%d", id), nil)
			expect(i, "post trash twice", st, 410, r)
		case k < 40: // page create
			var p int64
			if rng.IntN(2) == 0 && len(live[wpPage]) > 0 {
				p = pick(live[wpPage])
			}
			act("page create")
			st, r := via.call(http.MethodPost, "pages", map[string]any{"title": uniq("Page"), "content": "page body", "status": "publish", "parent": p})
			expect(i, "page create", st, 201, r)
			id := r.Get("id").Int()
			live[wpPage], parent[id] = append(live[wpPage], id), p
			created = append(created, ref{wpPage, id})
		case k < 46: // page update
			id := pick(live[wpPage])
			act("page update", ref{wpPage, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("pages/%d", id), map[string]any{"content": fmt.Sprintf("page body %d", rng.Int())})
			expect(i, "page update", st, 200, r)
		case k < 51: // page move: a new parent that is not the page or below it
			id := pick(live[wpPage])
			var np int64
			for _, c := range append([]int64{0}, live[wpPage]...) {
				if c != parent[id] && (c == 0 || !isAncestor(id, c)) && rng.IntN(2) == 0 {
					np = c
					break
				}
			}
			if np == parent[id] {
				np = 0
				if parent[id] == 0 {
					continue
				}
			}
			act("page move", ref{wpPage, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("pages/%d", id), map[string]any{"parent": np})
			expect(i, "page move", st, 200, r)
			parent[id] = np
		case k < 54: // page trash
			id := pick(live[wpPage])
			act("page trash", ref{wpPage, id})
			st, r := deleteVia(fmt.Sprintf("pages/%d", id))
			expect(i, "page trash", st, 200, r)
			live[wpPage], trashed[wpPage] = drop(live[wpPage], id), append(trashed[wpPage], id)
		case k < 56 && len(trashed[wpPage]) > 0: // page restore
			id := pick(trashed[wpPage])
			act("page restore", ref{wpPage, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("pages/%d", id), map[string]any{"status": "publish"})
			expect(i, "page restore", st, 200, r)
			trashed[wpPage], live[wpPage] = drop(trashed[wpPage], id), append(live[wpPage], id)
		case k < 58: // page purge: its children move to its parent
			var id int64
			if len(trashed[wpPage]) > 0 && rng.IntN(2) == 0 {
				id = pick(trashed[wpPage])
			} else {
				id = pick(live[wpPage])
			}
			refs := []ref{{wpPage, id}}
			for c, p := range parent {
				if p == id && c != id {
					refs = append(refs, ref{wpPage, c})
				}
			}
			act("page purge", refs...)
			st, r := deleteVia(fmt.Sprintf("pages/%d?force=true", id))
			expect(i, "page purge", st, 200, r)
			for _, rf := range refs[1:] {
				parent[rf.id] = parent[id]
			}
			delete(parent, id)
			live[wpPage], trashed[wpPage] = drop(live[wpPage], id), drop(trashed[wpPage], id)
		case k < 66: // comment
			post := pick(live[wpPost])
			if state.get(wpPost, post).status != "publish" {
				// WordPress refuses comments on drafts: a 403, no event
				act("error comment on a draft")
				st, r := via.call(http.MethodPost, "comments", map[string]any{"post": post, "content": "no"})
				if st < 400 {
					t.Fatalf("action %d comment on a draft: status %d: %s", i, st, r.Raw)
				}
				break
			}
			act("comment create")
			st, r := via.call(http.MethodPost, "comments", map[string]any{"post": post, "content": fmt.Sprintf("comment %d", rng.Int())})
			expect(i, "comment create", st, 201, r)
			id := r.Get("id").Int()
			live[wpComment], commentPost[id] = append(live[wpComment], id), post
			created = append(created, ref{wpComment, id})
		case k < 70 && len(live[wpComment]) > 0:
			id := pick(live[wpComment])
			act("comment update", ref{wpComment, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("comments/%d", id), map[string]any{"content": fmt.Sprintf("edited %d", rng.Int())})
			expect(i, "comment update", st, 200, r)
		case k < 73 && len(live[wpComment])+len(trashed[wpComment]) > 0:
			all := append(slices.Clone(live[wpComment]), trashed[wpComment]...)
			id := pick(all)
			force := rng.IntN(2) == 0 || slices.Contains(trashed[wpComment], id)
			act("comment delete", ref{wpComment, id})
			path := fmt.Sprintf("comments/%d", id)
			if force {
				path += "?force=true"
			}
			st, r := deleteVia(path)
			expect(i, "comment delete", st, 200, r)
			live[wpComment] = drop(live[wpComment], id)
			if force {
				trashed[wpComment] = drop(trashed[wpComment], id)
				delete(commentPost, id)
			} else {
				trashed[wpComment] = append(trashed[wpComment], id)
			}
		case k < 78: // media upload, attached to a post or not
			act("media upload")
			name := strings.ReplaceAll(uniq("file"), " ", "-") + ".txt"
			path := "media"
			if rng.IntN(2) == 0 {
				path += fmt.Sprintf("?post=%d", pick(live[wpPost]))
			}
			st, r := via.call(http.MethodPost, path, []byte(fmt.Sprintf("content %d\n", rng.Int())),
				"Content-Type", "text/plain", "Content-Disposition", "attachment; filename="+name)
			expect(i, "media upload", st, 201, r)
			live[wpMedia] = append(live[wpMedia], r.Get("id").Int())
			created = append(created, ref{wpMedia, r.Get("id").Int()})
		case k < 80 && len(live[wpMedia]) > 0:
			id := pick(live[wpMedia])
			act("media update", ref{wpMedia, id})
			st, r := via.call(http.MethodPost, fmt.Sprintf("media/%d", id), map[string]any{"title": uniq("Title")})
			expect(i, "media update", st, 200, r)
		case k < 82 && len(live[wpMedia]) > 0:
			id := pick(live[wpMedia])
			if rng.IntN(3) == 0 { // no trash for media: 501, no event
				act("error media delete without force", ref{wpMedia, id})
				st, r := via.call(http.MethodDelete, fmt.Sprintf("media/%d", id), nil)
				expect(i, "media delete without force", st, 501, r)
				break
			}
			act("media delete", ref{wpMedia, id})
			st, r := deleteVia(fmt.Sprintf("media/%d?force=true", id))
			expect(i, "media delete", st, 200, r)
			live[wpMedia] = drop(live[wpMedia], id)
		case k < 87: // one to three tags or categories created
			kind := wpTag
			if rng.IntN(3) == 0 {
				kind = wpCategory
			}
			act(string(kind) + " create")
			for range 1 + rng.IntN(3) {
				st, r := via.call(http.MethodPost, string(kind), map[string]any{"name": uniq("label")})
				expect(i, string(kind)+" create", st, 201, r)
				id := r.Get("id").Int()
				if kind == wpTag {
					tagIDs = append(tagIDs, id)
				} else {
					catIDs = append(catIDs, id)
				}
				created = append(created, ref{kind, id})
			}
		case k < 89: // a tag that exists already: 400, no event
			act("error tag exists")
			st, r := via.call(http.MethodPost, "tags", map[string]any{"name": state.termName(wpTag, pick(tagIDs))})
			expect(i, "tag exists", st, 400, r)
		case k < 92 && len(tagIDs) > 0: // tag delete: removed from every post that had it
			id := pick(tagIDs)
			act("tag delete", ref{wpTag, id})
			postsBefore := state.allPosts()
			st, r := deleteVia(fmt.Sprintf("tags/%d?force=true", id))
			expect(i, "tag delete", st, 200, r)
			tagIDs = drop(tagIDs, id)
			// Losing a label is not an edit of the post: only label_removed.
			for pid, b := range postsBefore {
				a := state.get(wpPost, pid)
				if a == nil {
					t.Fatalf("action %d: post %d vanished with a tag", i, pid)
				}
				for _, tg := range setMinus(b.terms, a.terms) {
					record = append(record, "label_removed "+strconv.FormatInt(pid, 10)+"|"+tg)
				}
			}
		case k < 96:
			act("user create")
			u := strings.ReplaceAll(uniq("user"), " ", "")
			st, r := via.call(http.MethodPost, "users", map[string]any{"username": u, "email": u + "@example.com", "password": "Pass-word-12345"})
			expect(i, "user create", st, 201, r)
			live[wpUser] = append(live[wpUser], r.Get("id").Int())
			created = append(created, ref{wpUser, r.Get("id").Int()})
		case k < 98 && len(live[wpUser]) > 0:
			id := pick(live[wpUser])
			act("user delete", ref{wpUser, id})
			st, r := deleteVia(fmt.Sprintf("users/%d?force=true&reassign=1", id))
			expect(i, "user delete", st, 200, r)
			live[wpUser] = drop(live[wpUser], id)
		default: // an update of a post that does not exist: 404, no event
			act("error update missing")
			st, r := via.call(http.MethodPost, "posts/999999", map[string]any{"content": "x"})
			expect(i, "update missing", st, 404, r)
		}
		after := snap()
		for _, r := range touched {
			record = append(record, wpRecord(r.kind, r.id, before[r], after[r])...)
		}
		for _, r := range created {
			record = append(record, wpRecord(r.kind, r.id, nil, state.get(r.kind, r.id))...)
		}
	}
	t.Logf("actions by kind: %v; at most %d terms of a kind sent for one post", counts, maxTerms)
	got := rcv.settle(notGap(record, wpGaps, wpKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = wpKey(d)
	}
	tally(t, "wordpress", seed, n, delivered, record, wpGaps)
	t.Logf("wordpress: %v in all (backend start, %d actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
