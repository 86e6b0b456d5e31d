package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names and limits of the JetStream queue. The stream and subject names are part of the
// on-disk (and on-cluster) format: hooktap instances sharing a cluster must agree on them.
const (
	jsStream         = "hooktap"            // the events: interest retention
	jsDeadStream     = "hooktap_dead"       // the dead letters: limits retention
	jsEventPrefix    = "hooktap.event."     // + event name
	jsRedeliverPre   = "hooktap.redeliver." // + hook token: dead letters put back, one hook only
	jsDeadPrefix     = "hooktap.dead."      // + hook token
	jsAllEvents      = jsEventPrefix + ">"  // a "*" webhook's filter
	jsDuplicates     = 2 * time.Minute      // Nats-Msg-Id de-duplication window
	jsFetchWait      = 2 * time.Second      // one long pull; Fetch re-issues it until ctx ends
	jsOpTimeout      = 10 * time.Second     // acks, dead letters, admin calls without a deadline
	jsStartTimeout   = 30 * time.Second     // embedded server start-up
	jsMaxReason      = 256                  // bytes of a dead letter's reason kept
	jsClusterReplica = 3                    // stream replicas on an external cluster, when it can
	jsHdrDied        = "Hooktap-Died"       // dead letter: unix ns
	jsHdrAttempts    = "Hooktap-Attempts"   // dead letter: attempts made
	jsHdrReason      = "Hooktap-Reason"     // dead letter: why
	jsHdrHook        = "Hooktap-Hook"       // dead letter: the hook ID, as given
	jsBodyVersion    = '1'                  // first byte of an encoded message
	jsTokenReadable  = 32                   // readable prefix of a hook token
	jsDeadScanBatch  = 256                  // dead letters read per pull
)

// JetStreamQueue is the durable [Queue] on NATS JetStream: queue = "disk" runs an embedded
// nats-server inside the process (JetStream file storage under data_dir, no network
// listener, an in-process connection); queue = "nats://host:4222,..." uses an external
// JetStream cluster, which several hooktap instances may share.
//
// # Layout
//
// Events go to one stream, "hooktap", one subject per event name ("hooktap.event.page_created"),
// with interest retention: a message is kept until every webhook that wants it has settled
// it (or max_age passes), so the stream holds exactly the undelivered backlog. The stream is
// bounded by max_bytes with discard-new: a full stream refuses events ([ErrQueueFull]) rather
// than dropping old ones. The event's [ID] is in the message body. On an external cluster
// each message is also published with Nats-Msg-Id = the ID, so that a publish the client
// resends (across a reconnect) within two minutes is stored once; the embedded server's
// in-process connection never resends, so there the header is left out: it would cost a
// header encoding per publish, an entry in the server's de-duplication map per event and a
// header decoding per delivery, for nothing. The embedded server's stream also holds one
// "keeper" message ("hooktap.keep", wanted by the never-pulled consumer "hooktap_keep",
// renewed every 64 KiB of events, not counted by Depth) so that acknowledging the last
// pending event does not make the file store replace its last block file (see
// jetstream_keep.go).
//
// Each webhook is a durable pull consumer named after its hook ID (see hookToken), with
// explicit ack, DeliverNew on creation, AckWait from the [Subscription], MaxDeliver and
// MaxAckPending unlimited (the dispatcher decides when a delivery is dead, and the stream's
// bound is the backlog's bound), filtered to its events' subjects and to its own redelivery
// subject "hooktap.redeliver.<token>". Fetch pulls only what the dispatcher can attempt now,
// so a webhook whose breaker is open is not pulled from and its backlog waits without
// using attempts. Attempt is the consumer's delivery count. Ack is a double ack (the server
// confirms it, and with interest retention the message is then deleted from the store), so
// a kill -9 after Ack returns does not deliver it again; with the embedded server, acks that
// arrive together share one confirmation (group commit, see Ack); Retry is a nak with delay; Dead
// stores the delivery in the stream "hooktap_dead" (subject "hooktap.dead.<token>", limits
// retention: max_age and max_bytes, oldest dropped first) and then terminates it.
// Redeliver re-publishes a dead letter to the hook's redelivery subject with the same ID,
// so only that webhook gets it again, from attempt 1.
//
// Several instances on one cluster create and update the same durable consumers, so each
// delivery is pulled by one of them, and one left unacknowledged by an instance that died is
// redelivered by the others after AckWait.
//
// # Guarantees
//
// Publish returns after the store's ack: for the embedded server, the message is written to
// the stream's block file (not yet fsynced: a kill -9 of hooktap loses nothing, a power cut
// may lose the last sync interval, two minutes by default); for a cluster, it is stored on
// a quorum of the stream's replicas. Deliveries are at least once: an attempt in flight when
// the process dies is made again, with the same webhook-id. With several webhooks on one
// event, a hook's acks from the last ~100 ms before a kill -9 may be lost while another hook
// still holds the message (the consumer's ack state is written in the background), so that
// hook may get those again too; with one webhook per event the deleted message is final.
//
// # Concurrency
//
// As [Queue]. Depth reports Fetched as the deliveries this instance holds; the others'
// appear as Pending.
type JetStreamQueue struct {
	log      *slog.Logger
	external []string // server URLs; nil for the embedded server
	dataDir  string   // embedded server's store (its "jetstream" folder goes inside)
	maxAge   time.Duration
	maxBytes int64
	pubWait  time.Duration // bound on a Publish whose ctx has no deadline (enqueue_timeout)
	connOpts []nats.Option // external: credentials and reconnect handling

	mu    sync.RWMutex // guards everything below
	state int          // jsNew, jsOpening, jsOpen, jsClosed
	jsConn
	hooks   map[string]*jsHook
	closing chan struct{} // closed by Close; never reopened

	pool sync.Pool // *jsDelivery
	bufs sync.Pool // *jsPub, for Publish
	keep jsKeep    // the embedded server's keeper message (jetstream_keep.go)

	// Counters, for tests and metrics.
	malformed atomic.Uint64 // messages on hooktap subjects that did not decode; terminated
	handback  atomic.Uint64 // pulled messages given back with a nak (stale, or at Close)
	pulls     atomic.Uint64 // pull requests sent
}

