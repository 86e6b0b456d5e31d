package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/tidwall/gjson"
)

// TestMediaWikiUI drives MediaWiki's own web UI in headless Chromium, as a person clicks through
// it, through hooktap running packs/mediawiki.toml, and compares the delivered events with the
// wiki's record (recent changes and logs) as TestMediaWiki does: every write a person makes in
// the browser must arrive once, and nothing else.
//
// MediaWiki redirects after a save to $wgServer, so the backend is installed with $wgServer
// set to hooktap's address (MW_SERVER), and hooktap listens there: the browser only ever talks
// to hooktap. The workload is a seeded random sequence (workloadSeed; 40 actions unless
// -e2e.actions or HOOKTAP_E2E_ACTIONS says otherwise) of the UI paths in
// ../shared/reference/ui-paths.md: the edit form (create, edit, null edit, preview, show
// changes, a category added or removed in the wikitext, a new section on a talk page), undo
// (history, undo link, save), rollback (history, rollback link, after an anonymous edit made in
// a second browser context), delete (action=delete), undelete (Special:Undelete), move
// (Special:MovePage, with and without the talk page), upload (Special:Upload: a new file, and a
// new version through the file page's link or through the warning page) and protect
// (action=protect). Each action checks in the page that the wiki did what was asked; a failure
// of the tally names the actions whose events went missing or were extra.
func TestMediaWikiUI(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	exe := mwChromium(t)
	start := time.Now()
	seed, n := workloadSeed(t)
	if *actionsFlag == 0 && os.Getenv("HOOKTAP_E2E_ACTIONS") == "" {
		n = 40 // a browser is slower than the API: a few dozen actions cover every path
		t.Logf("TestMediaWikiUI: %d actions (replay: -args -e2e.seed=%d -e2e.actions=%d)", n, seed, n)
	}
	htAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	be := startBackend(t, "mediawiki", "MW_SERVER=http://"+htAddr)
	rcv := newReceiver(t)
	ht := startHooktap(t, "mediawiki", be.url(), rcv, "-listen", htAddr)
	runMWUI(t, exe, be, rcv, ht, seed, n)
	t.Logf("mediawiki-ui: %v in all (backend start, %d browser actions, settle)", time.Since(start).Round(time.Millisecond), n)
}

// runMWUI runs the browser workload against the wiki be behind ht, and the tally.
func runMWUI(t *testing.T, exe string, be *backend, rcv *receiver, ht *hooktap, seed uint64, n int) {
	direct := &mwClient{t: t, base: be.url(), hc: &http.Client{Timeout: 60 * time.Second}}
	if s := direct.get("action=query&meta=siteinfo").Get("query.general.server").String(); s != ht.url {
		t.Fatalf("the wiki's $wgServer is %q, want hooktap's %q (backends.sh MW_SERVER)", s, ht.url)
	}
	rec := &mwRecord{t: t, direct: direct, be: be, rows: map[int64]gjson.Result{}}
	rec.scan("")
	var since int64 // rows made by the installer are not the workload's
	for id := range rec.rows {
		since = max(since, id)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	admin := newMWChrome(t, actx, ht.url, "admin")
	defer admin.close()
	anon := newMWChrome(t, admin.ctx, ht.url, "anonymous", chromedp.WithNewBrowserContext()) // its own cookies
	defer anon.close()
	admin.login(be.env["ADMIN_USER"], be.env["ADMIN_PASS"])

	w := &mwUIWorkload{t: t, rng: newRand(seed), admin: admin, anon: anon, rec: rec, dir: t.TempDir(),
		done: map[string]int{}, revs: map[string]int{}, deletedRevs: map[string]int{}, talk: map[string]bool{}, anonTop: map[string]bool{},
		protected: map[string]bool{}, reuploaded: map[string]time.Time{}}
	var journal []mwUIAction // what each action did, and which record rows it made
	seen := map[int64]int{}  // row -> the action after which it was first seen
	for id := range rec.rows {
		seen[id] = -1
	}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		kind, title := w.step(i)
		t.Logf("action %d: %s %q (%v)", i, kind, title, time.Since(t0).Round(time.Millisecond))
		journal = append(journal, mwUIAction{i: i, kind: kind, title: title})
		rec.scan("")
		for id := range rec.rows {
			if _, ok := seen[id]; !ok {
				seen[id] = i
			}
		}
	}
	rec.runJobs()
	for id := range rec.rows {
		if _, ok := seen[id]; !ok {
			seen[id] = n
		}
	}
	mwUIAttribute(rec, journal, seen)
	if un := w.uncovered(); len(un) > 0 {
		// Too few actions for every path (or a path that could never run): say which.
		t.Logf("UI actions that did not run in these %d actions: %q", n, un)
	}
	counts := map[string]int{}
	for _, a := range journal {
		counts[a.kind]++
	}
	t.Logf("actions by kind: %v", counts)

	record := rec.events(since)
	got := rcv.settle(notGap(record, mwGaps, mwKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = mwKey(d)
	}
	tally(t, "mediawiki-ui", seed, n, delivered, record, mwGaps)
	if t.Failed() {
		mwUIReport(t, rec, journal, delivered)
	}
}

// mwChromium returns the Chromium binary: HOOKTAP_CHROMIUM, or chromium on the PATH. The e2e
// tests were asked for (HOOKTAP_E2E=1), so a missing browser fails the test.
func mwChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKTAP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: `apt-get install -y chromium`, or point HOOKTAP_CHROMIUM at a Chromium binary")
	return ""
}

