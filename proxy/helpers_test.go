package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hooktap/internal/testkit"
)

// ioDeadline bounds every network wait in the tests; generous for a loaded 2-core machine.
const ioDeadline = 60 * time.Second

// startProxy runs a proxy to upstream on 127.0.0.1:0 and returns its address.
func startProxy(t testing.TB, cfg Config, tap Tap) (*Server, string, *testkit.LogBuffer) {
	t.Helper()
	lb := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(cfg, tap, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioDeadline)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String(), lb
}

// rawUpstream is a TCP upstream that hands each parsed request, with its raw head, to fn,
// which writes the raw response. It records how many requests arrived.
type rawUpstream struct {
	ln    net.Listener
	mu    sync.Mutex
	heads []string
	count int
}

func startRaw(t testing.TB, fn func(c net.Conn, br *bufio.Reader, head string, req *http.Request)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(ioDeadline))
				br := bufio.NewReader(c)
				for {
					head, err := readRawHead(br)
					if err != nil {
						return
					}
					req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(head), br)))
					if err != nil {
						return
					}
					u.mu.Lock()
					u.heads = append(u.heads, head)
					u.count++
					u.mu.Unlock()
					fn(c, br, head, req)
					if req.Close {
						return
					}
				}
			}()
		}
	}()
	return u
}

// readRawHead reads a request head without its body, consuming it from br.
func readRawHead(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		sb.WriteString(line)
		if line == "\r\n" || line == "\n" {
			return sb.String(), nil
		}
	}
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *rawUpstream) lastHead() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.heads) == 0 {
		return ""
	}
	return u.heads[len(u.heads)-1]
}

func (u *rawUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count
}

// rawDo sends raw request bytes to addr and returns the parsed response with its body read.
func rawDo(t testing.TB, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioDeadline))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var req *http.Request
	if strings.HasPrefix(raw, "HEAD ") {
		req = &http.Request{Method: "HEAD"}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, body
}

// headerLines returns the header lines of a raw head, without the request line.
func headerLines(head string) []string {
	lines := strings.Split(strings.TrimRight(head, "\r\n"), "\r\n")
	return lines[1:]
}

func hasLine(head, line string) bool {
	for _, l := range headerLines(head) {
		if l == line {
			return true
		}
	}
	return false
}

func hasName(head, name string) bool {
	for _, l := range headerLines(head) {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// ok200 writes a small fixed response.
func ok200(c net.Conn, _ *bufio.Reader, _ string, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
}

func cfgFor(upstream string) Config {
	return Config{Upstream: upstream}
}
