package dispatch

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"hooktap/internal/testkit"
	"hooktap/rules"
)

// allocRig is a dispatcher on a memory queue with one subscribed hook to a fasthttp receiver
// on loopback, driven by hand (no Run) so that one delivery can be measured alone.
type allocRig struct {
	d   *Dispatcher
	q   *MemoryQueue
	h   *hook
	w   *worker
	ev  *rules.Event
	buf []*Delivery
}

func newAllocRig(tb testing.TB) *allocRig {
	tb.Helper()
	addr := testkit.ServeFast(tb, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) })
	w := webhook("bench", "http://"+addr+"/hook", "*")
	w.Secret = "s3cret"
	set, err := resolveSettings(memCfg())
	if err != nil {
		tb.Fatal(err)
	}
	q := newMemoryQueue(set.queueSize, realClock{})
	d, err := newDispatcher(set, fromWebhooks([]Webhook{w}), q, nil, realClock{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := q.Subscribe(context.Background(), Subscription{Hook: "bench", Events: []string{"*"}}); err != nil {
		tb.Fatal(err)
	}
	d.open.Store(true)
	d.interest.Store(allEvents) // what Run's reconcile sets for a hook subscribed to "*"
	return &allocRig{d: d, q: q, h: d.hook("bench"), w: newWorker(), ev: event("page_created", 123456),
		buf: make([]*Delivery, 0, 1)}
}

// deliver makes one whole delivery: Enqueue, Fetch, sign, build, POST, record, Ack.
func (r *allocRig) deliver(tb testing.TB) {
	if err := r.d.Enqueue(r.ev); err != nil {
		tb.Fatal(err)
	}
	batch, err := r.q.Fetch(context.Background(), "bench", r.buf[:0])
	if err != nil || len(batch) != 1 {
		tb.Fatalf("Fetch: %d, %v", len(batch), err)
	}
	r.d.attempt(r.w, r.h, batch[0])
	batch[0] = nil
}
