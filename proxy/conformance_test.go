package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHopByHopRemovedFromRequest(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	resp, _ := rawDo(t, addr, "GET /x HTTP/1.1\r\nHost: wiki.example\r\n"+
		"Connection: keep-alive, X-Hop-Named\r\nX-Hop-Named: secret\r\nkeep-alive: timeout=5\r\n"+
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nproxy-connection: keep-alive\r\nTE: trailers\r\n"+
		"Trailer: X-T\r\nX-Kept: yes\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	head := up.lastHead()
	for _, name := range []string{"X-Hop-Named", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer"} {
		if hasName(head, name) {
			t.Errorf("upstream got hop-by-hop header %s:\n%s", name, head)
		}
	}
	if hasName(head, "Connection") && !hasLine(head, "Connection: keep-alive") {
		t.Errorf("upstream got the client's Connection header:\n%s", head)
	}
	if !hasLine(head, "X-Kept: yes") {
		t.Errorf("end-to-end header lost:\n%s", head)
	}
}

func TestHopByHopRemovedFromResponse(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop, keep-alive\r\nX-Resp-Hop: 1\r\n"+
			"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-End: 2\r\nContent-Length: 5\r\n\r\nhello")
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	resp, body := rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, name := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Connection"} {
		if v := resp.Header.Values(name); len(v) > 0 {
			t.Errorf("client got hop-by-hop %s: %q", name, v)
		}
	}
	if got := resp.Header.Get("X-End"); got != "2" {
		t.Errorf("X-End: got %q, want %q", got, "2")
	}
	if string(body) != "hello" {
		t.Errorf("body: got %q, want %q", body, "hello")
	}
}

func TestXForwardedHeaders(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)

	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: wiki.example:8443\r\n\r\n")
	head := up.lastHead()
	for _, want := range []string{"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: wiki.example:8443"} {
		if !hasLine(head, want) {
			t.Errorf("missing %q in:\n%s", want, head)
		}
	}

	// Prior values are appended to, comma-joined, whatever the case and the number of lines;
	// a front's X-Forwarded-Proto/Host are believed.
	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\n\r\n")
	head = up.lastHead()
	for _, want := range []string{"X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: public.example"} {
		if !hasLine(head, want) {
			t.Errorf("missing %q in:\n%s", want, head)
		}
	}
	if n := strings.Count(strings.ToLower(head), "x-forwarded-for:"); n != 1 {
		t.Errorf("X-Forwarded-For lines: got %d, want 1:\n%s", n, head)
	}
}

func TestHostKeptByDefault(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: wiki.example.com\r\n\r\n")
	if head := up.lastHead(); !hasLine(head, "Host: wiki.example.com") {
		t.Errorf("Host not kept:\n%s", head)
	}
}

func TestHostHeaderOptionRewrites(t *testing.T) {
	up := startRaw(t, ok200)
	cfg := cfgFor(up.url())
	cfg.HostHeader = "internal.wiki:8090"
	_, addr, _ := startProxy(t, cfg, nil)
	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: wiki.example.com\r\n\r\n")
	head := up.lastHead()
	if !hasLine(head, "Host: internal.wiki:8090") {
		t.Errorf("Host not rewritten:\n%s", head)
	}
	if !hasLine(head, "X-Forwarded-Host: wiki.example.com") {
		t.Errorf("X-Forwarded-Host should carry the client's Host:\n%s", head)
	}
}

