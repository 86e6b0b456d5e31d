package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hooktap/internal/testkit"
)

// wpUIPlugin is a must-use plugin the UI test puts in its own WordPress: the site's URL is
// the one each request came to (hooktap's for the browser, the backend's for the direct
// reads), so that every link and redirect WordPress makes keeps the browser on hooktap; and no
// comment flood limit, so that a visitor may comment twice within 15 seconds; the classic
// editor for an editor screen opened with ?classic (as with the Classic Editor plugin).
const wpUIPlugin = `<?php
if (!empty($_SERVER['HTTP_HOST'])) {
	$hooktap_e2e_url = 'http://' . $_SERVER['HTTP_HOST'];
	add_filter('option_home', function () use ($hooktap_e2e_url) { return $hooktap_e2e_url; }, 99);
	add_filter('option_siteurl', function () use ($hooktap_e2e_url) { return $hooktap_e2e_url; }, 99);
}
add_filter('wp_is_comment_flood', '__return_false', 99);
add_filter('use_block_editor_for_post', function ($use) { return isset($_GET['classic']) ? false : $use; });
add_filter('pre_option_template', function () { return 'hooktap-e2e'; });
add_filter('pre_option_stylesheet', function () { return 'hooktap-e2e'; });
`

// wpUITheme is the front end's theme (Debian's wordpress package comes with none): a post
// and WordPress's own comment form, as every classic theme shows them.
var wpUITheme = map[string]string{
	"style.css": "/*\nTheme Name: hooktap e2e\n*/\n",
	"index.php": `<!DOCTYPE html><html><head><?php wp_head(); ?></head><body>
<?php while (have_posts()) { the_post(); ?>
<article id="post-<?php the_ID(); ?>"><h1><?php the_title(); ?></h1><?php the_content(); ?></article>
<?php if (is_singular()) { comment_form(); } } ?>
<?php wp_footer(); ?></body></html>
`,
}

// uiBrowser is one headless Chromium tab (a browser context of its own: its own cookies).
type uiBrowser struct {
	t   *testing.T
	ctx context.Context
}

// run runs actions, failing the test with what on an error.
func (b *uiBrowser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// js evaluates expr and returns its JSON value.
func (b *uiBrowser) js(what, expr string) json.RawMessage {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", what, expr, err)
	}
	return v
}

// open loads url and waits for the page to be complete.
func (b *uiBrowser) open(url string) {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url))
	b.wait("open "+url, `document.readyState === "complete"`)
}

// click clicks the element sel in the page (as a user's click: its handlers run, a link
// navigates), after making confirm() say yes.
func (b *uiBrowser) click(sel string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	v := b.js("click "+sel, `(() => { window.confirm = () => true; const e = document.querySelector(`+string(q)+`); if (!e) return false; e.click(); return true })()`)
	if string(v) != "true" {
		b.t.Fatalf("click %s: no such element on %s", sel, b.js("location", "location.href"))
	}
}

// set sets the value of the form control sel.
func (b *uiBrowser) set(sel, value string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	val, _ := json.Marshal(value)
	v := b.js("set "+sel, `(() => { const e = document.querySelector(`+string(q)+`); if (!e) return false; if (e.type === "checkbox") e.checked = `+string(val)+` === "1"; else e.value = `+string(val)+`; return true })()`)
	if string(v) != "true" {
		b.t.Fatalf("set %s: no such element on %s", sel, b.js("location", "location.href"))
	}
}

