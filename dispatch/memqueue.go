package dispatch

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"hooktap/rules"
)

// eventIndex maps an event name to its bit in a memHook's filter mask. Immutable.
var eventIndex = func() map[string]uint {
	m := make(map[string]uint, len(rules.Names))
	for i, n := range rules.Names {
		m[n] = uint(i)
	}
	return m
}()

// maxKeptBuf is the largest payload buffer the memory queue keeps for reuse.
const maxKeptBuf = 64 << 10

// MemoryQueue is the bounded in-process [Queue] (queue = "memory"): the fastest, and lost on
// crash or exit, like Confluence's own dispatch queue. It holds at most size events for
// delivery (an event is stored once and shared by every webhook it goes to, and counts
// toward size while any of them still has it pending or fetched). When it is full, Publish
// makes room by dropping the oldest pending delivery of the webhook with the longest
// backlog (counted per webhook as evicted, see [HookDepth]), until an event is freed, so
// that one receiver that is down cannot stop deliveries to the others nor the writes of
// the wiki; only when no pending delivery is left to drop (everything held is in flight)
// does Publish return [ErrQueueFull], which the dispatcher counts.
//
// Dead letters do not count toward size: they have a bound of their own, size dead letters
// in all. When a new dead letter would exceed it, the oldest dead letter of the webhook
// with the most is dropped (counted per webhook as DeadEvicted, see [HookDepth]), so a
// receiver that rejects everything for days keeps only its newest failures and never
// stops new events from being accepted. [MemoryQueue.PurgeDead] discards a deleted
// webhook's dead letters. A dead letter put back by Redeliver counts toward size again
// (it may take the queue over size until deliveries are settled or evicted).
//
// Fetch for one hook may be called by many goroutines at once (each webhook's workers fetch
// for themselves): every delivery that becomes ready wakes one waiting Fetch, the one that
// began waiting last.
//
// Messages and deliveries are recycled through free lists, so the steady state does not
// allocate.
type MemoryQueue struct {
	size  int
	clock clock

	mu          sync.Mutex // guards everything below
	closed      bool
	closeCh     chan struct{} // closed by Close; never reopened
	held        int           // events held by a pending or fetched delivery (bounded by size)
	bytes       int64         // payload bytes stored, dead letters' included
	evicted     int           // total pending deliveries dropped to make room
	hooks       map[string]*memHook
	list        []*memHook          // subscribed hooks, for fan-out in a stable order
	dead        map[string]*memDead // dead letters by hook; kept across Unsubscribe, not PurgeDead
	deadN       int                 // dead letters kept, all hooks (bounded by size)
	deadOnly    int                 // events held by dead letters only
	deadEvicted int                 // total dead letters dropped to stay within the bound
	msgFree     []*memMsg           // free list, at most size long
	delFree     []*Delivery         // free list, at most size long
}

// memMsg is one stored event and the count of deliveries that still hold it.
type memMsg struct {
	Message
	buf  []byte
	refs int // deliveries holding it: pending, fetched or dead
	live int // of which pending or fetched
}

// memHook is one subscription.
type memHook struct {
	id      string
	all     bool
	mask    uint64          // bit i: rules.Names[i] is subscribed
	ready   deque           // ready now, oldest first
	delayed delayHeap       // waiting for a Retry delay
	fetched int             // fetched, not yet settled
	waiters []chan struct{} // Fetch calls waiting, each on its own 1-buffered channel, newest last
	spare   []chan struct{} // waiters' channels kept for reuse
	removed bool            // unsubscribed: settling only releases
	evicted int             // pending deliveries dropped to make room
}

// NewMemoryQueue returns an empty memory queue holding at most size events (size <= 0: the
// default, 65536).
func NewMemoryQueue(size int) *MemoryQueue {
	return newMemoryQueue(size, realClock{})
}

func newMemoryQueue(size int, c clock) *MemoryQueue {
	if size <= 0 {
		size = DefaultMemoryQueueSize
	}
	return &MemoryQueue{
		size:    size,
		clock:   c,
		closeCh: make(chan struct{}),
		hooks:   make(map[string]*memHook),
		dead:    make(map[string]*memDead),
	}
}

// Open implements [Queue]; the memory queue needs no start-up.
func (q *MemoryQueue) Open(context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	return nil
}

// Publish implements [Queue]. It never waits.
func (q *MemoryQueue) Publish(_ context.Context, m *Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.publishLocked(m)
}

func (q *MemoryQueue) publishLocked(m *Message) error {
	bit, known := eventIndex[m.Event]
	if q.closed {
		return ErrClosed
	}
	var mm *memMsg
	for _, h := range q.list {
		if !h.all && (!known || h.mask&(1<<bit) == 0) {
			continue
		}
		if mm == nil {
			if q.held >= q.size && !q.evictLocked() {
				return ErrQueueFull
			}
			mm = q.newMsgLocked(m)
		}
		d := q.newDeliveryLocked(mm, h)
		h.ready.push(d)
		h.wakeOneLocked()
	}
	return nil
}

