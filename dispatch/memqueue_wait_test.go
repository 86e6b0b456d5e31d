package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitWaiters waits until n Fetch calls wait for hook in q.
func waitWaiters(t *testing.T, q *MemoryQueue, hook string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		got := len(q.hooks[hook].waiters)
		q.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Fetch calls waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Several goroutines may wait in Fetch for one hook (the crew's workers): each delivery
// published wakes one of them, every delivery reaches exactly one, and Unsubscribe wakes
// those left.
func TestMemoryQueueSharedFetch(t *testing.T) {
	q := NewMemoryQueue(100)
	ctx := context.Background()
	if err := q.Subscribe(ctx, Subscription{Hook: "h", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	const waiters, events = 8, 5
	got := make(chan *Delivery, waiters)
	errs := make(chan error, waiters)
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds, err := q.Fetch(ctx, "h", make([]*Delivery, 0, 1))
			if err != nil {
				errs <- err
				return
			}
			got <- ds[0]
		}()
	}
	waitWaiters(t, q, "h", waiters)
	seen := map[ID]bool{}
	for i := 0; i < events; i++ {
		if err := q.Publish(ctx, memMessage(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if seen[d.ID] {
				t.Fatalf("delivery %s fetched twice", d.ID)
			}
			seen[d.ID] = true
			if err := q.Ack(d); err != nil {
				t.Fatal(err)
			}
		case err := <-errs:
			t.Fatalf("Fetch: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d woke no Fetch", i)
		}
	}
	waitWaiters(t, q, "h", waiters-events)
	if _, err := q.Unsubscribe(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if !errors.Is(err, ErrNotSubscribed) {
			t.Errorf("Fetch after Unsubscribe: %v, want ErrNotSubscribed", err)
		}
		n++
	}
	if n != waiters-events || len(seen) != events {
		t.Errorf("%d Fetch calls ended by Unsubscribe, %d deliveries; want %d and %d", n, len(seen), waiters-events, events)
	}
}

// A Fetch woken for a delivery that then returns because its context ended passes the
// wake-up on, so the delivery does not wait for the next event.
func TestMemoryQueueSharedFetchPassesWakeUp(t *testing.T) {
	q := NewMemoryQueue(100)
	ctx := context.Background()
	if err := q.Subscribe(ctx, Subscription{Hook: "h", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Delivery, 1)
	go func() {
		ds, err := q.Fetch(ctx, "h", make([]*Delivery, 0, 1))
		if err == nil {
			got <- ds[0]
		}
	}()
	waitWaiters(t, q, "h", 1)
	cctx, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() {
		_, err := q.Fetch(cctx, "h", make([]*Delivery, 0, 1))
		ended <- err
	}()
	waitWaiters(t, q, "h", 2)
	// Wake the newest waiter (the one about to be cancelled) and cancel it before it runs:
	// done under the lock, so that it sees both at once.
	q.mu.Lock()
	if err := q.publishLocked(memMessage(1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	q.mu.Unlock()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled Fetch returned %v, want context.Canceled", err)
	}
	select {
	case d := <-got:
		if err := q.Ack(d); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery woke a Fetch that ended, and no other took it")
	}
}
