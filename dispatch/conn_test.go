package dispatch

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A receiver whose keep-alive timeout is shorter than the client's (Node.js, Apache: 5 s;
// here 200 ms) closes the idle connection first. The next delivery must not fail because of
// it: before the fix it went out on the closed connection and failed with "the server
// closed connection before returning the first response byte", a false failure that cost
// a retry delay and, in a burst, opened the breaker.
func TestDeliveryAfterReceiverClosedIdleConnection(t *testing.T) {
	var mu sync.Mutex
	got := 0
	closed := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.IdleTimeout = 200 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	h := start(t, memCfg(), []Webhook{webhook("short", srv.URL, "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
		t.Fatalf("first delivery: %+v, want delivered", e.a)
	}
	// The receiver closes the idle connection (an event, not a sleep).
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("receiver did not close the idle connection within 30s")
	}
	enqueue(t, h.d, event("page_created", 2))
	e := h.next(t)
	if e.a == nil || e.a.Outcome != "delivered" || e.a.Attempt != 1 || e.a.Error != "" {
		t.Fatalf("delivery after the idle gap: %+v, want delivered on its first attempt", e.a)
	}
	hs := h.hookStats(t, "short")
	mu.Lock()
	n := got
	mu.Unlock()
	if hs.Delivered != 2 || hs.Failed != 0 || n != 2 {
		t.Errorf("got %d delivered, %d failed, receiver saw %d; want 2, 0, 2", hs.Delivered, hs.Failed, n)
	}
}

// The resend is exactly one, and only for a reused connection: a receiver that closes
// every connection without answering (except the very first request) gets the first
// request, then for the second delivery the stale reused connection's request and one
// resend on a new connection, which fails like any other failure; a failure on a fresh
// connection is not resent.
func TestStaleConnectionResentOnceOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	conns, reqs := 0, 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			first := conns == 1
			mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = req.Body.Read(make([]byte, 1<<16))
					mu.Lock()
					reqs++
					mu.Unlock()
					if !first || i > 0 {
						return // closed before any response byte
					}
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
				}
			}()
		}
	}()
	cfg := memCfg()
	cfg.Retry = []time.Duration{} // a failure is dead at once
	h := start(t, cfg, []Webhook{webhook("rude", "http://"+ln.Addr().String()+"/hook", "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
		t.Fatalf("first delivery: %+v, want delivered", e.a)
	}
	enqueue(t, h.d, event("page_created", 2))
	if e := h.next(t); e.a == nil || e.a.Outcome != "connection" {
		t.Fatalf("second delivery: %+v, want a connection failure", e.a)
	}
	mu.Lock()
	c, r := conns, reqs
	mu.Unlock()
	if c != 2 || r != 3 {
		t.Errorf("receiver saw %d connections, %d requests; want 2 and 3 (one resend, on a new connection)", c, r)
	}
	enqueue(t, h.d, event("page_created", 3)) // a fresh connection that fails: no resend
	if e := h.next(t); e.a == nil || e.a.Outcome != "connection" {
		t.Fatalf("third delivery: %+v, want a connection failure", e.a)
	}
	mu.Lock()
	c, r = conns, reqs
	mu.Unlock()
	if c != 3 || r != 4 {
		t.Errorf("receiver saw %d connections, %d requests; want 3 and 4 (no resend on a fresh connection)", c, r)
	}
}
