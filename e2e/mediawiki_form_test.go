package e2e

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// mwForm is a person at MediaWiki's web edit form: a browser-like client (a cookie jar, no
// redirects followed, so that each save's 302 and its cookies are seen) logged in with the
// account's own password, not a bot password (whose sessions work only in api.php).
type mwForm struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newMWForm(t *testing.T, base, user, pass string) *mwForm {
	jar, _ := cookiejar.New(nil)
	f := &mwForm{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	api := &mwClient{t: t, base: base, hc: f.hc}
	lt := api.get("action=query&meta=tokens&type=login").Get("query.tokens.logintoken").String()
	r := api.post(false, map[string]string{"action": "clientlogin", "format": "json", "formatversion": "2",
		"username": user, "password": pass, "loginreturnurl": base + "/", "logintoken": lt})
	if r.Get("clientlogin.status").String() != "PASS" {
		t.Fatalf("mediawiki clientlogin: %s", r.Raw)
	}
	return f
}

var hiddenInput = regexp.MustCompile(`<input[^>]*\bname="(wp[A-Za-z]+|editRevId|parentRevId|format|model|mode)"[^>]*>`)
var inputValue = regexp.MustCompile(`\bvalue="([^"]*)"`)
var textarea = regexp.MustCompile(`(?s)<textarea[^>]*\bname="wpTextbox1"[^>]*>(.*?)</textarea>`)

// open GETs the edit form at query (title=T&action=edit[&section=new|&undo=...]) and returns
// its fields as the browser would send them, less the buttons and the text.
func (f *mwForm) open(query string) (fields [][2]string, text string) {
	f.t.Helper()
	resp, err := f.hc.Get(f.base + "/index.php?" + query)
	if err != nil {
		f.t.Fatalf("GET edit form %s: %v", query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("GET edit form %s: %d %.300s", query, resp.StatusCode, b)
	}
	for _, m := range hiddenInput.FindAllSubmatch(b, -1) {
		name := string(m[1])
		if name == "wpSave" || name == "wpPreview" || name == "wpDiff" || name == "wpSummary" || name == "wpMinoredit" || name == "wpWatchthis" {
			continue
		}
		v := ""
		if vm := inputValue.FindSubmatch(m[0]); vm != nil {
			v = html.UnescapeString(string(vm[1]))
		}
		fields = append(fields, [2]string{name, v})
	}
	if !bytes.Contains(b, []byte(`name="wpEditToken"`)) {
		f.t.Fatalf("GET edit form %s: no wpEditToken (not logged in?)", query)
	}
	if m := textarea.FindSubmatch(b); m != nil {
		text = strings.TrimPrefix(html.UnescapeString(string(m[1])), "\n")
	}
	return fields, text
}

// submit POSTs the form (multipart, as the browser does) to target with the text, summary
// and button, and returns the status and the post-edit cookie's name=value ("" for none).
func (f *mwForm) submit(target string, fields [][2]string, text, summary, button string) (int, string) {
	f.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, kv := range fields {
		w.WriteField(kv[0], kv[1])
	}
	w.WriteField("wpTextbox1", text)
	w.WriteField("wpSummary", summary)
	w.WriteField(button, "1")
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, f.base+target, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	cookie := ""
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "PostEditRevision") {
			cookie = c.Name + "=" + c.Value
		}
	}
	return resp.StatusCode, cookie
}

