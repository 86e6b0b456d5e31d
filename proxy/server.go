package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// upstreamIdle is how long an idle upstream connection is kept. It is shorter than the
// keep-alive timeout of common upstream servers (Apache's is 5 s) so that a write is rarely
// sent on a connection the upstream is closing: writes are never retried.
const upstreamIdle = 4 * time.Second

// Server is the reverse proxy. Create it with New, run it with Serve, stop it with Shutdown.
type Server struct {
	cfg    Config // defaults filled; never changed after New
	log    *slog.Logger
	addr   string // upstream host:port
	srv    *fasthttp.Server
	hc     *fasthttp.HostClient  // the upstream connection pool
	rt     fasthttp.RoundTripper // the streaming transport over hc's pool
	lookup *fasthttp.HostClient  // the tap's lookups (buffered, bounded)

	tap      atomic.Pointer[tapHolder] // nil: pure pass-through
	stats    counters
	states   sync.Pool // *reqState
	shutting atomic.Bool

	tunMu   sync.Mutex            // guards tunnels
	tunnels map[net.Conn]struct{} // both ends of every open Upgrade tunnel
	tunWG   sync.WaitGroup        // one per tunnel goroutine pair
}

type tapHolder struct {
	t    Tap
	miss unmatchedRecorder // t, when it counts unmatched writes; else nil
}

func newTapHolder(t Tap) *tapHolder {
	h := &tapHolder{t: t}
	h.miss, _ = t.(unmatchedRecorder)
	return h
}

// New fills cfg's defaults, validates it (see [Config.Validate]) and builds a Server that
// forwards to cfg.Upstream. tap may be nil (pure pass-through; see SetTap). A nil log
// discards. New does no I/O and starts no goroutines.
func New(cfg Config, tap Tap, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	addr := upstreamAddr(cfg.Upstream)
	s := &Server{cfg: cfg, log: log, addr: addr, tunnels: make(map[net.Conn]struct{})}
	s.states.New = func() any { return newReqState(s) }
	if tap != nil {
		s.tap.Store(newTapHolder(tap))
	}
	s.srv = &fasthttp.Server{
		Handler:                       s.handle,
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		StreamRequestBody:             true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		LazyRequestTime:               true, // nothing reads ctx.Time(): no clock read per request
		CloseOnShutdown:               true,
		Logger:                        fhLogger{log},
	}
	s.hc = &fasthttp.HostClient{
		Addr:                          addr,
		Dial:                          s.dial,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConns:                      cfg.MaxConns,
		MaxConnWaitTimeout:            cfg.DialTimeout,
		MaxIdleConnDuration:           upstreamIdle,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		WriteBufferSize:               16 << 10,
	}
	// The HostClient is used for its connection pool only: roundTrip drives the transport
	// itself, so that fasthttp's Do does not reset the client response (and with it the
	// server's NoDefaultDate) and retries follow hooktap's rule, not HostClient's.
	s.rt = newTransport(s.hc, s.hc.AcquireConn, s.hc.ReleaseConn, s.hc.CloseConn)
	s.lookup = &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "hooktap",
		Dial:                      func(a string) (net.Conn, error) { return net.DialTimeout("tcp", a, cfg.DialTimeout) },
		DisablePathNormalizing:    true,
		MaxConns:                  64,
		MaxConnWaitTimeout:        cfg.DialTimeout,
		MaxIdleConnDuration:       upstreamIdle,
		ReadTimeout:               cfg.UpstreamTimeout,
		WriteTimeout:              cfg.UpstreamTimeout,
		ReadBufferSize:            cfg.MaxHeaderBytes,
		MaxResponseBodySize:       max(cfg.TapBodyLimit, 1),
		MaxIdemponentCallAttempts: 1,
	}
	return s, nil
}

