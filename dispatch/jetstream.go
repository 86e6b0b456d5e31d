package dispatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hooktap/rules"
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
	jsDefaultMaxAge  = 168 * time.Hour      // [dispatch] max_age default
	jsDefaultMaxByte = int64(1 << 30)       // [dispatch] max_bytes default
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
// header decoding per delivery, for nothing.
//
// Each webhook is a durable pull consumer named after its hook ID (see hookToken), with
// explicit ack, DeliverNew on creation, AckWait from the [Subscription], MaxDeliver and
// MaxAckPending unlimited (the dispatcher decides when a delivery is dead, and the stream's
// bound is the backlog's bound), filtered to its events' subjects and to its own redelivery
// subject "hooktap.redeliver.<token>". Fetch pulls only what the dispatcher can attempt now,
// so a webhook whose breaker is open is not pulled from and its backlog waits without
// using attempts. Attempt is the consumer's delivery count. Ack is a double ack (the server
// confirms it, and with interest retention the message is then deleted from the store), so
// a kill -9 after Ack returns does not deliver it again; Retry is a nak with delay; Dead
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
// starts nothing: Open does. Zero limits take their defaults (max_age 168h, max_bytes 1 GiB,
// enqueue_timeout 5s, data_dir "./data").
func NewJetStreamQueue(cfg rules.DispatchSection, log *slog.Logger) (*JetStreamQueue, error) {
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
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("dispatch: "+format, a...)) }
	switch {
	case q.maxAge == 0:
		q.maxAge = jsDefaultMaxAge
	case q.maxAge < 0:
		bad("max_age = %s: must be positive", q.maxAge)
	}
	switch {
	case q.maxBytes == 0:
		q.maxBytes = jsDefaultMaxByte
	case q.maxBytes < 0:
		bad("max_bytes = %d: must be positive", q.maxBytes)
	}
	switch {
	case q.pubWait == 0:
		q.pubWait = defaultEnqueueTimeout
	case q.pubWait < 0:
		bad("enqueue_timeout = %s: must be positive", q.pubWait)
	}
	if q.dataDir == "" {
		q.dataDir = "./data"
	}
	switch queue := strings.TrimSpace(cfg.Queue); {
	case queue == "disk" || queue == "":
		if cfg.NATSCreds != "" || cfg.NATSUser != "" || cfg.NATSPassword != "" || cfg.NATSPassEnv != "" || cfg.NATSToken != "" {
			bad("nats_* credentials are for an external cluster; queue = %q runs an embedded server", "disk")
		}
	case strings.HasPrefix(queue, "nats://") || strings.HasPrefix(queue, "tls://"):
		for _, s := range strings.Split(queue, ",") {
			s = strings.TrimSpace(s)
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
				bad("queue: %q is not a nats:// or tls:// URL", redactURL(s))
				continue
			}
			q.external = append(q.external, s)
		}
		opts, err := natsAuth(cfg)
		if err != nil {
			errs = append(errs, err)
		}
		q.connOpts = append(opts, q.reconnectOpts()...)
	default:
		bad("queue = %q: want \"memory\", \"disk\" or nats://host:port,...", redactURL(cfg.Queue))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return q, nil
}

