package dispatch

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// noRetry is a memory queue with no retries (a failed attempt is dead at once) and no
// allow_targets: the default policy.
func noRetry() Config {
	return Config{Queue: "memory", Retry: []time.Duration{}}
}

// resolveTo makes h's dispatcher resolve every host name to a, in place of the system
// resolver; the policy checks a all the same.
func resolveTo(h *harness, a netip.Addr) {
	p := *h.d.policy.Load()
	p.lookup = func(context.Context, string) ([]netip.Addr, error) { return []netip.Addr{a}, nil }
	h.d.policy.Store(&p)
}

// TestDialRefusesResolvedLoopback: a host name that resolves to 127.0.0.1 passes the URL
// check but is refused at dial time under the default policy, counted "refused", and the
// receiver gets nothing; with 127.0.0.1 in allow_targets the same webhook is delivered.
func TestDialRefusesResolvedLoopback(t *testing.T) {
	rc := newReceiver(t)
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	hookURL := "http://hooks.example:" + strconv.Itoa(port) + "/x"

	h := start(t, noRetry(), []Webhook{webhook("r", hookURL, "*")}, nil)
	resolveTo(h, netip.MustParseAddr("127.0.0.1"))
	enqueue(t, h.d, event("page_created", 1))
	e := h.next(t)
	if e.a == nil || e.a.Outcome != "refused" || !strings.Contains(e.a.Error, "loopback") {
		t.Fatalf("attempt %+v: want outcome refused, error naming loopback", e.a)
	}
	if n := h.hookStats(t, "r").Failures["refused"]; n != 1 {
		t.Errorf("Failures[refused] = %d, want 1", n)
	}
	if n := rc.count(); n != 0 {
		t.Fatalf("the receiver got %d requests; the policy should have refused the connection", n)
	}

	cfg := noRetry()
	cfg.AllowTargets = []string{"127.0.0.1"}
	h2 := start(t, cfg, []Webhook{webhook("r", hookURL, "*")}, nil)
	resolveTo(h2, netip.MustParseAddr("127.0.0.1"))
	enqueue(t, h2.d, event("page_created", 2))
	if e := h2.next(t); e.a == nil || e.a.Outcome != "delivered" {
		t.Fatalf("allowed: attempt %+v, want delivered", e.a)
	}
}

