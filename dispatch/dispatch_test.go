package dispatch

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestDeliveryHeadersAndSignatures(t *testing.T) {
	rc := newReceiver(t)
	const secret = "s3cret-with-ünïcode"
	w := webhook("chat", rc.URL+"/hook", "page_created")
	w.Secret = secret
	h := start(t, memCfg(), []Webhook{w}, nil, WithVersion("1.2.3"))

	ev := event("page_created", 123456)
	want := string(ev.Payload)
	before := time.Now().Unix()
	enqueue(t, h.d, ev)
	ev.Payload[0] = 'X' // the event is borrowed: the dispatcher must have copied it
	got := rc.next(t)
	after := time.Now().Unix()

	if got.Method != "POST" || got.Path != "/hook" {
		t.Errorf("got %s %s, want POST /hook", got.Method, got.Path)
	}
	if string(got.Body) != want {
		t.Errorf("got body %q, want %q", got.Body, want)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json; charset=utf-8",
		"X-Event-Key":  "page_created",
		"User-Agent":   "hooktap/1.2.3",
	} {
		if g := got.Header.Get(k); g != v {
			t.Errorf("got %s %q, want %q", k, g, v)
		}
	}
	rid, err := uuid.Parse(got.Header.Get("X-Request-Id"))
	if err != nil || rid.Version() != 4 || rid.Variant() != uuid.RFC4122 {
		t.Errorf("got X-Request-Id %q (%v), want a UUID v4", got.Header.Get("X-Request-Id"), err)
	}
	id := got.Header.Get("webhook-id")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("got webhook-id %q, want 32 lowercase hex digits", id)
	}
	ts := got.Header.Get("webhook-timestamp")
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n < before || n > after {
		t.Errorf("got webhook-timestamp %q, want unix seconds in [%d, %d]", ts, before, after)
	}

	// Both signatures, recomputed with the standard library only.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(want))
	if g, w := got.Header.Get("X-Hub-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); g != w {
		t.Errorf("got X-Hub-Signature %q, want %q", g, w)
	}
	mac = hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + ts + "." + want))
	if g, w := got.Header.Get("webhook-signature"), "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)); g != w {
		t.Errorf("got webhook-signature %q, want %q", g, w)
	}
	if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" || e.a.Status != 200 || e.a.ID.String() != id {
		t.Errorf("got settled %+v, want delivered 200 with id %s", e.a, id)
	}
	hist, err := h.d.History("chat")
	if err != nil || len(hist) != 1 || string(hist[0].Body) != `{"ok":true}` || hist[0].Event != "page_created" {
		t.Errorf("got history %+v (%v), want one delivered attempt with the response body", hist, err)
	}
}

func TestUnsignedHasNoSignatureHeaders(t *testing.T) {
	rc := newReceiver(t)
	h := start(t, memCfg(), []Webhook{webhook("plain", rc.URL, "*")}, nil)
	enqueue(t, h.d, event("label_added", 1))
	got := rc.next(t)
	for _, k := range []string{"X-Hub-Signature", "X-Hub-Signature-256", "webhook-signature"} {
		if v, ok := got.Header[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("got %s %q without a secret, want none", k, v)
		}
	}
	if got.Header.Get("webhook-id") == "" || got.Header.Get("webhook-timestamp") == "" {
		t.Errorf("got headers %v, want webhook-id and webhook-timestamp always", got.Header)
	}
}