func TestPathAndQueryByteForByte(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	for _, target := range []string{
		"/a//b/../c/./d",
		"/wiki/Spa%C3%9Fe%2Fx%7e?title=A%20B&x=1+2&&y=&z=%zz;q",
		"/rest/api/content?expand=body.storage,version&cql=space%3DDS%20AND%20type%3Dpage",
		"/%2e%2e/secret",
	} {
		rawDo(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		first, _, _ := strings.Cut(up.lastHead(), "\r\n")
		if want := "GET " + target + " HTTP/1.1"; first != want {
			t.Errorf("request line: got %q, want %q", first, want)
		}
	}
}

func TestHeaderCasePreserved(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nx-lower-resp: a\r\nX-UPPER-RESP: b\r\nContent-Length: 0\r\n\r\n")
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nx-mIxEd-CaSe: v1\r\nauthorization: Bearer t\r\n\r\n")
	respHead, err := readRawHead(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	head := up.lastHead()
	for _, want := range []string{"x-mIxEd-CaSe: v1", "authorization: Bearer t"} {
		if !hasLine(head, want) {
			t.Errorf("upstream: missing %q in:\n%s", want, head)
		}
	}
	for _, want := range []string{"x-lower-resp: a", "X-UPPER-RESP: b"} {
		if !hasLine(respHead, want) {
			t.Errorf("client: missing %q in:\n%s", want, respHead)
		}
	}
}

func TestNoUserAgentInvented(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if head := up.lastHead(); hasName(head, "User-Agent") {
		t.Errorf("upstream got an invented User-Agent:\n%s", head)
	}
	rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8.5\r\n\r\n")
	if head := up.lastHead(); !hasLine(head, "User-Agent: curl/8.5") {
		t.Errorf("client's User-Agent lost:\n%s", head)
	}
}

func TestWritesReachUpstreamOnce(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			// The upstream reads the request and drops the connection without answering.
			up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, req *http.Request) {
				_, _ = io.Copy(io.Discard, req.Body)
				_ = c.Close()
			})
			_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
			resp, _ := rawDo(t, addr, method+" /rest/api/content HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
			if resp.StatusCode != 502 {
				t.Errorf("status: got %d, want 502", resp.StatusCode)
			}
			if n := up.requests(); n != 1 {
				t.Errorf("upstream saw the %s %d times, want 1", method, n)
			}
		})
	}
}

func TestMultipartByteForByte(t *testing.T) {
	var got []byte
	var gotCT string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		gotCT = r.Header.Get("Content-Type")
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "a b.bin")
	for i := range 300_000 {
		_, _ = fw.Write([]byte{byte(i), byte(i >> 8)})
	}
	_ = mw.WriteField("comment", "ünïcode\r\n--not-a-boundary")
	_ = mw.Close()
	resp, err := http.Post("http://"+addr+"/rest/api/content/1/child/attachment", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !bytes.Equal(got, body.Bytes()) {
		t.Errorf("multipart body changed: got %d bytes, want %d", len(got), body.Len())
	}
	if gotCT != mw.FormDataContentType() {
		t.Errorf("Content-Type: got %q, want %q", gotCT, mw.FormDataContentType())
	}
}

func TestChunkedRequestBodyPasses(t *testing.T) {
	var got []byte
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	resp, _ := rawDo(t, addr, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp.StatusCode != 200 || string(got) != "hello world" {
		t.Errorf("got status %d body %q, want 200 %q", resp.StatusCode, got, "hello world")
	}
}

// TestSSEDeliveredAsProduced: the upstream sends the second event only after the client has
// received the first through the proxy, so any buffering deadlocks (and fails at ioDeadline).
func TestSSEDeliveredAsProduced(t *testing.T) {
	ack := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			w.(http.Flusher).Flush()
			select {
			case <-ack:
			case <-time.After(ioDeadline):
				return
			}
		}
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	resp, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type: got %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if line == "\n" {
				break
			}
			ev.WriteString(line)
		}
		if want := fmt.Sprintf("id: %d\ndata: event %d\n", i, i); ev.String() != want {
			t.Fatalf("event %d: got %q, want %q", i, ev.String(), want)
		}
		ack <- struct{}{}
	}
}

