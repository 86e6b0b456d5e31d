package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// mwGaps are the MediaWiki events the pack cannot classify yet, with the reason (README):
// none.
var mwGaps = gapSet{}

// mwClient is a logged-in Action API and REST client of one base URL.
type mwClient struct {
	t     *testing.T
	base  string
	hc    *http.Client
	token string
	posts int // urlencoded writes sent; every third one has its action and title in the query
}

func newMWClient(t *testing.T, base, user, pass string) *mwClient {
	jar, _ := cookiejar.New(nil)
	c := &mwClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	lt := c.get("action=query&meta=tokens&type=login").Get("query.tokens.logintoken").String()
	r := c.post(false, map[string]string{"action": "login", "format": "json", "formatversion": "2", "lgname": user, "lgpassword": pass, "lgtoken": lt})
	if r.Get("login.result").String() != "Success" {
		t.Fatalf("mediawiki login: %s", r.Raw)
	}
	c.token = c.get("action=query&meta=tokens").Get("query.tokens.csrftoken").String()
	return c
}

func (c *mwClient) get(q string) gjson.Result {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + "/api.php?format=json&formatversion=2&" + q)
	if err != nil {
		c.t.Fatalf("GET api.php?%s: %v", q, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !gjson.ValidBytes(b) {
		c.t.Fatalf("GET api.php?%s: status %d, not JSON: %.300s", q, resp.StatusCode, b)
	}
	return gjson.ParseBytes(b)
}

// post sends an Action API write, urlencoded or multipart, and returns the JSON answer.
func (c *mwClient) post(multi bool, params map[string]string, files ...[3]string) gjson.Result {
	c.t.Helper()
	var body bytes.Buffer
	ctype := "application/x-www-form-urlencoded"
	if multi || len(files) > 0 {
		w := multipart.NewWriter(&body)
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.WriteField(k, params[k])
		}
		for _, f := range files { // field, filename, content
			fw, _ := w.CreateFormFile(f[0], f[1])
			fw.Write([]byte(f[2]))
		}
		w.Close()
		ctype = w.FormDataContentType()
	}
	target := c.base + "/api.php"
	if !multi && len(files) == 0 {
		v := url.Values{}
		for k, x := range params {
			v.Set(k, x)
		}
		// Clients may put any parameter but the token in the query string (MediaWiki reads
		// both, the body first): every third write sends action, title and format there, so
		// the pack's "form.X ?? query.X" is checked against the real wiki.
		if c.posts++; c.posts%3 == 0 && params["action"] != "login" {
			q := url.Values{}
			for _, k := range []string{"action", "title", "format", "formatversion"} {
				if x, ok := params[k]; ok {
					q.Set(k, x)
					v.Del(k)
				}
			}
			target += "?" + q.Encode()
		}
		body.WriteString(v.Encode())
	}
	req, _ := http.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", ctype)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("POST api.php %v: %v", params["action"], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !gjson.ValidBytes(b) {
		c.t.Fatalf("POST api.php %v: status %d: %.300s", params["action"], resp.StatusCode, b)
	}
	return gjson.ParseBytes(b)
}

// rest sends a REST API request with a JSON body and returns status and answer.
func (c *mwClient) rest(method, path string, body map[string]any) (int, gjson.Result) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		body["token"] = c.token
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+"/rest.php/v1"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s rest.php/v1%s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, gjson.ParseBytes(b)
}

// mwRecord reads MediaWiki's recent changes straight from the backend. MediaWiki drops a
// page's recent-changes rows when the page is deleted, and category changes appear only once
// the job queue has run, so before every delete (and at the end) the test runs the job queue,
// reads every row, and keeps every row it has ever seen.
type mwRecord struct {
	t      *testing.T
	direct *mwClient
	be     *backend
	rows   map[int64]gjson.Result
}

func (r *mwRecord) scan(from string) {
	r.t.Helper()
	cont := ""
	for {
		q := "action=query&list=recentchanges&rcprop=title|ids|comment|loginfo|timestamp&rcdir=newer&rclimit=500"
		if from != "" {
			q += "&rcstart=" + url.QueryEscape(from)
		}
		if cont != "" {
			q += "&rccontinue=" + url.QueryEscape(cont)
		}
		res := r.direct.get(q)
		for _, row := range res.Get("query.recentchanges").Array() {
			id := row.Get("rcid").Int()
			if _, ok := r.rows[id]; !ok {
				r.rows[id] = row
			}
		}
		cont = res.Get("continue.rccontinue").String()
		if cont == "" {
			return
		}
	}
}

