package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"time"

	"github.com/valyala/fasthttp"
)

// isUpgrade reports whether the request asks to switch protocols (Connection: upgrade plus an
// Upgrade header, RFC 9110 §7.8). HostClient cannot carry those: it would pool the switched
// connection. The Upgrade value is left in s.conn for serveUpgrade.
func isUpgrade(h *fasthttp.RequestHeader, s *scratch) bool {
	s.reset()
	var conn, upg bool
	for k, v := range h.All() {
		switch {
		case equalFold(k, "Connection"):
			s.addConn(v)
		case equalFold(k, "Upgrade"):
			upg = true
		}
	}
	if !upg || len(s.conn) == 0 {
		return false
	}
	conn = s.namedByConnection([]byte("upgrade"))
	return conn
}

var errBadHead = errors.New("proxy: malformed response head from upstream")

// serveUpgrade tunnels an Upgrade request: dial the upstream, send the cleaned request with
// Connection: Upgrade and Upgrade restored, relay the upstream's 101 byte for byte, then hijack
// the client connection and copy both ways until either side closes or Shutdown. A non-101
// answer is relayed as an ordinary response.
func (s *Server) serveUpgrade(ctx *fasthttp.RequestCtx, st *reqState, m Method) {
	h := &ctx.Request.Header
	var upgrade []byte
	for k, v := range h.All() {
		if equalFold(k, "Upgrade") {
			upgrade = append(st.head[:0], v...)
			break
		}
	}
	s.prepare(ctx, st)
	h.SetBytesV("Upgrade", upgrade)
	h.Set("Connection", "Upgrade")

	up, err := net.DialTimeout("tcp", s.addr, s.cfg.DialTimeout)
	if err != nil {
		s.fail(ctx, m, &dialError{err})
		return
	}
	s.stats.upstreamDials.Add(1)
	s.stats.upstreamLive.Add(1)
	upc := &idleConn{Conn: up, timeout: s.cfg.UpstreamTimeout, live: &s.stats.upstreamLive}
	bw := bufio.NewWriter(upc)
	if err = ctx.Request.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		_ = upc.Close()
		s.fail(ctx, m, err)
		return
	}
	br := bufio.NewReaderSize(upc, 4096)
	head, status, err := readHead(br, s.cfg.MaxHeaderBytes)
	if err != nil {
		_ = upc.Close()
		s.fail(ctx, m, err)
		return
	}
	if status != fasthttp.StatusSwitchingProtocols {
		s.relayRefusal(ctx, st, m, upc, bufio.NewReader(io.MultiReader(bytes.NewReader(head), br)))
		return
	}
	// The tunnel outlives the handler: it owns up, head and br from here on.
	head = bytes.Clone(head)
	s.stats.upgrades.Add(1)
	s.stats.count(m, status)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		// fasthttp's hijacked conn ignores Close (fasthttp closes it after this handler);
		// closing the conn under it is what stops a copier blocked reading the client.
		raw := c
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
		}
		if !s.track(upc, raw) {
			_ = upc.Close()
			return
		}
		s.tunnel(c, raw, upc, head, br)
	})
}

// relayRefusal relays an upstream's answer other than 101 to an Upgrade request as an
// ordinary response. The body is streamed, not read whole, so that memory stays bounded
// whatever the upstream sends; the body closes up when fasthttp is done with it.
func (s *Server) relayRefusal(ctx *fasthttp.RequestCtx, st *reqState, m Method, up net.Conn, br *bufio.Reader) {
	resp := &ctx.Response
	resp.Header.DisableNormalizing()
	if err := readHeader(&resp.Header, br); err != nil {
		_ = up.Close()
		s.fail(ctx, m, err)
		return
	}
	status := resp.StatusCode()
	cleanResponse(&resp.Header, &st.sc)
	resp.SetConnectionClose()
	s.stats.count(m, status)
	if ctx.Request.Header.IsHead() || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified {
		resp.SkipBody = true
		_ = up.Close()
		return
	}
	cl := resp.Header.ContentLength()
	body := &refusalBody{conn: up}
	switch {
	case cl >= 0:
		body.r = io.LimitReader(br, int64(cl))
	case cl == -1:
		body.r = httputil.NewChunkedReader(br)
	default: // until the upstream closes; the client gets it chunked
		body.r, cl = br, -1
	}
	resp.SetBodyStream(body, cl)
}

// refusalBody streams the body of a refused Upgrade and closes the upstream connection,
// which serves nothing else, when fasthttp closes the body.
type refusalBody struct {
	r    io.Reader
	conn net.Conn
}

func (b *refusalBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *refusalBody) Close() error               { return b.conn.Close() }

// track registers both ends of a tunnel so that Shutdown can close them; it reports false
// once shutdown has begun. It runs in the hijack handler, so a hijack that fasthttp abandons
// (the client went away first) leaves nothing registered.
func (s *Server) track(up, client net.Conn) bool {
	s.tunMu.Lock()
	defer s.tunMu.Unlock()
	if s.shutting.Load() {
		return false
	}
	s.tunnels[up] = struct{}{}
	s.tunnels[client] = struct{}{}
	s.tunWG.Add(1)
	return true
}

// tunnel copies bytes between the hijacked client connection and the upstream until either
// side closes (or Shutdown closes both); then it closes both.
// client is the hijacked connection (it holds bytes fasthttp already buffered), raw the
// connection under it, which is the one to close.
func (s *Server) tunnel(client, raw net.Conn, upc *idleConn, head []byte, br *bufio.Reader) {
	up := upc.Conn
	defer s.tunWG.Done()
	defer func() {
		s.tunMu.Lock()
		delete(s.tunnels, upc)
		delete(s.tunnels, raw)
		s.tunMu.Unlock()
	}()
	defer upc.Close()
	defer raw.Close()

	// Upgraded traffic may sit idle for long (a WebSocket between edits): the tunnel has no
	// upstream timeout, only the two peers' own closes.
	upc.timeout = 0
	_ = up.SetDeadline(time.Time{})
	if _, err := client.Write(head); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, client)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, br) // br holds what the upstream sent after its 101
		done <- struct{}{}
	}()
	<-done
	// One side has closed (or failed): close both ends, as httputil.ReverseProxy does, so
	// that the other copier returns even when its peer never closes. Half-closing instead
	// left two goroutines and two descriptors behind for every such peer.
	_ = raw.Close()
	_ = upc.Close()
	<-done
}

// readHead reads a response head (status line and headers, up to the blank line) without
// interpreting it, and returns it with its status code.
func readHead(br *bufio.Reader, limit int) ([]byte, int, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, 0, errBadHead
			}
			return nil, 0, err
		}
		head = append(head, line...)
		if len(head) > limit {
			return nil, 0, errBadHead
		}
		if len(line) <= 2 && len(head) > len(line) {
			break
		}
	}
	// "HTTP/1.1 101 Switching Protocols"
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) || head[8] != ' ' {
		return nil, 0, errBadHead
	}
	code := 0
	for _, c := range head[9:12] {
		if c < '0' || c > '9' {
			return nil, 0, errBadHead
		}
		code = code*10 + int(c-'0')
	}
	return head, code, nil
}