func TestChunkedResponseDeliveredAsProduced(t *testing.T) {
	ack := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part-%d;", i)
			w.(http.Flusher).Flush()
			select {
			case <-ack:
			case <-time.After(ioDeadline):
				return
			}
		}
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding: got %v, want [chunked]", resp.TransferEncoding)
	}
	buf := make([]byte, 7)
	for i := range 3 {
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if want := fmt.Sprintf("part-%d;", i); string(buf) != want {
			t.Fatalf("part %d: got %q, want %q", i, buf, want)
		}
		ack <- struct{}{}
	}
	if rest, _ := io.ReadAll(resp.Body); len(rest) != 0 {
		t.Errorf("trailing bytes %q", rest)
	}
}

func TestWebSocketTunnelled(t *testing.T) {
	upgrader := websocket.Upgrader{}
	var gotHeader http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Clone()
		c, err := upgrader.Upgrade(w, r, http.Header{"X-Upstream": {"yes"}})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	defer up.Close()
	s, addr, _ := startProxy(t, cfgFor(up.URL), nil)

	d := websocket.Dialer{HandshakeTimeout: ioDeadline}
	c, resp, err := d.Dial("ws://"+addr+"/collab/ws?doc=1", http.Header{"Cookie": {"JSESSIONID=abc"}})
	if err != nil {
		t.Fatalf("dial through proxy: %v", err)
	}
	defer c.Close()
	if resp.StatusCode != 101 || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("handshake: got %d %v", resp.StatusCode, resp.Header)
	}
	if gotHeader.Get("Cookie") != "JSESSIONID=abc" || gotHeader.Get("X-Forwarded-For") == "" {
		t.Errorf("upstream handshake headers: %v", gotHeader)
	}
	_ = c.SetReadDeadline(time.Now().Add(ioDeadline))
	for i, msg := range []string{"hello", strings.Repeat("x", 100_000), ""} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != "echo:"+msg {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(msg)+5)
		}
	}
	if st := s.Stats(); st.Upgrades != 1 || st.Requests[MethodGet][0] != 1 {
		t.Errorf("stats: upgrades %d, GET 1xx %d; want 1, 1", st.Upgrades, st.Requests[MethodGet][0])
	}
}

func TestUpgradeRefusedIsRelayed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no websockets here", http.StatusForbidden)
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	resp, body := rawDo(t, addr, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if resp.StatusCode != 403 || string(body) != "no websockets here\n" {
		t.Errorf("got %d %q, want 403 %q", resp.StatusCode, body, "no websockets here\n")
	}
}

func TestLargeRequestHeadersPass(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	cookie := "SSO=" + strings.Repeat("a", 16<<10)
	resp, _ := rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nCookie: "+cookie+"\r\nX-Other: "+strings.Repeat("b", 2000)+"\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	if head := up.lastHead(); !hasLine(head, "Cookie: "+cookie) {
		t.Errorf("16 KiB cookie did not reach the upstream intact (%d bytes of head)", len(head))
	}
}