// upstreamAddr returns the host:port of a valid upstream URL.
func upstreamAddr(raw string) string {
	u, _ := url.Parse(raw) // Validate parsed it
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Config returns the configuration in use, defaults filled.
func (s *Server) Config() Config { return s.cfg }

// SetTap replaces the tap for requests that start after it returns; nil makes the proxy a
// pure pass-through. Safe to call while serving.
func (s *Server) SetTap(t Tap) {
	if t == nil {
		s.tap.Store(nil)
		return
	}
	s.tap.Store(newTapHolder(t))
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Serve accepts connections on ln and proxies them until Shutdown; it then returns nil. Any
// other failure of the listener is returned.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(lazyListener{ln})
	if s.shutting.Load() {
		return nil
	}
	if err == nil {
		return errors.New("proxy: serve: listener closed")
	}
	return fmt.Errorf("proxy: serve: %w", err)
}

// Shutdown stops accepting connections, closes idle ones, and waits for in-flight requests
// to finish until ctx ends. Upgrade tunnels (WebSockets) are then closed. It returns ctx's
// error if requests were still running when ctx ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	err := s.srv.ShutdownWithContext(ctx)
	s.tunMu.Lock()
	for c := range s.tunnels {
		_ = c.Close()
	}
	s.tunMu.Unlock()
	s.tunWG.Wait()
	s.hc.CloseIdleConnections()
	s.lookup.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("proxy: shutdown: %w", err)
	}
	return nil
}

// UpstreamReachable reports, by dialling it, whether the upstream accepts connections.
func (s *Server) UpstreamReachable(ctx context.Context) error {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("proxy: upstream %s unreachable: %w", s.addr, err)
	}
	return c.Close()
}

func (s *Server) dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, s.cfg.DialTimeout)
	if err != nil {
		return nil, &dialError{err}
	}
	s.stats.upstreamDials.Add(1)
	s.stats.upstreamLive.Add(1)
	return &idleConn{Conn: c, timeout: s.cfg.UpstreamTimeout, live: &s.stats.upstreamLive}, nil
}

// handle is the fasthttp handler: every request, whatever its path, goes upstream.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	m := methodIndex(req.Header.Method())
	st := s.states.Get().(*reqState)
	var tap Tap
	h := s.tap.Load()
	if h != nil && h.t.Wants(req.Header.Method(), req.URI().PathOriginal()) {
		tap = h.t
	}
	// Only a request the tap does not want, and without a body, may switch protocols: a
	// tunnel is not tapped, so a write that adds Upgrade headers (h2c, which the upstream
	// ignores) must not escape the tap. Every other request loses its Upgrade header in
	// prepare (it is hop-by-hop) and goes the ordinary way.
	// ContentLength is -2 for a request without framing headers, that is without a body.
	if cl := req.Header.ContentLength(); tap == nil && (cl == 0 || cl == -2) && isUpgrade(&req.Header, &st.sc) {
		s.serveUpgrade(ctx, st, m)
		s.putState(st)
		return
	}
	s.prepare(ctx, st)
	if tap != nil {
		s.serveTapped(ctx, st, tap, m)
	} else {
		s.forward(ctx, st, m)
		if h != nil && h.miss != nil && m != MethodGet && m != MethodHead {
			// A write no rule could want: counted as unmatched (the recorder ignores
			// OPTIONS and failed writes).
			h.miss.RecordUnmatched(req.Header.Method(), req.URI().PathOriginal(), req.URI().QueryString(), ctx.Response.StatusCode())
		}
	}
	s.putState(st)
}

// prepare turns the client's request into the upstream request in place: hop-by-hop headers
// out, X-Forwarded-* in, Host kept (or rewritten), scheme forced to http.
func (s *Server) prepare(ctx *fasthttp.RequestCtx, st *reqState) {
	h := &ctx.Request.Header
	// A body without Content-Type goes upstream without one: fasthttp would otherwise write
	// application/octet-stream.
	h.SetNoDefaultContentType(true)
	hasProto, hasHost := cleanRequest(h, &st.sc)
	xff := st.sc.xff
	n := len(xff)
	if n > 0 {
		xff = append(xff, ", "...)
	}
	if xff2 := appendIP(xff, ctx.RemoteAddr()); len(xff2) > len(xff) {
		xff = xff2
	} else {
		xff = xff[:n]
	}
	st.sc.xff = xff
	if len(xff) > 0 {
		h.SetBytesV(hdrXFF, xff)
	}
	if !hasProto {
		if ctx.IsTLS() {
			h.Set(hdrXFP, "https")
		} else {
			h.Set(hdrXFP, "http")
		}
	}
	if !hasHost && len(h.Host()) > 0 {
		h.SetBytesV(hdrXFH, h.Host())
	}
	if s.cfg.HostHeader != "" {
		h.SetHost(s.cfg.HostHeader)
	}
	if req := &ctx.Request; req.IsBodyStream() {
		// Tag errors reading the client's body, so that fail tells them from the upstream's.
		st.cbody = clientBody{r: req.BodyStream(), left: int64(h.ContentLength())}
		req.SetBodyStream(&st.cbody, h.ContentLength())
	}
	ctx.Request.UseHostHeader = true
	// A TLS-terminating front marks the URI https; the HostClient speaks plain http and would
	// refuse it (ErrHostClientRedirectToDifferentScheme).
	ctx.Request.URI().SetScheme("http")
}

