package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
		if c.srv, err = q.startEmbedded(ctx); err != nil {
			return c, err
		}
		opts = []nats.Option{nats.InProcessServer(c.srv), nats.Name("hooktap")}
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
	if c.stream, c.dead, err = q.createStreams(ctx, c.js); err != nil {
		return c, err
	}
	if q.external == nil {
		if err = q.openKeeper(ctx, c); err != nil {
			return c, err
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

// startEmbedded starts the embedded server on data_dir, with no network listener, and waits
// until it accepts connections (up to ctx's deadline, or jsStartTimeout). The server is
// returned even with an error, for the caller to shut down.
func (q *JetStreamQueue) startEmbedded(ctx context.Context) (*server.Server, error) {
	dir, err := filepath.Abs(q.dataDir)
	if err != nil {
		return nil, fmt.Errorf("dispatch: data_dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dispatch: data_dir: %w", err)
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
		return nil, fmt.Errorf("dispatch: embedded nats server: %w", err)
	}
	srv.SetLoggerV2(natsLogger{q.log}, false, false, false)
	srv.Start()
	wait := jsStartTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !srv.ReadyForConnections(wait) {
		return srv, errors.New("dispatch: embedded nats server did not start")
	}
	return srv, nil
}

// createStreams creates or updates the events and dead-letter streams. Against an external
// cluster it keeps trying until ctx ends or Close, except after a bad request (e.g. an
// incompatible existing stream), which will not heal.
func (q *JetStreamQueue) createStreams(ctx context.Context, js jetstream.JetStream) (stream, dead jetstream.Stream, err error) {
	events, deadCfg := q.streamConfigs()
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if stream, err = q.ensureStream(ctx, js, events); err == nil {
			if dead, err = q.ensureStream(ctx, js, deadCfg); err == nil {
				return stream, dead, nil
			}
		}
		var apiErr *jetstream.APIError
		if q.external == nil || (errors.As(err, &apiErr) && apiErr.Code == 400) {
			return nil, nil, err // a bad request (e.g. an incompatible existing stream) will not heal
		}
		q.log.Warn("dispatch: jetstream not ready; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-q.closing:
			return nil, nil, ErrClosed
		case <-time.After(wait):
		}
	}
}

// streamConfigs returns the configurations of the events stream and the dead-letter stream.
func (q *JetStreamQueue) streamConfigs() (events, dead jetstream.StreamConfig) {
	replicas := 1
	if q.external != nil {
		replicas = jsClusterReplica
	}
	subjects := []string{jsAllEvents, jsRedeliverPre + ">"}
	if q.external == nil {
		subjects = append(subjects, jsKeepSubject)
	}
	events = jetstream.StreamConfig{
		Name:        jsStream,
		Description: "hooktap: accepted events, kept until every webhook that wants them has settled them",
		Subjects:    subjects,
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      q.maxAge,
		MaxBytes:    q.maxBytes,
		MaxMsgs:     -1,
		Storage:     jetstream.FileStorage,
		Duplicates:  jsDuplicates,
		Replicas:    replicas,
	}
	dead = jetstream.StreamConfig{
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
	return events, dead
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
	q.keep.wg.Wait()
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
