package dispatch

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// jsMaxReplySlots bounds the reply subscriptions a connection keeps; past it, requests
// fall back to the connection's shared response subscription.
const jsMaxReplySlots = 1024

// replier makes request/reply round trips (publish acks, double acks) with one less
// goroutine hand-off than nats.Conn.Request: each request borrows a slot, a subscription
// of its own whose replies the connection's read loop puts straight into the slot's
// channel (nats.Conn's shared response subscription hands every reply to a callback
// goroutine, which looks the request up in a map and forwards it). The reply subject is
// fixed per slot, so a request allocates nothing; a slot whose request ended without its
// reply (timeout, cancellation) is discarded, so that a late reply can never be taken for
// the next request's.
type replier struct {
	nc     *nats.Conn
	prefix string
	free   chan *replySlot // idle slots, at most jsMaxReplySlots
	closed <-chan struct{} // the queue's closing: waits end with nats.ErrConnectionClosed

	mu   sync.Mutex
	made int // slots subscribed and not discarded
	next int // for slot subjects
}

type replySlot struct {
	subj  string
	ch    chan *nats.Msg
	sub   *nats.Subscription
	timer *time.Timer
}

func newReplier(nc *nats.Conn, closed <-chan struct{}) *replier {
	return &replier{nc: nc, prefix: nc.NewInbox() + ".", free: make(chan *replySlot, jsMaxReplySlots), closed: closed}
}

// get returns an idle slot, or a new one; nil when the bound is reached or the connection
// cannot subscribe (the caller then uses nc.Request).
func (r *replier) get() *replySlot {
	select {
	case s := <-r.free:
		return s
	default:
	}
	r.mu.Lock()
	if r.made >= jsMaxReplySlots {
		r.mu.Unlock()
		return nil
	}
	r.made++
	r.next++
	subj := r.prefix + strconv.Itoa(r.next)
	r.mu.Unlock()
	s := &replySlot{subj: subj, ch: make(chan *nats.Msg, 4)}
	sub, err := r.nc.ChanSubscribe(subj, s.ch)
	if err != nil {
		r.mu.Lock()
		r.made--
		r.mu.Unlock()
		return nil
	}
	s.sub = sub
	return s
}

// put returns a slot whose request got its reply.
func (r *replier) put(s *replySlot) {
	select {
	case r.free <- s:
	default:
		r.discard(s)
	}
}

// discard drops a slot whose reply may still come.
func (r *replier) discard(s *replySlot) {
	_ = s.sub.Unsubscribe()
	r.mu.Lock()
	r.made--
	r.mu.Unlock()
}

// request sends msg (its Reply is set here) and waits for the reply, up to timeout or
// until ctx ends (ctx may be nil). The returned message is the reply.
func (r *replier) request(ctx context.Context, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	s := r.get()
	if s == nil {
		msg.Reply = ""
		if ctx != nil {
			return r.nc.RequestMsgWithContext(ctx, msg)
		}
		return r.nc.RequestMsg(msg, timeout)
	}
	msg.Reply = s.subj
	err := r.nc.PublishMsg(msg)
	msg.Reply = ""
	if err != nil {
		r.put(s)
		return nil, err
	}
	return r.wait(ctx, s, timeout)
}

// requestTo sends data to subj with the slot's reply subject (an ack to a JetStream
// message's reply subject) and waits for the reply, up to timeout.
func (r *replier) requestTo(subj string, data []byte, timeout time.Duration) (*nats.Msg, error) {
	s := r.get()
	if s == nil {
		return r.nc.Request(subj, data, timeout)
	}
	if err := r.nc.PublishRequest(subj, s.subj, data); err != nil {
		r.put(s)
		return nil, err
	}
	return r.wait(context.Background(), s, timeout)
}

func (r *replier) wait(ctx context.Context, s *replySlot, timeout time.Duration) (*nats.Msg, error) {
	if s.timer == nil {
		s.timer = time.NewTimer(timeout)
	} else {
		s.timer.Reset(timeout)
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	select {
	case m := <-s.ch:
		s.timer.Stop()
		r.put(s)
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return nil, nats.ErrNoResponders
		}
		return m, nil
	case <-s.timer.C:
		r.discard(s)
		return nil, nats.ErrTimeout
	case <-done:
		s.timer.Stop()
		r.discard(s)
		return nil, ctx.Err()
	case <-r.closed:
		s.timer.Stop()
		r.discard(s)
		return nil, nats.ErrConnectionClosed
	}
}