// wait polls cond (a JavaScript expression) until it is true, across navigations, for up to
// a minute.
func (b *uiBrowser) wait(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+cond+`) } catch (e) { return false } })()`))
		cancel()
		if err == nil && v {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 400) : ""`))
	b.t.Fatalf("%s: %s still false after a minute on %s (last error %v); the page says %q", what, cond, loc, last, text)
}

// clickAway clicks sel, which leaves the page (a link, a form's submit button), and waits
// until the next page is complete: WordPress takes its notices' query arguments out of the
// address with history.replaceState, so the new document is the sign, not the URL.
func (b *uiBrowser) clickAway(what, sel string) {
	b.t.Helper()
	b.js("mark "+what, `window.hooktapOld = true`)
	b.click(sel)
	b.wait(what, `!window.hooktapOld && document.readyState === "complete"`)
}

// ajaxDone waits until the page has no jQuery request in flight (admin-ajax.php answered).
func (b *uiBrowser) ajaxDone(what string) {
	b.t.Helper()
	b.wait(what, `window.jQuery && jQuery.active === 0`)
}

// wpUICommentsOf lists the ids of a post's comments of every status, straight from the
// backend.
func wpUICommentsOf(c *wpClient, post int64) []int64 {
	c.t.Helper()
	var out []int64
	for _, st := range []string{"all", "spam", "trash"} {
		code, r := c.call(http.MethodGet, fmt.Sprintf("comments?post=%d&status=%s&per_page=100&context=edit&_fields=id", post, st), nil)
		if code != 200 {
			c.t.Fatalf("GET comments of %d (%s): %d %s", post, st, code, r.Raw)
		}
		for _, x := range r.Array() {
			out = append(out, x.Get("id").Int())
		}
	}
	return out
}

// wpUIRecord is wpRecord, and a comment's change of status (approved, held, spam, back from
// the trash) is comment_updated, as the REST rules have it (a status update).
func wpUIRecord(kind wpKind, id int64, before, after *wpObj) []string {
	out := wpRecord(kind, id, before, after)
	if kind == wpComment && len(out) == 0 && before != nil && after != nil && before.status != after.status && after.status != "trash" {
		out = append(out, "comment_updated "+strconv.FormatInt(id, 10))
	}
	return out
}

// TestWordPressUI drives WordPress's own admin screens and comment form in headless Chromium
// through hooktap (packs/wordpress.toml, under plain permalinks): row links and bulk actions
// on the Posts and Pages lists, Quick Edit with tags, the Tags screen, comment moderation by
// ajax and by link, replies, a logged-out visitor's comments (held, then approved), and new
// posts saved in the block editor (REST under ?rest_route=). The record is WordPress's state
// read straight from the backend before and after each action; precision and recall must be
// 1. Events of the logged-in user must carry userKey "admin" (from the browser's cookies),
// a visitor's "".
func TestWordPressUI(t *testing.T) {
	requireE2E(t)
	exe := testkit.Chromium(t)
	start := time.Now()
	seed, n := workloadSeed(t)
	n = max(12, n/10) // a browser action costs about ten REST calls
	t.Logf("%d browser actions (a tenth of the workload's actions)", n)
	t.Setenv("WP_PERMALINKS", "plain")
	be := startBackend(t, "wordpress")
	plugins := filepath.Join(be.env["DIR"], "wordpress", "wp-content", "mu-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "hooktap-e2e.php"), []byte(wpUIPlugin), 0o644); err != nil {
		t.Fatal(err)
	}
	theme := filepath.Join(be.env["DIR"], "wordpress", "wp-content", "themes", "hooktap-e2e")
	if err := os.MkdirAll(theme, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range wpUITheme {
		if err := os.WriteFile(filepath.Join(theme, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rcv := newReceiver(t)
	ht := startHooktap(t, "wordpress", be.url(), rcv)
	hc := &http.Client{Timeout: 60 * time.Second}
	direct := &wpClient{t: t, base: be.url(), user: be.env["USER"], pass: be.env["PASS"], hc: hc, plain: true}
	state := &wpState{c: direct, names: map[string]string{}}
	rng := newRand(seed)
	next := 0
	uniq := func(p string) string { next++; return fmt.Sprintf("%s %d", p, next) }
	pick := func(xs []int64) int64 { return xs[rng.IntN(len(xs))] }

	// Seed content straight on the backend (no events): posts with tags, pages, comments.
	var tagIDs []int64
	for range 4 {
		st, r := direct.call(http.MethodPost, "tags", map[string]any{"name": uniq("tag")})
		if st != 201 {
			t.Fatalf("seed tag: %d %s", st, r.Raw)
		}
		tagIDs = append(tagIDs, r.Get("id").Int())
	}
	seedPost := func(kind wpKind) int64 {
		body := map[string]any{"title": uniq(string(kind)), "content": "seeded", "status": "publish"}
		if kind == wpPost {
			body["tags"] = tagIDs[:rng.IntN(3)]
		}
		st, r := direct.call(http.MethodPost, string(kind), body)
		if st != 201 {
			t.Fatalf("seed %s: %d %s", kind, st, r.Raw)
		}
		return r.Get("id").Int()
	}
	for range 6 {
		seedPost(wpPost)
	}
	for range 3 {
		seedPost(wpPage)
	}

	// The browser: the admin's tab logs in through hooktap; the visitor has a browser
	// context of its own, with no cookies.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), testkit.ChromeOptions(t, exe)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run on a context starts its browser (or tab) for the context's whole life:
	// not on a derived context with a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	admin := &uiBrowser{t: t, ctx: bctx}
	admin.open(ht.url + "/wp-login.php")
	admin.set("#user_login", "admin")
	admin.set("#user_pass", be.env["ADMIN_PASS"])
	admin.clickAway("log in", "#wp-submit")
	admin.wait("log in", `location.pathname.startsWith("/wp-admin") && document.querySelector("#wpadminbar")`)
	vctx, cancelVisitor := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	if err := chromedp.Do(vctx); err != nil {
		t.Fatalf("open the visitor's browser context: %v", err)
	}
	visitor := &uiBrowser{t: t, ctx: vctx}

	type ref struct {
		kind wpKind
		id   int64
	}
	var record []string
	visitorComments := map[string]bool{}
	counts := map[string]int{}
	childPages := func(parent int64) []int64 {
		code, r := direct.call(http.MethodGet, fmt.Sprintf("pages?parent=%d&status=publish,draft,pending,private,future,trash&per_page=100&context=edit&_fields=id", parent), nil)
		if code != 200 {
			t.Fatalf("children of page %d: %d %s", parent, code, r.Raw)
		}
		var ids []int64
		for _, x := range r.Array() {
			ids = append(ids, x.Get("id").Int())
		}
		slices.Sort(ids)
		return ids
	}
	list := func(kind wpKind, status string) []int64 {
		q := "?per_page=100&context=edit&_fields=id"
		if status != "" {
			q += "&status=" + status
		}
		code, r := direct.call(http.MethodGet, string(kind)+q, nil)
		if code != 200 {
			t.Fatalf("list %s %s: %d %s", kind, status, code, r.Raw)
		}
		var ids []int64
		for _, x := range r.Array() {
			ids = append(ids, x.Get("id").Int())
		}
		slices.Sort(ids) // by id, not by date (ties within a second): a seed replays the same run
		return ids
	}
	allComments := func(status string) []int64 {
		code, r := direct.call(http.MethodGet, "comments?status="+status+"&per_page=100&context=edit&_fields=id", nil)
		if code != 200 {
			t.Fatalf("list comments %s: %d %s", status, code, r.Raw)
		}
		var ids []int64
		for _, x := range r.Array() {
			ids = append(ids, x.Get("id").Int())
		}
		slices.Sort(ids) // by id, not by date (ties within a second): a seed replays the same run
		return ids
	}
	postType := map[wpKind]string{wpPost: "post", wpPage: "page"}
	visitorEmail := "visitor@example.com"

	for i := 0; i < n; i++ {
		var touched []ref
		var before map[ref]*wpObj
		snap := func() map[ref]*wpObj {
			m := map[ref]*wpObj{}
			for _, r := range touched {
				m[r] = state.get(r.kind, r.id)
			}
			return m
		}
		act := func(what string, refs ...ref) {
			// WordPress points the children of a page it deletes at that page's parent
			// (wp_delete_post): they move too, and the pack says so, so they are watched.
			for _, r := range slices.Clone(refs) {
				if r.kind != wpPage {
					continue
				}
				for _, c := range childPages(r.id) {
					if !slices.Contains(refs, ref{wpPage, c}) {
						refs = append(refs, ref{wpPage, c})
					}
				}
			}
			touched, before = refs, nil
			before = snap()
			counts[what]++
		}
		var created []ref
		kind := wpPost
		if rng.IntN(3) == 0 {
			kind = wpPage
		}
		edit := ht.url + "/wp-admin/edit.php?post_type=" + postType[kind]
		published := list(kind, "publish,draft")
		inTrash := list(kind, "trash")
		k := rng.IntN(112) // 100 and up: bulk edit (added last, so that the other ranges stay)
		switch {
		case k >= 100: // bulk edit: one to three posts or pages of one status set to the other; tags for posts
			from := []string{"publish", "draft"}[rng.IntN(2)]
			ids := slices.Clone(list(kind, from))
			if len(ids) == 0 {
				continue
			}
			rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
			ids = ids[:min(len(ids), 1+rng.IntN(3))]
			var refs []ref
			for _, id := range ids {
				refs = append(refs, ref{kind, id})
			}
			act(string(kind)+" bulk edit", refs...)
			admin.open(edit)
			for _, id := range ids {
				admin.set(fmt.Sprintf("#cb-select-%d", id), "1")
			}
			admin.set("#bulk-action-selector-top", "edit")
			admin.click("#doaction") // inline-edit-post.js opens the bulk edit row (the lower menu has no Edit handler)
			admin.wait("bulk edit opens", `document.querySelector("#the-list #bulk-edit.inline-editor")`)
			admin.set(`#bulk-edit select[name="_status"]`, map[string]string{"publish": "draft", "draft": "publish"}[from])
			if kind == wpPost {
				// Tags typed: a label_added for each post and tag it did not have.
				var names []string
				for _, tg := range tagIDs {
					if rng.IntN(2) == 0 {
						names = append(names, state.termName(wpTag, tg))
					}
				}
				admin.set(`#bulk-edit textarea[name="tax_input[post_tag]"]`, strings.Join(names, ","))
			}
			if kind == wpPage && rng.IntN(2) == 0 {
				// A new parent, perhaps one of the pages edited: WordPress skips that one (it
				// would be its own parent), so the redirect says skipped=1.
				parents := list(wpPage, "publish")
				if len(parents) > 0 {
					admin.set(`#bulk-edit select[name="post_parent"]`, strconv.FormatInt(pick(parents), 10))
				}
			}
			admin.clickAway("bulk edit", "#bulk_edit")
		case k < 12 && len(published) > 0: // row link: Trash
			id := pick(published)
			act(string(kind)+" trash (row link)", ref{kind, id})
			admin.open(edit)
			admin.clickAway("trash", fmt.Sprintf("#post-%d .row-actions .trash a", id))
		case k < 20 && len(inTrash) > 0: // row link: Restore
			id := pick(inTrash)
			act(string(kind)+" restore (row link)", ref{kind, id})
			admin.open(edit + "&post_status=trash")
			admin.clickAway("restore", fmt.Sprintf("#post-%d .row-actions .untrash a", id))
		case k < 26 && len(inTrash) > 0: // row link: Delete Permanently
			id := pick(inTrash)
			act(string(kind)+" purge (row link)", ref{kind, id})
			admin.open(edit + "&post_status=trash")
			admin.clickAway("purge", fmt.Sprintf("#post-%d .row-actions .delete a", id))
		case k < 34 && len(published) > 1: // bulk: Move to Trash, two or three, top or bottom menu
			ids := slices.Clone(published)
			rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
			ids = ids[:min(len(ids), 2+rng.IntN(2))]
			var refs []ref
			for _, id := range ids {
				refs = append(refs, ref{kind, id})
			}
			act(string(kind)+" bulk trash", refs...)
			admin.open(edit)
			for _, id := range ids {
				admin.set(fmt.Sprintf("#cb-select-%d", id), "1")
			}
			if rng.IntN(2) == 0 {
				admin.set("#bulk-action-selector-top", "trash")
				admin.clickAway("bulk trash", "#doaction")
			} else {
				admin.set("#bulk-action-selector-bottom", "trash")
				admin.clickAway("bulk trash", "#doaction2")
			}
		case k < 38 && len(inTrash) > 0: // bulk: Restore or Delete Permanently, or Empty Trash
			var refs []ref
			for _, id := range inTrash {
				refs = append(refs, ref{kind, id})
			}
			admin.open(edit + "&post_status=trash")
			switch rng.IntN(3) {
			case 0:
				act(string(kind)+" empty trash", refs...)
				admin.clickAway("empty trash", "#delete_all")
			default:
				op := []string{"untrash", "delete"}[rng.IntN(2)]
				act(string(kind)+" bulk "+op, refs...)
				for _, id := range inTrash {
					admin.set(fmt.Sprintf("#cb-select-%d", id), "1")
				}
				admin.set("#bulk-action-selector-top", op)
				admin.clickAway("bulk "+op, "#doaction")
			}
		case k < 50 && len(published) > 0: // Quick Edit: a new title, and for a post new tags
			id := pick(published)
			act(string(kind)+" quick edit", ref{kind, id})
			admin.open(edit)
			admin.click(fmt.Sprintf("#post-%d button.editinline", id))
			row := fmt.Sprintf("#edit-%d", id)
			admin.wait("quick edit opens", `document.querySelector("`+row+` input[name=post_title]")`)
			admin.set(row+" input[name=post_title]", uniq("Quick"))
			if kind == wpPost {
				var names []string
				for _, tg := range tagIDs {
					if rng.IntN(2) == 0 {
						names = append(names, state.termName(wpTag, tg))
					}
				}
				admin.set(row+` textarea[name="tax_input[post_tag]"]`, strings.Join(names, ", "))
			}
			admin.click(row + " button.save")
			admin.wait("quick edit saves", `!document.querySelector("`+row+`") && window.jQuery && jQuery.active === 0`)
		case k < 56: // Tags screen: Add New Tag
			act("tag add")
			tagsBefore := list(wpTag, "")
			name := uniq("ui tag")
			admin.open(ht.url + "/wp-admin/edit-tags.php?taxonomy=post_tag")
			admin.set("#tag-name", name)
			admin.click("#submit")
			q, _ := json.Marshal(name)
			admin.wait("tag added", `[...document.querySelectorAll("#the-list .row-title")].some(a => a.textContent === `+string(q)+`) && jQuery.active === 0`)
			for _, id := range list(wpTag, "") {
				if !slices.Contains(tagsBefore, id) {
					tagIDs = append(tagIDs, id)
					created = append(created, ref{wpTag, id})
				}
			}
		case k < 61 && len(tagIDs) > 1: // Tags screen: Delete (a tag some posts have)
			id := pick(tagIDs)
			act("tag delete", ref{wpTag, id})
			postsBefore := state.allPosts()
			if rng.IntN(2) == 0 { // the list's Delete (ajax)
				admin.open(ht.url + "/wp-admin/edit-tags.php?taxonomy=post_tag")
				admin.click(fmt.Sprintf("#tag-%d .row-actions .delete-tag", id))
				admin.wait("tag deleted", fmt.Sprintf(`!document.querySelector("#tag-%d") && jQuery.active === 0`, id))
			} else { // the tag's edit screen, its Delete link
				admin.open(fmt.Sprintf("%s/wp-admin/term.php?taxonomy=post_tag&tag_ID=%d", ht.url, id))
				admin.clickAway("tag deleted", "#delete-link a.delete")
			}
			tagIDs = slices.DeleteFunc(tagIDs, func(x int64) bool { return x == id })
			for pid, b := range postsBefore {
				a := state.get(wpPost, pid)
				for _, tg := range setMinus(b.terms, a.terms) {
					record = append(record, "label_removed "+strconv.FormatInt(pid, 10)+"|"+tg)
				}
			}
		case k < 66: // the block editor: a new post saved as a draft (REST under ?rest_route=)
			act("block editor new post")
			admin.open(ht.url + "/wp-admin/post-new.php")
			admin.wait("block editor", `wp.data.select("core/editor").getCurrentPostId() && document.querySelector(".editor-post-title__input")`)
			var id int64
			json.Unmarshal(admin.js("post id", `wp.data.select("core/editor").getCurrentPostId()`), &id)
			admin.run("type the title", chromedp.SendKeys(chromedp.CSS(".editor-post-title__input"), uniq("Block")))
			admin.wait("title typed", `wp.data.select("core/editor").getEditedPostAttribute("title") !== ""`)
			admin.click(".editor-post-save-draft")
			admin.wait("draft saved", `wp.data.select("core/editor").getCurrentPost().status === "draft" && !wp.data.select("core/editor").isSavingPost()`)
			created = append(created, ref{wpPost, id})
		case k < 70: // the classic editor: a new post published, or a post's title and tags changed
			var id int64
			if len(published) > 0 && kind == wpPost && rng.IntN(2) == 0 {
				id = pick(published)
				act("classic editor update", ref{wpPost, id})
				admin.open(fmt.Sprintf("%s/wp-admin/post.php?post=%d&action=edit&classic=1", ht.url, id))
			} else {
				act("classic editor new post")
				admin.open(ht.url + "/wp-admin/post-new.php?classic=1")
				json.Unmarshal(admin.js("post id", `Number(document.querySelector("#post_ID").value)`), &id)
				created = append(created, ref{wpPost, id})
			}
			admin.set("#title", uniq("Classic"))
			var names []string
			for _, tg := range tagIDs {
				if rng.IntN(2) == 0 {
					names = append(names, state.termName(wpTag, tg))
				}
			}
			admin.set(`textarea[name="tax_input[post_tag]"]`, strings.Join(names, ","))
			admin.clickAway("classic editor save", "#publish")
		case k < 75: // a visitor comments on a published post, logged out
			posts := list(wpPost, "publish")
			if len(posts) == 0 {
				continue
			}
			post := pick(posts)
			act("visitor comment")
			old := wpUICommentsOf(direct, post)
			visitor.open(fmt.Sprintf("%s/?p=%d", ht.url, post))
			visitor.set("#comment", fmt.Sprintf("A visitor's comment %d", rng.Int()))
			visitor.set("#author", "Visitor")
			visitor.set("#email", visitorEmail)
			visitor.clickAway("comment", "#submit")
			for _, c := range wpUICommentsOf(direct, post) {
				if !slices.Contains(old, c) {
					created = append(created, ref{wpComment, c})
					visitorComments[strconv.FormatInt(c, 10)] = true
				}
			}
		default: // moderation on the Comments screen, by ajax or by link
			live, held, spam, trash := allComments("approve"), allComments("hold"), allComments("spam"), allComments("trash")
			type op struct {
				what, view, sel string
				from            []int64
				ajax            bool
			}
			ops := []op{
				{"comment approve", "all", ".approve a", held, true},
				{"comment unapprove", "all", ".unapprove a", live, true},
				{"comment trash", "all", ".trash a", append(slices.Clone(live), held...), true},
				{"comment spam", "all", ".spam a", append(slices.Clone(live), held...), true},
				{"comment untrash", "trash", ".untrash a", trash, true},
				{"comment unspam", "spam", ".unspam a", spam, true},
				{"comment delete from trash", "trash", ".delete a", trash, true},
				{"comment delete from spam", "spam", ".delete a", spam, true},
				{"comment reply", "all", ".reply button", live, true},
				{"comment quick edit", "all", ".quickedit button", append(slices.Clone(live), held...), true},
				{"comment approve (link)", "all", ".approve a", held, false},
				{"comment trash (link)", "all", ".trash a", append(slices.Clone(live), held...), false},
				{"comment delete from trash (link)", "trash", ".delete a", trash, false},
			}
			o := ops[rng.IntN(len(ops))]
			if len(o.from) == 0 {
				continue
			}
			id := pick(o.from)
			code, r := direct.call(http.MethodGet, fmt.Sprintf("comments/%d?context=edit&_fields=post", id), nil)
			if code != 200 {
				t.Fatalf("comment %d: %d %s", id, code, r.Raw)
			}
			post := r.Get("post").Int()
			act(o.what, ref{wpComment, id})
			old := wpUICommentsOf(direct, post)
			admin.open(ht.url + "/wp-admin/edit-comments.php?comment_status=" + o.view)
			sel := fmt.Sprintf("#comment-%d .row-actions %s", id, o.sel)
			switch {
			case !o.ajax: // the link itself, as without JavaScript or from a notification mail
				href := admin.js("href", fmt.Sprintf(`document.querySelector(%q).href`, sel))
				var u string
				json.Unmarshal(href, &u)
				admin.open(u)
			case o.what == "comment reply" || o.what == "comment quick edit":
				admin.click(sel)
				admin.wait("reply box", `document.querySelector("#replyrow") && document.querySelector("#replyrow").style.display !== "none"`)
				admin.set("#replycontent", fmt.Sprintf("From the admin %d", rng.Int()))
				admin.click("#replysubmit button.save")
				admin.wait("reply saved", `document.querySelector("#replyrow").style.display === "none" && jQuery.active === 0`)
			default:
				admin.click(sel)
				admin.ajaxDone(o.what)
			}
			for _, c := range wpUICommentsOf(direct, post) {
				if !slices.Contains(old, c) && c != id {
					created = append(created, ref{wpComment, c})
				}
			}
		}
		after := snap()
		for _, r := range touched {
			record = append(record, wpUIRecord(r.kind, r.id, before[r], after[r])...)
		}
		for _, r := range created {
			record = append(record, wpUIRecord(r.kind, r.id, nil, state.get(r.kind, r.id))...)
		}
	}
	t.Logf("actions by kind: %v", counts)
	got := rcv.settle(notGap(record, wpGaps, wpKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = wpKey(d)
		want := "admin"
		if d.event == "comment_created" && visitorComments[d.payload.Get("comment.id").String()] {
			want = ""
		}
		if u := d.payload.Get("userKey").String(); u != want {
			t.Errorf("%s: userKey %q, want %q", delivered[i], u, want)
		}
	}
	tally(t, "wordpress ui", seed, n, delivered, record, wpGaps)
	t.Logf("wordpress ui: %v in all (backend start, %d browser actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