// runJobs runs MediaWiki's job queue (category membership changes), then rescans.
func (r *mwRecord) runJobs() {
	r.t.Helper()
	cmd := exec.Command("php", "maintenance/runJobs.php")
	cmd.Dir = r.be.env["ROOT"]
	cmd.Env = append(cmd.Environ(), "MW_CONFIG_FILE="+r.be.env["CONFIG"])
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("runJobs.php: %v\n%s", err, out)
	}
	r.scan("")
}

var newSection = regexp.MustCompile(`^/\* .* \*/ new section$`)

// events maps the recorded rows to the events they mean.
func (r *mwRecord) events(since int64) []string {
	var out []string
	// MediaWiki's job queue sometimes records one revision's category change twice (two
	// categorize rows, same revision and category; after an undelete, the job runs again for
	// the restored revisions, naming the page by its title then): one revision changes a
	// membership once.
	seenCat := map[string]bool{}
	for id, row := range r.rows {
		if id <= since {
			continue
		}
		title := row.Get("title").String()
		ns := row.Get("ns").Int()
		switch row.Get("type").String() {
		case "new", "edit":
			switch {
			case ns%2 == 1 && newSection.MatchString(row.Get("comment").String()):
				out = append(out, "comment_created "+title)
			case row.Get("type").String() == "new":
				out = append(out, "page_created "+title)
			default:
				out = append(out, "page_updated "+title)
			}
		case "categorize":
			c := row.Get("comment").String()
			pid := row.Get("pageid").String()
			k := pid + "|" + row.Get("revid").String() + "|" + title + "|" + strconv.FormatBool(strings.HasSuffix(c, " added to category"))
			if seenCat[k] {
				continue
			}
			seenCat[k] = true
			switch {
			case strings.HasSuffix(c, " added to category"):
				out = append(out, "label_added "+pid+"|"+title)
			case strings.HasSuffix(c, " removed from category"):
				out = append(out, "label_removed "+pid+"|"+title)
			default:
				out = append(out, "unknown categorize "+c)
			}
		case "log":
			lt, la := row.Get("logtype").String(), row.Get("logaction").String()
			switch lt + "/" + la {
			case "delete/delete":
				if ns == 6 {
					out = append(out, "attachment_removed "+title)
				} else {
					out = append(out, "page_removed "+title)
				}
			case "delete/restore":
				out = append(out, "page_restored "+title)
				if row.Get("logparams.count.files").Int() > 0 {
					out = append(out, "attachment_restored "+title)
				}
			case "move/move", "move/move_redir":
				out = append(out, "page_moved "+row.Get("logparams.target_title").String())
			case "protect/move_prot":
				// The page's protection moved with its title (logged beside the move): the
				// page's restrictions did not change, and the move is page_moved.
			case "protect/protect", "protect/modify", "protect/unprotect":
				out = append(out, "content_permissions_updated "+title)
			case "upload/upload":
				out = append(out, "attachment_created "+title)
			case "upload/overwrite":
				out = append(out, "attachment_updated "+title)
			case "newusers/create", "newusers/create2", "newusers/byemail", "newusers/autocreate":
				out = append(out, "user_created "+strings.TrimPrefix(title, "User:"))
			default:
				out = append(out, "unknown log "+lt+"/"+la+" "+title)
			}
		default:
			out = append(out, "unknown rc "+row.Raw)
		}
	}
	return out
}

// mwKey names a delivered MediaWiki event as mwRecord names a recorded one.
func mwKey(d delivery) string {
	p := d.payload
	switch d.event {
	case "label_added", "label_removed":
		return d.event + " " + p.Get("labeled.id").String() + "|" + p.Get("label.name").String()
	case "comment_created":
		return d.event + " " + p.Get("comment.title").String()
	case "content_permissions_updated":
		return d.event + " " + p.Get("content.title").String()
	case "attachment_created", "attachment_updated", "attachment_removed", "attachment_restored":
		return d.event + " " + p.Get("attachedTo.title").String()
	case "user_created":
		return d.event + " " + p.Get("userProfile.userKey").String()
	}
	return d.event + " " + p.Get("page.title").String()
}

