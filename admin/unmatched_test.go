package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hooktap/rules"
)

var _ UnmatchedReader = (*rules.Classifier)(nil)

// unmatchedClassifier is a real classifier (one rule) that has counted three unmatched
// writes on two routes.
func unmatchedClassifier(t *testing.T) *rules.Classifier {
	t.Helper()
	f, err := rules.Parse("unmatched.toml", []byte(`
[[rule]]
name   = "page created"
method = "POST"
path   = "/rest/api/content"
[[rule.emit]]
event   = "page_created"
payload = { "page.id" = "resp.id|num" }
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	c := rules.NewClassifier(m, f.Classify, nil, nil)
	ms := int64(1767225600000)
	c.Clock = func() time.Time { ms += 1000; return time.UnixMilli(ms) } // one second per write, in order
	c.RecordUnmatched([]byte("POST"), []byte("/index.php"), []byte("title=Secret_Plans&action=submit"), 302)
	c.RecordUnmatched([]byte("POST"), []byte("/index.php"), []byte("action=submit&title=Other"), 200)
	c.RecordUnmatched([]byte("PUT"), []byte("/rest/api/space/DS/property/7"), nil, 200)
	c.RecordUnmatched([]byte("DELETE"), []byte("/rest/api/space/DS"), nil, 404) // failed: not counted
	return c
}

func TestUnmatchedMetricAndAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken, class: unmatchedClassifier(t)})
	a := h.do("GET", "/metrics", nil, noAuth).mustStatus(t, 200)
	tp := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := tp.TextToMetricFamilies(strings.NewReader(a.raw))
	if err != nil {
		t.Fatalf("the official parser refuses /metrics: %v\n%s", err, a.raw)
	}
	mf := fams["hooktap_unmatched_writes_total"]
	if mf == nil || mf.GetHelp() == "" {
		t.Fatalf("no family hooktap_unmatched_writes_total with HELP:\n%s", a.raw)
	}
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var method, route string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "method":
				method = l.GetValue()
			case "route":
				route = l.GetValue()
			}
		}
		got[method+" "+route] = m.GetCounter().GetValue()
	}
	if len(got) != 2 || got["POST /index.php?action=submit&title={}"] != 2 || got["PUT /rest/api/space/{}/property/{id}"] != 1 {
		t.Errorf("samples %v", got)
	}
	if strings.Contains(a.raw, "Secret_Plans") {
		t.Error("/metrics shows a query value")
	}

	rs := h.do("GET", "/rest/api/unmatched", nil, bearer(testToken)).mustStatus(t, 200).results()
	if len(rs) != 2 {
		t.Fatalf("results %v", rs)
	}
	first := rs[0]
	if first["method"] != "PUT" || first["route"] != "/rest/api/space/{}/property/{id}" || first["status"] != 200.0 ||
		first["count"] != 1.0 || first["lastSeen"] != 1767225603000.0 {
		t.Errorf("first row %v", first)
	}
	if rs[1]["status"] != 200.0 || rs[1]["count"] != 2.0 || rs[1]["count3xx"] != 1.0 {
		t.Errorf("second row %v", rs[1])
	}
}

// The page's "Unmatched writes" section lists what the classifier counted (headless Chromium).
func TestBrowserUnmatchedSection(t *testing.T) {
	opts := browserOptions(t)
	h := newHarness(t, harnessOpts{token: testToken, read: testReadToken, class: unmatchedClassifier(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(h.base+"/"), chromedp.WaitVisible(chromedp.CSS("#unmatched-section")),
		chromedp.SendKeys(chromedp.CSS("#token"), testReadToken), chromedp.Click(chromedp.CSS("#token-save"))); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	poll := chromedp.Poll[bool](`document.querySelectorAll("#unmatched tr.unmatched-row").length === 2`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))
	if _, err := chromedp.Run(bctx, poll); err != nil {
		t.Fatalf("waiting for the unmatched rows: %v", err)
	}
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#unmatched")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PUT", "/rest/api/space/{}/property/{id}", "POST", "/index.php?action=submit&title={}"} {
		if !strings.Contains(text, want) {
			t.Errorf("the section shows %q, want %q in it", text, want)
		}
	}
	if strings.Contains(text, "Secret_Plans") {
		t.Errorf("the section shows a query value: %q", text)
	}
}
