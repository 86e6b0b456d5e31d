//go:build !race

package dispatch

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) }}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })

	w := webhook("bench", "http://"+ln.Addr().String()+"/hook", "*")
	w.Secret = "s3cret"
	set, err := resolveSettings(memCfg())
	if err != nil {
		tb.Fatal(err)
	}
	q := newMemoryQueue(set.queueSize, realClock{})
	d, err := newDispatcher(set, fromWebhooks([]rules.Webhook{w}), q, nil, realClock{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := q.Subscribe(context.Background(), Subscription{Hook: "bench", Events: []string{"*"}}); err != nil {
		tb.Fatal(err)
	}
	d.open.Store(true)
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

func TestAllocsPrepare(t *testing.T) {
	r := newAllocRig(t)
	cfg := r.h.cfg.Load()
	dl := &Delivery{Message: Message{Event: "page_created", Payload: r.ev.Payload}, Attempt: 1}
	r.d.nextID(&dl.ID)
	now := time.Now()
	r.d.prepare(r.w, cfg, dl, now) // grow the worker's buffers once
	if n := testing.AllocsPerRun(1000, func() { r.d.prepare(r.w, cfg, dl, now) }); n != 0 {
		t.Errorf("prepare (sign both signatures and build headers): %v allocs, want 0", n)
	}
	if !r.w.sign.hasSecret() || len(r.w.req.Header.Peek("webhook-signature")) == 0 {
		t.Fatal("prepare did not sign: the measurement is not of the signed path")
	}
}

func TestAllocsEnqueueFetchAck(t *testing.T) {
	r := newAllocRig(t)
	cycle := func() {
		if err := r.d.Enqueue(r.ev); err != nil {
			t.Fatal(err)
		}
		batch, err := r.q.Fetch(context.Background(), "bench", r.buf[:0])
		if err != nil || len(batch) != 1 {
			t.Fatalf("Fetch: %d, %v", len(batch), err)
		}
		if err := r.q.Ack(batch[0]); err != nil {
			t.Fatal(err)
		}
		batch[0] = nil
	}
	for i := 0; i < 10; i++ {
		cycle()
	}
	if n := testing.AllocsPerRun(1000, cycle); n != 0 {
		t.Errorf("Enqueue + Fetch + Ack: %v allocs, want 0", n)
	}
}

func TestAllocsDelivery(t *testing.T) {
	r := newAllocRig(t)
	for i := 0; i < 2*defaultHistorySize; i++ { // fill the delivery log's ring
		r.deliver(t)
	}
	if n := testing.AllocsPerRun(200, func() { r.deliver(t) }); n != 0 {
		t.Errorf("one whole delivery (enqueue, sign, POST to a loopback receiver, log, ack): %v allocs, want 0", n)
	}
	if got := r.h.count[outDelivered].Load(); got < 400 {
		t.Errorf("delivered %d, want every measured delivery delivered", got)
	}
}