// mwUIAction is one action of the workload: its kind, the page it acted on, and the recent
// changes rows it made.
type mwUIAction struct {
	i           int
	kind, title string
	rows        []int64
}

// mwUIAttribute gives each recorded row to the action that made it, for the report: MediaWiki
// writes some rows after it answered (a log entry's row), and category changes only when the
// job queue runs, so a row belongs to the latest action up to the one after which it was seen
// that names its page, and a category change to the action that made its revision.
func mwUIAttribute(rec *mwRecord, journal []mwUIAction, seen map[int64]int) {
	norm := func(s string) string { return strings.ReplaceAll(s, "_", " ") }
	touches := func(a mwUIAction, title string) bool {
		for _, x := range strings.Split(a.title, " -> ") {
			if x = norm(x); x == title || "Talk:"+x == title {
				return true
			}
		}
		return false
	}
	revAction := map[int64]int{}
	var cats []int64
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		at := seen[id]
		if at < 0 {
			continue
		}
		row := rec.rows[id]
		if row.Get("type").String() == "categorize" {
			cats = append(cats, id)
			continue
		}
		j := min(at, len(journal)-1)
		for k := j; k >= 0; k-- {
			if touches(journal[k], row.Get("title").String()) {
				j = k
				break
			}
		}
		journal[j].rows = append(journal[j].rows, id)
		if r := row.Get("revid").Int(); r > 0 {
			revAction[r] = j
		}
	}
	for _, id := range cats {
		if j, ok := revAction[rec.rows[id].Get("revid").Int()]; ok {
			journal[j].rows = append(journal[j].rows, id)
		} else {
			journal[len(journal)-1].rows = append(journal[len(journal)-1].rows, id)
		}
	}
}

// mwUIReport attributes the tally's differences to the actions: for each action in order, the
// events its rows mean are matched against what was delivered; the events of an action that
// did not arrive, and what arrived that no action explains, are listed.
func mwUIReport(t *testing.T, rec *mwRecord, journal []mwUIAction, delivered []string) {
	t.Helper()
	left := map[string]int{}
	for _, k := range delivered {
		left[k]++
	}
	missingBy := map[string][]string{}
	lines := make([]string, 0, len(journal))
	for _, a := range journal {
		sub := &mwRecord{t: t, rows: map[int64]gjson.Result{}}
		for _, id := range a.rows {
			sub.rows[id] = rec.rows[id]
		}
		evs := sub.events(0)
		sort.Strings(evs)
		var missing []string
		for _, k := range evs {
			if left[k] > 0 {
				left[k]--
				continue
			}
			missing = append(missing, k)
			missingBy[a.kind] = append(missingBy[a.kind], fmt.Sprintf("#%d %s", a.i, k))
		}
		lines = append(lines, fmt.Sprintf("#%d %s %q: recorded %q, not delivered %q", a.i, a.kind, a.title, evs, missing))
	}
	kinds := make([]string, 0, len(missingBy))
	for k := range missingBy {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("UI action %q: %d recorded events not delivered: %q", k, len(missingBy[k]), head(missingBy[k], 10))
	}
	var extra []string
	for k, n := range left {
		for range n {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Logf("delivered events that no action's record explains: %q", head(extra, 20))
	}
	t.Logf("the actions and their events:\n%s", strings.Join(lines, "\n"))
}

// mwChrome is one browser tab (and, for the anonymous user, its own cookie jar) on the wiki
// behind hooktap.
type mwChrome struct {
	t      *testing.T
	name   string
	base   string
	ctx    context.Context
	cancel context.CancelFunc
}

func newMWChrome(t *testing.T, parent context.Context, base, name string, opts ...chromedp.ContextOption) *mwChrome {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	// The first run starts the browser (or the tab) for the life of ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("starting the %s browser: %v", name, err)
	}
	// Leaving an edit form whose text was changed (after a preview) asks "Leave site?": a
	// person answers yes.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &mwChrome{t: t, name: name, base: base, ctx: ctx, cancel: cancel}
}

