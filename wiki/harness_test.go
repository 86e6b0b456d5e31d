package wiki_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
	"hooktap/wiki"

	"github.com/valyala/fasthttp"
)

// fixedNow is the classifier's clock in the pack tests: every payload's timestamp.
var fixedNow = time.UnixMilli(1767225600000)

// wikiNow is the sample wiki's clock in the pack tests: every creation and modification date
// (2025-12-31T23:50:00.123Z), 1767225000123 in full payloads.
var wikiNow = time.UnixMilli(1767225000123)

// newWiki is a sample wiki whose clock stands still at wikiNow.
func newWiki() *wiki.Wiki {
	w := wiki.New()
	w.Now = func() time.Time { return wikiNow }
	return w
}

// recorded is one event a sink received, copied.
type recorded struct{ name, payload, full string }

// recorder is a rules.Sink that keeps copies of the events.
type recorder struct {
	mu     sync.Mutex
	events []recorded
}

func (r *recorder) Enqueue(ev *rules.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recorded{ev.Name, string(ev.Payload), string(ev.Full)})
	return nil
}

// take returns the events received since the last take.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// headerPeeker is a rules.Peeker over net/http headers.
type headerPeeker http.Header

func (h headerPeeker) Peek(name string) []byte {
	v := http.Header(h).Get(name)
	if v == "" {
		return nil
	}
	return []byte(v)
}

// fetcher is the rules.Fetcher of one exchange: real GETs to the wiki with the client's
// Authorization.
type fetcher struct {
	base, auth string
}

func (f fetcher) Fetch(dst, pathAndQuery []byte) (int, []byte, error) {
	req, err := http.NewRequest("GET", f.base+string(pathAndQuery), nil)
	if err != nil {
		return 0, dst, err
	}
	if f.auth != "" {
		req.Header.Set("Authorization", f.auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, dst, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, dst, err
	}
	return res.StatusCode, append(dst, b...), nil
}

// packHarness serves a fresh sample wiki on loopback and classifies every request sent
// through it with the shipped rules.toml, as the proxy would: Wants, Before (lookups go to the
// wiki), the real request, After.
type packHarness struct {
	t    *testing.T
	base string
	cls  *rules.Classifier
	rec  *recorder
	user string // Basic credentials "name:password"; "" sends none
	// asConfluence hides the sample wiki's X-AUSERKEY from the classifier, as a real
	// Confluence (which sends only X-AUSERNAME) would.
	asConfluence bool
}

// failHeader makes the harness's upstream answer 500 without touching the wiki: a failed
// write, as seen by the rules.
const failHeader = "X-Test-Upstream-Fail"

var (
	packOnce sync.Once
	packFile *config.File
	packErr  error
)

func loadPack(t *testing.T) *config.File {
	t.Helper()
	packOnce.Do(func() { packFile, packErr = config.Load("../rules.toml") })
	if packErr != nil {
		t.Fatalf("loading rules.toml: %v", packErr)
	}
	return packFile
}

// serveUpstream serves w (plus the failHeader switch) on a loopback listener.
func serveUpstream(t *testing.T, w *wiki.Wiki) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := w.Handler()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek(failHeader)) > 0 {
			ctx.Error(`{"statusCode":500,"message":"upstream failure"}`, 500)
			return
		}
		h(ctx)
	}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("upstream shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("upstream serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newPackHarness(t *testing.T) *packHarness {
	t.Helper()
	f := loadPack(t)
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatalf("compiling rules.toml: %v", err)
	}
	rec := &recorder{}
	cls := rules.NewClassifier(m, f.Classify, rec, nil)
	cls.Clock = func() time.Time { return fixedNow }
	return &packHarness{t: t, base: serveUpstream(t, newWiki()), cls: cls, rec: rec, user: "admin:admin"}
}

// packReq is one request of a test's sequence.
type packReq struct {
	method, path string
	body         []byte
	ctype        string
	header       map[string]string
}

func jsonReq(method, path, body string) packReq {
	return packReq{method: method, path: path, body: []byte(body), ctype: "application/json"}
}

func formReq(path, form string) packReq {
	return packReq{method: "POST", path: path, body: []byte(form), ctype: "application/x-www-form-urlencoded"}
}

// uploadReq is a multipart upload of one file, with Confluence's XSRF header.
func uploadReq(path, name, mediaType, data string) packReq {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("hooktap-test-boundary"); err != nil {
		panic(err)
	}
	part, err := mw.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="file"; filename="` + name + `"`},
		"Content-Type":        {mediaType},
	})
	if err != nil {
		panic(err)
	}
	io.WriteString(part, data)
	mw.WriteField("comment", "a test upload")
	mw.Close()
	return packReq{method: "POST", path: path, body: buf.Bytes(), ctype: mw.FormDataContentType(),
		header: map[string]string{"X-Atlassian-Token": "nocheck"}}
}

// send serves one request through the classifier and returns the wiki's status and body.
func (h *packHarness) send(r packReq) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(r.method, h.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		h.t.Fatal(err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	auth := ""
	if h.user != "" {
		auth = "Basic " + b64(h.user)
		req.Header.Set("Authorization", auth)
	}
	u, err := url.Parse(h.base + r.path)
	if err != nil {
		h.t.Fatal(err)
	}
	x := &rules.Exchange{
		Method:     []byte(r.method),
		Path:       []byte(u.EscapedPath()),
		Query:      []byte(u.RawQuery),
		Header:     headerPeeker(req.Header),
		Body:       r.body,
		Upstream:   fetcher{base: h.base, auth: auth},
		RemoteAddr: []byte("127.0.0.1"),
	}
	wants := h.cls.Wants(x.Method, x.Path)
	if wants {
		h.cls.Before(x)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		h.t.Fatal(err)
	}
	if wants {
		if h.asConfluence {
			res.Header.Del("X-AUSERKEY")
		}
		x.Status, x.RespHeader, x.RespBody = res.StatusCode, headerPeeker(res.Header), body
		if err := h.cls.After(x); err != nil {
			h.t.Fatalf("%s %s: After: %v", r.method, r.path, err)
		}
	}
	return res.StatusCode, string(body)
}

// must sends r and fails the test unless the wiki answers status.
func (h *packHarness) must(status int, r packReq) string {
	h.t.Helper()
	got, body := h.send(r)
	if got != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, got, status, body)
	}
	return body
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ev is the exact id-only payload of an event acted by user key key: the envelope, then rest
// (a JSON fragment starting with ',' or empty).
func ev(name, key, rest string) string {
	return fmt.Sprintf(`{"timestamp":%d,"event":%q,"userKey":%q%s}`, fixedNow.UnixMilli(), name, key, rest)
}

// sameEvents compares events, names and payload bytes, as sets (order-independent).
func sameEvents(t *testing.T, what string, got []recorded, want []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, e := range got {
		g[i] = e.payload
		if !strings.Contains(e.payload, `"event":"`+e.name+`"`) {
			t.Errorf("%s: event %s carries payload %s", what, e.name, e.payload)
		}
	}
	w := append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s:\ngot  %d events:\n  %s\nwant %d events:\n  %s", what, len(g), strings.Join(g, "\n  "), len(w), strings.Join(w, "\n  "))
	}
}

var errNoEvent = errors.New("no such event")

// fullOf returns the full payload of the only recorded event named name.
func fullOf(got []recorded, name string) (string, error) {
	for _, e := range got {
		if e.name == name {
			if e.full == "" {
				return e.payload, nil
			}
			return e.full, nil
		}
	}
	return "", errNoEvent
}

func allNames() []string { return rules.Names[:] }
