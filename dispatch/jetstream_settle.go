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

// settle ends this instance's hold of d and recycles it.
func (q *JetStreamQueue) settle(d *Delivery) (*jsDelivery, error) {
	jd, ok := d.q.(*jsDelivery)
	if !ok || jd.msg == nil {
		return nil, errors.New("dispatch: delivery not from this queue, or settled twice")
	}
	jd.hook.fetched.Add(-1)
	return jd, nil
}

func (q *JetStreamQueue) release(jd *jsDelivery) {
	*jd = jsDelivery{}
	q.pool.Put(jd)
}

func (q *JetStreamQueue) settleErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if q.isClosing() || errors.Is(err, nats.ErrConnectionClosed) {
		return ErrClosed
	}
	return fmt.Errorf("dispatch: jetstream %s: %w", what, err)
}

// jsAckAck is the ack body (nats.go's ackAck).
var jsAckAck = []byte("+ACK")

// Ack implements [Queue] with a double ack: it returns once the server has recorded it.
func (q *JetStreamQueue) Ack(d *Delivery) error {
	jd, err := q.settle(d)
	if err != nil {
		return err
	}
	q.mu.RLock()
	rep := q.rep
	q.mu.RUnlock()
	if rep == nil {
		q.release(jd)
		return ErrClosed
	}
	_, err = rep.requestTo(jd.msg.Reply, jsAckAck, jsOpTimeout)
	q.release(jd)
	return q.settleErr("ack", err)
}

// Retry implements [Queue] with a nak with delay.
func (q *JetStreamQueue) Retry(d *Delivery, delay time.Duration) error {
	jd, err := q.settle(d)
	if err != nil {
		return err
	}
	if delay > 0 {
		err = jd.msg.NakWithDelay(delay)
	} else {
		err = jd.msg.Nak()
	}
	q.release(jd)
	return q.settleErr("nak", err)
}

// Dead implements [Queue]: it stores the dead letter, then terminates the delivery. When the
// dead letter cannot be stored, the delivery is left unacknowledged (it comes back after
// AckWait, and dies again) and the error is returned.
func (q *JetStreamQueue) Dead(d *Delivery, reason string) error {
	jd, err := q.settle(d)
	if err != nil {
		return err
	}
	defer q.release(jd)
	q.mu.RLock()
	js := q.js
	q.mu.RUnlock()
	if js == nil {
		return ErrClosed
	}
	if len(reason) > jsMaxReason {
		reason = reason[:jsMaxReason]
	}
	token := jd.hook.token
	msg := &nats.Msg{
		Subject: jsDeadPrefix + token,
		Data:    appendBody(nil, &jd.Message),
		Header: nats.Header{
			jetstream.MsgIDHeader: {"d." + token + "." + strconv.FormatUint(jd.seq, 10)},
			jsHdrDied:             {strconv.FormatInt(time.Now().UnixNano(), 10)},
			jsHdrAttempts:         {strconv.Itoa(jd.Attempt)},
			jsHdrReason:           {reason},
			jsHdrHook:             {jd.Hook},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), jsOpTimeout)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return q.settleErr("storing dead letter", err)
	}
	return q.settleErr("term", jd.msg.Term())
}
