package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hooktap/rules"
)

// Publish implements [Queue]. It waits for the stream's ack, bounded by ctx, or by
// enqueue_timeout when ctx has no deadline. It sends the request on the publish connection
// itself rather than through the jetstream package (whose PublishMsg decodes every ack with
// encoding/json and needs a context with deadline per call): a stored event's ack is
// recognised without decoding, and only an error ack is decoded.
func (q *JetStreamQueue) Publish(ctx context.Context, m *Message) error {
	q.mu.RLock()
	rep, state := q.pubRep, q.state
	q.mu.RUnlock()
	if state != jsOpen {
		return ErrClosed
	}
	p := q.bufs.Get().(*jsPub)
	defer q.bufs.Put(p)
	p.buf = appendBody(p.buf[:0], m)
	p.msg = nats.Msg{Subject: eventSubject(m.Event), Data: p.buf, Header: p.msg.Header}
	if q.external != nil {
		if p.msg.Header == nil {
			p.msg.Header = nats.Header{jetstream.MsgIDHeader: p.id}
		}
		p.id[0] = m.ID.String()
	}
	err := q.request(ctx, rep, &p.msg)
	n := len(p.buf) + len(p.msg.Subject)
	if cap(p.buf) > maxKeptBuf {
		p.buf = nil
	}
	if err == nil {
		if q.external == nil {
			q.published(n)
		}
		return nil
	}
	return q.publishErr(err)
}

// jsNoResponderWait and jsNoResponderTries: a publish answered "no responders" (a cluster
// electing the stream's leader) is tried again, as the jetstream package does.
const (
	jsNoResponderWait  = 250 * time.Millisecond
	jsNoResponderTries = 3
)

// request publishes msg to the stream and waits for its ack, bounded by ctx's deadline or
// by enqueue_timeout.
func (q *JetStreamQueue) request(ctx context.Context, rep *replier, msg *nats.Msg) error {
	wait := q.pubWait
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if ctx.Done() == nil {
		ctx = nil
	}
	for try := 1; ; try++ {
		resp, err := rep.request(ctx, msg, wait)
		if errors.Is(err, nats.ErrNoResponders) && try < jsNoResponderTries {
			var done <-chan struct{}
			if ctx != nil {
				done = ctx.Done()
			}
			t := time.NewTimer(jsNoResponderWait)
			select {
			case <-t.C:
				continue
			case <-done:
			case <-q.closing:
			}
			t.Stop()
			return err
		}
		if err != nil {
			return err
		}
		return pubAckErr(resp.Data)
	}
}

// pubAckErr checks a stream's publish ack: nil for {"stream":...,"seq":...}, the decoded
// *jetstream.APIError for {"error":{...}}.
func pubAckErr(b []byte) error {
	if bytes.HasPrefix(b, []byte(`{"stream":`)) && bytes.Contains(b, []byte(`"seq":`)) &&
		!bytes.Contains(b, []byte(`"error":`)) {
		return nil
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
	}
	if err := json.Unmarshal(b, &ack); err != nil {
		return fmt.Errorf("dispatch: bad publish ack %.64q: %w", b, err)
	}
	if ack.Error != nil {
		return ack.Error
	}
	if ack.Stream == "" {
		return fmt.Errorf("dispatch: bad publish ack %.64q", b)
	}
	return nil
}

// publishErr maps a publish error to the seam's sentinels.
func (q *JetStreamQueue) publishErr(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == jsErrStoreFailed && strings.Contains(apiErr.Description, "maximum"),
			apiErr.ErrorCode == jsErrStorageExceeded, apiErr.ErrorCode == jsErrInsufficientResources:
			return fmt.Errorf("%w: %w", ErrQueueFull, err)
		}
	}
	if q.isClosing() || errors.Is(err, nats.ErrConnectionClosed) {
		return ErrClosed
	}
	return fmt.Errorf("dispatch: jetstream publish: %w", err)
}

// jsEventSubjects holds each known event's subject, indexed as rules.Names, so that a publish
// does not build its subject (one allocation per event). Immutable.
var jsEventSubjects = func() []string {
	s := make([]string, len(rules.Names))
	for i, n := range rules.Names {
		s[i] = jsEventPrefix + n
	}
	return s
}()

// eventSubject is the stream subject of event name e.
func eventSubject(e string) string {
	if bit, ok := eventIndex[e]; ok {
		return jsEventSubjects[bit]
	}
	return jsEventPrefix + e
}

// appendBody encodes m as a stream message body: one text line
// "1 <id> <event> <time ms> <accepted ns> <payload length or -1>\n", then the payload, then
// the full payload when there is one (length -1: none).
func appendBody(b []byte, m *Message) []byte {
	b = append(b, jsBodyVersion, ' ')
	b = append(b, m.ID[:]...)
	b = append(b, ' ')
	b = append(b, m.Event...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.Time, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.Accepted.UnixNano(), 10)
	b = append(b, ' ')
	if m.Full == nil {
		b = append(b, '-', '1')
	} else {
		b = strconv.AppendInt(b, int64(len(m.Payload)), 10)
	}
	b = append(b, '\n')
	b = append(b, m.Payload...)
	return append(b, m.Full...)
}

var errBadBody = errors.New("dispatch: malformed hooktap message")

// decodeBody fills m from a body made by appendBody; m's byte slices alias b.
func decodeBody(b []byte, m *Message) error {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || len(b) < 2 || b[0] != jsBodyVersion || b[1] != ' ' {
		return errBadBody
	}
	head, rest := b[2:nl], b[nl+1:]
	var f [5][]byte
	for i := range f {
		sp := bytes.IndexByte(head, ' ')
		if i == len(f)-1 {
			sp = len(head)
		}
		if sp < 0 {
			return errBadBody
		}
		f[i], head = head[:sp], head[min(sp+1, len(head)):]
	}
	if len(f[0]) != IDLen {
		return errBadBody
	}
	copy(m.ID[:], f[0])
	bit, ok := eventIndex[string(f[1])]
	if !ok {
		return errBadBody
	}
	m.Event = rules.Names[bit]
	t, err1 := strconv.ParseInt(string(f[2]), 10, 64)
	acc, err2 := strconv.ParseInt(string(f[3]), 10, 64)
	plen, err3 := strconv.Atoi(string(f[4]))
	if err1 != nil || err2 != nil || err3 != nil || plen < -1 || plen > len(rest) {
		return errBadBody
	}
	m.Time = t
	m.Accepted = time.Unix(0, acc)
	if plen < 0 {
		m.Payload, m.Full = rest, nil
	} else {
		m.Payload, m.Full = rest[:plen:plen], rest[plen:]
	}
	return nil
}
