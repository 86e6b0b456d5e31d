package proxy

// Fuzz targets for the proxy's request and response handling. Each feeds raw bytes to a real
// proxy (proxy.New on a loopback listener) in front of a real loopback upstream, and checks
// what every input must keep true: no panic, no hang (every wait has a deadline), the client
// gets well-formed responses or a close, the tap's copies stay within tap_body_limit, no
// request is smuggled upstream, the proxy still serves a plain request afterwards, and no
// connection or goroutine is left behind. Their seed corpora run as ordinary tests in
// go test; CI also runs each for a few seconds (.ci/run).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hooktap/rules"
)

// fuzzTapLimit is the fuzzed proxies' tap_body_limit: small, so that inputs cross it.
const fuzzTapLimit = 64

// fuzzCfg is the fuzzed proxies' configuration: short timeouts, so that an input that leaves
// the proxy waiting (a body shorter than its Content-Length) costs seconds, not minutes.
func fuzzCfg(upstream string) Config {
	return Config{
		Upstream: upstream, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: 3 * time.Second, UpstreamTimeout: 3 * time.Second, DialTimeout: 3 * time.Second,
		TapBodyLimit: fuzzTapLimit,
	}
}

// boundTap wants every method but GET and HEAD and records any copy longer than the limit.
// Exchanges are borrowed: it keeps nothing of them.
type boundTap struct {
	mu     sync.Mutex
	errs   []string
	calls  atomic.Int64
	limit  int
	inBody atomic.Int64 // calls of After, for the response fuzzer
}

func (b *boundTap) Wants(method, _ []byte) bool {
	return string(method) != "GET" && string(method) != "HEAD"
}

func (b *boundTap) Before(x *rules.Exchange) {
	b.calls.Add(1)
	if len(x.Body) > b.limit {
		b.fail("Before: request body copy is %d bytes, over the limit %d", len(x.Body), b.limit)
	}
}

func (b *boundTap) After(x *rules.Exchange) error {
	b.inBody.Add(1)
	if len(x.Body) > b.limit || len(x.RespBody) > b.limit {
		b.fail("After: copies of %d and %d bytes, over the limit %d", len(x.Body), len(x.RespBody), b.limit)
	}
	return nil
}

func (b *boundTap) fail(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
}

// check fails t with what the tap recorded since the last check.
func (b *boundTap) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("tap: %s", strings.Join(errs, "; "))
	}
}

// echoUpstream is the request fuzzer's upstream, a net/http server: it reads each request's
// body, counts the requests, answers "ok", and on Upgrade hijacks the connection, answers 101
// and echoes. It tracks its connections' states so that a test can wait until none is busy.
type echoUpstream struct {
	addr   string
	calls  atomic.Int64
	mu     sync.Mutex
	active map[net.Conn]bool // connection -> serving a request
	open   int
	seen   uint64 // connections accepted
}

func startEchoUpstream(t testing.TB) *echoUpstream {
	t.Helper()
	u := &echoUpstream{active: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(u.serve),
		ConnState: func(c net.Conn, s http.ConnState) {
			u.mu.Lock()
			defer u.mu.Unlock()
			switch s {
			case http.StateNew:
				u.open++
				u.seen++
			case http.StateActive:
				u.active[c] = true
			case http.StateIdle:
				delete(u.active, c)
			case http.StateClosed, http.StateHijacked:
				delete(u.active, c)
				u.open--
			}
		},
		ReadTimeout: ioDeadline, WriteTimeout: ioDeadline,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

func (u *echoUpstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Fuzz-Health") == "" {
		u.calls.Add(1)
	}
	if r.Header.Get("Upgrade") != "" {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(ioDeadline))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+r.Header.Get("Upgrade")+"\r\n\r\n")
		_, _ = io.Copy(c, brw)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

// caughtUp reports whether the upstream has seen all that the proxy s sent it: it accepted
// every connection the proxy dialled, closed every one the proxy closed (after serving what
// came before the close), and serves nothing now. Until then a request the proxy forwarded
// may still reach the handler: the proxy can close a connection, having answered its client
// 400 for a body cut short, before the upstream has even accepted it.
func (u *echoUpstream) caughtUp(s *Server) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen == s.stats.upstreamDials.Load() && int64(u.open) == s.stats.upstreamLive.Load() && len(u.active) == 0
}

