package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hooktap/rules"
)

// hookToken maps a hook ID to a name valid as a JetStream durable consumer name and as a
// subject token: up to 32 of its characters ([A-Za-z0-9_-], others as '_'), '_', and 12 hex
// digits of its SHA-256. Deterministic, so every instance and restart finds the same
// consumer; the hash keeps IDs that differ only in replaced characters apart.
func hookToken(hook string) string {
	sum := sha256.Sum256([]byte(hook))
	var b strings.Builder
	b.Grow(jsTokenReadable + 14)
	b.WriteString("h_")
	for i := 0; i < len(hook) && i < jsTokenReadable; i++ {
		c := hook[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:6]))
	return b.String()
}

// filterSubjects returns the consumer filter for a webhook's events.
func filterSubjects(token string, events []string) ([]string, error) {
	out := make([]string, 0, len(events)+1)
	for _, e := range events {
		if e == "*" {
			out = append(out[:0], jsAllEvents)
			break
		}
		if !rules.IsName(e) {
			return nil, fmt.Errorf("dispatch: unknown event %q", e)
		}
		out = append(out, jsEventPrefix+e)
	}
	if len(out) == 0 {
		return nil, errors.New("dispatch: subscription with no events")
	}
	out = compactSorted(out)
	return append(out, jsRedeliverPre+token), nil
}

// compactSorted sorts s and removes duplicates (JetStream refuses duplicate filters).
func compactSorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Subscribe implements [Queue]: it creates the webhook's durable consumer or updates its
// filter and AckWait, keeping its state.
func (q *JetStreamQueue) Subscribe(ctx context.Context, s Subscription) error {
	q.mu.RLock()
	js, state := q.js, q.state
	q.mu.RUnlock()
	if state != jsOpen {
		return ErrClosed
	}
	token := hookToken(s.Hook)
	filters, err := filterSubjects(token, s.Events)
	if err != nil {
		return err
	}
	ackWait := s.AckWait
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	_, err = js.CreateOrUpdateConsumer(ctx, jsStream, jetstream.ConsumerConfig{
		Durable:        token,
		Description:    "hooktap webhook " + s.Hook,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1,
		MaxAckPending:  -1,
		FilterSubjects: filters,
		ReplayPolicy:   jetstream.ReplayInstantPolicy,
	})
	if err != nil {
		return fmt.Errorf("dispatch: consumer for webhook %q: %w", s.Hook, err)
	}
	if q.external != nil {
		q.waitReplicas(ctx, js, token, s.Hook, q.jsConnStream().CachedInfo().Config.Replicas)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != jsOpen {
		return ErrClosed
	}
	if h := q.hooks[s.Hook]; h != nil {
		h.mu.Lock()
		h.filters, h.ackWait = filters, ackWait
		h.mu.Unlock()
		return nil
	}
	h := &jsHook{id: s.Hook, token: token, subject: jsRedeliverPre + token,
		pullSubj: "$JS.API.CONSUMER.MSG.NEXT." + jsStream + "." + token,
		inbox:    q.nc.NewInbox(), notify: make(chan struct{}, 1), filters: filters, ackWait: ackWait}
	sub, err := q.nc.Subscribe(h.inbox, h.arrive)
	if err != nil {
		return fmt.Errorf("dispatch: inbox for webhook %q: %w", s.Hook, err)
	}
	h.sub = sub
	q.hooks[s.Hook] = h
	return nil
}

// arrive takes a message on the hook's inbox: a delivery, or a status ending the pull
// (404 no messages, 408 request expired, 409 e.g. consumer deleted); heartbeats are ignored.
func (h *jsHook) arrive(m *nats.Msg) {
	h.mu.Lock()
	if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
		if status != "100" {
			h.asked = 0
		}
	} else {
		h.ready = append(h.ready, pulled{msg: m, at: time.Now()})
		if h.asked > 0 {
			h.asked--
		}
	}
	h.mu.Unlock()
	poke(h.notify)
}

// waitReplicas waits (up to jsOpTimeout) until a clustered consumer runs on every replica of
// the stream. An interest-retention stream skips a message that no consumer on the applying
// server is interested in, so events accepted before a new consumer reached every replica
// could be skipped there; the dispatcher opens intake only after Subscribe returns.
func (q *JetStreamQueue) waitReplicas(ctx context.Context, js jetstream.JetStream, token, hook string, replicas int) {
	ctx, cancel := context.WithTimeout(ctx, jsOpTimeout)
	defer cancel()
	for {
		c, err := js.Consumer(ctx, jsStream, token)
		if err == nil && consumerReady(c.CachedInfo(), replicas) {
			return
		}
		select {
		case <-ctx.Done():
			q.log.Warn("dispatch: webhook's consumer is not on every replica yet", "webhook", hook, "err", err)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// consumerReady reports whether a consumer has a leader and all its replicas (at least
// replicas in all) current.
func consumerReady(ci *jetstream.ConsumerInfo, replicas int) bool {
	c := ci.Cluster
	if c == nil || c.Leader == "" {
		return c == nil // not clustered
	}
	if len(c.Replicas)+1 < replicas {
		return false
	}
	for _, r := range c.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// Unsubscribe implements [Queue]: it deletes the webhook's durable consumer (for every
// instance sharing it); the messages only it wanted are then removed from the stream.
func (q *JetStreamQueue) Unsubscribe(ctx context.Context, hook string) (int, error) {
	q.mu.Lock()
	js, state := q.js, q.state
	if h := q.hooks[hook]; h != nil {
		_ = h.sub.Unsubscribe() // its pulled messages go with the consumer
		poke(h.notify)
	}
	delete(q.hooks, hook)
	q.mu.Unlock()
	if state != jsOpen {
		return 0, ErrClosed
	}
	token := hookToken(hook)
	info, err := js.Consumer(ctx, jsStream, token)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("dispatch: consumer for webhook %q: %w", hook, err)
	}
	ci := info.CachedInfo()
	n := int(ci.NumPending) + ci.NumAckPending
	if err := js.DeleteConsumer(ctx, jsStream, token); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("dispatch: deleting consumer for webhook %q: %w", hook, err)
	}
	return n, nil
}