func TestLargeResponseHeadersPass(t *testing.T) {
	big := strings.Repeat("c", 16<<10)
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nSet-Cookie: s="+big+"\r\nContent-Length: 0\r\n\r\n")
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	resp, _ := rawDo(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if got := resp.Header.Get("Set-Cookie"); got != "s="+big {
		t.Errorf("Set-Cookie: got %d bytes, want %d", len(got), len(big)+2)
	}
}

func TestUnreachableUpstreamIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s, addr, logs := startProxy(t, cfgFor(dead), nil)
	resp, body := rawDo(t, addr, "GET /page HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 502 {
		t.Errorf("status: got %d, want 502", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type: got %q", ct)
	}
	if !strings.HasPrefix(string(body), "502 Bad Gateway") || len(body) > 200 {
		t.Errorf("body: got %q", body)
	}
	if n := logs.Lines("upstream request failed"); n != 1 {
		t.Errorf("log lines: got %d, want 1", n)
	}
	if st := s.Stats(); st.UpstreamErrors != 1 || st.Requests[MethodGet][4] != 1 {
		t.Errorf("stats: %+v", st)
	}
	if err := s.UpstreamReachable(context.Background()); err == nil {
		t.Error("UpstreamReachable: got nil for a closed port")
	}
}

func TestSlowUpstreamIs504(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer up.Close()
	defer close(release)
	cfg := cfgFor(up.URL)
	cfg.UpstreamTimeout = 300 * time.Millisecond
	s, addr, logs := startProxy(t, cfg, nil)
	resp, body := rawDo(t, addr, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 504 {
		t.Errorf("status: got %d, want 504", resp.StatusCode)
	}
	if !strings.HasPrefix(string(body), "504 Gateway Timeout") || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("body: got %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	if n := logs.Lines("upstream request failed"); n != 1 {
		t.Errorf("log lines: got %d, want 1", n)
	}
	if st := s.Stats(); st.Timeouts != 1 {
		t.Errorf("timeouts: got %d, want 1", st.Timeouts)
	}
}

func TestEveryPathGoesUpstream(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(418)
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	want := []string{"/healthz", "/readyz", "/metrics", "/", "/favicon.ico"}
	for _, p := range want {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 418 {
			t.Errorf("%s: got %d, want the upstream's 418", p, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("upstream saw %v, want %v", paths, want)
	}
}

func TestAbsoluteFormHTTPSNotRefused(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	resp, body := rawDo(t, addr, "GET https://wiki.example/page?a=1 HTTP/1.1\r\nHost: wiki.example\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok (scheme trap)", resp.StatusCode, body)
	}
	first, _, _ := strings.Cut(up.lastHead(), "\r\n")
	if first != "GET /page?a=1 HTTP/1.1" {
		t.Errorf("request line: got %q", first)
	}
}

func TestHeadAndNoContentBodies(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, r *http.Request) {
		if r.Method == "HEAD" {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nContent-Type: application/pdf\r\n\r\n")
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "HEAD /file.pdf HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != 12345 {
		t.Errorf("HEAD Content-Length: got %d, want 12345", resp.ContentLength)
	}
	_, _ = io.WriteString(c, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 204 || resp.Header.Get("X-A") != "1" {
		t.Errorf("204: got %d %v", resp.StatusCode, resp.Header)
	}
}

func TestKeepAliveReusesUpstreamConnections(t *testing.T) {
	var conns sync.Map
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("z", 100))
	}))
	up.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Store(c, true)
		}
	}
	up.Start()
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	for range 20 {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 100 {
			t.Fatalf("body: %d bytes", len(b))
		}
	}
	n := 0
	conns.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("upstream connections: got %d, want 1 (keep-alive)", n)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	defer up.Close()
	s, err := New(cfgFor(up.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioDeadline)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// New connections are refused once Shutdown has closed the listener.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		runtimeYield()
	}
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight request: got %q, want %q", b, "done")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func runtimeYield() { time.Sleep(time.Millisecond) }

func TestNewValidates(t *testing.T) {
	for _, up := range []string{"", "https://wiki:443", "ftp://x", "http://", "http://h:1/prefix", "http://u:p@h:1", "::"} {
		if _, err := New(Config{Upstream: up}, nil, nil); err == nil {
			t.Errorf("New(%q): got nil error", up)
		}
	}
	s, err := New(Config{Upstream: "http://127.0.0.1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.Listen != ":8080" || c.ReadTimeout != 10*time.Minute || c.WriteTimeout != 10*time.Minute ||
		c.IdleTimeout != 90*time.Second || c.UpstreamTimeout != 60*time.Second || c.DialTimeout != 3*time.Second ||
		c.MaxConns != 1024 || c.MaxHeaderBytes != 65536 || c.TapBodyLimit != 1<<20 || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if s.addr != "127.0.0.1:80" {
		t.Errorf("addr: got %q", s.addr)
	}
}

func TestStatsCountMethodsAndClasses(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/404":
			w.WriteHeader(404)
		case "/301":
			w.WriteHeader(301)
		}
	}))
	defer up.Close()
	s, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	for _, r := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/404"}, {"POST", "/"}, {"PROPFIND", "/301"}, {"DELETE", "/404"},
	} {
		req, _ := http.NewRequest(r.method, "http://"+addr+r.path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	st := s.Stats()
	want := map[[2]int]uint64{
		{int(MethodGet), 1}: 1, {int(MethodGet), 3}: 1, {int(MethodPost), 1}: 1,
		{int(MethodOther), 2}: 1, {int(MethodDelete), 3}: 1,
	}
	for m := range NumMethods {
		for c := range NumClasses {
			if got := st.Requests[m][c]; got != want[[2]int{int(m), c}] {
				t.Errorf("%s %s: got %d, want %d", MethodNames[m], ClassNames[c], got, want[[2]int{int(m), c}])
			}
		}
	}
}

// sha256Reader hashes what passes through it.
type countingReader struct {
	n    int64
	left int64
}

// Read produces a deterministic byte pattern until left is exhausted.
func (r *countingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = byte((r.n + int64(i)) * 7)
	}
	r.n += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}