func TestFanOutFilteringInactiveAndPayloadModes(t *testing.T) {
	pages, all, labels, inactive, full := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	no := false
	off := webhook("off", inactive.URL, "*")
	off.Active = &no
	fullHook := webhook("full", full.URL, "*")
	fullHook.Payload = "full"
	h := start(t, memCfg(), []Webhook{
		webhook("pages", pages.URL, "page_created", "page_updated"),
		webhook("all", all.URL, "*"),
		webhook("labels", labels.URL, "label_added"),
		off, fullHook,
	}, nil)

	pc := event("page_created", 1)
	pc.Full = []byte(`{"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":1,"title":"T"}}`)
	la := event("label_added", 2) // no Full: full-mode webhooks get Payload
	enqueue(t, h.d, pc)
	enqueue(t, h.d, la)

	// 2 (all) + 1 (pages) + 1 (labels) + 2 (full) attempts.
	for i := 0; i < 6; i++ {
		if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
			t.Fatalf("got %+v, want a delivered attempt", e)
		}
	}
	byKey := func(rc *receiver) map[string]request {
		m := map[string]request{}
		for _, r := range rc.got {
			m[r.Header.Get("X-Event-Key")] = r
		}
		return m
	}
	if g := byKey(pages); len(g) != 1 || string(g["page_created"].Body) != string(pc.Payload) {
		t.Errorf("pages got %v, want page_created only, id payload", g)
	}
	if g := byKey(labels); len(g) != 1 || g["label_added"].Body == nil {
		t.Errorf("labels got %v, want label_added only", g)
	}
	ga := byKey(all)
	if len(ga) != 2 {
		t.Errorf("all got %d events, want 2", len(ga))
	}
	gf := byKey(full)
	if string(gf["page_created"].Body) != string(pc.Full) || string(gf["label_added"].Body) != string(la.Payload) {
		t.Errorf("full got %q and %q, want the full payload, then the id payload (no Full)", gf["page_created"].Body, gf["label_added"].Body)
	}
	// One event, one webhook-id, whichever webhook receives it.
	if a, b := ga["page_created"].Header.Get("webhook-id"), byKey(pages)["page_created"].Header.Get("webhook-id"); a == "" || a != b {
		t.Errorf("got webhook-ids %q and %q for one event, want the same", a, b)
	}
	if a, b := ga["page_created"].Header.Get("webhook-id"), ga["label_added"].Header.Get("webhook-id"); a == b {
		t.Errorf("got webhook-id %q for two events, want different", a)
	}
	if n := inactive.count(); n != 0 {
		t.Errorf("inactive webhook got %d requests, want 0", n)
	}
	if hs := h.hookStats(t, "off"); hs.Active || hs.Depth.Pending != 0 {
		t.Errorf("got inactive stats %+v, want inactive with nothing pending", hs)
	}
}

func TestRetryScheduleRedeliverAndDead(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := memCfg()
	cfg.Retry = []time.Duration{5 * time.Second, time.Minute}
	h := start(t, cfg, []Webhook{webhook("flaky", rc.URL, "*")}, fc)

	enqueue(t, h.d, event("page_created", 7))
	first := rc.next(t)
	id := first.Header.Get("webhook-id")
	for i, base := range cfg.Retry {
		e := h.next(t)
		if e.a.Attempt != i+1 || e.a.Outcome != "status_5xx" || e.a.Status != 500 {
			t.Fatalf("got attempt %+v, want attempt %d failed with 500", e.a, i+1)
		}
		due := h.q.dueOf(t, "flaky")
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		if wait := due.Sub(fc.Now()); wait < lo || wait > hi {
			t.Fatalf("after attempt %d: retry in %s, want within [%s, %s]", i+1, wait, lo, hi)
		}
		fc.Advance(hi)
		r := rc.next(t)
		if g := r.Header.Get("webhook-id"); g != id {
			t.Fatalf("attempt %d: got webhook-id %q, want %q (stable)", i+2, g, id)
		}
		if r.Header.Get("X-Request-Id") == first.Header.Get("X-Request-Id") {
			t.Fatalf("attempt %d reused X-Request-Id", i+2)
		}
	}
	if e := h.next(t); e.a.Attempt != 3 {
		t.Fatalf("got attempt %d, want 3", e.a.Attempt)
	}
	dead, err := h.d.Dead(context.Background(), "flaky", 0)
	if err != nil || len(dead) != 1 || dead[0].ID.String() != id || dead[0].Attempts != 3 ||
		dead[0].Reason != "retries exhausted: status_5xx 500" {
		t.Fatalf("got dead letters %+v (%v), want the one delivery, 3 attempts", dead, err)
	}
	hs := h.hookStats(t, "flaky")
	if hs.Failed != 3 || hs.Retried != 2 || hs.Dead != 1 || hs.Failures["status_5xx"] != 3 || hs.Depth.Dead != 1 {
		t.Errorf("got stats %+v, want 3 failed, 2 retried, 1 dead", hs)
	}

	rc.setAnswer(nil)
	if err := h.d.Redeliver(context.Background(), "flaky", id); err != nil {
		t.Fatal(err)
	}
	if r := rc.next(t); r.Header.Get("webhook-id") != id {
		t.Errorf("redelivery got webhook-id %q, want %q", r.Header.Get("webhook-id"), id)
	}
	if e := h.next(t); e.a.Outcome != "delivered" || e.a.Attempt != 1 {
		t.Errorf("got redelivery %+v, want delivered as attempt 1", e.a)
	}
	if err := h.d.Redeliver(context.Background(), "flaky", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Redeliver: got %v, want ErrNotFound", err)
	}
}