const (
	jsNew = iota
	jsOpening
	jsOpen
	jsClosed
)

// jsHook is one subscription of this instance. Its pulls are answered on one inbox that
// lives as long as the subscription, so a message the server sends late (after the Fetch
// that asked for it returned, or after the client gave the pull up under load) is kept for
// the next Fetch instead of being lost until AckWait.
type jsHook struct {
	id       string
	token    string // durable consumer name, redelivery and dead-letter subject token
	subject  string // jsRedeliverPre + token
	pullSubj string // the consumer's next-message API subject
	inbox    string
	sub      *nats.Subscription
	timer    *time.Timer   // Fetch's wait; Fetch for one hook runs in one goroutine at a time
	pullBuf  []byte        // Fetch's pull request body, reused like timer
	notify   chan struct{} // 1-buffered: a message or a pull's end arrived
	fetched  atomic.Int64  // fetched by this instance, not yet settled

	mu       sync.Mutex // guards below
	filters  []string
	ackWait  time.Duration
	ready    []pulled  // arrived, not yet handed out, oldest first
	asked    int       // messages still due on the outstanding pull; 0: none
	pullEnds time.Time // when the outstanding pull is given up

	acks ackGroups // the embedded server's acks, committed in groups (jetstream_settle.go)
}

// pulled is a message that arrived on a hook's inbox.
type pulled struct {
	msg *nats.Msg
	at  time.Time
}

// jsDelivery is a Delivery with its JetStream message. Fetch hands out &jd.Delivery, whose q
// points back to jd.
type jsDelivery struct {
	Delivery
	msg  *nats.Msg
	hook *jsHook
	seq  uint64 // stream sequence
}

// jsPub is a reusable outgoing message.
type jsPub struct {
	msg nats.Msg
	buf []byte
	id  []string
}

// NewJetStreamQueue checks cfg and returns a JetStream queue for cfg.Queue ("disk", or a
// comma-separated list of nats:// or tls:// URLs). It reads the credential environment
// variables named by cfg (nats_password_env, nats_token_env) but does no other I/O and
// starts nothing: Open does. Zero fields take their defaults ([Config.SetDefaults]).
func NewJetStreamQueue(cfg Config, log *slog.Logger) (*JetStreamQueue, error) {
	cfg.SetDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &JetStreamQueue{
		log:      log,
		dataDir:  cfg.DataDir,
		maxAge:   cfg.MaxAge,
		maxBytes: cfg.MaxBytes,
		pubWait:  cfg.EnqueueTimeout,
		hooks:    make(map[string]*jsHook),
		closing:  make(chan struct{}),
	}
	q.pool.New = func() any { return new(jsDelivery) }
	q.bufs.New = func() any { return &jsPub{id: make([]string, 1)} }
	if err := cfg.Validate(); err != nil {
		return nil, prefixed(err)
	}
	if strings.HasPrefix(cfg.Queue, "nats://") || strings.HasPrefix(cfg.Queue, "tls://") {
		for _, s := range strings.Split(cfg.Queue, ",") {
			q.external = append(q.external, strings.TrimSpace(s))
		}
		opts, err := natsAuth(cfg)
		if err != nil {
			return nil, err
		}
		q.connOpts = append(opts, q.reconnectOpts()...)
	}
	return q, nil
}

// natsAuth turns the nats_* settings (validated) into connection options, reading the
// variables they name.
func natsAuth(cfg Config) ([]nats.Option, error) {
	var opts []nats.Option
	var errs []error
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSUser != "" {
		pass := cfg.NATSPassword
		if cfg.NATSPassEnv != "" {
			pass = os.Getenv(cfg.NATSPassEnv)
			if pass == "" {
				errs = append(errs, fmt.Errorf("dispatch: nats_password_env %s is empty or unset", cfg.NATSPassEnv))
			}
		}
		opts = append(opts, nats.UserInfo(cfg.NATSUser, pass))
	}
	if cfg.NATSToken != "" {
		tok := os.Getenv(cfg.NATSToken)
		if tok == "" {
			errs = append(errs, fmt.Errorf("dispatch: nats_token_env %s is empty or unset", cfg.NATSToken))
		}
		opts = append(opts, nats.Token(tok))
	}
	return opts, errors.Join(errs...)
}