// natsAuth turns the nats_* settings into connection options.
func natsAuth(cfg rules.DispatchSection) ([]nats.Option, error) {
	var opts []nats.Option
	var errs []error
	n := 0
	if cfg.NATSCreds != "" {
		n++
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSUser != "" || cfg.NATSPassword != "" || cfg.NATSPassEnv != "" {
		n++
		pass := cfg.NATSPassword
		if cfg.NATSPassEnv != "" {
			if cfg.NATSPassword != "" {
				errs = append(errs, errors.New("dispatch: nats_password and nats_password_env are both set"))
			}
			pass = os.Getenv(cfg.NATSPassEnv)
			if pass == "" {
				errs = append(errs, fmt.Errorf("dispatch: nats_password_env %s is empty or unset", cfg.NATSPassEnv))
			}
		}
		if cfg.NATSUser == "" {
			errs = append(errs, errors.New("dispatch: nats_password needs nats_user"))
		}
		opts = append(opts, nats.UserInfo(cfg.NATSUser, pass))
	}
	if cfg.NATSToken != "" {
		n++
		tok := os.Getenv(cfg.NATSToken)
		if tok == "" {
			errs = append(errs, fmt.Errorf("dispatch: nats_token_env %s is empty or unset", cfg.NATSToken))
		}
		opts = append(opts, nats.Token(tok))
	}
	if n > 1 {
		errs = append(errs, errors.New("dispatch: set one of nats_creds, nats_user, nats_token_env"))
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

// Open implements [Queue]: it starts the embedded server or connects to the cluster, and
// creates or updates the two streams. Against an external cluster it keeps trying (a
// server down, a cluster still electing its leader) until ctx ends, logging each failure.
func (q *JetStreamQueue) Open(ctx context.Context) error {
	q.mu.Lock()
	if q.state != jsNew {
		q.mu.Unlock()
		return ErrClosed
	}
	q.state = jsOpening
	q.mu.Unlock()

	c, err := q.open(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil && q.state != jsOpening { // closed meanwhile
		err = ErrClosed
	}
	if err != nil {
		c.shutdown()
		if q.state != jsClosed {
			q.state = jsClosed
			close(q.closing)
		}
		return err
	}
	q.jsConn = c
	q.state = jsOpen
	return nil
}

// jsConn is what Open sets up and Close tears down.
type jsConn struct {
	srv    *server.Server // embedded server; nil for a cluster
	nc     *nats.Conn     // fetches, acks, admin
	js     jetstream.JetStream
	pubNC  *nats.Conn // publishes only: the write path does not queue behind deliveries
	pubJS  jetstream.JetStream
	rep    *replier // acks, on nc
	pubRep *replier // publishes, on pubNC
	stream jetstream.Stream
	dead   jetstream.Stream
}

func (c jsConn) shutdown() {
	for _, nc := range []*nats.Conn{c.pubNC, c.nc} {
		if nc != nil {
			_ = nc.FlushTimeout(jsOpTimeout)
			nc.Close()
		}
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
}

func (q *JetStreamQueue) open(ctx context.Context) (c jsConn, err error) {
	opts := q.connOpts
	urls := strings.Join(q.external, ",")
	if q.external == nil {
		dir, err := filepath.Abs(q.dataDir)
		if err != nil {
			return c, fmt.Errorf("dispatch: data_dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return c, fmt.Errorf("dispatch: data_dir: %w", err)
		}
		srv, err := server.NewServer(&server.Options{
			ServerName:             "hooktap",
			DontListen:             true,
			JetStream:              true,
			StoreDir:               dir,
			NoSigs:                 true,
			DisableJetStreamBanner: true,
			MaxPayload:             8 << 20,
		})
		if err != nil {
			return c, fmt.Errorf("dispatch: embedded nats server: %w", err)
		}
		srv.SetLoggerV2(natsLogger{q.log}, false, false, false)
		c.srv = srv
		srv.Start()
		wait := jsStartTimeout
		if dl, ok := ctx.Deadline(); ok {
			wait = time.Until(dl)
		}
		if !srv.ReadyForConnections(wait) {
			return c, errors.New("dispatch: embedded nats server did not start")
		}
		opts = []nats.Option{nats.InProcessServer(srv), nats.Name("hooktap")}
		urls = ""
	} else {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if c.nc, err = nats.Connect(urls, opts...); err != nil {
		return c, fmt.Errorf("dispatch: connecting to nats %s: %w", redactURL(urls), err)
	}
	if c.pubNC, err = nats.Connect(urls, append(opts, nats.Name("hooktap-publish"))...); err != nil {
		return c, fmt.Errorf("dispatch: connecting to nats %s: %w", redactURL(urls), err)
	}
	c.rep, c.pubRep = newReplier(c.nc, q.closing), newReplier(c.pubNC, q.closing)
	if c.js, err = jetstream.New(c.nc, jetstream.WithDefaultTimeout(jsOpTimeout)); err != nil {
		return c, fmt.Errorf("dispatch: jetstream: %w", err)
	}
	if c.pubJS, err = jetstream.New(c.pubNC, jetstream.WithDefaultTimeout(jsOpTimeout)); err != nil {
		return c, fmt.Errorf("dispatch: jetstream: %w", err)
	}
	replicas := 1
	if q.external != nil {
		replicas = jsClusterReplica
	}
	events := jetstream.StreamConfig{
		Name:        jsStream,
		Description: "hooktap: accepted events, kept until every webhook that wants them has settled them",
		Subjects:    []string{jsAllEvents, jsRedeliverPre + ">"},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      q.maxAge,
		MaxBytes:    q.maxBytes,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Duplicates:  jsDuplicates,
		Replicas:    replicas,
	}
	dead := jetstream.StreamConfig{
		Name:        jsDeadStream,
		Description: "hooktap: dead letters, by webhook",
		Subjects:    []string{jsDeadPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      q.maxAge,
		MaxBytes:    q.maxBytes,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Duplicates:  jsDuplicates,
		Replicas:    replicas,
	}
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if c.stream, err = q.ensureStream(ctx, c.js, events); err == nil {
			if c.dead, err = q.ensureStream(ctx, c.js, dead); err == nil {
				break
			}
		}
		var apiErr *jetstream.APIError
		if q.external == nil || (errors.As(err, &apiErr) && apiErr.Code == 400) {
			return c, err // a bad request (e.g. an incompatible existing stream) will not heal
		}
		q.log.Warn("dispatch: jetstream not ready; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-q.closing:
			return c, ErrClosed
		case <-time.After(wait):
		}
	}
	where := "embedded, " + q.dataDir
	if q.external != nil {
		where = redactURL(urls)
	}
	q.log.Info("dispatch: jetstream queue open", "store", where,
		"replicas", c.stream.CachedInfo().Config.Replicas, "max_age", q.maxAge, "max_bytes", q.maxBytes)
	return c, nil
}

// ensureStream creates or updates a stream; on a cluster too small for the replicas asked
// for (or a single server), it falls back to one replica and says so.
func (q *JetStreamQueue) ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil && cfg.Replicas > 1 {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jsErrInsufficientResources ||
			apiErr.ErrorCode == jsErrReplicasNotSupported || apiErr.ErrorCode == jsErrClusterNoPeers) {
			q.log.Warn("dispatch: nats cannot hold the stream's replicas; using 1", "stream", cfg.Name,
				"replicas", cfg.Replicas, "err", err)
			cfg.Replicas = 1
			s, err = js.CreateOrUpdateStream(ctx, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dispatch: stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// JetStream API error codes the queue acts on (nats-server's jetstream_errors_generated.go).
const (
	jsErrInsufficientResources = 10023 // JSInsufficientResourcesErr
	jsErrReplicasNotSupported  = 10074 // JSStreamReplicasNotSupportedErr
	jsErrClusterNoPeers        = 10005 // JSClusterNoPeersErrF
	jsErrStoreFailed           = 10077 // JSStreamStoreFailedF: "maximum bytes exceeded", ...
	jsErrStorageExceeded       = 10047 // JSStorageResourcesExceededErr
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
	if cap(p.buf) > maxKeptBuf {
		p.buf = nil
	}
	if err == nil {
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

// jsConnStream returns the events stream.
func (q *JetStreamQueue) jsConnStream() jetstream.Stream {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.stream
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

// DeadLetters implements [Queue].
func (q *JetStreamQueue) DeadLetters(ctx context.Context, hook string, max int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.scanDead(ctx, hook, func(dl *deadLetter) bool {
		out = append(out, dl.DeadLetter)
		return max <= 0 || len(out) < max
	})
	return out, err
}

// Redeliver implements [Queue].
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

// RedeliverAll implements [Queue].
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
	si, err := stream.Info(ctx)
	if err != nil {
		return QueueDepth{}, fmt.Errorf("dispatch: queue depth: %w", err)
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

// Close implements [Queue]: blocked Fetch calls return ErrClosed, the connection is
// flushed and closed, and the embedded server (if any) shuts down, writing its state.
// Deliveries fetched and not settled stay unacknowledged and come back after AckWait.
func (q *JetStreamQueue) Close() error {
	q.mu.Lock()
	if q.state == jsClosed {
		q.mu.Unlock()
		return nil
	}
	wasOpen := q.state == jsOpen
	q.state = jsClosed
	close(q.closing)
	q.mu.Unlock()
	if !wasOpen {
		return nil // never opened, or Open is still running and tears down itself
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nakArrived()
	q.jsConn.shutdown()
	return nil
}

// natsLogger sends the embedded server's log to slog: notices at debug level (start-up
// chatter), warnings and errors as such; debug and trace are off.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Warnf(format string, v ...any) { l.log.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats: fatal: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Errorf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Debugf(string, ...any) {}
func (l natsLogger) Tracef(string, ...any) {}

var _ Queue = (*JetStreamQueue)(nil)

// PurgeDead implements [DeadPurger]: it purges the deleted webhook's subject from the
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

var _ DeadPurger = (*JetStreamQueue)(nil)