func TestRedeliverAll(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 404, nil })
	cfg := memCfg()
	cfg.Retry = []time.Duration{} // never retry: first failure is dead
	h := start(t, cfg, []Webhook{webhook("x", rc.URL, "*")}, nil)
	for i := 0; i < 3; i++ {
		enqueue(t, h.d, event("page_created", i))
	}
	for i := 0; i < 3; i++ {
		h.next(t)
	}
	rc.setAnswer(nil)
	n, err := h.d.RedeliverAll(context.Background(), "x")
	if err != nil || n != 3 {
		t.Fatalf("RedeliverAll: got %d, %v, want 3", n, err)
	}
	for i := 0; i < 3; i++ {
		if e := h.next(t); e.a.Outcome != "delivered" {
			t.Fatalf("got %+v, want delivered", e.a)
		}
	}
	if hs := h.hookStats(t, "x"); hs.Delivered != 3 || hs.Dead != 3 || hs.Depth.Dead != 0 {
		t.Errorf("got %+v, want 3 delivered after 3 dead, none left dead", hs)
	}
}

func TestRetryAfterPausesReceiver(t *testing.T) {
	for _, status := range []int{429, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fc := newFakeClock()
			rc := newReceiver(t)
			rc.setAnswer(func(_ *http.Request, n int) (int, map[string]string) {
				if n == 1 {
					return status, map[string]string{"Retry-After": "120"}
				}
				return 200, nil
			})
			cfg := memCfg()
			cfg.Retry = []time.Duration{time.Second}
			h := start(t, cfg, []Webhook{webhook("busy", rc.URL, "*")}, fc)
			enqueue(t, h.d, event("page_created", 1))
			rc.next(t)
			if e := h.next(t); e.a.Outcome != "throttled" {
				t.Fatalf("got %+v, want throttled", e.a)
			}
			hs := h.hookStats(t, "busy")
			if want := fc.Now().Add(120 * time.Second); !hs.PausedUntil.Equal(want) {
				t.Errorf("got paused until %v, want %v", hs.PausedUntil, want)
			}
			if due := h.q.dueOf(t, "busy"); due.Sub(fc.Now()) < 120*time.Second {
				t.Errorf("retry due in %s, want at least Retry-After 120s", due.Sub(fc.Now()))
			}
			enqueue(t, h.d, event("page_created", 2)) // ready now, but the receiver is paused
			fc.Advance(119 * time.Second)
			if hs := h.hookStats(t, "busy"); hs.Depth.Pending != 2 || rc.count() != 1 {
				t.Errorf("before Retry-After: %d pending, %d requests; want 2 pending, 1 request", hs.Depth.Pending, rc.count())
			}
			fc.Advance(time.Second)
			for i := 0; i < 2; i++ {
				if e := h.next(t); e.a.Outcome != "delivered" {
					t.Fatalf("got %+v, want delivered after the pause", e.a)
				}
			}
		})
	}
}