func (b *mwChrome) close() { b.cancel() }

// do runs steps with a deadline.
func (b *mwChrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s browser: %s: %v%s", b.name, what, err, b.pageState())
	}
}

// load runs steps that start a navigation (a click on a link or a submit button) and waits
// until the new page has loaded.
func (b *mwChrome) load(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s browser: %s: %v%s", b.name, what, err, b.pageState())
	}
	if resp.Status >= 400 {
		b.t.Fatalf("%s browser: %s: HTTP %d for %s%s", b.name, what, resp.Status, resp.URL, b.pageState())
	}
}

// open navigates to path (under the wiki's base URL).
func (b *mwChrome) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

// click clicks the element (a submit button or a visible link) as a person does, and waits for
// the page it leads to.
func (b *mwChrome) click(sel string) {
	b.t.Helper()
	b.load("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// follow follows the link sel, which may sit in a menu that a person opens first (Vector's
// "More" menu holds Delete, Move and Protect): the link must be on the page.
func (b *mwChrome) follow(sel string) {
	b.t.Helper()
	if !b.has(sel) { // the page has loaded: the link is there or it is not
		b.t.Fatalf("%s browser: no link %s on the page%s", b.name, sel, b.pageState())
	}
	b.load("follow "+sel, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+strconv.Quote(sel)+`).click()`))
}

// js evaluates a JavaScript expression in the page.
func mwJS[T any](b *mwChrome, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s browser: evaluate %s: %v%s", b.name, expr, err, b.pageState())
	}
	return v
}

// has reports whether the page has an element that matches sel.
func (b *mwChrome) has(sel string) bool {
	b.t.Helper()
	return mwJS[bool](b, `!!document.querySelector(`+strconv.Quote(sel)+`)`)
}

// expect fails the test unless the JavaScript condition holds on the page.
func (b *mwChrome) expect(what, cond string) {
	b.t.Helper()
	if !mwJS[bool](b, cond) {
		b.t.Fatalf("%s browser: %s: the page does not show it (%s)%s", b.name, what, cond, b.pageState())
	}
}

// waitFor waits until the JavaScript condition holds (a module of the page has loaded).
func (b *mwChrome) waitFor(cond string) {
	b.t.Helper()
	b.do("wait for "+cond, chromedp.Evaluate[chromedp.Void](`new Promise(function (ok) {
		(function check() { if (`+cond+`) { ok(); } else { setTimeout(check, 20); } })();
	})`, chromedp.EvalAwaitPromise))
}