// TestLiteralLoopbackRefusedAtConfig: without allow_targets, a webhook to 127.0.0.1 (in any
// spelling) is refused when configured; Ping refuses it without a request.
func TestLiteralLoopbackRefusedAtConfig(t *testing.T) {
	rc := newReceiver(t)
	u, _ := url.Parse(rc.URL)
	for _, host := range []string{"127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "localhost"} {
		_, err := New(noRetry(), []Webhook{webhook("r", "http://"+host+":"+u.Port()+"/x", "*")}, nil)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: New: %v, want a refusal", host, err)
		}
	}
	d, err := New(noRetry(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := d.Ping(context.Background(), rc.URL); res.OK || !strings.Contains(res.Error, "refused") {
		t.Fatalf("Ping %s: %+v, want refused", rc.URL, res)
	}
	if n := rc.count(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// TestOwnListenerRefusedAtDial: hooktap's own listener is refused at dial time even when
// allow_targets allows its address (a loop), counted "refused".
func TestOwnListenerRefusedAtDial(t *testing.T) {
	rc := newReceiver(t)
	h := start(t, Config{Queue: "memory", Retry: []time.Duration{}, AllowTargets: []string{"127.0.0.1"}},
		[]Webhook{webhook("self", rc.URL+"/x", "*")}, nil)
	h.d.SetOwnListeners(rc.Listener.Addr().String())
	enqueue(t, h.d, event("page_created", 1))
	e := h.next(t)
	if e.a == nil || e.a.Outcome != "refused" || !strings.Contains(e.a.Error, "own listener") {
		t.Fatalf("attempt %+v: want refused as hooktap's own listener", e.a)
	}
	if n := rc.count(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// bigReceiver answers every request with status and a body of size bytes (with a
// Content-Length when length is set), and reports on wrote whether writing it all succeeded.
func bigReceiver(t *testing.T, status, size int, length bool) (*httptest.Server, chan error) {
	t.Helper()
	wrote := make(chan error, 10)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if length {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.WriteHeader(status)
		var err error
		for n := 0; n < size && err == nil; n += len(chunk) {
			_, err = w.Write(chunk[:min(len(chunk), size-n)])
		}
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		wrote <- err
	}))
	t.Cleanup(srv.Close)
	return srv, wrote
}

// TestBigAnswerIsSuccess: a 2xx is a success whatever its body's size (1 MiB with a
// Content-Length, 8 MiB chunked), and the attempt keeps at most 16 KiB of it.
func TestBigAnswerIsSuccess(t *testing.T) {
	for _, c := range []struct {
		size   int
		length bool
	}{{1 << 20, true}, {8 << 20, false}} {
		srv, _ := bigReceiver(t, http.StatusOK, c.size, c.length)
		h := start(t, noRetryLoopback(), []Webhook{webhook("big", srv.URL+"/x", "*")}, nil)
		enqueue(t, h.d, event("page_created", 1))
		e := h.next(t)
		if e.a == nil || e.a.Outcome != "delivered" {
			t.Fatalf("%d bytes: attempt %+v, want delivered", c.size, e.a)
		}
		if len(e.a.Body) > maxResponseBody {
			t.Errorf("%d bytes: kept %d bytes of the body, want at most %d", c.size, len(e.a.Body), maxResponseBody)
		}
		if n := h.hookStats(t, "big").Retried; n != 0 {
			t.Errorf("%d bytes: retried %d times", c.size, n)
		}
	}
}

// TestAnswerReadOnlyTo16KiB: the client stops reading an endless-looking answer after
// 16 KiB: the receiver's write of 64 MiB fails (the connection is closed), the attempt is
// judged by its status and keeps at most 16 KiB.
func TestAnswerReadOnlyTo16KiB(t *testing.T) {
	srv, wrote := bigReceiver(t, http.StatusInternalServerError, 64<<20, false)
	h := start(t, noRetryLoopback(), []Webhook{webhook("big", srv.URL+"/x", "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	e := h.next(t)
	if e.a == nil || e.a.Outcome != "status_5xx" || e.a.Status != 500 {
		t.Fatalf("attempt %+v, want status_5xx", e.a)
	}
	if len(e.a.Body) > maxResponseBody {
		t.Errorf("kept %d bytes of the body, want at most %d", len(e.a.Body), maxResponseBody)
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("the receiver wrote all 64 MiB: the client read the whole body")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the receiver's write neither finished nor failed within 60s")
	}
}

func noRetryLoopback() Config {
	c := noRetry()
	c.AllowTargets = []string{"127.0.0.1", "::1"}
	return c
}

// TestRedirectNotFollowed: a receiver that answers 302 to another address (here a second
// receiver standing in for an internal service) does not get hooktap to go there: the 3xx
// is the attempt's answer, a failure, and the other address gets nothing.
func TestRedirectNotFollowed(t *testing.T) {
	internal := newReceiver(t)
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) {
		return http.StatusFound, map[string]string{"Location": internal.URL + "/latest/meta-data/"}
	})
	cfg := memCfg()
	cfg.Retry = []time.Duration{}
	h := start(t, cfg, []Webhook{webhook("r", rc.URL, "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	e := h.next(t)
	if e.a == nil || e.a.Status != http.StatusFound || e.a.Outcome == "delivered" {
		t.Fatalf("attempt %+v: want the 302 as the answer, not delivered", e.a)
	}
	if rc.count() != 1 || internal.count() != 0 {
		t.Errorf("receiver got %d requests, the redirect's target %d; want 1 and 0", rc.count(), internal.count())
	}
}

// queueOnly is a Queue that keeps its dead letters nowhere the dispatcher can reach.
type queueOnly struct{ Queue }

// TestNewWithQueueWantsDeadLetterStore: NewWithQueue refuses a queue that is not also the
// store of its dead letters, and takes the built-in ones.
func TestNewWithQueueWantsDeadLetterStore(t *testing.T) {
	if _, err := NewWithQueue(noRetry(), nil, queueOnly{NewMemoryQueue(1)}, nil); err == nil ||
		!strings.Contains(err.Error(), "not a DeadLetterStore") {
		t.Errorf("a Queue without dead-letter store: got %v, want a \"not a DeadLetterStore\" error", err)
	}
	if _, err := NewWithQueue(noRetry(), nil, NewMemoryQueue(1), nil); err != nil {
		t.Errorf("MemoryQueue: got %v, want nil", err)
	}
	jq, err := NewJetStreamQueue(Config{Queue: "disk", DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWithQueue(noRetry(), nil, jq, nil); err != nil {
		t.Errorf("JetStreamQueue: got %v, want nil", err)
	}
}