func TestGoneDeactivates(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 410, nil })
	h := start(t, memCfg(), []Webhook{webhook("old", rc.URL, "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	if e := h.next(t); e.a.Outcome != "gone" {
		t.Fatalf("got %+v, want gone", e.a)
	}
	waitFor(t, func() bool { _, ok := h.q.depthOf("old"); return !ok }, "unsubscribed after 410")
	hs := h.hookStats(t, "old")
	if !hs.Gone || hs.Failures["gone"] != 1 || hs.Dead != 1 {
		t.Errorf("got %+v, want gone, counted, dead-lettered", hs)
	}
	enqueue(t, h.d, event("page_created", 2)) // not for a gone webhook
	rc.setAnswer(nil)
	if err := h.d.Reactivate("old"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := h.q.depthOf("old"); return ok }, "subscribed after Reactivate")
	enqueue(t, h.d, event("page_created", 3))
	if e := h.next(t); e.a.Outcome != "delivered" || !strings.Contains(string(rc.got[len(rc.got)-1].Body), `"id":3`) {
		t.Errorf("after Reactivate got %+v, want event 3 delivered", e.a)
	}
	if n := rc.count(); n != 2 {
		t.Errorf("receiver got %d requests, want 2 (event 2 was not for a gone webhook)", n)
	}

	// A reload keeps a gone webhook off unless its URL changes.
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 410, nil })
	enqueue(t, h.d, event("page_created", 4))
	h.next(t)
	waitFor(t, func() bool { _, ok := h.q.depthOf("old"); return !ok }, "unsubscribed after the second 410")
	if err := h.d.SetWebhooks([]Webhook{webhook("old", rc.URL, "*")}); err != nil {
		t.Fatal(err)
	}
	if hs := h.hookStats(t, "old"); !hs.Gone {
		t.Errorf("got %+v after a reload with the same URL, want still gone", hs)
	}
	moved := newReceiver(t)
	if err := h.d.SetWebhooks([]Webhook{webhook("old", moved.URL, "*")}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, h.d, event("page_created", 5))
	if r := moved.next(t); !strings.Contains(string(r.Body), `"id":5`) {
		t.Errorf("new URL got %s, want event 5", r.Body)
	}
}

func TestOnSkipDrop(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := memCfg()
	cfg.OnSkip = "drop"
	cfg.Retry = []time.Duration{} // Confluence: no retries either
	cfg.MaxInFlightPerHook = 1
	h := start(t, cfg, []Webhook{webhook("down", rc.URL, "*")}, fc)
	for i := 0; i < 5; i++ {
		enqueue(t, h.d, event("page_created", i))
		h.next(t)
	}
	if hs := h.hookStats(t, "down"); !hs.Breaker.Open {
		t.Fatalf("got breaker %+v after 5 failures, want open", hs.Breaker)
	}
	for i := 0; i < 3; i++ {
		enqueue(t, h.d, event("page_created", 10+i))
		if e := h.next(t); e.a != nil {
			t.Fatalf("got attempt %+v while open, want a skip", e.a)
		}
	}
	if n := rc.count(); n != 5 {
		t.Errorf("receiver got %d requests, want 5 (none while open)", n)
	}
	s, _ := h.d.Stats(context.Background())
	if s.Drops["skipped"] != 3 || s.Hooks[0].Skipped != 3 {
		t.Errorf("got drops %v, skipped %d, want 3 skipped", s.Drops, s.Hooks[0].Skipped)
	}
	fc.Advance(10 * time.Second)
	rc.setAnswer(nil)
	enqueue(t, h.d, event("page_created", 20))
	if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
		t.Fatalf("after the window got %+v, want delivered", e.a)
	}
	if hs := h.hookStats(t, "down"); hs.Breaker.Open || hs.Breaker.Failures != 0 {
		t.Errorf("got breaker %+v after a success, want closed", hs.Breaker)
	}
}

func TestBreakerOpenHoldsBacklog(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := memCfg()
	cfg.MaxInFlightPerHook = 1
	cfg.Retry = []time.Duration{time.Hour}
	h := start(t, cfg, []Webhook{webhook("down", rc.URL, "*")}, fc)
	for i := 0; i < 5; i++ {
		enqueue(t, h.d, event("page_created", i))
		h.next(t)
	}
	enqueue(t, h.d, event("page_created", 99))
	fc.Advance(9 * time.Second)
	hs := h.hookStats(t, "down")
	if !hs.Breaker.Open || hs.Depth.Pending != 6 || rc.count() != 5 || hs.Skipped != 0 {
		t.Fatalf("while open: %+v, %d requests; want open, 6 pending, 5 requests, no skips", hs, rc.count())
	}
	rc.setAnswer(nil)
	fc.Advance(time.Second)
	if e := h.next(t); e.a.Outcome != "delivered" || e.a.Attempt != 1 {
		t.Fatalf("after the window got %+v, want the waiting event delivered as attempt 1", e.a)
	}
}