func patternHash(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, &countingReader{left: n})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestNothingAddedToResponse(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	head, err := readRawHead(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"; head != want {
		t.Errorf("response head: got %q, want %q (no Server, Date or Content-Type invented)", head, want)
	}
}

// TestNoContentTypeAddedToRequest checks that a request body without Content-Type reaches
// the upstream without one, on the pass-through and the tapped path, whether fasthttp
// streamed the body or not (fasthttp would write application/octet-stream).
func TestNoContentTypeAddedToRequest(t *testing.T) {
	up := startRaw(t, ok200)
	for _, tapped := range []bool{false, true} {
		var tap Tap
		if tapped {
			tap = &recTap{}
		}
		_, addr, _ := startProxy(t, cfgFor(up.url()), tap)
		for _, raw := range []string{
			"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
			"PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		} {
			if resp, _ := rawDo(t, addr, raw); resp.StatusCode != 200 {
				t.Fatalf("tapped=%v: status %d, want 200", tapped, resp.StatusCode)
			}
			if head := up.lastHead(); hasName(head, "Content-Type") {
				t.Errorf("tapped=%v: upstream got a Content-Type the client did not send:\n%s", tapped, head)
			}
		}
	}
}

// TestClientBodyFailureIs400 checks that a client whose request body cannot be read
// (malformed chunked framing, or a client that stops before its Content-Length) gets 400,
// counted as a client error, not 502 or 504 counted against the upstream; on the
// pass-through path and on the tapped path past the tap's prefix.
func TestClientBodyFailureIs400(t *testing.T) {
	bodies := map[string]string{
		"bad chunk": "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"20\r\n" + strings.Repeat("a", 32) + "\r\nzz\r\n" + strings.Repeat("b", 40) + "\r\n0\r\n\r\n",
		// More than fasthttp reads ahead (which it would refuse itself), then the client stops.
		"short body": "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("a", 300_000),
	}
	for name, raw := range bodies {
		for _, tapped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s tapped=%v", name, tapped), func(t *testing.T) {
				up := startRaw(t, ok200)
				cfg := cfgFor(up.url())
				cfg.TapBodyLimit = 16
				var tap Tap
				if tapped {
					tap = &recTap{}
				}
				s, addr, _ := startProxy(t, cfg, tap)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(ioDeadline))
				_, _ = io.WriteString(c, raw)
				_ = c.(*net.TCPConn).CloseWrite() // the client sends nothing more
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				st := s.Stats()
				if resp.StatusCode != 400 || st.ClientErrors != 1 || st.UpstreamErrors != 0 || st.Timeouts != 0 {
					t.Errorf("got %d, stats client %d upstream %d timeouts %d; want 400, 1, 0, 0",
						resp.StatusCode, st.ClientErrors, st.UpstreamErrors, st.Timeouts)
				}
				if st.Requests[MethodPost][3] != 1 {
					t.Errorf("POST 4xx count %d, want 1", st.Requests[MethodPost][3])
				}
			})
		}
	}
}