// evictLocked drops the oldest pending deliveries of the hooks with the longest backlogs
// until an event is freed, and reports whether one was.
func (q *MemoryQueue) evictLocked() bool {
	for q.held >= q.size {
		var victim *memHook
		for _, h := range q.list {
			if n := h.ready.len() + len(h.delayed); n > 0 && (victim == nil || n > victim.ready.len()+len(victim.delayed)) {
				victim = h
			}
		}
		if victim == nil {
			return false
		}
		var d *Delivery
		if victim.ready.len() > 0 {
			d = victim.ready.pop()
		} else {
			oldest := 0
			for i, x := range victim.delayed {
				if x.Accepted.Before(victim.delayed[oldest].Accepted) {
					oldest = i
				}
			}
			d = heap.Remove(&victim.delayed, oldest).(*Delivery)
		}
		victim.evicted++
		q.evicted++
		q.releaseLocked(d, false)
	}
	return true
}

func (q *MemoryQueue) newMsgLocked(m *Message) *memMsg {
	var mm *memMsg
	if n := len(q.msgFree); n > 0 {
		mm = q.msgFree[n-1]
		q.msgFree[n-1] = nil
		q.msgFree = q.msgFree[:n-1]
	} else {
		mm = new(memMsg)
	}
	mm.buf = append(append(mm.buf[:0], m.Payload...), m.Full...)
	mm.Message = *m
	mm.Payload = mm.buf[:len(m.Payload):len(m.Payload)]
	if m.Full != nil {
		mm.Full = mm.buf[len(m.Payload):]
	}
	q.bytes += int64(len(mm.buf))
	return mm
}

func (q *MemoryQueue) newDeliveryLocked(mm *memMsg, h *memHook) *Delivery {
	var d *Delivery
	if n := len(q.delFree); n > 0 {
		d = q.delFree[n-1]
		q.delFree[n-1] = nil
		q.delFree = q.delFree[:n-1]
	} else {
		d = new(Delivery)
	}
	d.Message = mm.Message
	d.Hook = h.id
	d.Attempt = 1
	d.q = mm
	d.due = time.Time{}
	d.heapIndex = -1
	mm.refs++
	q.liveLocked(mm, false)
	return d
}

// liveLocked counts one more pending or fetched delivery of mm, whose ref is already in
// mm.refs: a new delivery, or (fromDead) a dead letter put back.
func (q *MemoryQueue) liveLocked(mm *memMsg, fromDead bool) {
	if mm.live == 0 {
		q.held++
		if fromDead || mm.refs > 1 {
			q.deadOnly-- // it was held by dead letters only
		}
	}
	mm.live++
}

// unliveLocked counts one pending or fetched delivery of mm less, whose ref is still in
// mm.refs: it is about to be released, or (toDead) it becomes a dead letter.
func (q *MemoryQueue) unliveLocked(mm *memMsg, toDead bool) {
	mm.live--
	if mm.live == 0 {
		q.held--
		if toDead || mm.refs > 1 {
			q.deadOnly++ // dead letters still hold it
		}
	}
}

// releaseLocked drops d's hold on its message and recycles both when unused. dead tells
// whether d is a dead letter (else it is pending or fetched).
func (q *MemoryQueue) releaseLocked(d *Delivery, dead bool) {
	mm := d.q.(*memMsg)
	*d = Delivery{heapIndex: -1}
	if len(q.delFree) < q.size {
		q.delFree = append(q.delFree, d)
	}
	if !dead {
		q.unliveLocked(mm, false)
	} else if mm.live == 0 && mm.refs == 1 {
		q.deadOnly--
	}
	mm.refs--
	if mm.refs > 0 {
		return
	}
	q.bytes -= int64(len(mm.buf))
	mm.Message = Message{}
	if cap(mm.buf) > maxKeptBuf {
		mm.buf = nil
	}
	if len(q.msgFree) < q.size {
		q.msgFree = append(q.msgFree, mm)
	}
}

// Subscribe implements [Queue].
func (q *MemoryQueue) Subscribe(_ context.Context, s Subscription) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	h := q.hooks[s.Hook]
	if h == nil {
		h = &memHook{id: s.Hook}
		q.hooks[s.Hook] = h
		q.list = append(q.list, h)
	}
	h.all, h.mask = false, 0
	for _, e := range s.Events {
		if e == "*" {
			h.all = true
		} else if bit, ok := eventIndex[e]; ok {
			h.mask |= 1 << bit
		}
	}
	return nil
}

