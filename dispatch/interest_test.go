package dispatch

import (
	"context"
	"strings"
	"testing"

	"hooktap/rules"
)

// TestNoSubscriberIsNotStored checks, on both local queues, that an event no subscribed
// webhook wants is counted and not stored (an inactive webhook subscribes to nothing), that
// a webhook added at runtime gets the events accepted after SetHooks returns, and that
// removing it makes its events unwanted again.
func TestNoSubscriberIsNotStored(t *testing.T) {
	if len(rules.Names) >= 64 {
		t.Fatalf("%d event names: the interest mask has 64 bits", len(rules.Names))
	}
	for _, queue := range []string{"memory", "disk"} {
		t.Run(queue, func(t *testing.T) {
			a, c := newReceiver(t), newReceiver(t)
			off := false
			idle := webhook("idle", c.URL, "*")
			idle.Active = &off
			hooks := []Webhook{webhook("a", a.URL, "page_created"), idle}
			var h *harness
			if queue == "memory" {
				h = start(t, memCfg(), hooks, nil)
			} else {
				h, _ = startJS(t, Config{}, hooks, nil)
			}
			stats := func() Stats {
				t.Helper()
				s, err := h.d.Stats(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return s
			}

			enqueue(t, h.d, event("label_added", 1))
			if s := stats(); s.NoSubscriber != 1 || s.Accepted != 0 || s.Queue.Events != 0 {
				t.Fatalf("unwanted event: NoSubscriber %d, Accepted %d, queue holds %d; want 1, 0, 0",
					s.NoSubscriber, s.Accepted, s.Queue.Events)
			}
			enqueue(t, h.d, event("page_created", 2))
			if r := a.next(t); r.Header.Get("X-Event-Key") != "page_created" {
				t.Fatalf("a got %q, want page_created", r.Header.Get("X-Event-Key"))
			}
			h.next(t)

			all := webhook("all", c.URL, "*")
			if err := h.d.SetWebhooks(append(hooks, all)); err != nil {
				t.Fatal(err)
			}
			enqueue(t, h.d, event("label_added", 3))
			if r := c.next(t); !strings.Contains(string(r.Body), `"id":3`) {
				t.Fatalf("the new webhook got %s, want event 3", r.Body)
			}
			h.next(t)
			if err := h.d.SetWebhooks(hooks); err != nil {
				t.Fatal(err)
			}
			enqueue(t, h.d, event("label_added", 4))
			if s := stats(); s.NoSubscriber != 2 || s.Accepted != 2 {
				t.Fatalf("after removing the webhook: NoSubscriber %d, Accepted %d; want 2, 2", s.NoSubscriber, s.Accepted)
			}
			if n := c.count(); n != 1 {
				t.Fatalf("the removed webhook got %d requests, want 1", n)
			}
		})
	}
}

func TestIsLocal(t *testing.T) {
	js, err := NewJetStreamQueue(Config{Queue: "nats://127.0.0.1:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if isLocal(js) {
		t.Error("an external NATS stream counted as local: events other instances' webhooks want would be skipped")
	}
	emb, err := NewJetStreamQueue(Config{Queue: "disk", DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !isLocal(emb) || !isLocal(NewMemoryQueue(10)) {
		t.Error("the embedded stream and the memory queue must count as local")
	}
}
