package dispatch

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestJetStreamGroupAck holds a hook's ack group "on its way" while ten acks arrive, so that
// they collect in one group, then lets it go: every Ack returns nil once the one group is
// confirmed, the consumer holds nothing, and after a restart nothing is delivered again.
func TestJetStreamGroupAck(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	q := openJS(t, cfg)
	const ackWait = time.Second
	subscribe(t, q, "h", ackWait, "page_created")
	const n = 10
	for range n {
		publish(t, q, testMsg("page_created", false))
	}
	held := fetchN(t, q, "h", n)

	a := &q.hooks["h"].acks
	blocker := &ackGroup{done: make(chan struct{})}
	a.mu.Lock()
	a.busy = blocker
	a.mu.Unlock()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, d := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- q.Ack(d)
		}()
	}
	waitUntil(t, "ten acks in the open group", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.open != nil && len(a.open.subjs) == n
	})
	if got := a.groups.Load(); got != 0 {
		t.Fatalf("%d groups sent while the first was held, want 0", got)
	}
	close(blocker.done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if g, k := a.groups.Load(), a.acks.Load(); g != 1 || k != n {
		t.Fatalf("%d groups of %d acks in all, want 1 of %d", g, k, n)
	}
	a.mu.Lock()
	if a.busy != nil || a.open != nil {
		t.Fatalf("after the group: busy %p open %p, want none", a.busy, a.open)
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	qd, err := q.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hd := qd.Hooks["h"]; hd.Pending != 0 || hd.Fetched != 0 {
		t.Fatalf("after the group's confirmation: %+v, want nothing pending or held", hd)
	}

	// One more ack, with nothing on its way: a group of one, at once.
	publish(t, q, testMsg("page_created", false))
	if err := q.Ack(fetchN(t, q, "h", 1)[0]); err != nil {
		t.Fatal(err)
	}
	if g, k := a.groups.Load(), a.acks.Load(); g != 2 || k != n+1 {
		t.Fatalf("%d groups of %d acks in all, want 2 of %d", g, k, n+1)
	}

	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := openJS(t, cfg)
	subscribe(t, q2, "h", ackWait, "page_created")
	fetchNone(t, q2, "h", 2*ackWait)
}
