package proxy

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// snap is what the recording tap saw in one call, copied (the Exchange is borrowed).
type snap struct {
	method, path, query, body, ctype, auth, remote string
	trunc, respTrunc                               bool
	status                                         int
	respHeaderNil                                  bool
	user, respBody                                 string
	bodyLen, respLen                               int
}

// recTap is a recording test double for Tap: it wants every method but GET and HEAD.
type recTap struct {
	mu       sync.Mutex
	before   []snap
	after    []snap
	afterErr error
	fetch    string // path Before fetches through x.Upstream, if set
	fetched  string
	fetchSt  int
	fetchErr error
}

func (r *recTap) Wants(method, path []byte) bool {
	return string(method) != "GET" && string(method) != "HEAD" && !strings.HasPrefix(string(path), "/static/")
}

func take(x *rules.Exchange) snap {
	s := snap{
		method: string(x.Method), path: string(x.Path), query: string(x.Query), body: string(x.Body),
		trunc: x.BodyTrunc, status: x.Status, respTrunc: x.RespTrunc, respBody: string(x.RespBody),
		remote: string(x.RemoteAddr), respHeaderNil: x.RespHeader == nil, bodyLen: len(x.Body), respLen: len(x.RespBody),
	}
	if x.Header != nil {
		s.ctype = string(x.Header.Peek("Content-Type"))
		s.auth = string(x.Header.Peek("AUTHORIZATION"))
	}
	if x.RespHeader != nil {
		s.user = string(x.RespHeader.Peek("X-AUSERNAME"))
	}
	return s
}

func (r *recTap) Before(x *rules.Exchange) {
	s := take(x)
	var body []byte
	var st int
	var err error
	if r.fetch != "" {
		st, body, err = x.Upstream.Fetch(nil, []byte(r.fetch))
	}
	x.State = "mine"
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = append(r.before, s)
	r.fetched, r.fetchSt, r.fetchErr = string(body), st, err
}

func (r *recTap) After(x *rules.Exchange) error {
	s := take(x)
	if x.State != "mine" {
		s.method = "STATE LOST"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.after = append(r.after, s)
	return r.afterErr
}

func (r *recTap) calls() (before, after []snap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]snap(nil), r.before...), append([]snap(nil), r.after...)
}