// Unsubscribe implements [Queue].
func (q *MemoryQueue) Unsubscribe(_ context.Context, hook string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hooks[hook]
	if h == nil {
		return 0, nil
	}
	delete(q.hooks, hook)
	for i, x := range q.list {
		if x == h {
			q.list = append(q.list[:i], q.list[i+1:]...)
			break
		}
	}
	h.removed = true
	n := 0
	for h.ready.len() > 0 {
		q.releaseLocked(h.ready.pop(), false)
		n++
	}
	for _, d := range h.delayed {
		q.releaseLocked(d, false)
		n++
	}
	h.delayed = nil
	h.wakeAllLocked()
	return n, nil
}

// Fetch implements [Queue].
func (q *MemoryQueue) Fetch(ctx context.Context, hook string, dst []*Delivery) ([]*Delivery, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return dst, ErrClosed
		}
		h := q.hooks[hook]
		if h == nil {
			q.mu.Unlock()
			return dst, ErrNotSubscribed
		}
		now := q.clock.Now()
		for len(h.delayed) > 0 && !h.delayed[0].due.After(now) {
			h.ready.push(heap.Pop(&h.delayed).(*Delivery))
		}
		for len(dst) < cap(dst) && h.ready.len() > 0 {
			dst = append(dst, h.ready.pop())
			h.fetched++
		}
		if len(dst) > 0 || cap(dst) == 0 {
			q.mu.Unlock()
			return dst, nil
		}
		var due time.Time
		if len(h.delayed) > 0 {
			due = h.delayed[0].due
		}
		notify := h.waitLocked()
		q.mu.Unlock()

		var stop func() bool
		if !due.IsZero() {
			stop = q.clock.At(due, func() { poke(notify) })
		}
		woken := false
		select {
		case <-ctx.Done():
		case <-notify:
			woken = true
		case <-q.closeCh:
		}
		if stop != nil {
			stop()
		}
		q.mu.Lock()
		if h.leaveLocked(notify) {
			woken = true
		}
		err := ctx.Err()
		if err != nil && woken && (h.ready.len() > 0 || len(h.delayed) > 0) {
			h.wakeOneLocked() // pass on the wake-up this call leaves unused
		}
		q.mu.Unlock()
		if err != nil {
			return dst, err
		}
	}
}

// settleLocked does the bookkeeping common to Ack, Retry and Dead; it returns d's hook, or
// nil when the hook was unsubscribed meanwhile (and d released).
func (q *MemoryQueue) settleLocked(d *Delivery) *memHook {
	h := q.hooks[d.Hook]
	if h == nil {
		q.releaseLocked(d, false)
		return nil
	}
	h.fetched--
	return h
}

// Ack implements [Queue].
func (q *MemoryQueue) Ack(d *Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h := q.settleLocked(d); h != nil {
		q.releaseLocked(d, false)
	}
	return nil
}

// Retry implements [Queue].
func (q *MemoryQueue) Retry(d *Delivery, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.settleLocked(d)
	if h == nil {
		return nil
	}
	d.Attempt++
	if delay <= 0 {
		h.ready.push(d)
	} else {
		d.due = q.clock.Now().Add(delay)
		heap.Push(&h.delayed, d)
	}
	h.wakeOneLocked() // a ready delivery for it, or a new earliest due time to wait for
	return nil
}

// Depth implements [Queue].
func (q *MemoryQueue) Depth(context.Context) (QueueDepth, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qd := QueueDepth{Events: q.held + q.deadOnly, Bytes: q.bytes, Hooks: make(map[string]HookDepth, len(q.hooks)),
		Evicted: q.evicted, DeadEvicted: q.deadEvicted}
	older := func(a, b time.Time) time.Time {
		if a.IsZero() || (!b.IsZero() && b.Before(a)) {
			return b
		}
		return a
	}
	for id, h := range q.hooks {
		hd := HookDepth{Pending: h.ready.len() + len(h.delayed), Fetched: h.fetched, Evicted: h.evicted}
		if dl := q.dead[id]; dl != nil {
			hd.Dead, hd.DeadEvicted = len(dl.items), dl.evicted
		}
		h.ready.each(func(d *Delivery) { hd.Oldest = older(hd.Oldest, d.Accepted) })
		for _, d := range h.delayed {
			hd.Oldest = older(hd.Oldest, d.Accepted)
		}
		qd.Hooks[id] = hd
		qd.Oldest = older(qd.Oldest, hd.Oldest)
	}
	for _, dl := range q.dead {
		for _, it := range dl.items {
			qd.Oldest = older(qd.Oldest, it.d.Accepted)
		}
	}
	return qd, nil
}

// Close implements [Queue]: blocked Fetch calls return ErrClosed; what is held is dropped.
func (q *MemoryQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.closeCh)
	}
	return nil
}

var _ Queue = (*MemoryQueue)(nil)