// TestMediaWikiEditForm drives MediaWiki's web edit form through hooktap with plain HTTP, as
// a browser's requests are (login, GET the form for its token and times, POST it multipart):
// saves that create and edit pages (title in the query and as path info), category changes,
// new sections on talk and article pages, an undo, and the submits that save nothing (a null
// edit, a preview, a diff). The delivered events must be what the wiki's own recent changes
// say happened, and each page event must carry the page id and revision the wiki recorded.
func TestMediaWikiEditForm(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	be := startBackend(t, "mediawiki")
	rcv := newReceiver(t)
	ht := startHooktap(t, "mediawiki", be.url(), rcv)
	form := newMWForm(t, ht.url, be.env["ADMIN_USER"], be.env["ADMIN_PASS"])
	direct := &mwClient{t: t, base: be.url(), hc: &http.Client{Timeout: 60 * time.Second}}
	rec := &mwRecord{t: t, direct: direct, be: be, rows: map[int64]gjson.Result{}}
	rec.scan("")
	var since int64
	for id := range rec.rows {
		since = max(since, id)
	}

	type step struct {
		what, query, target, text, summary, button string
		saves                                      bool // a revision is expected (a post-edit cookie)
	}
	q := func(title, extra string) string {
		return "title=" + url.QueryEscape(title) + "&action=edit" + extra
	}
	sub := func(title string) string { return "/index.php?title=" + url.QueryEscape(title) + "&action=submit" }
	steps := []step{
		{"create", q("Form page", ""), sub("Form page"), "Hello.\n[[Category:Alpha]]\n[[Category:Two words]]", "create", "wpSave", true},
		{"edit, categories changed", q("Form page", ""), sub("Form page"), "Changed.\n[[Category:Beta]]\n[[Category:Two words]]", "recat", "wpSave", true},
		{"null edit", q("Form page", ""), sub("Form page"), "", "nothing", "wpSave", false},
		{"preview", q("Form page", ""), sub("Form page"), "Previewed only.", "", "wpPreview", false},
		{"diff", q("Form page", ""), sub("Form page"), "Diffed only.", "", "wpDiff", false},
		{"path info create", q("Form_other/Sub page", ""), "/index.php/Form_other/Sub_page?action=submit", "Sub.\n[[Category:Gamma]]", "create", "wpSave", true},
		{"path info edit", q("Form other/Sub page", ""), "/index.php/Form_other%2FSub_page?action=submit", "Sub, no category.", "uncat", "wpSave", true},
		{"talk: new section creates the talk page", q("Talk:Form page", "&section=new"), sub("Talk:Form page"), "A question. ~~~~", "Question one", "wpSave", true},
		{"talk: another section", q("Talk:Form page", "&section=new"), sub("Talk:Form page"), "Another. ~~~~", "Question two", "wpSave", true},
		{"article: new section", q("Form page", "&section=new"), sub("Form page"), "More text.", "More", "wpSave", true},
		{"article: new section creates it", q("Form new section page", "&section=new"), sub("Form new section page"), "First section.", "Intro", "wpSave", true},
	}
	run := func(s step) {
		t.Helper()
		fields, cur := form.open(s.query)
		text := s.text
		if s.what == "null edit" {
			text = cur
		}
		st, cookie := form.submit(s.target, fields, text, s.summary, s.button)
		switch {
		case s.saves && (st != 302 || cookie == ""):
			t.Fatalf("%s: got %d, post-edit cookie %q; want 302 with one", s.what, st, cookie)
		case !s.saves && cookie != "":
			t.Fatalf("%s: got %d, post-edit cookie %q; want none", s.what, st, cookie)
		}
		t.Logf("%s: %d %s", s.what, st, cookie)
	}
	for _, s := range steps {
		run(s)
	}
	// An undo of the last edit (the "More" section): MediaWiki's undo link opens the form with
	// wpUndidRevision set and the older text in it.
	all := direct.get("action=query&prop=revisions&rvprop=ids&rvlimit=5&titles=Form%20page").Get("query.pages.0.revisions").Array()
	if len(all) < 2 {
		t.Fatalf("Form page has %d revisions, want at least 2", len(all))
	}
	undo, after := all[0].Get("revid").Int(), all[1].Get("revid").Int() // newest first: the "More" section
	fields, cur := form.open(q("Form page", "&undo="+strconv.FormatInt(undo, 10)+"&undoafter="+strconv.FormatInt(after, 10)))
	hasUndid := false
	for _, kv := range fields {
		hasUndid = hasUndid || kv[0] == "wpUndidRevision" && kv[1] == strconv.FormatInt(undo, 10)
	}
	if !hasUndid {
		t.Fatalf("the undo form has no wpUndidRevision=%d: %v", undo, fields)
	}
	if st, cookie := form.submit(sub("Form page")+"&undo="+strconv.FormatInt(undo, 10)+"&undoafter="+strconv.FormatInt(after, 10), fields, cur, "undo", "wpSave"); st != 302 || cookie == "" {
		t.Fatalf("undo: got %d, post-edit cookie %q; want 302 with one", st, cookie)
	}

	// An edit conflict: the form opened, someone else (an anonymous Action API edit, through
	// hooktap) saves, then the stale form is submitted: 200 with the form again, nothing saved.
	fields, _ = form.open(q("Form page", ""))
	other := &mwClient{t: t, base: ht.url, hc: &http.Client{Timeout: 60 * time.Second}}
	anon := func(text string) {
		t.Helper()
		r := other.post(false, map[string]string{"action": "edit", "format": "json", "formatversion": "2", "title": "Form page", "text": text, "token": "+\\"})
		if r.Get("edit.result").String() != "Success" {
			t.Fatalf("anonymous edit: %s", r.Raw)
		}
	}
	// MediaWiki suppresses a conflict when every revision after wpEdittime is the user's own,
	// comparing timestamps to the second ("rev_timestamp > wpEdittime"): the other edit must
	// fall in a later second than the revision the form was opened on, so wait for the clock
	// (the wiki's, on this machine) to pass it.
	edittime := ""
	for _, kv := range fields {
		if kv[0] == "wpEdittime" {
			edittime = kv[1]
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().UTC().Format("20060102150405") <= edittime; {
		if time.Now().After(deadline) {
			t.Fatalf("the clock did not pass wpEdittime %s", edittime)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The same categories as before: a rollback done by GET has MediaWiki write its category
	// links after answering (see the pack), so its label events are not asserted here.
	anon("An anonymous edit.\n[[Category:Beta]]\n[[Category:Two words]]")
	if st, cookie := form.submit(sub("Form page"), fields, "A conflicting text.", "conflict", "wpSave"); st != 200 || cookie != "" {
		t.Fatalf("edit conflict: got %d, post-edit cookie %q; want 200 with none", st, cookie)
	}
	// Rollback of the anonymous edit with the history page's link (a GET, no confirmation),
	// then the same link again: already rolled back, nothing.
	rb := rollbackLink(t, form, "Form page")
	for i := 0; i < 2; i++ {
		resp, err := form.hc.Get(form.base + rb)
		if err != nil {
			t.Fatalf("rollback: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("rollback %d: got %d, want 200", i, resp.StatusCode)
		}
	}

	rec.runJobs()
	record := rec.events(since)
	got := rcv.settle(len(record), func(delivery) bool { return true })
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = mwKey(d)
	}
	sort.Strings(record)
	sort.Strings(delivered)
	if missing, extra := multisetMinus(record, delivered), multisetMinus(delivered, record); len(missing) > 0 || len(extra) > 0 {
		t.Errorf("events differ from the wiki's recent changes:\nrecorded, not delivered: %q\ndelivered, not recorded: %q", missing, extra)
	}
	t.Logf("%d events, as recorded: %q", len(delivered), delivered)

	// Ids: each page event names the page and the revision the wiki recorded for it, each
	// comment the revision that added it.
	revsOf := map[string]bool{} // "title|pageid|revid"
	for id, row := range rec.rows {
		if id > since && (row.Get("type").String() == "new" || row.Get("type").String() == "edit") {
			revsOf[row.Get("title").String()+"|"+row.Get("pageid").String()+"|"+row.Get("revid").String()] = true
		}
	}
	for _, d := range got {
		p := d.payload
		var k string
		switch d.event {
		case "page_created", "page_updated":
			k = p.Get("page.title").String() + "|" + p.Get("page.id").Raw + "|" + p.Get("page.version").Raw
		case "comment_created":
			pid := direct.get("action=query&titles=" + url.QueryEscape(p.Get("comment.title").String())).Get("query.pages.0.pageid").Raw
			k = p.Get("comment.title").String() + "|" + pid + "|" + p.Get("comment.id").Raw
			if p.Get("comment.sectionTitle").String() == "" {
				t.Errorf("comment_created without its section title: %s", p.Raw)
			}
		default:
			continue
		}
		if !revsOf[k] {
			t.Errorf("%s %s: no recorded revision title|pageid|revid %q", d.event, p.Raw, k)
		}
	}
}

var rollbackHref = regexp.MustCompile(`href="([^"]*action=rollback[^"]*)"`)

// rollbackLink returns the rollback link of title's history page (the top edit's author's).
func rollbackLink(t *testing.T, f *mwForm, title string) string {
	t.Helper()
	resp, err := f.hc.Get(f.base + "/index.php?title=" + url.QueryEscape(title) + "&action=history")
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := rollbackHref.FindSubmatch(b)
	if m == nil {
		t.Fatalf("history of %s has no rollback link", title)
	}
	return html.UnescapeString(string(m[1]))
}

// multisetMinus returns a less b, counting repeats.
func multisetMinus(a, b []string) []string {
	n := map[string]int{}
	for _, x := range b {
		n[x]++
	}
	var out []string
	for _, x := range a {
		if n[x] > 0 {
			n[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}