func TestTapSeesWriteExchange(t *testing.T) {
	var upBody string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		upBody = string(b)
		w.Header()["x-ausername"] = []string{"admin"} // lower case on the wire
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"id":"123","type":"page"}`)
	}))
	defer up.Close()
	tap := &recTap{}
	s, addr, _ := startProxy(t, cfgFor(up.URL), tap)

	resp, body := rawDo(t, addr, "POST /rest/api/content?expand=space HTTP/1.1\r\nHost: h\r\ncontent-type: application/json\r\n"+
		"authorization: Basic YWRtaW46YWRtaW4=\r\nContent-Length: 31\r\n\r\n"+`{"type":"page","title":"Hello"}`)
	if resp.StatusCode != 201 || string(body) != `{"id":"123","type":"page"}` {
		t.Fatalf("client got %d %q", resp.StatusCode, body)
	}
	if upBody != `{"type":"page","title":"Hello"}` {
		t.Errorf("upstream body: got %q", upBody)
	}
	before, after := tap.calls()
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("calls: Before %d, After %d; want 1, 1", len(before), len(after))
	}
	b, a := before[0], after[0]
	want := snap{method: "POST", path: "/rest/api/content", query: "expand=space", body: `{"type":"page","title":"Hello"}`,
		ctype: "application/json", auth: "Basic YWRtaW46YWRtaW4=", remote: "127.0.0.1", respHeaderNil: true, bodyLen: 31}
	if b != want {
		t.Errorf("Before saw\n%+v\nwant\n%+v", b, want)
	}
	want.status, want.respHeaderNil, want.user = 201, false, "admin"
	want.respBody, want.respLen = `{"id":"123","type":"page"}`, 26
	if a != want {
		t.Errorf("After saw\n%+v\nwant\n%+v", a, want)
	}
	if st := s.Stats(); st.Tapped != 1 || st.TapRejected != 0 || st.Requests[MethodPost][1] != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestTapNotCalledForReads(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	tap := &recTap{}
	s, addr, _ := startProxy(t, cfgFor(up.URL), tap)
	for _, raw := range []string{
		"GET /rest/api/content/1 HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /static/upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
	} {
		resp, _ := rawDo(t, addr, raw)
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	if before, after := tap.calls(); len(before)+len(after) != 0 {
		t.Errorf("tap called for untapped requests: %d Before, %d After", len(before), len(after))
	}
	if st := s.Stats(); st.Tapped != 0 {
		t.Errorf("Tapped: got %d, want 0", st.Tapped)
	}
}

func TestTapAfterErrorGives503(t *testing.T) {
	var hits int
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(200)
		_, _ = io.WriteString(w, strings.Repeat("r", 200<<10)) // streamed: larger than bufferMax
	}))
	defer up.Close()
	tap := &recTap{afterErr: errors.New("dispatch: store unavailable")}
	s, addr, logs := startProxy(t, cfgFor(up.URL), tap)
	resp, body := rawDo(t, addr, "DELETE /rest/api/content/7 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.HasPrefix(string(body), "503 ") {
		t.Errorf("got %d %q %q, want 503 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	mu.Lock()
	if hits != 1 {
		t.Errorf("upstream hits: got %d, want 1", hits)
	}
	mu.Unlock()
	if n := logs.Lines("upstream already applied"); n != 1 {
		t.Errorf("log lines saying the write happened: got %d, want 1", n)
	}
	if st := s.Stats(); st.TapRejected != 1 || st.Requests[MethodDelete][4] != 1 {
		t.Errorf("stats: %+v", st)
	}
	// The proxy still works afterwards (the abandoned upstream body was closed, not pooled).
	tap.mu.Lock()
	tap.afterErr = nil
	tap.mu.Unlock()
	resp, body = rawDo(t, addr, "DELETE /rest/api/content/8 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 200 || len(body) != 200<<10 {
		t.Errorf("after a 503: got %d with %d bytes", resp.StatusCode, len(body))
	}
}

func TestTapHugeBodiesPassIntact(t *testing.T) {
	const reqSize, respSize = 8 << 20, 3 << 20
	var got [32]byte
	var n int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ = io.Copy(h, r.Body)
		copy(got[:], h.Sum(nil))
		_, _ = io.Copy(w, &countingReader{left: respSize})
	}))
	defer up.Close()
	cfg := cfgFor(up.URL)
	cfg.TapBodyLimit = 64 << 10
	tap := &recTap{}
	s, addr, _ := startProxy(t, cfg, tap)
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/upload", io.MultiReader(&countingReader{left: reqSize}))
		if !chunked {
			req.ContentLength = reqSize
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		rn, _ := io.Copy(h, resp.Body)
		resp.Body.Close()
		if n != reqSize || got != patternHash(reqSize) {
			t.Errorf("chunked=%v: upstream got %d bytes (hash ok %v), want %d", chunked, n, got == patternHash(reqSize), reqSize)
		}
		if rn != respSize || [32]byte(h.Sum(nil)) != patternHash(respSize) {
			t.Errorf("chunked=%v: client got %d bytes, want %d intact", chunked, rn, respSize)
		}
	}
	_, after := tap.calls()
	if len(after) != 2 {
		t.Fatalf("After calls: %d, want 2", len(after))
	}
	for _, a := range after {
		if !a.trunc || a.bodyLen != 64<<10 || !a.respTrunc || a.respLen != 64<<10 {
			t.Errorf("tap view: trunc %v len %d, respTrunc %v len %d; want cut at 64 KiB", a.trunc, a.bodyLen, a.respTrunc, a.respLen)
		}
		if want := string(patternPrefix(64 << 10)); a.body != want || a.respBody != want {
			t.Errorf("tap view is not the bodies' prefix")
		}
	}
	if st := s.Stats(); st.TapTruncated != 2 {
		t.Errorf("TapTruncated: got %d, want 2", st.TapTruncated)
	}
}

func patternPrefix(n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(&countingReader{left: int64(n)}, b)
	return b
}

func TestTapFetchUsesClientCredentials(t *testing.T) {
	var mu sync.Mutex
	var lookupAuth, lookupCookie, lookupHost string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			mu.Lock()
			lookupAuth, lookupCookie, lookupHost = r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Host
			mu.Unlock()
			_, _ = io.WriteString(w, `{"type":"blogpost","path":"`+r.URL.RequestURI()+`"}`)
			return
		}
		w.WriteHeader(204)
	}))
	defer up.Close()
	tap := &recTap{fetch: "/rest/api/content/123?expand=space"}
	_, addr, _ := startProxy(t, cfgFor(up.URL), tap)
	resp, _ := rawDo(t, addr, "DELETE /rest/api/content/123 HTTP/1.1\r\nHost: wiki.example\r\n"+
		"authorization: Bearer tok\r\nCookie: JSESSIONID=s1\r\n\r\n")
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.fetchErr != nil || tap.fetchSt != 200 || tap.fetched != `{"type":"blogpost","path":"/rest/api/content/123?expand=space"}` {
		t.Errorf("Fetch: %d %q %v", tap.fetchSt, tap.fetched, tap.fetchErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if lookupAuth != "Bearer tok" || lookupCookie != "JSESSIONID=s1" || lookupHost != "wiki.example" {
		t.Errorf("lookup carried Authorization %q, Cookie %q, Host %q", lookupAuth, lookupCookie, lookupHost)
	}
}

func TestTapCalledOnUpstreamFailure(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) { _ = c.Close() })
	tap := &recTap{}
	_, addr, _ := startProxy(t, cfgFor(up.url()), tap)
	resp, _ := rawDo(t, addr, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
	if resp.StatusCode != 502 {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	before, after := tap.calls()
	if len(before) != 1 || len(after) != 1 || after[0].status != 502 || after[0].user != "" || after[0].method != "POST" {
		t.Errorf("calls: %d Before, %d After %+v; want After once with Status 502 and the state kept", len(before), len(after), after)
	}
}

func TestSetTapSwaps(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	tap := &recTap{}
	s, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	post := "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
	rawDo(t, addr, post)
	s.SetTap(tap)
	rawDo(t, addr, post)
	s.SetTap(nil)
	rawDo(t, addr, post)
	if before, after := tap.calls(); len(before) != 1 || len(after) != 1 {
		t.Errorf("calls: %d Before, %d After; want 1, 1", len(before), len(after))
	}
}

// timeoutTap is a recTap that bounds its lookups, as rules.Classifier does with [classify]
// lookup_timeout.
type timeoutTap struct {
	recTap
	d time.Duration
}

func (t *timeoutTap) LookupTimeout() time.Duration { return t.d }

// TestTapLookupTimeoutIsTheTaps checks that a lookup is bounded by the tap's LookupTimeout,
// not by upstream_timeout: the upstream never answers the lookup, upstream_timeout is an
// hour, and the lookup must still fail (and the write still go through).
func TestTapLookupTimeoutIsTheTaps(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(204)
	}))
	defer up.Close()
	cfg := cfgFor(up.URL)
	cfg.UpstreamTimeout = time.Hour
	tap := &timeoutTap{recTap: recTap{fetch: "/rest/api/content/123"}, d: 100 * time.Millisecond}
	_, addr, _ := startProxy(t, cfg, tap)
	resp, _ := rawDo(t, addr, "DELETE /rest/api/content/123 HTTP/1.1\r\nHost: wiki.example\r\n\r\n")
	if resp.StatusCode != 204 {
		t.Fatalf("status %d, want the upstream's 204", resp.StatusCode)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.fetchErr == nil || !errors.Is(tap.fetchErr, fasthttp.ErrTimeout) {
		t.Fatalf("lookup error %v, want a timeout from the tap's LookupTimeout", tap.fetchErr)
	}
}

// TestTappedStreamedResponseOutlivesHandler checks that the prefix of a streamed response
// that the tap read is owned by the response body, not by the pooled request state:
// fasthttp writes the body after the handler has returned, by which time the state may
// serve another request. The handler is driven directly, several requests in a row, and
// each body is written only after all handlers returned — what fasthttp does with
// concurrent connections, made deterministic. Before the fix, later requests overwrote the
// earlier ones' prefixes (the reviewer saw about 1 in 1600 responses corrupted under load).
func TestTappedStreamedResponseOutlivesHandler(t *testing.T) {
	want := func(id string) string { return strings.Repeat(id+"-", 2000) }
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush() // chunked: the transport streams it
		_, _ = io.WriteString(w, want(r.URL.Query().Get("id")))
	}))
	defer up.Close()
	s, err := New(cfgFor(up.URL), &recTap{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.hc.CloseIdleConnections()
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	ctxs := make([]*fasthttp.RequestCtx, 8)
	for i := range ctxs {
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("/x?id=r" + string(rune('0'+i)))
		req.Header.SetHost("wiki.example")
		req.SetBodyString("{}")
		ctxs[i] = &fasthttp.RequestCtx{}
		ctxs[i].Init(&req, client, nil)
		s.handle(ctxs[i])
		if !ctxs[i].Response.IsBodyStream() {
			t.Fatalf("request %d: response not streamed; the test needs a streamed body", i)
		}
	}
	for i, ctx := range ctxs {
		id := "r" + string(rune('0'+i))
		if got := string(ctx.Response.Body()); got != want(id) {
			n := 0
			for n < len(got) && n < len(want(id)) && got[n] == want(id)[n] {
				n++
			}
			t.Errorf("request %s: body differs at byte %d of %d: %.30q", id, n, len(got), got[n:])
		}
	}
}

// wantAllTap wants every request, GETs included, and counts After calls.
type wantAllTap struct {
	mu    sync.Mutex
	after int
}

func (*wantAllTap) Wants(_, _ []byte) bool   { return true }
func (*wantAllTap) Before(_ *rules.Exchange) {}
func (t *wantAllTap) After(_ *rules.Exchange) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.after++
	return nil
}

// TestUpgradeHeadersDoNotBypassTap checks that Upgrade headers on a request the tap wants,
// or on one with a body, do not divert it into an untapped tunnel: a POST with
// "Connection: Upgrade" and "Upgrade: h2c" (which the upstream ignores) used to be applied
// upstream with no event. The request goes the ordinary way, Upgrade stripped.
func TestUpgradeHeadersDoNotBypassTap(t *testing.T) {
	const h2c = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
	for _, tc := range []struct {
		name, raw string
		tap       bool
	}{
		{"tapped POST", "POST /rest/api/content HTTP/1.1\r\nHost: h\r\n" + h2c + "Content-Length: 15\r\n\r\n{\"type\":\"page\"}", true},
		{"tapped GET", "GET /rest/api/content/1 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},
		{"untapped POST", "POST /x HTTP/1.1\r\nHost: h\r\n" + h2c + "Content-Length: 2\r\n\r\n{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startRaw(t, ok200)
			tap := &wantAllTap{}
			s, addr, _ := startProxy(t, cfgFor(up.url()), nil)
			if tc.tap {
				s.SetTap(tap)
			}
			resp, body := rawDo(t, addr, tc.raw)
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("got %d %q, want the upstream's 200 ok", resp.StatusCode, body)
			}
			head := up.lastHead()
			for _, name := range []string{"Upgrade", "Connection", "HTTP2-Settings"} {
				if hasName(head, name) {
					t.Errorf("upstream got %s; want it stripped:\n%s", name, head)
				}
			}
			tap.mu.Lock()
			defer tap.mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tc.tap]; tap.after != want {
				t.Errorf("tap After called %d times, want %d", tap.after, want)
			}
			if st := s.Stats(); st.Upgrades != 0 {
				t.Errorf("Upgrades = %d, want 0 (no tunnel)", st.Upgrades)
			}
		})
	}
}

// unneededTap wants every request and, like the classifier when every candidate rule's
// request conditions failed, tells the proxy in Before that the answer cannot matter.
type unneededTap struct{ recTap }

func (*unneededTap) Wants(_, _ []byte) bool { return true }
func (t *unneededTap) Before(x *rules.Exchange) {
	t.recTap.Before(x)
	x.RespUnneeded = true
}

// TestTapRespUnneededPassesBodyThrough checks that a tapped exchange whose Before says no
// rule can match (a page view under a rule for ?action=rollback) streams the response to the
// client uncopied: After still runs, with the status and headers, and sees no body.
func TestTapRespUnneededPassesBodyThrough(t *testing.T) {
	page := strings.Repeat("<p>a long page view</p>\n", 4000)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-AUSERNAME", "admin")
		_, _ = io.WriteString(w, page)
	}))
	defer up.Close()
	tap := &unneededTap{}
	cfg := cfgFor(up.URL)
	cfg.TapBodyLimit = 1024
	s, addr, _ := startProxy(t, cfg, tap)
	resp, body := rawDo(t, addr, "GET /index.php?title=Main_Page HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != page {
		t.Fatalf("client got %d, %d bytes, want 200 and the page's %d", resp.StatusCode, len(body), len(page))
	}
	_, after := tap.calls()
	if len(after) != 1 {
		t.Fatalf("After called %d times, want 1", len(after))
	}
	if a := after[0]; a.status != 200 || a.user != "admin" || a.respLen != 0 || a.respTrunc {
		t.Errorf("After saw status %d, user %q, %d body bytes (cut %v); want 200, admin, none", a.status, a.user, a.respLen, a.respTrunc)
	}
	if st := s.Stats(); st.Tapped != 1 || st.TapTruncated != 0 {
		t.Errorf("stats: tapped %d, truncated %d; want 1, 0", st.Tapped, st.TapTruncated)
	}
}
