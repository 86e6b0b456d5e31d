package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
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
//
// With the embedded server, the acks of one hook that arrive while another of its acks is
// on its way are committed together (group commit): the group's leader sends all but the
// last as plain acks and the last as a double ack, with one flush, and the group's members
// return when that last ack's confirmation arrives. The server processes a consumer's acks
// in the order one connection sent them (one queue per consumer, read by one goroutine), so
// the confirmation of the last says that the whole group is recorded, as each member's own
// confirmation would. A group's error (the connection closed, the confirmation timed out)
// is every member's. Against an external cluster each ack is confirmed on its own: there a
// consumer's leader can move between two acks of a group.
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
	if q.external == nil {
		err = q.groupAck(rep, jd.hook, jd.msg.Reply)
	} else {
		_, err = rep.requestTo(jd.msg.Reply, jsAckAck, jsOpTimeout)
	}
	q.release(jd)
	return q.settleErr("ack", err)
}

// ackGroups is a hook's group commit of acks. Its groups are sent one at a time: busy is the
// one on its way, open the one collecting acks while busy is; open's leader sends it once
// busy is done.
type ackGroups struct {
	mu   sync.Mutex
	busy *ackGroup
	open *ackGroup
	// Counters, for tests: groups sent and acks in them.
	groups, acks atomic.Uint64
}

// ackGroup is one group of acks: the reply subjects of its deliveries, first the leader's.
// done is closed, and err set, when the group's confirmation came or failed.
type ackGroup struct {
	subjs []string
	done  chan struct{}
	err   error
}

// groupAck acks the delivery whose reply subject is subj in a group of h's acks and returns
// once the group is confirmed.
func (q *JetStreamQueue) groupAck(rep *replier, h *jsHook, subj string) error {
	a := &h.acks
	a.mu.Lock()
	g, leader := a.open, false
	var prev *ackGroup
	if g == nil {
		g, leader, prev = &ackGroup{done: make(chan struct{})}, true, a.busy
		if prev == nil {
			a.busy = g // nothing on its way: g goes now, alone
		} else {
			a.open = g // g collects until prev is done
		}
	}
	g.subjs = append(g.subjs, subj)
	a.mu.Unlock()
	if !leader {
		<-g.done
		return g.err
	}
	if prev != nil {
		<-prev.done
		a.mu.Lock()
		a.open, a.busy = nil, g // later acks collect in a new group
		a.mu.Unlock()
	}
	g.err = q.sendAcks(rep, g.subjs)
	a.groups.Add(1)
	a.acks.Add(uint64(len(g.subjs)))
	a.mu.Lock()
	if a.busy == g {
		a.busy = nil
	}
	a.mu.Unlock()
	close(g.done)
	return g.err
}

// sendAcks sends plain acks to every subject of subjs but the last and a double ack to the
// last (nats.Conn's flusher writes them together), and waits for its confirmation.
func (q *JetStreamQueue) sendAcks(rep *replier, subjs []string) error {
	last := len(subjs) - 1
	for _, s := range subjs[:last] {
		if err := rep.nc.Publish(s, jsAckAck); err != nil {
			return err
		}
	}
	_, err := rep.requestTo(subjs[last], jsAckAck, jsOpTimeout)
	return err
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
