package dispatch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"hooktap/rules"
)

// fakeClock is a clock that moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_800_000_000, 0), timers: make(map[*fakeTimer]bool)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(at time.Time, f func()) func() bool {
	c.mu.Lock()
	if !at.After(c.now) {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	t := &fakeTimer{at: at, f: f}
	c.timers[t] = true
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := c.timers[t]
		delete(c.timers, t)
		return was
	}
}

// Advance moves the clock and fires the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
			delete(c.timers, t)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// request is what a receiver got.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server on loopback that records what it gets and answers with
// whatever answer says (200 by default).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	ch     chan request
	answer func(r *http.Request, n int) (status int, header map[string]string)
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{ch: make(chan request, 100000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		rc.mu.Lock()
		rc.got = append(rc.got, req)
		n := len(rc.got)
		answer := rc.answer
		rc.mu.Unlock()
		rc.ch <- req // before answering, so that a test can see a request that hangs
		status := http.StatusOK
		if answer != nil {
			var hdr map[string]string
			status, hdr = answer(r, n)
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setAnswer(f func(r *http.Request, n int) (int, map[string]string)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

// next waits for the receiver's next request.
func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-rc.ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver %s: no request within 30s", rc.URL)
		return request{}
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// harness runs a dispatcher on a memory queue with an optional fake clock and reports every
// settled attempt or skip.
type harness struct {
	d       *Dispatcher
	q       *MemoryQueue
	clock   clock
	settled chan settledEvent
	cancel  context.CancelFunc
	done    chan error
}

type settledEvent struct {
	hook string
	a    *Attempt // nil for a skip
}

func memCfg() Config {
	return Config{Queue: "memory", AllowTargets: []string{"127.0.0.1", "::1"}}
}

func start(t *testing.T, cfg Config, hooks []Webhook, c clock, opts ...Option) *harness {
	t.Helper()
	if c == nil {
		c = realClock{}
	}
	set, err := resolveSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := newMemoryQueue(set.queueSize, c)
	d, err := newDispatcher(set, fromWebhooks(hooks), q, nil, c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, q: q, clock: c, settled: make(chan settledEvent, 100000), done: make(chan error, 1)}
	d.settled = func(id string, a *Attempt) {
		var cp *Attempt
		if a != nil {
			x := *a
			x.Body = append([]byte(nil), a.Body...)
			cp = &x
		}
		h.settled <- settledEvent{hook: id, a: cp}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(h.stop)
	select {
	case <-d.ready:
	case err := <-h.done:
		t.Fatalf("Run returned early: %v", err)
	}
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
	h.done <- nil // so that a second stop does not block
}

// next waits for the next settled attempt or skip.
func (h *harness) next(t *testing.T) settledEvent {
	t.Helper()
	select {
	case e := <-h.settled:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no attempt settled within 30s")
		return settledEvent{}
	}
}

func (h *harness) hookStats(t *testing.T, id string) HookStats {
	t.Helper()
	s, err := h.d.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, hs := range s.Hooks {
		if hs.ID == id {
			return hs
		}
	}
	t.Fatalf("no stats for hook %q", id)
	return HookStats{}
}

func event(name string, id int) *rules.Event {
	p := []byte(`{"timestamp":1778071365412,"event":"` + name + `","userKey":"admin","page":{"id":` + itoa(id) + `}}`)
	return &rules.Event{Name: name, Time: 1778071365412, Payload: p}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func webhook(name, url string, events ...string) Webhook {
	return Webhook{Name: name, URL: url, Events: events}
}

func enqueue(t *testing.T, d *Dispatcher, ev *rules.Event) {
	t.Helper()
	if err := d.Enqueue(ev); err != nil {
		t.Fatalf("Enqueue(%s): %v", ev.Name, err)
	}
}