func TestIsolation(t *testing.T) {
	hang := make(chan struct{})
	hanging, failing, healthy := newReceiver(t), newReceiver(t), newReceiver(t)
	hanging.setAnswer(func(r *http.Request, _ int) (int, map[string]string) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return 200, nil
	})
	failing.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := memCfg()
	cfg.MaxInFlight = 16
	cfg.MaxInFlightPerHook = 4
	h := start(t, cfg, []Webhook{
		webhook("hanging", hanging.URL, "*"), webhook("failing", failing.URL, "*"), webhook("healthy", healthy.URL, "*"),
	}, nil)
	t.Cleanup(func() { close(hang) }) // runs before the dispatcher stops and the receivers close
	const n = 2000
	for i := 0; i < n; i++ {
		enqueue(t, h.d, event("page_created", i))
	}
	seen := make(map[string]bool, n)
	for len(seen) < n {
		r := healthy.next(t)
		seen[r.Header.Get("webhook-id")] = true
	}
	if hs := h.hookStats(t, "healthy"); hs.Depth.Pending != 0 {
		t.Errorf("healthy has %d pending, want 0", hs.Depth.Pending)
	}
	if hs := h.hookStats(t, "hanging"); hs.InFlight > 4 {
		t.Errorf("hanging has %d in flight, want at most the per-hook cap 4", hs.InFlight)
	}
}

func TestMemoryQueueFullIsCounted(t *testing.T) {
	for _, policy := range []string{"reject", "pass"} {
		t.Run(policy, func(t *testing.T) {
			hang := make(chan struct{})
			rc := newReceiver(t)
			rc.setAnswer(func(r *http.Request, _ int) (int, map[string]string) {
				select {
				case <-hang:
				case <-r.Context().Done():
				}
				return 200, nil
			})
			cfg := memCfg()
			cfg.MemoryQueueSize = 1
			cfg.MaxInFlightPerHook = 1
			cfg.OnStoreError = policy
			h := start(t, cfg, []Webhook{webhook("slow", rc.URL, "*")}, nil)
			t.Cleanup(func() { close(hang) })
			enqueue(t, h.d, event("page_created", 1))
			rc.next(t) // in flight, still held; nothing pending that could make room
			err := h.d.Enqueue(event("page_created", 2))
			if policy == "reject" && !errors.Is(err, ErrQueueFull) {
				t.Errorf("got %v, want ErrQueueFull", err)
			}
			if policy == "pass" && err != nil {
				t.Errorf("got %v, want nil with on_store_error = pass", err)
			}
			s, _ := h.d.Stats(context.Background())
			if s.Drops["queue_full"] != 1 || s.Accepted != 1 || s.Queue.Events != 1 {
				t.Errorf("got drops %v, accepted %d, held %d; want 1 queue_full, 1 accepted, 1 held", s.Drops, s.Accepted, s.Queue.Events)
			}
		})
	}
}

func TestMemoryQueueFullEvictsLongestBacklog(t *testing.T) {
	hang := make(chan struct{})
	down, up := newReceiver(t), newReceiver(t)
	down.setAnswer(func(r *http.Request, _ int) (int, map[string]string) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return 200, nil
	})
	cfg := memCfg()
	cfg.MemoryQueueSize = 3
	cfg.MaxInFlightPerHook = 1
	h := start(t, cfg, []Webhook{webhook("down", down.URL, "*"), webhook("up", up.URL, "*")}, nil)
	t.Cleanup(func() { close(hang) })
	const n = 10
	for i := 1; i <= n; i++ {
		enqueue(t, h.d, event("page_created", i))
		if e := h.next(t); e.hook != "up" || e.a.Outcome != "delivered" {
			t.Fatalf("event %d: got %s %+v, want delivered to up", i, e.hook, e.a)
		}
		if i == 1 {
			down.next(t) // event 1 is in flight to down from now on
		}
	}
	if got := up.count(); got != n {
		t.Errorf("up got %d, want all %d", got, n)
	}
	s, _ := h.d.Stats(context.Background())
	// down: event 1 in flight, the 2 newest pending, the rest evicted.
	if s.Drops["evicted"] != n-3 || s.Drops["queue_full"] != 0 || s.Hooks[0].Evicted != n-3 ||
		s.Hooks[0].Depth.Pending != 2 || s.Hooks[1].Evicted != 0 || s.Queue.Events != 3 {
		t.Errorf("got drops %v, down %+v, up evicted %d, held %d; want %d evicted from down only, 2 pending, 3 held",
			s.Drops, s.Hooks[0], s.Hooks[1].Evicted, s.Queue.Events, n-3)
	}
}