func TestClientConnectionCloseHonoured(t *testing.T) {
	up := startRaw(t, ok200)
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	all, err := io.ReadAll(c) // returns only when the proxy closes the connection
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close {
		t.Errorf("response does not announce Connection: close: %v", resp.Header)
	}
	if head := up.lastHead(); hasName(head, "Connection") {
		t.Errorf("client's Connection: close reached the upstream:\n%s", head)
	}
}

func TestUpstreamConnectionCloseNotRelayed(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		_ = c.Close()
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	br := bufio.NewReader(c)
	for i := range 3 { // the client keeps its connection although the upstream closes each one
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" || resp.Close {
			t.Fatalf("request %d: got %d %q close=%v", i, resp.StatusCode, b, resp.Close)
		}
	}
	if n := up.requests(); n != 3 {
		t.Errorf("upstream requests: got %d, want 3", n)
	}
}

// TestTunnelClosedWhenClientCloses checks that a tunnel ends when the client closes, even if
// the upstream neither sends nor closes (a push-only stream with nothing to push): the proxy
// used to half-close the upstream and wait for it forever, keeping two goroutines and two
// connections per tunnel.
func TestTunnelClosedWhenClientCloses(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold) // before the upstream's cleanup, which waits for this handler
	up := startRaw(t, func(c net.Conn, br *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(io.Discard, br) // ends at the proxy's half or full close
		<-hold                         // never closes its side on its own
	})
	s, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_ = c.Close()
	gone := make(chan struct{}) // the tunnel was registered before the 101 reached the client
	go func() { s.tunWG.Wait(); close(gone) }()
	select {
	case <-gone:
	case <-time.After(ioDeadline):
		t.Fatalf("tunnel still open %v after the client closed", ioDeadline)
	}
	s.tunMu.Lock()
	n := len(s.tunnels)
	s.tunMu.Unlock()
	if n != 0 {
		t.Errorf("%d tunnel ends still registered", n)
	}
}

func TestShutdownClosesTunnels(t *testing.T) {
	upgrader := websocket.Upgrader{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer up.Close()
	s, err := New(cfgFor(up.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	d := websocket.Dialer{HandshakeTimeout: ioDeadline}
	c, _, err := d.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioDeadline)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(ioDeadline))
	if _, _, err := c.ReadMessage(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("tunnel still open after Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestStaleConnectionRetriedForReadsOnly: the upstream silently closes each connection after
// one answer, so the proxy's pooled connection is dead when the next request comes.
func TestStaleConnectionRetriedForReadsOnly(t *testing.T) {
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_ = c.Close()
	})
	_, addr, _ := startProxy(t, cfgFor(up.url()), nil)
	for i := range 3 {
		if resp, body := rawDo(t, addr, "GET /r HTTP/1.1\r\nHost: h\r\n\r\n"); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("GET %d: got %d %q, want 200 ok (retried on a fresh connection)", i, resp.StatusCode, body)
		}
	}
	if n := up.requests(); n != 3 {
		t.Errorf("upstream requests: got %d, want 3", n)
	}
}

// TestStalledBodyIsCut: an upstream that stops sending in the middle of a streamed body is
// cut after upstream_timeout of silence; the client sees a short body, not a hang.
func TestStalledBodyIsCut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := startRaw(t, func(c net.Conn, _ *bufio.Reader, _ string, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
		_, _ = c.Write(make([]byte, 100_000))
		<-release
	})
	cfg := cfgFor(up.url())
	cfg.UpstreamTimeout = 300 * time.Millisecond
	_, addr, _ := startProxy(t, cfg, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client hung until its own deadline after %d bytes", n)
	}
	if err == nil || n >= 1000000 {
		t.Errorf("got %d bytes, err %v; want a short body and an error", n, err)
	}
}