func TestMediaWiki(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	start := time.Now()
	seed, n := workloadSeed(t)
	be := startBackend(t, "mediawiki")
	rcv := newReceiver(t)
	ht := startHooktap(t, "mediawiki", be.url(), rcv)
	via := newMWClient(t, ht.url, be.env["USER"], be.env["PASS"])
	direct := &mwClient{t: t, base: be.url(), hc: &http.Client{Timeout: 60 * time.Second}}
	rec := &mwRecord{t: t, direct: direct, be: be, rows: map[int64]gjson.Result{}}
	rec.scan("")
	var since int64 // rows made by the installer are not the workload's
	for id := range rec.rows {
		since = max(since, id)
	}

	rng := newRand(seed)
	cats := []string{"Alpha", "Beta", "Gamma", "Two words"}
	maxCats := 0 // the most categories one text gave a page
	text := func() string {
		s := fmt.Sprintf("Some text %d.\n", rng.Int())
		for _, c := range cats {
			if rng.IntN(3) == 0 {
				s += "[[Category:" + c + "]]\n"
			}
		}
		// One text in six has more than 10 categories (about 10 of 12 "Bulk" ones), so that
		// label changes are checked on long lists too.
		n := strings.Count(s, "[[Category:")
		if rng.IntN(6) == 0 {
			for k := 1; k <= 12; k++ {
				if rng.IntN(6) != 0 {
					s += fmt.Sprintf("[[Category:Bulk %d]]\n", k)
					n++
				}
			}
		}
		maxCats = max(maxCats, n)
		return s
	}
	fv := func() string { // both response formats
		if rng.IntN(4) == 0 {
			return "1"
		}
		return "2"
	}
	base := func(action string) map[string]string {
		return map[string]string{"action": action, "format": "json", "formatversion": fv(), "token": via.token}
	}
	multi := func() bool { return rng.IntN(4) == 0 }
	mustOK := func(i int, what string, r gjson.Result) {
		if r.Get("error").Exists() {
			t.Fatalf("action %d %s: %s", i, what, r.Raw)
		}
	}

	var live, deleted, files []string
	talk := map[string]bool{}
	next := 0
	uniq := func(prefix string) string { next++; return fmt.Sprintf("%s %d", prefix, next) }
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	remove := func(xs []string, x string) []string { return setMinus(xs, []string{x}) }
	counts := map[string]int{}

	for i := 0; i < n; i++ {
		k := rng.IntN(100)
		if len(live) < 3 {
			k = 0
		}
		switch {
		case k < 16:
			title := uniq("Page")
			p := base("edit")
			p["title"], p["text"], p["summary"] = title, text(), "create"
			mustOK(i, "create", via.post(multi(), p))
			live = append(live, title)
			counts["edit create"]++
		case k < 32:
			p := base("edit")
			p["title"], p["text"] = pick(live), text()
			mustOK(i, "update", via.post(multi(), p))
			counts["edit update"]++
		case k < 35: // the same text again: no revision, no event
			title := pick(live)
			cur := direct.get("action=query&prop=revisions&rvprop=content&rvslots=main&titles=" + url.QueryEscape(title)).Get("query.pages.0.revisions.0.slots.main.content").String()
			p := base("edit")
			p["title"], p["text"] = title, cur
			r := via.post(multi(), p)
			mustOK(i, "nochange", r)
			counts["edit nochange"]++
		case k < 41:
			title := uniq("Rest page")
			st, r := via.rest(http.MethodPost, "/page", map[string]any{"title": title, "source": text(), "comment": "rest create"})
			if st != 201 {
				t.Fatalf("action %d REST create: %d %s", i, st, r.Raw)
			}
			live = append(live, title)
			counts["rest create"]++
		case k < 47:
			title := pick(live)
			key := url.PathEscape(strings.ReplaceAll(title, " ", "_"))
			_, cur := via.rest(http.MethodGet, "/page/"+key+"/bare", nil)
			st, r := via.rest(http.MethodPut, "/page/"+key, map[string]any{"source": text(), "comment": "rest update", "latest": map[string]any{"id": cur.Get("latest.id").Int()}})
			if st != 200 {
				t.Fatalf("action %d REST update %q: %d %s", i, title, st, r.Raw)
			}
			counts["rest update"]++
		case k < 55:
			page := pick(live)
			p := base("edit")
			p["title"], p["section"], p["sectiontitle"], p["text"] = "Talk:"+page, "new", fmt.Sprintf("Question %d", i), "A comment. ~~~~"
			mustOK(i, "comment", via.post(multi(), p))
			talk[page] = true
			counts["talk section"]++
		case k < 61:
			from := pick(live)
			to := uniq("Moved")
			p := base("move")
			p["from"], p["to"], p["movetalk"], p["reason"] = from, to, "1", "rename"
			mustOK(i, "move", via.post(multi(), p))
			live = append(remove(live, from), to)
			talk[to] = talk[from]
			delete(talk, from)
			counts["move"]++
		case k < 67:
			title := pick(live)
			if len(files) > 0 && rng.IntN(4) == 0 { // a file goes with its page
				name := pick(files)
				files, title = remove(files, name), "File:"+name
				counts["delete file"]++
			} else {
				live = remove(live, title)
				counts["delete"]++
			}
			rec.runJobs() // a page's rows, category changes included, vanish with it
			p := base("delete")
			p["title"], p["reason"] = title, "cleanup"
			mustOK(i, "delete", via.post(multi(), p))
			deleted = append(deleted, title)
		case k < 71 && len(deleted) > 0:
			title := pick(deleted)
			p := base("undelete")
			p["title"], p["reason"] = title, "restore"
			mustOK(i, "undelete", via.post(multi(), p))
			deleted = remove(deleted, title)
			if name, ok := strings.CutPrefix(title, "File:"); ok {
				files = append(files, name)
			} else {
				live = append(live, title)
			}
			counts["undelete"]++
		case k < 76:
			title := pick(live)
			p := base("protect")
			p["title"], p["expiry"] = title, "infinite"
			// Protect an unprotected page, unprotect a protected one: asking for the levels a
			// page already has changes nothing and MediaWiki logs nothing (see the README).
			prot := direct.get("action=query&prop=info&inprop=protection&titles=" + url.QueryEscape(title)).Get("query.pages.0.protection.#").Int()
			if prot > 0 {
				p["protections"] = "edit=all|move=all"
			} else {
				p["protections"] = "edit=sysop|move=sysop"
			}
			mustOK(i, "protect", via.post(multi(), p))
			counts["protect"]++
		case k < 82:
			name := strings.ReplaceAll(uniq("Doc"), " ", "_") + ".txt"
			p := base("upload")
			p["filename"], p["comment"] = name, "upload"
			r := via.post(true, p, [3]string{"file", name, fmt.Sprintf("file %s %d\n", name, rng.Int())})
			if r.Get("upload.result").String() != "Success" {
				t.Fatalf("action %d upload: %s", i, r.Raw)
			}
			files = append(files, name)
			counts["upload"]++
		case k < 86 && len(files) > 0:
			name := pick(files)
			p := base("upload")
			p["filename"], p["comment"], p["ignorewarnings"] = name, "new version", "1"
			r := via.post(true, p, [3]string{"file", name, fmt.Sprintf("file %s version %d\n", name, rng.Int())})
			switch {
			case r.Get("upload.result").String() == "Success":
				counts["re-upload"]++
			case r.Get("error.code").String() == "backend-fail-alreadyexists":
				// MediaWiki names archived versions by the second: a second version within
				// the same second fails (HTTP 200 with an error): no event.
				counts["error re-upload same second"]++
			default:
				t.Fatalf("action %d re-upload: %s", i, r.Raw)
			}
		case k < 90:
			ct := via.get("action=query&meta=tokens&type=createaccount").Get("query.tokens.createaccounttoken").String()
			user := uniq("User")
			p := map[string]string{"action": "createaccount", "format": "json", "formatversion": fv(), "username": user,
				"password": "Pass-word-12345", "retype": "Pass-word-12345", "createreturnurl": "http://127.0.0.1/", "createtoken": ct}
			r := via.post(multi(), p)
			if r.Get("createaccount.status").String() != "PASS" {
				t.Fatalf("action %d createaccount: %s", i, r.Raw)
			}
			counts["createaccount"]++
		case k < 93: // failures answered with HTTP 200: no event
			p := base("delete")
			p["title"] = uniq("Missing")
			if r := via.post(multi(), p); r.Get("error.code").String() != "missingtitle" {
				t.Fatalf("action %d delete of a missing page: %s", i, r.Raw)
			}
			counts["error delete missing"]++
		case k < 96:
			p := base("edit")
			p["title"], p["text"], p["createonly"] = pick(live), text(), "1"
			if r := via.post(multi(), p); r.Get("error.code").String() != "articleexists" {
				t.Fatalf("action %d createonly on an existing page: %s", i, r.Raw)
			}
			counts["error createonly"]++
		default:
			st, r := via.rest(http.MethodPost, "/page", map[string]any{"title": pick(live), "source": "x", "comment": "dup"})
			if st != 409 {
				t.Fatalf("action %d REST create of an existing title: %d %s", i, st, r.Raw)
			}
			counts["error rest conflict"]++
		}
	}
	rec.runJobs()
	t.Logf("actions by kind: %v; at most %d categories in one text", counts, maxCats)
	record := rec.events(since)
	got := rcv.settle(notGap(record, mwGaps, mwKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = mwKey(d)
	}
	tally(t, "mediawiki", seed, n, delivered, record, mwGaps)
	t.Logf("mediawiki: %v in all (backend start, %d actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