func TestShutdownClosesIntake(t *testing.T) {
	rc := newReceiver(t)
	h := start(t, memCfg(), []Webhook{webhook("a", rc.URL, "*")}, nil)
	enqueue(t, h.d, event("page_created", 1))
	rc.next(t)
	h.stop()
	if err := h.d.Enqueue(event("page_created", 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after shutdown: got %v, want ErrClosed", err)
	}
	s, _ := h.d.Stats(context.Background())
	if s.Drops["closed"] != 1 {
		t.Errorf("got drops %v, want 1 closed", s.Drops)
	}
}

func TestSetWebhooksAtRuntime(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	h := start(t, memCfg(), []Webhook{webhook("a", a.URL, "*")}, nil)
	if err := h.d.SetHooks([]Hook{
		{ID: "a", Webhook: webhook("a", a.URL, "page_created")},
		{ID: "api-7", Webhook: webhook("made by the API", b.URL, "*")},
	}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, h.d, event("label_added", 1))
	if r := b.next(t); r.Header.Get("X-Event-Key") != "label_added" {
		t.Errorf("new hook got %q, want label_added", r.Header.Get("X-Event-Key"))
	}
	h.next(t)
	if err := h.d.SetHooks([]Hook{{ID: "a", Webhook: webhook("a", a.URL, "*")}}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, h.d, event("page_created", 2))
	if r := a.next(t); !strings.Contains(string(r.Body), `"id":2`) {
		t.Errorf("got %s, want event 2", r.Body)
	}
	h.next(t)
	if a.count() != 1 || b.count() != 1 {
		t.Errorf("got %d and %d requests, want 1 and 1 (filter changed; api-7 removed)", a.count(), b.count())
	}
	if _, err := h.d.History("api-7"); !errors.Is(err, ErrNotFound) {
		t.Errorf("History of a removed hook: got %v, want ErrNotFound", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Setenv("HOOKTAP_TEST_SECRET", "from-env")
	ok := webhook("ok", "http://127.0.0.1:9/x", "*")
	ok.SecretEnv = "HOOKTAP_TEST_SECRET"
	d, err := New(memCfg(), []Webhook{ok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.hook("ok").cfg.Load().secret; got != "from-env" {
		t.Errorf("got secret %q, want it from secret_env", got)
	}
	if d.set.maxInFlight != 500 || d.set.perHook != 64 || d.set.timeout != 20*time.Second || len(d.set.retry) != 6 ||
		d.set.queueSize != 65536 || d.set.historySize != 100 || d.set.enqueueTimeout != 5*time.Second {
		t.Errorf("got settings %+v, want the documented defaults", d.set)
	}

	long := webhook("long", "http://127.0.0.1:9/", "*")
	long.Secret = strings.Repeat("x", 256)
	bad := []Webhook{
		webhook("", "http://127.0.0.1:9/", "*"),
		webhook("ftp", "ftp://127.0.0.1/", "*"),
		webhook("ev", "http://127.0.0.1:9/", "page_made"),
		webhook("star", "http://127.0.0.1:9/", "*", "page_created"),
		webhook("none", "http://127.0.0.1:9/"),
		long,
		{Name: "env", URL: "http://127.0.0.1:9/", Events: []string{"*"}, SecretEnv: "HOOKTAP_TEST_UNSET_VAR"},
		webhook("dup", "http://127.0.0.1:9/", "*"), webhook("dup", "http://127.0.0.1:9/", "*"),
	}
	cfg := memCfg()
	cfg.OnSkip = "sometimes"
	_, err = New(cfg, bad, nil)
	if err == nil {
		t.Fatal("got no error, want one per problem")
	}
	for _, want := range []string{"name is required", "ftp://", `unknown event "page_made"`, `"*" (every event) must be the only`,
		"events is required", "at most 255", "HOOKTAP_TEST_UNSET_VAR", `"dup" is not unique`, "on_skip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to mention %q", err, want)
		}
	}
	if d, err := New(Config{}, nil, nil); err != nil {
		t.Errorf("default queue: %v", err)
	} else if _, ok := d.queue.(*JetStreamQueue); !ok {
		t.Errorf("default queue is a %T, want the JetStream queue (queue = disk)", d.queue)
	}
	if _, err := New(Config{Queue: "carrier-pigeon"}, []Webhook{webhook("", "x", "*")}, nil); err == nil ||
		!strings.Contains(err.Error(), "carrier-pigeon") || !strings.Contains(err.Error(), "name is required") {
		t.Errorf("got %v, want the unknown queue and the webhook error together", err)
	}
}

func TestPing(t *testing.T) {
	rc := newReceiver(t)
	lo, err := NewTargetPolicy(memCfg().AllowTargets)
	if err != nil {
		t.Fatal(err)
	}
	Ping := func(ctx context.Context, url string) PingResult { return PingWith(ctx, url, lo) }
	res := Ping(context.Background(), rc.URL+"/p")
	got := rc.next(t)
	if string(got.Body) != `{"test": true}` || got.Header.Get("X-Event-Key") != "diagnostics:ping" ||
		got.Header.Get("X-Request-Id") == "" || got.Header.Get("X-Hub-Signature") != "" {
		t.Errorf("got %q with %v, want the unsigned ping", got.Body, got.Header)
	}
	if res.Status != 200 || !res.OK || res.Error != "" || res.Body != `{"ok":true}` || res.Duration <= 0 {
		t.Errorf("got %+v, want 200 with the body", res)
	}
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	if res := Ping(context.Background(), rc.URL); res.Status != 500 || res.OK {
		t.Errorf("got %+v, want 500 not OK", res)
	}
	rc.Close()
	if res := Ping(context.Background(), rc.URL); res.Error == "" || res.Status != 0 {
		t.Errorf("got %+v from a closed receiver, want an error", res)
	}
}

// waitFor waits for cond, which other goroutines make true, up to a generous deadline.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// dueOf returns the due time of the one delayed delivery of hook.
func (q *MemoryQueue) dueOf(t *testing.T, hook string) time.Time {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hooks[hook]
	if h == nil || len(h.delayed) == 0 {
		t.Fatalf("hook %q has no delayed delivery", hook)
	}
	return h.delayed[0].due
}

func (q *MemoryQueue) depthOf(hook string) (HookDepth, bool) {
	d, _ := q.Depth(context.Background())
	hd, ok := d.Hooks[hook]
	return hd, ok
}

// A receiver that answers 400 for days turns every delivery into a dead letter. The writes
// of the wiki must keep being accepted (before the fix, once memory_queue_size dead letters
// were kept every Enqueue returned ErrQueueFull, which on_store_error = "reject" turns into
// a 503 for every tapped write); dead letters beyond their own bound are dropped, oldest
// first, and counted; a deactivated webhook keeps its dead letters, a deleted one frees them.
func TestDeadLettersNeitherFillTheQueueNorOutliveTheirWebhook(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 400, nil })
	cfg := memCfg()
	cfg.MemoryQueueSize = 2
	cfg.Retry = []time.Duration{} // first failure is dead
	cfg.OnStoreError = "reject"
	h := start(t, cfg, []Webhook{webhook("rejects", rc.URL, "*")}, nil)
	const n = 6
	for i := 1; i <= n; i++ {
		if err := h.d.Enqueue(event("page_created", i)); err != nil {
			t.Fatalf("Enqueue(%d) with %d dead letters kept: %v, want nil", i, i-1, err)
		}
		if e := h.next(t); e.a == nil || e.a.Status != 400 {
			t.Fatalf("event %d: got %+v, want a 400", i, e.a)
		}
	}
	s, _ := h.d.Stats(context.Background())
	if s.Accepted != n || s.Drops["queue_full"] != 0 || s.Drops["dead_evicted"] != n-2 ||
		s.Hooks[0].DeadEvicted != n-2 || s.Hooks[0].Depth.Dead != 2 || s.Hooks[0].Dead != n {
		t.Fatalf("got accepted %d, drops %v, hook %+v; want %d accepted and dead, %d dead_evicted, the newest 2 kept",
			s.Accepted, s.Drops, s.Hooks[0], n, n-2)
	}
	dead, err := h.d.Dead(context.Background(), "rejects", 0)
	if err != nil || len(dead) != 2 {
		t.Fatalf("Dead: %+v, %v; want 2", dead, err)
	}

	// Deactivated: unsubscribed, dead letters kept.
	off := webhook("rejects", rc.URL, "*")
	off.Active = new(bool)
	if err := h.d.SetWebhooks([]Webhook{off}); err != nil {
		t.Fatal(err)
	}
	if dead, err := h.d.Dead(context.Background(), "rejects", 0); err != nil || len(dead) != 2 {
		t.Fatalf("deactivated: Dead %+v, %v; want the 2 kept", dead, err)
	}
	// Deleted: its dead letters are freed and counted.
	if err := h.d.SetWebhooks(nil); err != nil {
		t.Fatal(err)
	}
	s, _ = h.d.Stats(context.Background())
	if s.Drops["dead_deleted"] != 2 || s.Queue.Events != 0 || s.Queue.Bytes != 0 {
		t.Errorf("after deleting the webhook got drops %v, queue %+v; want 2 dead_deleted, nothing held",
			s.Drops, s.Queue)
	}
}

// When the breaker's window ends, one delivery (the probe) goes out; the backlog waits for
// its outcome. Before, up to max_in_flight_per_hook went out at once to a receiver likely
// still down, each using up a step of its retry schedule and each lengthening the window.
func TestBreakerHalfOpenSendsOneProbe(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := memCfg()
	cfg.MaxInFlightPerHook = 8
	cfg.Retry = []time.Duration{time.Hour}
	h := start(t, cfg, []Webhook{webhook("down", rc.URL, "*")}, fc)
	for i := 0; i < 5; i++ {
		enqueue(t, h.d, event("page_created", i))
		h.next(t)
	}
	for i := 0; i < 6; i++ {
		enqueue(t, h.d, event("page_created", 10+i))
	}
	if hs := h.hookStats(t, "down"); !hs.Breaker.Open || hs.Depth.Pending != 11 {
		t.Fatalf("got %+v, want open with 11 pending (5 retries, 6 new)", hs)
	}
	fc.Advance(10 * time.Second)
	if e := h.next(t); e.a == nil || e.a.Status != 500 {
		t.Fatalf("probe: got %+v, want a 500", e.a)
	}
	waitFor(t, func() bool { return h.hookStats(t, "down").InFlight == 0 }, "no attempt in flight")
	hs := h.hookStats(t, "down")
	if rc.count() != 6 || hs.Failed != 6 || hs.Breaker.Opens != 2 || !hs.Breaker.Open || hs.Depth.Pending != 11 {
		t.Fatalf("after the probe failed: %d requests, %+v; want 6 requests, 6 failed, reopened once, 11 pending", rc.count(), hs)
	}
	if got := h.d.hook("down").br.openFor(); got != 12*time.Second {
		t.Errorf("reopened for %s, want 12s", got)
	}
	// The next window ends and the receiver is back: the probe closes the breaker and the
	// backlog (5 new events; the first probe and the first 5 events are due again in an
	// hour) follows.
	rc.setAnswer(nil)
	fc.Advance(12 * time.Second)
	for i := 0; i < 5; i++ {
		if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
			t.Fatalf("after the window: got %+v, want delivered", e.a)
		}
	}
	waitFor(t, func() bool { return h.hookStats(t, "down").InFlight == 0 }, "no attempt in flight")
	if hs := h.hookStats(t, "down"); hs.Breaker.Open || hs.Delivered != 5 || hs.Depth.Pending != 6 || rc.count() != 11 {
		t.Errorf("got %+v, %d requests; want closed, 5 delivered, 6 retries pending, 11 requests", hs, rc.count())
	}
}
