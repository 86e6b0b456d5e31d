package dispatch

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

// memMessage is a message with a distinct ID for memory queue tests.
func memMessage(i int) *Message {
	m := &Message{Event: "page_created", Payload: []byte(`{"page":{"id":` + itoa(i) + `}}`)}
	copy(m.ID[:], "0123456789abcdef0000000000000000")
	m.ID[IDLen-1] = "0123456789abcdef"[i%16]
	m.ID[IDLen-2] = "0123456789abcdef"[i/16%16]
	return m
}

// killAll publishes n events (from first) to every subscribed hook, fetches them for hook
// and dead-letters them.
func killAll(t *testing.T, q *MemoryQueue, hook string, first, n int) {
	t.Helper()
	ctx := context.Background()
	for i := first; i < first+n; i++ {
		if err := q.Publish(ctx, memMessage(i)); err != nil {
			t.Fatalf("Publish(%d): %v", i, err)
		}
	}
	ds, err := q.Fetch(ctx, hook, make([]*Delivery, 0, n))
	if err != nil || len(ds) != n {
		t.Fatalf("Fetch: %d deliveries, %v; want %d", len(ds), err, n)
	}
	for _, d := range ds {
		if err := q.Dead(d, "retries exhausted: status_4xx 400"); err != nil {
			t.Fatal(err)
		}
	}
}

func deadIDs(t *testing.T, q *MemoryQueue, hook string) []int {
	t.Helper()
	dls, err := q.DeadLetters(context.Background(), hook, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, dl := range dls {
		n, err := strconv.ParseUint(dl.ID.String()[IDLen-2:], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int(n))
	}
	return out
}

// A receiver that rejects everything for days turns every delivery into a dead letter.
// Dead letters must not count toward the queue's size: with size of them kept, the queue
// still takes new events (before the fix Publish returned ErrQueueFull for good, and with
// on_store_error = "reject" every tapped write got a 503).
func TestMemoryQueueDeadLettersDoNotFillIt(t *testing.T) {
	ctx := context.Background()
	q := NewMemoryQueue(4)
	if err := q.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Subscribe(ctx, Subscription{Hook: "h", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	killAll(t, q, "h", 0, 4)
	if err := q.Publish(ctx, memMessage(4)); err != nil {
		t.Fatalf("Publish with 4 dead letters in a queue of 4: %v, want nil", err)
	}
	// The queue still holds size live events beside them.
	for i := 5; i < 8; i++ {
		if err := q.Publish(ctx, memMessage(i)); err != nil {
			t.Fatalf("Publish(%d): %v, want nil", i, err)
		}
	}
	qd, _ := q.Depth(ctx)
	if qd.Events != 8 || qd.Hooks["h"].Pending != 4 || qd.Hooks["h"].Dead != 4 {
		t.Fatalf("got depth %+v, want 8 events: 4 pending, 4 dead", qd)
	}
	// Full of live events: the 9th evicts the oldest pending one, not a dead letter.
	if err := q.Publish(ctx, memMessage(8)); err != nil {
		t.Fatal(err)
	}
	if qd, _ := q.Depth(ctx); qd.Evicted != 1 || qd.Hooks["h"].Dead != 4 || qd.Hooks["h"].Pending != 4 {
		t.Errorf("got depth %+v, want 1 evicted, 4 pending, 4 dead", qd)
	}
}

// Dead letters have a bound of their own (size, in all): a new one displaces the oldest of
// the hook with the most, and each is counted.
func TestMemoryQueueDeadLetterBound(t *testing.T) {
	ctx := context.Background()
	q := NewMemoryQueue(4)
	_ = q.Open(ctx)
	_ = q.Subscribe(ctx, Subscription{Hook: "a", Events: []string{"*"}})
	killAll(t, q, "a", 0, 3) // a: 0 1 2
	_ = q.Subscribe(ctx, Subscription{Hook: "b", Events: []string{"*"}})
	// Events 10.. go to a and b; only b's die; a's are acked.
	for i := 10; i < 13; i++ {
		if err := q.Publish(ctx, memMessage(i)); err != nil {
			t.Fatal(err)
		}
		as, _ := q.Fetch(ctx, "a", make([]*Delivery, 0, 1))
		bs, _ := q.Fetch(ctx, "b", make([]*Delivery, 0, 1))
		if len(as) != 1 || len(bs) != 1 {
			t.Fatalf("event %d: fetched %d for a, %d for b", i, len(as), len(bs))
		}
		_ = q.Ack(as[0])
		_ = q.Dead(bs[0], "retries exhausted")
	}
	// 10 fits (4 in all). 11 displaces a's oldest (a has 3, b would have 2). For 12, b
	// would have 3 and a has 2: b's own oldest goes.
	if got := deadIDs(t, q, "a"); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("a's dead letters %v, want [1 2]", got)
	}
	if got := deadIDs(t, q, "b"); len(got) != 2 || got[0] != 11 || got[1] != 12 {
		t.Errorf("b's dead letters %v, want [11 12]", got)
	}
	qd, _ := q.Depth(ctx)
	if qd.DeadEvicted != 2 || qd.Hooks["a"].DeadEvicted != 1 || qd.Hooks["b"].DeadEvicted != 1 || qd.Events != 4 {
		t.Errorf("got depth %+v, want 2 dead evicted (1 each), 4 events held", qd)
	}
	// A redelivered dead letter is pending again and counts toward size again.
	if n, err := q.RedeliverAll(ctx, "b"); n != 2 || err != nil {
		t.Fatalf("RedeliverAll: %d, %v", n, err)
	}
	if qd, _ := q.Depth(ctx); qd.Hooks["b"].Pending != 2 || qd.Hooks["b"].Dead != 0 || qd.Events != 4 {
		t.Errorf("after RedeliverAll got %+v, want b 2 pending, 0 dead, 4 events", qd)
	}
}

// The dead letters of a deleted webhook can never be listed or redelivered again (admin
// IDs are not reused): PurgeDead frees them, and what they held.
func TestMemoryQueuePurgeDead(t *testing.T) {
	ctx := context.Background()
	q := NewMemoryQueue(4)
	_ = q.Open(ctx)
	_ = q.Subscribe(ctx, Subscription{Hook: "h", Events: []string{"*"}})
	killAll(t, q, "h", 0, 4)
	if n, err := q.Unsubscribe(ctx, "h"); n != 0 || err != nil {
		t.Fatalf("Unsubscribe: %d, %v", n, err)
	}
	if got := deadIDs(t, q, "h"); len(got) != 4 {
		t.Fatalf("after Unsubscribe: dead letters %v, want all 4 kept", got)
	}
	if n, err := q.PurgeDead(ctx, "h"); n != 4 || err != nil {
		t.Fatalf("PurgeDead: %d, %v; want 4", n, err)
	}
	if n, err := q.PurgeDead(ctx, "h"); n != 0 || err != nil {
		t.Errorf("PurgeDead again: %d, %v; want 0, nil", n, err)
	}
	qd, _ := q.Depth(ctx)
	if qd.Events != 0 || qd.Bytes != 0 || len(deadIDs(t, q, "h")) != 0 {
		t.Errorf("after PurgeDead got %+v, want nothing held", qd)
	}
	if err := q.Redeliver(ctx, "h", memMessage(0).ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redeliver of a purged dead letter: %v, want ErrNotFound", err)
	}
}
