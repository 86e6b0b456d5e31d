package dispatch

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// idleConnTimeout is how long the client keeps an idle connection to a receiver. It is
// below the shortest keep-alive timeouts common among receivers (Node.js and Apache: 5 s),
// so that the client, not the receiver, closes an idle connection: a receiver that closes
// first makes the next request on that connection fail with nothing received. The rare
// remaining race is handled by retrying once on a reused connection (see staleConn).
const idleConnTimeout = 4 * time.Second

// trackedConn is a client connection that remembers whether it already carried a whole
// exchange (a request and its response), i.e. whether a request sent on it now is sent on
// a reused, possibly stale, connection. The mark is reached through LocalAddr, which
// fasthttp stores in the Response (Response.LocalAddr), also when the request fails, and
// which a TLS connection forwards to the connection under it.
type trackedConn struct {
	net.Conn
	addr connAddr
}

// connAddr is a trackedConn's local address and its mark.
type connAddr struct {
	net.Addr
	served atomic.Bool // a response was read on the connection
}

func (c *trackedConn) LocalAddr() net.Addr { return &c.addr }

// markServed records that resp was read whole from its connection, which goes back to the
// idle pool for reuse.
func markServed(resp *fasthttp.Response) {
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		a.served.Store(true)
	}
}

// staleConn reports whether err, from a request whose response is resp, is a reused
// connection closed by the receiver before any response byte (the receiver's keep-alive
// timeout ran out as the request was sent). The receiver did not answer, so sending the
// request once more on another connection is safe; it carries the same webhook-id.
func staleConn(err error, resp *fasthttp.Response) bool {
	if !errors.Is(err, fasthttp.ErrConnectionClosed) && !errors.Is(err, io.EOF) &&
		!errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		return false
	}
	a, ok := resp.LocalAddr().(*connAddr)
	return ok && a.served.Load()
}
