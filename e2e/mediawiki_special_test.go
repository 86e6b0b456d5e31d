package e2e

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// mwBrowser is a logged-in MediaWiki web UI session (a person's browser): a cookie jar, the
// forms' own wpEditToken values read from the forms, redirects not followed (they name
// $wgServer, the wiki itself, not hooktap).
type mwBrowser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// mwFormErrors finds the messages of a form answered again.
var mwFormErrors = regexp.MustCompile(`(?s)<(?:div|span) class="[^"]*(?:error|warning)[^"]*".{0,300}`)

// mwArchiveTaken finds the error of a new file version in the second of the last one.
var mwArchiveTaken = regexp.MustCompile(`/archive/[^"]*" already exists`)

var mwEditToken = regexp.MustCompile(`value="([^"]*)" name="wpEditToken"`)

func newMWBrowser(t *testing.T, base, user, pass string) *mwBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &mwBrowser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	page := b.get("title=Special:UserLogin")
	m := regexp.MustCompile(`name="wpLoginToken" type="hidden" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("Special:UserLogin has no wpLoginToken: %.300s", page)
	}
	st, _, _ := b.post("?title=Special:UserLogin&returnto=Main+Page", url.Values{"wpName": {user}, "wpPassword": {pass},
		"wpLoginToken": {m[1]}, "authAction": {"login"}, "title": {"Special:UserLogin"}, "wpLoginAttempt": {"Log in"}})
	if st != http.StatusFound {
		t.Fatalf("web UI login as %s: status %d, want 302", user, st)
	}
	return b
}

// get reads /index.php?q and returns the HTML.
func (b *mwBrowser) get(q string) string {
	b.t.Helper()
	resp, err := b.hc.Get(b.base + "/index.php?" + q)
	if err != nil {
		b.t.Fatalf("GET index.php?%s: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// token reads the wpEditToken of the form at /index.php?q (delete and protect salt theirs
// with the title: each form's own).
func (b *mwBrowser) token(q string) string {
	b.t.Helper()
	page := b.get(q)
	m := mwEditToken.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the form at index.php?%s has no wpEditToken: %.300s", q, page)
	}
	return m[1]
}

// post sends a form-urlencoded form to /index.php<target> and returns status, Location and
// body.
func (b *mwBrowser) post(target string, form url.Values) (int, string, string) {
	b.t.Helper()
	return b.send(target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (b *mwBrowser) send(target, ctype string, body io.Reader) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+"/index.php"+target, body)
	req.Header.Set("Content-Type", ctype)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("POST index.php%s: %v", target, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(out)
}

// upload posts Special:Upload's multipart form, as a browser does.
func (b *mwBrowser) upload(target string, fields [][2]string, name, content string) (int, string, string) {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("wpUploadFile", name)
	fw.Write([]byte(content))
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	w.Close()
	return b.send(target, w.FormDataContentType(), &body)
}

// TestMediaWikiSpecialPages drives MediaWiki's web UI forms (delete, undelete, move, protect,
// upload: the browser's own requests, see shared/reference/ui-paths.md; the title in the
// query or as path info) through hooktap in a seeded random order, failures included (a wrong token, a missing page, a taken name, a
// protect that changes nothing), and compares the events delivered with the wiki's own record
// of what happened (recent changes and their log rows): precision and recall must be 1.0. The
// pages are made through the Action API (their page_created events are counted too).
func TestMediaWikiSpecialPages(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	start := time.Now()
	seed, n := workloadSeed(t)
	// A form action costs about three or four API ones (the form's GET, the post, and the
	// rules' own log lookups before and after): a quarter as many keep the run within a
	// minute on a loaded machine.
	n = max(n/4, 10)
	be := startBackend(t, "mediawiki")
	rcv := newReceiver(t)
	ht := startHooktap(t, "mediawiki", be.url(), rcv)
	api := newMWClient(t, ht.url, be.env["USER"], be.env["PASS"])
	ui := newMWBrowser(t, ht.url, be.env["ADMIN_USER"], be.env["ADMIN_PASS"])
	direct := &mwClient{t: t, base: be.url(), hc: &http.Client{Timeout: 60 * time.Second}}
	rec := &mwRecord{t: t, direct: direct, be: be, rows: map[int64]gjson.Result{}}
	rec.scan("")
	var since int64 // rows made by the installer are not the workload's
	for id := range rec.rows {
		since = max(since, id)
	}
	rng := newRand(seed)
	next := 0
	uniq := func(prefix string) string { next++; return fmt.Sprintf("%s %d", prefix, next) }
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	remove := func(xs []string, x string) []string { return setMinus(xs, []string{x}) }
	esc := url.QueryEscape
	// at spells a form's target as the forms do (the title in the query) or, one time in
	// three, with the title as path info, as a link or a script may (/index.php/T?action=x).
	at := func(title, action string) string {
		if rng.IntN(3) == 0 {
			return "/" + url.PathEscape(strings.ReplaceAll(title, " ", "_")) + "?action=" + action
		}
		return "?title=" + esc(title) + "&action=" + action
	}
	edit := func(i int, title string) {
		r := api.post(false, map[string]string{"action": "edit", "format": "json", "formatversion": "2", "token": api.token,
			"title": title, "text": fmt.Sprintf("Text %d.", rng.Int()), "summary": "create"})
		if r.Get("edit.result").String() != "Success" {
			t.Fatalf("action %d edit %q: %s", i, title, r.Raw)
		}
	}
	// exists asks the wiki itself.
	exists := func(title string) bool {
		return !direct.get("action=query&titles=" + esc(title)).Get("query.pages.0.missing").Bool()
	}
	// logged counts the wiki's log entries of one type, to check that a failure logged none.
	logged := func(letype string) int64 {
		return direct.get("action=query&list=logevents&lelimit=1&leprop=ids&letype=" + letype).Get("query.logevents.0.logid").Int()
	}
	want := func(i int, what string, st, code int) {
		if st != code {
			t.Fatalf("action %d %s: status %d, want %d", i, what, st, code)
		}
	}
	var live, deleted, files []string // main-namespace pages; deleted titles; file names
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		k := rng.IntN(100)
		if len(live) < 3 {
			k = 0
		}
		switch {
		case k < 14: // a page, sometimes with a talk page and a talk subpage
			title := uniq("Page")
			edit(i, title)
			if rng.IntN(2) == 0 {
				edit(i, "Talk:"+title)
				if rng.IntN(2) == 0 {
					edit(i, "Talk:"+title+"/Sub")
				}
			}
			live = append(live, title)
			counts["create"]++
		case k < 26: // delete, with the talk page or not; a file page now and then
			title, talkPage := pick(live), ""
			if len(files) > 0 && rng.IntN(3) == 0 {
				title = "File:" + pick(files)
				talkPage = "File talk:" + strings.TrimPrefix(title, "File:")
			} else {
				talkPage = "Talk:" + title
			}
			rec.scan("") // a page's rows vanish with it
			f := url.Values{"wpDeleteReasonList": {"other"}, "wpReason": {"cleanup"}, "wpConfirmB": {"Delete page"},
				"wpEditToken": {ui.token("title=" + esc(title) + "&action=delete")}}
			// On a file page, asking for a talk page that does not exist fails the whole
			// delete ("Cannot delete a non-existing associated talk page"): nothing is
			// deleted. (Other pages' deletes ignore the box then.)
			fails := false
			if rng.IntN(2) == 0 {
				f.Set("wpDeleteTalk", "")
				fails = strings.HasPrefix(title, "File:") && !exists(talkPage)
			}
			st, _, body := ui.post(at(title, "delete"), f)
			want(i, "delete "+title, st, 200)
			if exists(title) != fails {
				t.Fatalf("action %d: the delete form of %q (wpDeleteTalk %v) did not do what was expected (fail %v): %q", i, title, f.Has("wpDeleteTalk"), fails, mwFormErrors.FindAllString(body, -1))
			}
			switch {
			case fails:
				counts["error delete no talk page"]++
			case strings.HasPrefix(title, "File:"):
				files = remove(files, strings.TrimPrefix(title, "File:"))
				deleted = append(deleted, title)
				counts["delete file"]++
			default:
				live = remove(live, title)
				deleted = append(deleted, title)
				counts["delete"]++
			}
			if f.Has("wpDeleteTalk") && !fails {
				counts["delete with talk page"]++
			}
		case k < 30: // failures answered 200: a wrong token, a missing page
			lid := logged("delete")
			title := pick(live)
			if rng.IntN(2) == 0 {
				title = uniq("Missing")
				counts["error delete missing"]++
			} else {
				counts["error delete token"]++
			}
			st, _, _ := ui.post(at(title, "delete"), url.Values{"wpReason": {"x"}, "wpConfirmB": {"Delete page"}, "wpEditToken": {"0123+\\"}})
			want(i, "failing delete", st, 200)
			if logged("delete") != lid {
				t.Fatalf("action %d: the failing delete of %q was logged", i, title)
			}
		case k < 40 && len(deleted) > 0: // undelete every revision (and file version)
			title := pick(deleted)
			tok := ui.token("title=Special:Undelete&target=" + esc(title))
			if rng.IntN(5) == 0 {
				tok = "0123+\\"
				counts["error undelete token"]++
			} else {
				deleted = remove(deleted, title)
				if name, ok := strings.CutPrefix(title, "File:"); ok {
					files = append(files, name)
				} else {
					live = append(live, title)
				}
				counts["undelete"]++
			}
			st, _, _ := ui.post(at("Special:Undelete", "submit"), url.Values{"target": {title}, "wpComment": {"restore"}, "restore": {"1"}, "wpEditToken": {tok}})
			want(i, "undelete "+title, st, 200)
		case k < 56: // move, with the talk page, subpages and a redirect or not
			from := pick(live)
			to := uniq("Moved")
			f := url.Values{"wpOldTitle": {from}, "wpNewTitleNs": {"0"}, "wpNewTitleMain": {to}, "wpReason": {fmt.Sprintf("rename %d", i)},
				"wpMove": {"Move page"}, "wpEditToken": {ui.token("title=Special:MovePage&target=" + esc(from))}}
			for _, box := range []string{"wpMovetalk", "wpLeaveRedirect", "wpMovesubpages"} {
				if rng.IntN(3) != 0 {
					f.Set(box, "1")
				}
			}
			if rng.IntN(3) == 0 {
				f.Del("wpReason") // an empty reason
			}
			switch rng.IntN(6) {
			case 0:
				f.Set("wpEditToken", "0123+\\")
				counts["error move token"]++
			case 1: // onto an existing page: "already exists", nothing moved
				f.Set("wpNewTitleMain", pick(live))
				counts["error move exists"]++
			case 2: // onto an existing page, deleting it to make way
				to = pick(remove(live, from))
				f.Set("wpNewTitleMain", to)
				f.Set("wpDeleteAndMove", "1")
				rec.scan("") // the deleted page's rows vanish with it
				live = remove(live, from)
				deleted = append(deleted, to)
				counts["move deleting the target"]++
			default:
				live = append(remove(live, from), to)
				counts["move"]++
			}
			lid := logged("move")
			st, _, _ := ui.post(at("Special:MovePage", "submit"), f)
			want(i, "move "+from, st, 200)
			if moved := logged("move") != lid; moved != (f.Get("wpNewTitleMain") == to && f.Get("wpEditToken") != "0123+\\") {
				t.Fatalf("action %d: the move of %q to %q logged: %v", i, from, f.Get("wpNewTitleMain"), moved)
			}
		case k < 70: // protect or unprotect; now and then the levels it has (logs nothing)
			title := pick(live)
			prot := direct.get("action=query&prop=info&inprop=protection&titles="+esc(title)).Get("query.pages.0.protection.#").Int() > 0
			level := "sysop"
			if prot {
				level = ""
			}
			if rng.IntN(4) == 0 {
				level = map[bool]string{true: "sysop", false: ""}[prot]
				counts["protect no change"]++
			} else {
				counts["protect"]++
			}
			tok := ui.token("title=" + esc(title) + "&action=protect")
			code := 302
			if rng.IntN(6) == 0 {
				tok, code = "0123+\\", 200
				counts["error protect token"]++
			}
			st, _, _ := ui.post(at(title, "protect"), url.Values{"title": {title},
				"mwProtect-level-edit": {level}, "wpProtectExpirySelection-edit": {"infinite"}, "mwProtect-expiry-edit": {""},
				"mwProtect-level-move": {level}, "wpProtectExpirySelection-move": {"infinite"}, "mwProtect-expiry-move": {""},
				"wpProtectReasonSelection": {"other"}, "mwProtect-reason": {"protect"}, "wpEditToken": {tok}})
			want(i, "protect "+title, st, code)
		case k < 85: // a new file, to the form's path-info target or the query form
			name := strings.ReplaceAll(uniq("Doc"), " ", "_") + ".txt"
			dest := name
			if rng.IntN(2) == 0 {
				dest = strings.ReplaceAll(name, "_", " ") // as a person types it
			}
			target := "/Special:Upload"
			if rng.IntN(3) == 0 {
				target = "?title=Special:Upload"
			}
			tok := ui.token("title=Special:Upload")
			code := 302
			if rng.IntN(6) == 0 {
				tok, code = "0123+\\", 200
				counts["error upload token"]++
			} else {
				files = append(files, name)
				counts["upload"]++
			}
			st, _, _ := ui.upload(target, [][2]string{{"wpDestFile", dest}, {"wpUploadDescription", "upload"}, {"wpEditToken", tok},
				{"title", "Special:Upload"}, {"wpUpload", "Upload file"}}, name, fmt.Sprintf("file %s %d\n", name, rng.Int()))
			want(i, "upload "+name, st, code)
		case len(files) > 0: // a new version of a file; or the taken name without asking for one
			name := pick(files)
			fields := [][2]string{{"wpDestFile", name}, {"wpUploadDescription", "new version"},
				{"wpEditToken", ui.token("title=Special:Upload&wpDestFile=" + esc(name) + "&wpForReUpload=1")},
				{"title", "Special:Upload"}, {"wpUpload", "Upload file"}}
			reup := rng.IntN(4) != 0
			if reup {
				fields = append(fields, [2]string{"wpForReUpload", "1"})
			}
			lid := logged("upload")
			st, _, body := ui.upload("/Special:Upload", fields, name, fmt.Sprintf("file %s version %d\n", name, rng.Int()))
			switch {
			case reup && st == 302:
				counts["re-upload"]++
			case reup && st == 200 && mwArchiveTaken.MatchString(body):
				// MediaWiki names archived versions by the second: a second version within
				// the same second fails ("The file .../archive/...!name already exists"): no
				// event.
				counts["error re-upload same second"]++
			case !reup && st == 200:
				counts["error upload name taken"]++
			default:
				t.Fatalf("action %d re-upload %q (wpForReUpload %v): status %d: %q", i, name, reup, st, mwFormErrors.FindAllString(body, -1))
			}
			if logged("upload") != lid != (st == 302) {
				t.Fatalf("action %d re-upload %q: status %d, but logged: %v", i, name, st, logged("upload") != lid)
			}
		default:
			i-- // nothing to do yet: draw again
		}
	}
	rec.scan("")
	t.Logf("actions by kind: %v", counts)
	record := rec.events(since)
	got := rcv.settle(notGap(record, mwGaps, mwKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = mwKey(d)
	}
	tally(t, "mediawiki web UI", seed, n, delivered, record, mwGaps)
	t.Logf("mediawiki web UI: %v in all (backend start, %d actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