// reconnectOpts keeps a connection to an external cluster alive: reconnect forever (a
// Publish meanwhile fails within its bound and is counted as a store error; Fetch errors
// make the dispatcher back off), and log the transitions.
func (q *JetStreamQueue) reconnectOpts() []nats.Option {
	return []nats.Option{
		nats.Name("hooktap"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if q.isClosing() {
				return
			}
			q.log.Warn("dispatch: nats disconnected; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			q.log.Info("dispatch: nats reconnected", "server", redactURL(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			q.log.Warn("dispatch: nats async error", "err", err)
		}),
	}
}

// redactURL drops the user information from a URL list, for errors and logs.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

func (q *JetStreamQueue) isClosing() bool {
	select {
	case <-q.closing:
		return true
	default:
		return false
	}
}

// jsConnStream returns the events stream.
func (q *JetStreamQueue) jsConnStream() jetstream.Stream {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.stream
}

func (q *JetStreamQueue) hook(id string) (*jsHook, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.state != jsOpen {
		return nil, ErrClosed
	}
	h := q.hooks[id]
	if h == nil {
		return nil, ErrNotSubscribed
	}
	return h, nil
}

// Depth implements [Queue]. Events and Bytes count both streams (backlog and dead letters);
// a hook's Pending is its consumer's undelivered messages plus those delivered and not
// acknowledged (waiting for a retry delay, or held by another instance) less those this
// instance holds, which are Fetched.
func (q *JetStreamQueue) Depth(ctx context.Context) (QueueDepth, error) {
	q.mu.RLock()
	js, stream, dead, state := q.js, q.stream, q.dead, q.state
	hooks := make([]*jsHook, 0, len(q.hooks))
	for _, h := range q.hooks {
		hooks = append(hooks, h)
	}
	q.mu.RUnlock()
	if state != jsOpen {
		return QueueDepth{}, ErrClosed
	}
	si, err := stream.Info(ctx, jetstream.WithSubjectFilter(jsKeepSubject))
	if err != nil {
		return QueueDepth{}, fmt.Errorf("dispatch: queue depth: %w", err)
	}
	if keepers := si.State.Subjects[jsKeepSubject]; keepers > 0 { // not events
		si.State.Msgs -= min(keepers, si.State.Msgs)
		si.State.Bytes -= min(keepers*uint64(jsKeepSize), si.State.Bytes)
	}
	di, err := dead.Info(ctx, jetstream.WithSubjectFilter(jsDeadPrefix+">"))
	if err != nil {
		return QueueDepth{}, fmt.Errorf("dispatch: queue depth: %w", err)
	}
	qd := QueueDepth{
		Events: int(si.State.Msgs + di.State.Msgs),
		Bytes:  int64(si.State.Bytes + di.State.Bytes),
		Hooks:  make(map[string]HookDepth, len(hooks)),
	}
	older := func(a, b time.Time) time.Time {
		if a.IsZero() || (!b.IsZero() && b.Before(a)) {
			return b
		}
		return a
	}
	for _, h := range hooks {
		c, err := js.Consumer(ctx, jsStream, h.token)
		if err != nil {
			return QueueDepth{}, fmt.Errorf("dispatch: queue depth of %q: %w", h.id, err)
		}
		ci := c.CachedInfo()
		fetched := int(h.fetched.Load())
		hd := HookDepth{
			Pending: max(0, int(ci.NumPending)+ci.NumAckPending-fetched),
			Fetched: fetched,
			Dead:    int(di.State.Subjects[jsDeadPrefix+h.token]),
		}
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			hd.Oldest = q.oldest(ctx, stream, ci.AckFloor.Stream+1, h.filters)
		}
		qd.Hooks[h.id] = hd
		qd.Oldest = older(qd.Oldest, hd.Oldest)
	}
	if di.State.Msgs > 0 {
		if m, err := dead.GetMsg(ctx, di.State.FirstSeq); err == nil {
			var msg Message
			if decodeBody(m.Data, &msg) == nil {
				qd.Oldest = older(qd.Oldest, msg.Accepted)
			}
		}
	}
	return qd, nil
}

// oldest returns the earliest Accepted time among the first message at or after seq on each
// subject (zero when none).
func (q *JetStreamQueue) oldest(ctx context.Context, s jetstream.Stream, seq uint64, subjects []string) time.Time {
	var t time.Time
	for _, subj := range subjects {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if err != nil {
			continue
		}
		var msg Message
		if decodeBody(m.Data, &msg) == nil && (t.IsZero() || msg.Accepted.Before(t)) {
			t = msg.Accepted
		}
	}
	return t
}

var _ Queue = (*JetStreamQueue)(nil)
