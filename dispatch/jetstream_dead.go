package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetter is one stored dead letter and its place in the dead-letter stream.
type deadLetter struct {
	DeadLetter
	seq  uint64
	body []byte
}

// scanDead calls fn for each dead letter of hook, oldest first, until fn returns false.
func (q *JetStreamQueue) scanDead(ctx context.Context, hook string, fn func(*deadLetter) bool) error {
	q.mu.RLock()
	dead, state := q.dead, q.state
	q.mu.RUnlock()
	if state != jsOpen {
		return ErrClosed
	}
	subject := jsDeadPrefix + hookToken(hook)
	info, err := dead.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return fmt.Errorf("dispatch: dead letters: %w", err)
	}
	left := info.State.Subjects[subject]
	if left == 0 {
		return nil
	}
	cons, err := dead.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: 10 * time.Second, // the server removes it soon after the scan
	})
	if err != nil {
		return fmt.Errorf("dispatch: dead letters: %w", err)
	}
	for left > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := cons.Fetch(min(int(left), jsDeadScanBatch), jetstream.FetchMaxWait(jsFetchWait))
		if err != nil {
			return fmt.Errorf("dispatch: dead letters: %w", err)
		}
		got := 0
		for m := range b.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			left = md.NumPending
			var msg Message
			if err := decodeBody(m.Data(), &msg); err != nil {
				continue
			}
			dl := deadLetter{DeadLetter: DeadLetter{
				ID: msg.ID, Hook: hook, Event: msg.Event, Time: msg.Time, Accepted: msg.Accepted,
			}}
			h := m.Headers()
			dl.Attempts, _ = strconv.Atoi(h.Get(jsHdrAttempts))
			died, _ := strconv.ParseInt(h.Get(jsHdrDied), 10, 64)
			dl.Died = time.Unix(0, died)
			dl.Reason = h.Get(jsHdrReason)
			dl.seq = md.Sequence.Stream
			dl.body = m.Data()
			if !fn(&dl) {
				return nil
			}
		}
		if err := b.Error(); err != nil {
			return fmt.Errorf("dispatch: dead letters: %w", err)
		}
		if got == 0 {
			return nil // deleted meanwhile
		}
	}
	return nil
}

// DeadLetters implements [DeadLetterStore].
func (q *JetStreamQueue) DeadLetters(ctx context.Context, hook string, max int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.scanDead(ctx, hook, func(dl *deadLetter) bool {
		out = append(out, dl.DeadLetter)
		return max <= 0 || len(out) < max
	})
	return out, err
}

// Redeliver implements [DeadLetterStore].
func (q *JetStreamQueue) Redeliver(ctx context.Context, hook string, id ID) error {
	h, err := q.hook(hook)
	if err != nil && !errors.Is(err, ErrNotSubscribed) {
		return err
	}
	var found *deadLetter
	err = q.scanDead(ctx, hook, func(dl *deadLetter) bool {
		if dl.ID == id {
			found = dl
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if found == nil {
		return ErrNotFound
	}
	if h == nil {
		return ErrNotSubscribed
	}
	return q.redeliver(ctx, h, found)
}

// RedeliverAll implements [DeadLetterStore].
func (q *JetStreamQueue) RedeliverAll(ctx context.Context, hook string) (int, error) {
	h, err := q.hook(hook)
	if err != nil && !errors.Is(err, ErrNotSubscribed) {
		return 0, err
	}
	n := 0
	var rerr error
	err = q.scanDead(ctx, hook, func(dl *deadLetter) bool {
		if h == nil {
			rerr = ErrNotSubscribed
			return false
		}
		if rerr = q.redeliver(ctx, h, dl); rerr != nil {
			return false
		}
		n++
		return true
	})
	return n, errors.Join(err, rerr)
}

// redeliver re-publishes a dead letter to the hook's own redelivery subject, with its ID
// and first-accepted time, then deletes it from the dead letters. The publish is
// de-duplicated by the dead letter's sequence, so a repeat after a crash between the two
// steps is stored once.
func (q *JetStreamQueue) redeliver(ctx context.Context, h *jsHook, dl *deadLetter) error {
	q.mu.RLock()
	js, dead := q.js, q.dead
	q.mu.RUnlock()
	msg := &nats.Msg{
		Subject: h.subject,
		Data:    dl.body,
		Header:  nats.Header{jetstream.MsgIDHeader: {"r." + strconv.FormatUint(dl.seq, 10)}},
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return q.publishErr(err)
	}
	if err := dead.DeleteMsg(ctx, dl.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dispatch: removing redelivered dead letter: %w", err)
	}
	return nil
}

// PurgeDead implements [DeadLetterStore]: it purges the deleted webhook's subject from the
// dead-letter stream and returns how many dead letters went with it.
func (q *JetStreamQueue) PurgeDead(ctx context.Context, hook string) (int, error) {
	q.mu.RLock()
	dead, state := q.dead, q.state
	q.mu.RUnlock()
	if state != jsOpen {
		return 0, ErrClosed
	}
	subject := jsDeadPrefix + hookToken(hook)
	info, err := dead.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, fmt.Errorf("dispatch: dead letters: %w", err)
	}
	n := int(info.State.Subjects[subject])
	if n == 0 {
		return 0, nil
	}
	if err := dead.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return 0, fmt.Errorf("dispatch: purging dead letters: %w", err)
	}
	return n, nil
}

var _ DeadLetterStore = (*JetStreamQueue)(nil)