// busy reports how many upstream connections are serving a request, and how many are open.
func (u *echoUpstream) busy() (active, open int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.active), u.open
}

// fuzzWait polls cond, an observation of what other goroutines finish, until it holds or
// ioDeadline passes.
func fuzzWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", ioDeadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// exchangeRaw writes raw to addr, half-closes, and returns everything the proxy sent until
// it closed. A reset is a close; running into the deadline is a hang and fails t.
func exchangeRaw(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = c.Write(raw) // the proxy may close before reading everything
	_ = c.(*net.TCPConn).CloseWrite()
	var got bytes.Buffer
	_, err = io.Copy(&got, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy neither answered nor closed within %v (got %d bytes: %.300q)", ioDeadline, got.Len(), got.Bytes())
	}
	return got.Bytes()
}

// parseResponses checks that got is a sequence of well-formed HTTP/1.x responses and returns
// how many final (non-1xx) ones it holds. After a 101 the rest is tunnelled bytes. When the
// input has a HEAD request, whose response has no body whatever its headers say, only the
// first response is checked.
func parseResponses(t *testing.T, raw, got []byte) (final int) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(got))
	onlyFirst := bytes.Contains(raw, []byte("HEAD"))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return final
		}
		var req *http.Request
		if bytes.HasPrefix(raw, []byte("HEAD ")) {
			req = &http.Request{Method: "HEAD"}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d is malformed: %v\nsent: %.500q\ngot: %.1000q", final+1, err, raw, got)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return final + 1
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("response %d (%d): body: %v\nsent: %.500q\ngot: %.1000q", final+1, resp.StatusCode, err, raw, got)
		}
		if resp.StatusCode >= 200 {
			final++
		}
		if onlyFirst {
			return final
		}
	}
}

// healthy sends a plain GET and wants the upstream's "ok": the proxy still serves.
func healthy(t *testing.T, addr string) {
	t.Helper()
	resp, body := rawDo(t, addr, "GET /health HTTP/1.1\r\nHost: h\r\nX-Fuzz-Health: 1\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("a plain GET after the input: got %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

// settle waits until the proxy holds no client connection and no tunnel, and the goroutine
// count is back near its level before the fuzzing: nothing leaks from one input to the next.
func settle(t *testing.T, s *Server, baseGoroutines int) {
	t.Helper()
	fuzzWait(t, "the proxy's client connections and tunnels to close", func() bool {
		s.tunMu.Lock()
		tunnels := len(s.tunnels)
		s.tunMu.Unlock()
		return s.srv.GetOpenConnectionsCount() == 0 && tunnels == 0
	})
	fuzzWait(t, fmt.Sprintf("goroutines to fall back near %d", baseGoroutines), func() bool {
		return runtime.NumGoroutine() <= baseGoroutines+32
	})
}

// fuzzRequestSeeds are raw requests from the tricky cases of shared/reference/fasthttp-proxy.md
// and the conformance tests: framing conflicts, chunked edge cases, Upgrade, 100-continue,
// hop-by-hop tricks, pipelining, and plain garbage.
var fuzzRequestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /rest/api/content HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"type\":\"page\"}",
	// Over the tap limit, fixed length and chunked.
	"PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\n\r\n" + strings.Repeat("x", 200),
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + strings.Repeat("y", 64) + "\r\n20\r\n" + strings.Repeat("z", 32) + "\r\n0\r\n\r\n",
	// Chunked with extensions, trailers, bad sizes, missing final chunk.
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx\r\n",
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	// Smuggling shapes: CL and TE together, two CLs, TE variants, a body holding a request.
	"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
	"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
	"POST /s HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n",
	"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
	"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
	"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\nx",
	"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nshort",
	"DELETE /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
	// Pipelined requests, tapped and not.
	"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: h\r\n\r\n",
	// Upgrade: WebSocket-like, h2c on a write, with a body, Connection naming headers.
	"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nframe-bytes",
	"POST /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 3\r\n\r\nabc",
	"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For, Host, Content-Length\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
	// 100-continue, HTTP/1.0, absolute-form, odd request lines and headers.
	"PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
	"GET /old HTTP/1.0\r\n\r\n",
	"GET http://other.example/abs?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET //double//slash/../x%2F%00 HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"PATCH /p HTTP/1.1\r\nHost: h\r\n X-Folded: continued\r\nContent-Length: 1\r\n\r\np",
	"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("a", 70000) + "\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\n\n",
	"GET / HTTP/9.9\r\nHost: h\r\n\r\n",
	"\x00\x01\x02 garbage\r\n\r\n",
	"",
}

// FuzzProxyRequest feeds raw client bytes to a tapping proxy in front of a real upstream.
func FuzzProxyRequest(f *testing.F) {
	for _, s := range fuzzRequestSeeds {
		f.Add([]byte(s))
	}
	up := startEchoUpstream(f)
	tap := &boundTap{limit: fuzzTapLimit}
	s, addr, _ := startProxy(f, fuzzCfg("http://"+up.addr), tap)
	base := runtime.NumGoroutine()
	f.Fuzz(func(t *testing.T, raw []byte) {
		up.calls.Store(0)
		got := exchangeRaw(t, addr, raw)
		final := parseResponses(t, raw, got)
		// Every request the upstream saw has its own response: none rode in another's body.
		fuzzWait(t, "the upstream to catch up with what the proxy sent", func() bool { return up.caughtUp(s) })
		if calls := up.calls.Load(); calls > int64(final) {
			t.Fatalf("the upstream served %d requests but the client got %d responses: a request was smuggled\nsent: %.500q\ngot: %.1000q",
				calls, final, raw, got)
		}
		tap.check(t)
		healthy(t, addr)
		settle(t, s, base)
		if _, open := up.busy(); open > 16 {
			t.Fatalf("%d upstream connections open after the input, want the pool's few", open)
		}
	})
}

// fuzzResponseSeeds are raw upstream responses: framing conflicts, chunked edge cases,
// interim responses, bodies over the tap limit, truncation, and garbage.
var fuzzResponseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"id\":\"12345\"}\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + strings.Repeat("r", 200),
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + strings.Repeat("c", 64) + "\r\n10\r\n" + strings.Repeat("d", 16) + "\r\n0\r\nX-T: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nread until close",
	"HTTP/1.0 200 OK\r\n\r\nhttp/1.0 body",
	"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nc",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw",
	"HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
	"HTTP/1.1 999 Weird\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 abc\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("h", 70000) + "\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nContent-Le",
	"garbage\r\n\r\n",
	"",
}