// pageState describes the current page for a failure message.
func (b *mwChrome) pageState() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.className + "\n" +
		((document.querySelector("#firstHeading") || {}).innerText || "") + "\n" +
		((document.querySelector("#mw-content-text") || document.body).innerText || "").slice(0, 1500)`))
	if err != nil {
		return fmt.Sprintf(" (page state unknown: %v)", err)
	}
	return "\npage: " + s
}

// setValue sets the value of a form field, firing input and change as typing does.
func (b *mwChrome) setValue(sel, v string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.WaitReady(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`(function (e, v) { e.focus(); e.value = v;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })(
			document.querySelector(`+strconv.Quote(sel)+`), `+strconv.Quote(v)+`)`))
}

func (b *mwChrome) value(sel string) string {
	b.t.Helper()
	return mwJS[string](b, `document.querySelector(`+strconv.Quote(sel)+`).value`)
}

func mwPath(title string) string { return url.QueryEscape(strings.ReplaceAll(title, " ", "_")) }

// login signs in through Special:UserLogin.
func (b *mwChrome) login(user, pass string) {
	b.t.Helper()
	b.open("/index.php?title=Special:UserLogin")
	b.setValue("#wpName1", user)
	b.setValue("#wpPassword1", pass)
	b.click("#wpLoginAttempt")
	b.expect("logged in as "+user, `!!document.querySelector("#pt-logout") && document.querySelector("#pt-userpage").innerText === `+strconv.Quote(user))
}

// view opens a page as a reader does.
func (b *mwChrome) view(title string) {
	b.t.Helper()
	b.open("/index.php?title=" + mwPath(title))
}

// editForm opens the edit form of title through the page's Edit tab (a missing page's link
// leads there too).
func (b *mwChrome) editForm(title string) {
	b.t.Helper()
	b.view(title)
	if b.has("#ca-edit a") {
		b.follow("#ca-edit a")
	} else {
		b.follow("#ca-viewsource a, #ca-ve-edit a")
	}
	b.do("edit form of "+title, chromedp.WaitReady(chromedp.CSS("#wpTextbox1")))
}

// saved checks that a save went through: the page is shown again, with no edit form.
func (b *mwChrome) saved(what string) {
	b.t.Helper()
	b.expect(what+" saved", `document.body.classList.contains("action-view") && !document.querySelector("#wpTextbox1")`)
}

// mwUIWorkload is the model of the wiki that the random workload acts on.
type mwUIWorkload struct {
	t           *testing.T
	rng         interface{ IntN(int) int }
	admin, anon *mwChrome
	rec         *mwRecord
	dir         string

	next                 int
	done                 map[string]int // actions done, by kind
	live, deleted, files []string
	revs, deletedRevs    map[string]int       // revisions of each live (deleted) page, for undo
	talk                 map[string]bool      // pages whose talk page exists
	anonTop              map[string]bool      // pages whose latest revision is the anonymous user's
	protected            map[string]bool      // pages protected against edits by everyone but admins
	reuploaded           map[string]time.Time // when a file last got a new version
}

func (w *mwUIWorkload) uniq(prefix string) string {
	w.next++
	return fmt.Sprintf("%s %d", prefix, w.next)
}
func (w *mwUIWorkload) pick(xs []string) string { return xs[w.rng.IntN(len(xs))] }

var mwUICats = []string{"Alpha", "Beta", "Gamma", "Two words"}

// text makes a new wikitext with a random set of categories.
func (w *mwUIWorkload) text() string {
	s := fmt.Sprintf("Some text %d, typed in a browser.\n", w.rng.IntN(1<<30))
	for _, c := range mwUICats {
		if w.rng.IntN(3) == 0 {
			s += "[[Category:" + c + "]]\n"
		}
	}
	return s
}

// mwUIKind is one kind of UI action: how often it is drawn, the pages it may act on now (nil:
// it cannot run now; for kinds that need no page, any non-nil slice), and what it does to one
// of them.
type mwUIKind struct {
	name   string
	weight int
	pages  func() []string
	run    func(i int, title string) (kind, did string)
}

// kinds lists the workload's UI actions.
func (w *mwUIWorkload) kinds() []mwUIKind {
	always := func() []string { return []string{""} }
	live := func() []string { return w.live }
	filter := func(xs []string, keep func(string) bool) []string {
		var out []string
		for _, x := range xs {
			if keep(x) {
				out = append(out, x)
			}
		}
		return out
	}
	return []mwUIKind{
		{"create", 12, always, w.create},
		{"edit", 9, live, w.edit},
		{"add category", 6, live, w.addCategory},
		{"remove category", 5, live, w.removeCategory},
		{"null edit", 4, live, w.nullEdit},
		{"preview", 3, live, w.preview},
		{"show changes", 3, live, w.showChanges},
		{"talk section", 7, live, w.talkSection},
		{"undo", 6, func() []string { return filter(w.live, func(p string) bool { return w.revs[p] > 1 }) }, w.undo},
		{"anonymous edit", 5, func() []string { return filter(w.live, func(p string) bool { return !w.protected[p] }) }, w.anonEdit},
		{"rollback", 5, func() []string { return filter(w.live, func(p string) bool { return w.anonTop[p] }) }, w.rollback},
		{"delete", 5, live, w.delete},
		{"delete file", 2, func() []string { return w.files }, w.deleteFile},
		{"undelete", 3, func() []string {
			return filter(w.deleted, func(p string) bool { return !strings.HasPrefix(p, "File:") })
		}, w.undelete},
		{"undelete file", 2, func() []string {
			return filter(w.deleted, func(p string) bool { return strings.HasPrefix(p, "File:") })
		}, w.undelete},
		{"move", 3, func() []string { return filter(w.live, func(p string) bool { return !w.talk[p] }) }, w.move(false)},
		{"move with talk", 2, func() []string { return filter(w.live, func(p string) bool { return w.talk[p] }) }, w.move(true)},
		{"move without talk", 2, func() []string { return filter(w.live, func(p string) bool { return w.talk[p] }) }, w.move(false)},
		{"upload", 5, always, w.upload},
		{"new file version", 3, w.readyFiles, w.newVersion(false)},
		{"new file version (warning page)", 2, w.readyFiles, w.newVersion(true)},
		{"protect", 3, func() []string { return filter(w.live, func(p string) bool { return !w.protected[p] }) }, w.protect},
		{"unprotect", 2, func() []string { return filter(w.live, func(p string) bool { return w.protected[p] }) }, w.protect},
	}
}

// mwUIEnabler names, for the kinds that need one, the kind that makes them possible.
var mwUIEnabler = map[string]string{
	"undo": "edit", "rollback": "anonymous edit", "move with talk": "talk section", "move without talk": "talk section",
	"undelete": "delete", "undelete file": "delete file", "delete file": "upload", "new file version": "upload",
	"new file version (warning page)": "upload", "unprotect": "protect",
}

// step runs action i and returns its kind and what it acted on. Until every kind has run once,
// three draws in four go to a kind not done yet that can run now (or to the kind that makes it
// possible), so that a few dozen actions take every UI path; the others are drawn by weight.
func (w *mwUIWorkload) step(i int) (kind, title string) {
	if len(w.live) < 3 {
		return w.create(i, "")
	}
	var ready, undone []mwUIKind
	total := 0
	byName := map[string]mwUIKind{}
	kinds := w.kinds()
	for _, k := range kinds {
		if len(k.pages()) == 0 {
			continue
		}
		ready = append(ready, k)
		byName[k.name] = k
		total += k.weight
	}
	for _, k := range kinds {
		if w.done[k.name] > 0 {
			continue
		}
		if r, ok := byName[k.name]; ok {
			undone = append(undone, r)
		} else if e, ok := byName[mwUIEnabler[k.name]]; ok { // what makes it possible
			undone = append(undone, e)
		}
	}
	var k mwUIKind
	if len(undone) > 0 && w.rng.IntN(4) < 3 {
		k = undone[w.rng.IntN(len(undone))]
	} else {
		r := w.rng.IntN(total)
		for _, c := range ready {
			if r -= c.weight; r < 0 {
				k = c
				break
			}
		}
	}
	kind, title = k.run(i, w.pick(k.pages()))
	w.done[kind]++
	return kind, title
}

// uncovered returns the kinds that never ran.
func (w *mwUIWorkload) uncovered() []string {
	var out []string
	for _, k := range w.kinds() {
		if w.done[k.name] == 0 {
			out = append(out, k.name)
		}
	}
	return out
}

// adminTouched notes that the admin made the latest revision of title.
func (w *mwUIWorkload) adminTouched(title string) {
	delete(w.anonTop, title)
	w.revs[title]++
}

// save fills the edit form that is open and saves it.
func (w *mwUIWorkload) save(b *mwChrome, what, text, summary string) {
	b.setValue("#wpTextbox1", text)
	b.setValue("#wpSummary", summary)
	b.click("#wpSave")
	b.saved(what)
}

func (w *mwUIWorkload) create(i int, _ string) (string, string) {
	title := w.uniq("Page")
	w.admin.editForm(title)
	w.save(w.admin, "create "+title, w.text(), "create")
	w.live = append(w.live, title)
	w.revs[title] = 1
	return "create", title
}

func (w *mwUIWorkload) edit(i int, title string) (string, string) {
	w.admin.editForm(title)
	w.save(w.admin, "edit "+title, w.text(), "edit")
	w.adminTouched(title)
	return "edit", title
}

// addCategory adds a category the page's wikitext lacks.
func (w *mwUIWorkload) addCategory(i int, title string) (string, string) {
	a := w.admin
	a.editForm(title)
	cur := a.value("#wpTextbox1")
	var absent []string
	for _, c := range append(mwUICats, "Added "+strconv.Itoa(i)) {
		if !strings.Contains(cur, "[[Category:"+c+"]]") {
			absent = append(absent, c)
		}
	}
	w.save(a, "category added to "+title, strings.TrimRight(cur, "\n")+"\n[[Category:"+w.pick(absent)+"]]\n", "add a category")
	w.adminTouched(title)
	return "add category", title
}

// removeCategory removes one category line from the page's wikitext; a page with none gets
// one instead ("add category"), to lose it another time.
func (w *mwUIWorkload) removeCategory(i int, title string) (string, string) {
	a := w.admin
	a.editForm(title)
	cur := a.value("#wpTextbox1")
	var cats []string
	for _, l := range strings.Split(cur, "\n") {
		if strings.HasPrefix(l, "[[Category:") {
			cats = append(cats, l)
		}
	}
	kind, text := "add category", strings.TrimRight(cur, "\n")+"\n[[Category:Beta]]\n"
	if len(cats) > 0 {
		drop := w.pick(cats)
		var keep []string
		for _, l := range strings.Split(cur, "\n") {
			if l != drop {
				keep = append(keep, l)
			}
		}
		kind, text = "remove category", strings.Join(keep, "\n")
	}
	w.save(a, kind+" on "+title, text, kind)
	w.adminTouched(title)
	return kind, title
}

// nullEdit saves the form unchanged: no revision.
func (w *mwUIWorkload) nullEdit(i int, title string) (string, string) {
	w.admin.editForm(title)
	w.admin.click("#wpSave")
	w.admin.saved("null edit of " + title)
	return "null edit", title
}

// preview shows a preview of a changed text: nothing saved.
func (w *mwUIWorkload) preview(i int, title string) (string, string) {
	a := w.admin
	a.editForm(title)
	a.setValue("#wpTextbox1", w.text())
	a.click("#wpPreview")
	a.expect("preview of "+title, `!!document.querySelector("#wikiPreview") && !!document.querySelector("#wpTextbox1")`)
	return "preview", title
}

// showChanges shows the diff of a changed text: nothing saved.
func (w *mwUIWorkload) showChanges(i int, title string) (string, string) {
	a := w.admin
	a.editForm(title)
	a.setValue("#wpTextbox1", w.text())
	a.click("#wpDiff")
	a.expect("changes of "+title, `!!document.querySelector("#wikiDiff") && !!document.querySelector("#wpTextbox1")`)
	return "show changes", title
}

// talkSection adds a topic to the page's talk page (its "Add topic" link; a new talk page
// starts that way too).
func (w *mwUIWorkload) talkSection(i int, page string) (string, string) {
	a := w.admin
	title := "Talk:" + page
	a.open("/index.php?title=" + mwPath(title) + "&action=edit&section=new")
	w.save(a, "new section on "+title, "A comment from the browser. ~~~~", fmt.Sprintf("Question %d", i))
	w.talk[page] = true
	return "talk section", title
}

// undo undoes the latest revision: history, undo link, save. When that revision changed
// nothing (a move's or a protection's null revision), the save is a null edit.
func (w *mwUIWorkload) undo(i int, title string) (string, string) {
	a := w.admin
	a.view(title)
	a.follow("#ca-history a")
	a.follow(".mw-history-undo a")
	a.do("undo form of "+title, chromedp.WaitReady(chromedp.CSS("#wpTextbox1")))
	a.click("#wpSave")
	a.saved("undo on " + title)
	w.adminTouched(title)
	return "undo", title
}

// anonEdit edits as a reader who is not logged in (what rollback reverts). It adds a line
// and keeps the page's categories, so that the rollback changes none: after a rollback,
// which is a GET, MediaWiki may update a page's category links only after it has answered,
// when the pack's "after" lookup can already have read the old ones (README, "What hooktap
// cannot classify"). The edit form's saves, which change categories, are POSTs answered
// after their links are updated.
func (w *mwUIWorkload) anonEdit(i int, title string) (string, string) {
	w.anon.editForm(title)
	cur := strings.TrimRight(w.anon.value("#wpTextbox1"), "\n")
	w.save(w.anon, "anonymous edit of "+title, fmt.Sprintf("%s\nA reader's line %d.\n", cur, w.rng.IntN(1<<30)), "anonymous edit")
	w.anonTop[title] = true
	w.revs[title]++
	return "anonymous edit", title
}

// rollback reverts the anonymous edits: history, rollback link (a GET with a token).
func (w *mwUIWorkload) rollback(i int, title string) (string, string) {
	a := w.admin
	a.view(title)
	a.follow("#ca-history a")
	a.follow(".mw-rollback-link a")
	a.expect("rollback of "+title, `document.body.innerText.indexOf("Reverted edits by") >= 0`)
	w.adminTouched(title)
	return "rollback", title
}

func (w *mwUIWorkload) delete(i int, title string) (string, string) {
	w.live = setMinus(w.live, []string{title})
	delete(w.anonTop, title)
	delete(w.protected, title)
	w.deletedRevs[title] = w.revs[title] // undelete brings them back, and adds none
	delete(w.revs, title)
	w.deletePage(title)
	return "delete", title
}

func (w *mwUIWorkload) deleteFile(i int, name string) (string, string) {
	w.files = setMinus(w.files, []string{name})
	w.deletePage("File:" + name)
	return "delete file", "File:" + name
}

// deletePage deletes through the page's Delete link (action=delete; a file page's form deletes
// the file).
func (w *mwUIWorkload) deletePage(title string) {
	a := w.admin
	w.rec.runJobs() // a page's rows, category changes included, vanish with it
	a.view(title)
	a.follow("#ca-delete a")
	a.setValue("#wpReason", "cleanup from the browser")
	a.click("[name=wpConfirmB]")
	a.expect("delete "+title, `document.body.innerText.indexOf("has been deleted") >= 0`)
	w.deleted = append(w.deleted, title)
}

// undelete restores every revision (and file version) through Special:Undelete.
func (w *mwUIWorkload) undelete(i int, title string) (string, string) {
	a := w.admin
	a.open("/index.php?title=Special:Undelete&target=" + mwPath(title))
	a.setValue("#wpComment", "restore from the browser")
	a.click("[name=restore]")
	a.expect("undelete "+title, `document.body.innerText.indexOf("has been undeleted") >= 0`)
	w.deleted = setMinus(w.deleted, []string{title})
	if name, ok := strings.CutPrefix(title, "File:"); ok {
		w.files = append(w.files, name)
		return "undelete file", title
	}
	w.live = append(w.live, title)
	w.revs[title] = w.deletedRevs[title]
	return "undelete", title
}

// move renames a page through its Move link (Special:MovePage), leaving a redirect; when the
// page has a talk page, the form's "Move associated talk page" box is ticked or not (withTalk).
func (w *mwUIWorkload) move(withTalk bool) func(int, string) (string, string) {
	return func(i int, from string) (string, string) { return w.moveOne(from, withTalk) }
}

func (w *mwUIWorkload) moveOne(from string, withTalk bool) (string, string) {
	a := w.admin
	to := w.uniq("Moved")
	a.view(from)
	a.follow("#ca-move a")
	a.setValue("input[name=wpNewTitleMain]", to)
	a.setValue("input[name=wpReason]", "rename from the browser")
	kind := "move"
	if w.talk[from] {
		a.do("move form", chromedp.WaitReady(chromedp.CSS("input[name=wpMovetalk]")))
		kind = map[bool]string{true: "move with talk", false: "move without talk"}[withTalk]
		if mwJS[bool](a, `document.querySelector("input[name=wpMovetalk]").checked`) != withTalk {
			a.do("tick wpMovetalk", chromedp.Click(chromedp.CSS("input[name=wpMovetalk]")))
		}
	}
	a.click("[name=wpMove]")
	a.expect("move "+from, `document.body.innerText.indexOf("has been moved to") >= 0`)
	w.live = append(setMinus(w.live, []string{from}), to)
	w.talk[to] = kind == "move with talk"
	delete(w.talk, from)
	if w.protected[from] {
		w.protected[to] = true
		delete(w.protected, from)
	}
	delete(w.anonTop, from)
	w.revs[to] = w.revs[from] + 1
	delete(w.revs, from)
	return kind, from + " -> " + to
}

// upload uploads a new file through the sidebar's "Upload file" (Special:Upload).
func (w *mwUIWorkload) upload(i int, _ string) (string, string) {
	a := w.admin
	name := strings.ReplaceAll(w.uniq("Doc"), " ", "_") + ".txt"
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(fmt.Sprintf("file %s %d\n", name, w.rng.IntN(1<<30))), 0o600); err != nil {
		w.t.Fatal(err)
	}
	a.view("Main Page")
	a.follow("#t-upload a")
	a.do("choose "+name, chromedp.SetUploadFiles(chromedp.CSS("#wpUploadFile"), []string{path}))
	a.setValue("#wpDestFile", name)
	a.setValue("#wpUploadDescription", "uploaded from the browser")
	a.click("[name=wpUpload]")
	a.expect("upload "+name, `document.body.classList.contains("ns-6") && document.body.classList.contains("action-view")`)
	w.files = append(w.files, name)
	return "upload", "File:" + name
}

// readyFiles are the files that may get a new version now: MediaWiki names an archived
// version by the second, so a second new version within the same second fails.
func (w *mwUIWorkload) readyFiles() []string {
	var ready []string
	for _, f := range w.files {
		if time.Since(w.reuploaded[f]) > 1500*time.Millisecond {
			ready = append(ready, f)
		}
	}
	return ready
}

// newVersion uploads a new version of a file: through the file page's "Upload a new version
// of this file" link, or through Special:Upload with the file's name, past its warning page
// ("A file with this name exists already": "Ignore warning and save file anyway") when the
// form shows one (viaWarning).
func (w *mwUIWorkload) newVersion(viaWarning bool) func(int, string) (string, string) {
	return func(i int, name string) (string, string) { return w.newVersionOne(i, name, viaWarning) }
}

func (w *mwUIWorkload) newVersionOne(i int, name string, viaWarning bool) (string, string) {
	a := w.admin
	title := "File:" + name
	path := filepath.Join(w.dir, fmt.Sprintf("v%d-%s", i, name))
	if err := os.WriteFile(path, []byte(fmt.Sprintf("file %s version %d\n", name, w.rng.IntN(1<<30))), 0o600); err != nil {
		w.t.Fatal(err)
	}
	a.view(title)
	kind := "new file version"
	if viaWarning {
		kind = "new file version (warning page)"
		a.follow("#t-upload a")
	} else {
		a.follow("#mw-imagepage-reupload-link a")
	}
	a.do("choose "+name, chromedp.SetUploadFiles(chromedp.CSS("#wpUploadFile"), []string{path}))
	if kind != "new file version" {
		a.setValue("#wpDestFile", name)
	}
	a.setValue("#wpUploadDescription", "new version from the browser")
	a.click("[name=wpUpload]")
	if a.has("[name=wpUploadIgnoreWarning]") {
		a.click("[name=wpUploadIgnoreWarning]")
	} else if kind != "new file version" {
		kind = "new file version (no warning page)"
	}
	a.expect("new version of "+name, `document.body.classList.contains("ns-6") && document.body.classList.contains("action-view")`)
	w.reuploaded[name] = time.Now()
	return kind, title
}

// protect protects an unprotected page (edit and move: administrators only, no expiry), or
// lifts a page's protection, through its Protect / Change protection link (action=protect).
func (w *mwUIWorkload) protect(i int, title string) (string, string) {
	a := w.admin
	a.view(title)
	if a.has("#ca-unprotect a") {
		a.follow("#ca-unprotect a")
	} else {
		a.follow("#ca-protect a")
	}
	a.waitFor(`!!document.querySelector("#mwProtectUnchained")`) // the form's script has run
	level, kind := "sysop", "protect"
	if w.protected[title] {
		level, kind = "", "unprotect"
	}
	// Choosing the edit level in the (chained) dropdown sets the move level too.
	a.do("protection level", chromedp.Evaluate[chromedp.Void](`void OO.ui.infuse(document.getElementById("mwProtect-level-edit")).setValue(`+strconv.Quote(level)+`)`))
	a.setValue("[name=mwProtect-reason]", kind+" from the browser")
	a.click("#mw-Protect-submit")
	a.saved(kind + " " + title)
	if level != "" {
		w.protected[title] = true
	} else {
		delete(w.protected, title)
	}
	w.adminTouched(title)
	return kind, title
}
