package dispatch

import (
	"context"
	"time"
)

type deadItem struct {
	d      *Delivery
	died   time.Time
	reason string
}

// memDead is one hook's dead letters, oldest first, and the count dropped to stay within
// the queue's dead-letter bound.
type memDead struct {
	items   []deadItem
	evicted int
}

// Dead implements [Queue].
func (q *MemoryQueue) Dead(d *Delivery, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h := q.settleLocked(d); h == nil {
		return nil
	}
	if q.deadN >= q.size {
		q.evictDeadLocked(d.Hook)
	}
	q.unliveLocked(d.q.(*memMsg), true)
	dl := q.dead[d.Hook]
	if dl == nil {
		dl = new(memDead)
		q.dead[d.Hook] = dl
	}
	dl.items = append(dl.items, deadItem{d: d, died: q.clock.Now(), reason: reason})
	q.deadN++
	return nil
}

// evictDeadLocked drops the oldest dead letter of the hook with the most, counting the
// one that hook is about to get, to make room for it.
func (q *MemoryQueue) evictDeadLocked(hook string) {
	var victim *memDead
	most := 0
	for id, dl := range q.dead {
		n := len(dl.items)
		if id == hook {
			n++
		}
		if len(dl.items) > 0 && n > most {
			victim, most = dl, n
		}
	}
	if victim == nil {
		return
	}
	it := victim.items[0]
	victim.items[0] = deadItem{}
	victim.items = victim.items[1:]
	victim.evicted++
	q.deadEvicted++
	q.deadN--
	q.releaseLocked(it.d, true)
}

// PurgeDead implements [DeadLetterStore]: it discards every dead letter of hook and returns how
// many. Unknown hooks: (0, nil).
func (q *MemoryQueue) PurgeDead(_ context.Context, hook string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dl := q.dead[hook]
	if dl == nil {
		return 0, nil
	}
	n := len(dl.items)
	for _, it := range dl.items {
		q.releaseLocked(it.d, true)
	}
	q.deadN -= n
	delete(q.dead, hook)
	return n, nil
}

// DeadLetters implements [DeadLetterStore].
func (q *MemoryQueue) DeadLetters(_ context.Context, hook string, max int) ([]DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var items []deadItem
	if dl := q.dead[hook]; dl != nil {
		items = dl.items
	}
	if max > 0 && len(items) > max {
		items = items[:max]
	}
	out := make([]DeadLetter, 0, len(items))
	for _, it := range items {
		out = append(out, DeadLetter{
			ID: it.d.ID, Hook: hook, Event: it.d.Event, Time: it.d.Time,
			Accepted: it.d.Accepted, Died: it.died, Attempts: it.d.Attempt, Reason: it.reason,
		})
	}
	return out, nil
}

// Redeliver implements [DeadLetterStore].
func (q *MemoryQueue) Redeliver(_ context.Context, hook string, id ID) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hooks[hook]
	dl := q.dead[hook]
	if dl == nil {
		return ErrNotFound
	}
	for i, it := range dl.items {
		if it.d.ID != id {
			continue
		}
		if h == nil {
			return ErrNotSubscribed
		}
		dl.items = append(dl.items[:i], dl.items[i+1:]...)
		q.deadN--
		q.requeueLocked(h, it.d)
		return nil
	}
	return ErrNotFound
}

// RedeliverAll implements [DeadLetterStore].
func (q *MemoryQueue) RedeliverAll(_ context.Context, hook string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hooks[hook]
	dl := q.dead[hook]
	if dl == nil || len(dl.items) == 0 {
		return 0, nil
	}
	if h == nil {
		return 0, ErrNotSubscribed
	}
	n := len(dl.items)
	for _, it := range dl.items {
		q.requeueLocked(h, it.d)
	}
	q.deadN -= n
	dl.items = nil // dl.evicted stays
	return n, nil
}

// requeueLocked puts the dead letter d back for h, as pending.
func (q *MemoryQueue) requeueLocked(h *memHook, d *Delivery) {
	q.liveLocked(d.q.(*memMsg), true)
	d.Attempt = 1
	d.due = time.Time{}
	h.ready.push(d)
	h.wakeOneLocked()
}

var _ DeadLetterStore = (*MemoryQueue)(nil)
