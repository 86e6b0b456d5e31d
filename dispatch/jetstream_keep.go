package dispatch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// The keeper: with the embedded server, the events stream always holds one small message
// on jsKeepSubject, wanted by a consumer that is never pulled from, so that the store's
// last block never becomes empty when the last pending event is acknowledged.
//
// Why: with interest retention, the ack that removes a block's last message makes the file
// store remove the whole block, and when that block is the last one it opens a new block
// file for writing, writes a tombstone into it and unlinks the old one
// (fileStore.removeMsgBlock, nats-server v2.15.2). A queue that keeps up holds no backlog,
// so without the keeper every single event paid for a file creation and an unlink: an
// openat, a pwrite, a close and an unlinkat on the ack path, 3/4 of a serial
// publish-fetch-ack cycle's time on an overlay filesystem. With the keeper in the last block
// the removal is an ordinary one (a tombstone record, one pwrite), and the stream's
// retention, limits and guarantees are unchanged: the keeper is one 42-byte record, not
// counted by Depth.
//
// The file store starts a new last block when the current one is full (4 MiB with the
// default max_bytes), and that new block has no keeper in it until the next one is
// published. So a new keeper is published after every jsKeepEvery bytes of events, and the
// older ones are purged; the events stored between a block's start and its first keeper
// (at most jsKeepEvery of every 4 MiB) can still empty it.
const (
	jsKeepSubject = "hooktap.keep"
	jsKeeper      = "hooktap_keep" // the keeper's consumer; hook tokens start with "h_"
	jsKeepEvery   = 64 << 10       // event bytes published between two keepers
	jsKeepSize    = 22 + len(jsKeepSubject) + 8
)

// jsKeep is the keeper's state; unused on an external cluster.
type jsKeep struct {
	bytes atomic.Int64   // event bytes published since the last keeper
	busy  atomic.Bool    // a keeper is being published
	wg    sync.WaitGroup // the goroutine publishing it; Close waits for it
	made  atomic.Uint64  // keepers published, for tests
}

// openKeeper creates the keeper's consumer and publishes a keeper (at Open). A keeper that
// cannot be stored (a full stream) is only logged: the next one comes after jsKeepEvery
// bytes of events.
func (q *JetStreamQueue) openKeeper(ctx context.Context, c jsConn) error {
	_, err := c.js.CreateOrUpdateConsumer(ctx, jsStream, jetstream.ConsumerConfig{
		Durable:       jsKeeper,
		Description:   "hooktap: holds the keeper message (never pulled from)",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: -1,
		MaxDeliver:    -1,
		FilterSubject: jsKeepSubject,
	})
	if err != nil {
		return fmt.Errorf("dispatch: keeper consumer: %w", err)
	}
	if err := q.publishKeeper(ctx, c.pubJS, c.stream); err != nil {
		q.log.Warn("dispatch: publishing the stream's keeper", "err", err)
	}
	return nil
}

// publishKeeper stores a new keeper and removes the older ones.
func (q *JetStreamQueue) publishKeeper(ctx context.Context, js jetstream.JetStream, s jetstream.Stream) error {
	if _, err := js.Publish(ctx, jsKeepSubject, nil); err != nil {
		return fmt.Errorf("dispatch: keeper: %w", err)
	}
	q.keep.made.Add(1)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(jsKeepSubject), jetstream.WithPurgeKeep(1)); err != nil {
		return fmt.Errorf("dispatch: keeper: %w", err)
	}
	return nil
}

// published counts n bytes of a stored event and, every jsKeepEvery bytes, publishes a new
// keeper in the background (the Publish that crosses the mark does not wait for it).
func (q *JetStreamQueue) published(n int) {
	k := &q.keep
	if k.bytes.Add(int64(n)) < jsKeepEvery || !k.busy.CompareAndSwap(false, true) {
		return
	}
	k.bytes.Store(0)
	q.mu.RLock()
	js, s, open := q.pubJS, q.stream, q.state == jsOpen
	if open {
		k.wg.Add(1) // under q.mu: Close's Wait cannot start before this Add
	}
	q.mu.RUnlock()
	if !open {
		k.busy.Store(false)
		return
	}
	go func() {
		defer k.wg.Done()
		defer k.busy.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), jsOpTimeout)
		defer cancel()
		if err := q.publishKeeper(ctx, js, s); err != nil && !q.isClosing() {
			q.log.Warn("dispatch: publishing the stream's keeper", "err", err)
		}
	}()
}
