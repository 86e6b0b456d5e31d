package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Fetch implements [Queue]: it hands out what has arrived on the hook's inbox; when nothing
// has, it sends one pull for the free room (expiring after jsFetchWait on the server) and
// waits for its messages, its end, ctx or Close.
func (q *JetStreamQueue) Fetch(ctx context.Context, hook string, dst []*Delivery) ([]*Delivery, error) {
	for {
		h, err := q.hook(hook)
		if err != nil {
			return dst, err
		}
		if len(dst) >= cap(dst) {
			return dst, nil
		}
		n := len(dst)
		h.mu.Lock()
		dst = q.takeLocked(h, dst)
		if len(dst) > n {
			h.mu.Unlock()
			return dst, nil
		}
		now := time.Now()
		var pull []byte
		if h.asked == 0 || now.After(h.pullEnds) {
			h.asked = cap(dst) - len(dst)
			h.pullEnds = now.Add(jsFetchWait + jsPullGrace)
			h.pullBuf = appendPull(h.pullBuf[:0], h.asked, jsFetchWait)
			pull = h.pullBuf
		}
		wait := h.pullEnds.Sub(now)
		h.mu.Unlock()
		if pull != nil {
			q.pulls.Add(1)
			if err := q.nc.PublishRequest(h.pullSubj, h.inbox, pull); err != nil {
				h.mu.Lock()
				h.asked = 0
				h.mu.Unlock()
				return dst, q.fetchErr(err)
			}
		}
		if h.timer == nil {
			h.timer = time.NewTimer(wait)
		} else {
			h.timer.Reset(wait)
		}
		select {
		case <-h.notify:
			h.timer.Stop()
		case <-h.timer.C:
		case <-ctx.Done():
			h.timer.Stop()
			return dst, ctx.Err()
		case <-q.closing:
			h.timer.Stop()
			return dst, ErrClosed
		}
	}
}

// appendPull appends a pull request's body, {"batch":n,"expires":ns}, without fmt (an
// allocation per pull). nats.Conn.PublishRequest copies it into the connection's buffer.
func appendPull(b []byte, batch int, expires time.Duration) []byte {
	b = append(b, `{"batch":`...)
	b = strconv.AppendInt(b, int64(batch), 10)
	b = append(b, `,"expires":`...)
	b = strconv.AppendInt(b, expires.Nanoseconds(), 10)
	return append(b, '}')
}

// jsPullGrace is how long after a pull's server-side expiry the client still waits for its
// end before sending another (a late answer is kept anyway).
const jsPullGrace = time.Second

// takeLocked moves arrived messages to dst. One that waited more than half its AckWait is
// given back with a nak instead: the server may redeliver it any moment.
func (q *JetStreamQueue) takeLocked(h *jsHook, dst []*Delivery) []*Delivery {
	i := 0
	for ; i < len(h.ready) && len(dst) < cap(dst); i++ {
		p := h.ready[i]
		h.ready[i] = pulled{}
		if time.Since(p.at) > h.ackWait/2 {
			q.handback.Add(1)
			_ = p.msg.Nak()
			continue
		}
		if d := q.delivery(h, p.msg); d != nil {
			dst = append(dst, d)
		}
	}
	h.ready = append(h.ready[:0], h.ready[i:]...)
	return dst
}

func (q *JetStreamQueue) fetchErr(err error) error {
	if q.isClosing() || errors.Is(err, nats.ErrConnectionClosed) {
		return ErrClosed
	}
	return fmt.Errorf("dispatch: jetstream fetch: %w", err)
}

// nakArrived gives back every message pulled and not handed out; called by Close.
func (q *JetStreamQueue) nakArrived() {
	for _, h := range q.hooks {
		_ = h.sub.Unsubscribe()
		h.mu.Lock()
		for _, p := range h.ready {
			q.handback.Add(1)
			_ = p.msg.Nak()
		}
		h.ready = nil
		h.mu.Unlock()
	}
}

// delivery wraps a fetched message; a message that does not decode is terminated.
func (q *JetStreamQueue) delivery(h *jsHook, m *nats.Msg) *Delivery {
	delivered, seq, err := ackMetadata(m)
	jd := q.pool.Get().(*jsDelivery)
	if err == nil {
		err = decodeBody(m.Data, &jd.Message)
	}
	if err != nil {
		q.malformed.Add(1)
		q.log.Warn("dispatch: dropping a malformed message from the queue", "subject", m.Subject, "err", err)
		_ = m.Term()
		*jd = jsDelivery{}
		q.pool.Put(jd)
		return nil
	}
	jd.Hook = h.id
	jd.Attempt = int(delivered)
	jd.msg, jd.hook, jd.seq = m, h, seq
	jd.q = jd
	jd.heapIndex = -1
	h.fetched.Add(1)
	return &jd.Delivery
}

// ackMetadata returns a JetStream message's delivery count and stream sequence from its
// reply subject, without allocating: "$JS.ACK.<stream>.<consumer>.<delivered>.<stream
// seq>...." (9 tokens), or with a domain and account hash after "$JS.ACK." (12 or more).
// Anything else goes through nats.Msg.Metadata.
func ackMetadata(m *nats.Msg) (delivered, seq uint64, err error) {
	r := m.Reply
	first := -1
	switch dots := strings.Count(r, "."); {
	case dots == 8:
		first = 4
	case dots >= 11:
		first = 6
	}
	if first >= 0 && strings.HasPrefix(r, "$JS.ACK.") {
		for i := 0; i < first; i++ {
			r = r[strings.IndexByte(r, '.')+1:]
		}
		dot := strings.IndexByte(r, '.')
		d, err1 := strconv.ParseUint(r[:dot], 10, 64)
		r = r[dot+1:]
		sq, err2 := strconv.ParseUint(r[:strings.IndexByte(r, '.')], 10, 64)
		if err1 == nil && err2 == nil {
			return d, sq, nil
		}
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, 0, err
	}
	return md.NumDelivered, md.Sequence.Stream, nil
}