// roundTrip sends req upstream and reads the response head into resp. A write reaches the
// upstream exactly once: only a GET or HEAD without a body is retried, once, and only when a
// pooled connection turned out to be closed before any answer.
func (s *Server) roundTrip(req *fasthttp.Request, resp *fasthttp.Response) error {
	req.URI().DisablePathNormalizing = true
	replayable := (req.Header.IsGet() || req.Header.IsHead()) && !req.IsBodyStream()
	retry, err := s.rt.RoundTrip(s.hc, req, resp)
	if err != nil && retry && replayable {
		_, err = s.rt.RoundTrip(s.hc, req, resp)
	}
	if c := resp.StatusCode(); err == nil && (c < 100 || c > 999) {
		// fasthttp would write it back as given: "001" becomes the malformed "1". fail's
		// Reset closes the body, and with it the upstream connection.
		err = errBadStatus
	}
	return err
}

// errBadStatus is an upstream status code that is not three digits: answered 502.
var errBadStatus = errors.New("proxy: the upstream answered a status code that is not three digits")

// forward is the pass-through path: no copy of anything, no call to the tap.
func (s *Server) forward(ctx *fasthttp.RequestCtx, st *reqState, m Method) {
	if err := s.roundTrip(&ctx.Request, &ctx.Response); err != nil {
		s.fail(ctx, m, err)
		return
	}
	cleanResponse(&ctx.Response.Header, &st.sc)
	s.stats.count(m, ctx.Response.StatusCode())
}

// fail answers the client for a failed round trip: 504 when the upstream made no progress
// within upstream_timeout, 502 otherwise, with a short plain-text body and one log line. A
// failure to read the client's own body is the client's: 400, see clientFail.
func (s *Server) fail(ctx *fasthttp.RequestCtx, m Method, err error) int {
	var ce *clientError
	if errors.As(err, &ce) {
		return s.clientFail(ctx, m, err)
	}
	status, msg := fasthttp.StatusBadGateway, "502 Bad Gateway: the upstream could not be reached\n"
	var de *dialError
	if !errors.As(err, &de) && isTimeout(err) {
		status, msg = fasthttp.StatusGatewayTimeout, "504 Gateway Timeout: the upstream did not answer in time\n"
		s.stats.timeouts.Add(1)
	} else {
		s.stats.upstreamErrors.Add(1)
	}
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetBodyString(msg)
	s.stats.count(m, status)
	s.log.Warn("proxy: upstream request failed",
		"status", status, "method", string(ctx.Method()), "path", string(ctx.Request.URI().PathOriginal()),
		"upstream", s.addr, "err", err)
	return status
}

// clientFail answers 400 when the client's request body could not be read (malformed
// chunked framing, abort, read timeout), closes the connection (the rest of the body is in
// an unknown state), and counts it in ClientErrors. It logs at debug level: it is about the
// client, not the upstream.
func (s *Server) clientFail(ctx *fasthttp.RequestCtx, m Method, err error) int {
	s.stats.clientErrors.Add(1)
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(fasthttp.StatusBadRequest)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetBodyString("400 Bad Request: the request body could not be read\n")
	ctx.SetConnectionClose()
	s.stats.count(m, fasthttp.StatusBadRequest)
	s.log.Debug("proxy: client request body failed",
		"method", string(ctx.Method()), "path", string(ctx.Request.URI().PathOriginal()), "err", err)
	return fasthttp.StatusBadRequest
}

// clientBody wraps the client's streamed request body: an error reading it is a clientError,
// whatever it is wrapped in by the time it comes out of the upstream request's Write.
// A body that ends before its Content-Length is an error too.
type clientBody struct {
	r    io.Reader
	left int64 // bytes still due by Content-Length; negative when chunked
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		err = &clientError{err}
	}
	return n, err
}

// clientError is a failure to read the client's request body.
type clientError struct{ err error }

func (e *clientError) Error() string {
	return "proxy: reading the client's request body: " + e.err.Error()
}
func (e *clientError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fhLogger routes fasthttp's own messages (malformed requests, connection errors) to slog at
// debug level: they are about clients, not about hooktap.
type fhLogger struct{ log *slog.Logger }

func (l fhLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("proxy: fasthttp: " + fmt.Sprintf(format, args...))
	}
}
