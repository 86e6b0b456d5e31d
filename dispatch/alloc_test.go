//go:build !race

package dispatch

import (
	"context"
	"testing"
	"time"
)

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
	for i := 0; i < 2*DefaultHistorySize; i++ { // fill the delivery log's ring
		r.deliver(t)
	}
	if n := testing.AllocsPerRun(200, func() { r.deliver(t) }); n != 0 {
		t.Errorf("one whole delivery (enqueue, sign, POST to a loopback receiver, log, ack): %v allocs, want 0", n)
	}
	if got := r.h.count[outDelivered].Load(); got < 400 {
		t.Errorf("delivered %d, want every measured delivery delivered", got)
	}
}
