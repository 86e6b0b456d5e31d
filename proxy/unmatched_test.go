package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// unmatchedRules has one rule, for POST /rest/api/content with type page.
const unmatchedRules = `

[[rule]]
name   = "page created"
method = "POST"
path   = "/rest/api/content"
when   = { "req.type" = "page" }

[[rule.emit]]
event   = "page_created"
payload = { "page.id" = "resp.id|num" }
`

type nopSink struct{}

func (nopSink) Enqueue(*rules.Event) error { return nil }

func unmatchedClassifier(t testing.TB) *rules.Classifier {
	t.Helper()
	f, err := rules.Parse("unmatched.toml", []byte(unmatchedRules))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	return rules.NewClassifier(m, f.Classify, nopSink{}, nil)
}

// Through the real proxy and classifier: a write to a path no rule mentions (never tapped)
// and a tapped write whose rule's condition fails are counted as unmatched; a write the rule
// matches, a failed write, a read and an OPTIONS are not.
func TestUnmatchedWritesCounted(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(int(status.Load()))
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":"42"}`)
	}}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Shutdown() })
	cls := unmatchedClassifier(t)
	_, addr, _ := startProxy(t, Config{Upstream: "http://" + ln.Addr().String()}, cls)

	send := func(method, uri, body string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+uri, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	send("POST", "/rest/api/content", `{"type":"page"}`)       // matched
	send("GET", "/rest/api/space/DS", "")                      // a read
	send("OPTIONS", "/rest/api/space/DS", "")                  // not a write
	send("PUT", "/rest/api/space/DS?token=s3cret", `{}`)       // untapped: unmatched
	send("PUT", "/rest/api/space/XY?token=other", `{}`)        // same shape
	send("POST", "/rest/api/content", `{"type":"whiteboard"}`) // tapped, condition fails
	status.Store(403)
	send("DELETE", "/rest/api/space/DS", "")                   // failed write
	send("POST", "/rest/api/content", `{"type":"whiteboard"}`) // failed write

	rows := cls.Unmatched()
	if len(rows) != 2 {
		t.Fatalf("rows %+v, want 2", rows)
	}
	got := map[string]uint64{}
	for _, r := range rows {
		got[r.Method+" "+r.Route] = r.Count
		if r.LastStatus != 200 || r.LastSeen == 0 {
			t.Errorf("row %+v: want last status 200 and a time", r)
		}
		if strings.Contains(r.Route, "s3cret") || strings.Contains(r.Route, "DS") {
			t.Errorf("row %+v shows a query value or a name", r)
		}
	}
	if got["PUT /rest/api/space/{}?token={}"] != 2 || got["POST /rest/api/content"] != 1 {
		t.Errorf("counts %v", got)
	}
}
