package admin

import (
	"context"
	"flag"
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

// TestBrowser drives the web page in headless Chromium: it creates a webhook through the
// form, presses Test connection against a live receiver and sees its answer, sees a delivery
// appear after an event goes through the real dispatcher, and redelivers a dead one with the
// page's button. It keeps a screenshot (HOOKTAP_ARTIFACTS, else the test's temporary
// directory; with -update-screenshot also admin/testdata/screenshot.png for the README).
func TestBrowser(t *testing.T) {
	opts := append(browserOptions(t), chromedp.WindowSize(1440, 1100))
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	rcv.reply.Store("pong-from-receiver")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS waits until a JavaScript expression is true in the page.
	waitJS := func(what, expr string) {
		t.Helper()
		poll := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))
		if _, err := chromedp.Run(bctx, poll); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}

	run("opening the page",
		chromedp.Navigate(h.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#hook-form")),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.Click(chromedp.CSS("#token-save")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "browser-hook"),
		chromedp.SendKeys(chromedp.CSS("#f-url"), rcv.url()),
		chromedp.SendKeys(chromedp.CSS("#f-secret"), "browser-secret"),
		chromedp.Click(chromedp.CSS(`fieldset[data-family="page"] .family-all`)),
		chromedp.Click(chromedp.CSS(`input[name="event"][value="label_added"]`)),
	)

	// Test connection: the receiver's answer shows in the page.
	run("pressing Test connection", chromedp.Click(chromedp.CSS("#btn-test")))
	ping := rcv.next(t)
	if k := ping.header.Get("X-Event-Key"); k != "diagnostics:ping" || string(ping.body) != `{"test": true}` {
		t.Errorf("the receiver got X-Event-Key %q body %q, want a ping", k, ping.body)
	}
	waitJS("the test connection answer", `document.getElementById("test-result").textContent.includes("pong-from-receiver")`)
	testText, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#test-result")))
	if err != nil {
		t.Fatalf("reading the test answer: %v", err)
	}
	if !strings.Contains(testText, "HTTP 200") || !strings.Contains(testText, "Success") {
		t.Errorf("test connection shows %q, want Success and HTTP 200", testText)
	}

	// Create.
	run("pressing Create", chromedp.Click(chromedp.CSS("#btn-submit")))
	waitJS("the new webhook in the table", `!!document.querySelector('#hooks tr[data-name="browser-hook"]')`)
	list := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, http.StatusOK).results()
	if len(list) != 1 {
		t.Fatalf("the API lists %d webhooks after Create, want 1", len(list))
	}
	created := list[0]
	var events []string
	for _, e := range created["events"].([]any) {
		events = append(events, e.(string))
	}
	wantEvents := []string{"label_added", "page_children_reordered", "page_created", "page_moved", "page_removed", "page_restored", "page_trashed", "page_updated"}
	slices.Sort(events)
	if !slices.Equal(events, wantEvents) || created["hasSecret"] != true || created["active"] != true || created["url"] != rcv.url() {
		t.Errorf("created through the page: %v, want events %v with a secret", created, wantEvents)
	}

	// An event through the real dispatcher: the page shows the delivery.
	if err := h.disp.Enqueue(event("page_created", 4242)); err != nil {
		t.Fatal(err)
	}
	checkHubSignature(t, rcv.next(t), "browser-secret")
	waitJS("the delivery in the page", `[...document.querySelectorAll("#deliveries tr.attempt")].some(r => r.textContent.includes("page_created") && r.querySelector(".status").textContent === "200")`)

	// A failing delivery goes dead; the page's Redeliver button sends it again.
	rcv.status.Store(500)
	if err := h.disp.Enqueue(event("label_added", 4243)); err != nil {
		t.Fatal(err)
	}
	deadID := rcv.next(t).header.Get("webhook-id")
	waitJS("the dead delivery in the page", `!!document.querySelector('#dead tr.dead[data-id="`+deadID+`"] button.redeliver')`)
	waitJS("the failed attempt in the page", `[...document.querySelectorAll("#deliveries tr.attempt")].some(r => r.querySelector(".status").textContent === "500")`)

	shot := screenshot(t, bctx)
	rcv.status.Store(200)
	// The tables are rebuilt every 2 s, so the button is found and clicked in one step in the
	// page, not through a node id that a rebuild may retire in between.
	clicked, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#dead tr.dead[data-id="`+deadID+`"] button.redeliver'); if (!b) return false; b.click(); return true; })()`))
	if err != nil || !clicked {
		t.Fatalf("pressing Redeliver: clicked %v, err %v", clicked, err)
	}
	if got := rcv.next(t).header.Get("webhook-id"); got != deadID {
		t.Errorf("redelivery had webhook-id %q, want %q", got, deadID)
	}
	waitJS("no dead deliveries left", `document.querySelectorAll("#dead tr.dead").length === 0 && document.getElementById("msg").textContent.includes("1 delivery")`)
	if len(shot) < 10_000 {
		t.Errorf("the screenshot has %d bytes; it looks empty", len(shot))
	}
}

// updateScreenshot also rewrites the README's picture of the page, admin/testdata/screenshot.png
// (go test ./admin -run Browser -update-screenshot); without it a test run leaves the tree clean.
var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite testdata/screenshot.png")

// screenshot takes a full-page PNG and keeps it as a test artifact (and, with
// -update-screenshot, for the README).
func screenshot(t *testing.T, bctx context.Context) []byte {
	t.Helper()
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("HOOKTAP_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "admin-page.png")}
	if *updateScreenshot {
		paths = append(paths, filepath.Join("testdata", "screenshot.png"))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatalf("saving the screenshot: %v", err)
		}
		t.Logf("screenshot (%s bytes): %s", strconv.Itoa(len(png)), p)
	}
	return png
}

// browserOptions returns the options that start headless Chromium here; see testkit.
func browserOptions(t *testing.T) []chromedp.ExecAllocatorOption {
	t.Helper()
	return testkit.ChromeOptions(t, testkit.Chromium(t))
}