// FuzzProxyResponse feeds raw upstream responses, from a raw TCP upstream that closes after
// them, to a tapping proxy, for a read and for a tapped write.
func FuzzProxyResponse(f *testing.F) {
	for i, s := range fuzzResponseSeeds {
		f.Add([]byte(s), i%2 == 0)
	}
	var current atomic.Pointer[[]byte]
	up := startRaw(f, func(c net.Conn, br *bufio.Reader, head string, req *http.Request) {
		if req.URL.Path == "/health" {
			ok200(c, br, head, req)
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if p := current.Load(); p != nil {
			_, _ = c.Write(*p)
		}
		_ = c.Close() // ends the upstream's connection loop
	})
	tap := &boundTap{limit: fuzzTapLimit}
	s, addr, _ := startProxy(f, fuzzCfg(up.url()), tap)
	base := runtime.NumGoroutine()
	f.Fuzz(func(t *testing.T, resp []byte, write bool) {
		current.Store(&resp)
		req := "GET /r HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
		if write {
			req = "POST /t HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}"
		}
		before := tap.inBody.Load()
		got := exchangeRaw(t, addr, []byte(req))
		checkProxied(t, resp, got)
		if write && tap.inBody.Load() != before+1 {
			t.Fatalf("After ran %d times for one tapped write, want 1", tap.inBody.Load()-before)
		}
		tap.check(t)
		healthy(t, addr)
		settle(t, s, base)
	})
}

// checkProxied checks what the client got for one request: nothing (the proxy closed), or a
// well-formed response, whose body may end early only by the connection's close (the
// upstream's body was cut while streaming).
func checkProxied(t *testing.T, upstream, got []byte) {
	t.Helper()
	if len(got) == 0 {
		return
	}
	br := bufio.NewReader(bytes.NewReader(got))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("malformed response: %v\nupstream sent: %.500q\nclient got: %.1000q", err, upstream, got)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("response body: %v\nupstream sent: %.500q\nclient got: %.1000q", err, upstream, got)
		}
		if resp.StatusCode >= 200 {
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				t.Fatalf("%d bytes after the response: %.300q\nupstream sent: %.500q", len(rest), rest, upstream)
			}
			return
		}
	}
}
