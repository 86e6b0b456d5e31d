package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// bufferMax is the largest upstream response body with a known length that the transport
// reads into memory before answering; anything larger, chunked or close-delimited is
// streamed. At the default max_conns this bounds buffered bodies to 64 MiB in all.
const bufferMax = 64 << 10

// maxInterim bounds the 1xx responses skipped before the final one.
const maxInterim = 8

var (
	errBadChunk   = errors.New("proxy: malformed chunked body from upstream")
	errTooManyInt = errors.New("proxy: too many interim responses from upstream")
)

// dialError marks a failure to connect to the upstream (502), as opposed to a failure on an
// established connection.
type dialError struct{ err error }

func (e *dialError) Error() string { return "proxy: dial upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// idleConn applies the upstream timeout to every read and write on an upstream connection:
// the upstream must make progress at least once per timeout, whether it is slow to send its
// response headers (504) or stalls in the middle of a body. Deadlines are only moved when a
// sixteenth of the timeout has passed, so the hot path rarely touches the poller's timers.
type idleConn struct {
	net.Conn
	timeout time.Duration
	rnext   int64         // nanotime after which Read moves the deadline; owned by the single reader
	wnext   int64         // the same for Write; owned by the single writer
	live    *atomic.Int64 // decremented on the first Close, when set
	closed  atomic.Bool
}

func (c *idleConn) Close() error {
	if c.live != nil && c.closed.CompareAndSwap(false, true) {
		c.live.Add(-1)
	}
	return c.Conn.Close()
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.timeout <= 0 {
		return c.Conn.Read(p)
	}
	if mono := nanotime(); mono > c.rnext {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
		c.rnext = mono + int64(c.timeout/16)
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.timeout <= 0 {
		return c.Conn.Write(p)
	}
	if mono := nanotime(); mono > c.wnext {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
		c.wnext = mono + int64(c.timeout/16)
	}
	return c.Conn.Write(p)
}

// pooledConn is fasthttp's unexported *clientConn, named through type inference.
type pooledConn interface{ Conn() net.Conn }

// transport is a fasthttp.RoundTripper that never retries on its own, reads small bodies of
// known length into the pooled response buffer, and streams every other body through a
// pooled upstreamBody that hands the connection back when the client has it all. Unlike
// fasthttp's own streaming mode it allocates nothing per request.
type transport[C pooledConn] struct {
	acquire     func(time.Duration, bool) (C, error)
	release     func(C)
	closeConn   func(C)
	noNormalize bool
	bodies      sync.Pool // *upstreamBody[C]
}

func newTransport[C pooledConn](hc *fasthttp.HostClient, acquire func(time.Duration, bool) (C, error), release, closeConn func(C)) *transport[C] {
	t := &transport[C]{
		acquire:     acquire,
		release:     release,
		closeConn:   closeConn,
		noNormalize: hc.DisableHeaderNamesNormalizing,
	}
	t.bodies.New = func() any { return new(upstreamBody[C]) }
	return t
}

// RoundTrip implements fasthttp.RoundTripper. retry is true when the connection failed, other
// than by timeout, before any of the response was read (typically a pooled connection the
// upstream had closed); Server.roundTrip decides whether the request may be sent again.
func (t *transport[C]) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	cc, err := t.acquire(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		t.closeConn(cc)
		return !isTimeout(err), err
	}

	br := hc.AcquireReader(conn)
	if t.noNormalize {
		resp.Header.DisableNormalizing()
	}
	if err = readHeader(&resp.Header, br); err != nil {
		hc.ReleaseReader(br)
		t.closeConn(cc)
		return !isTimeout(err), err
	}
	mustClose := req.ConnectionClose() || resp.Header.ConnectionClose()
	status := resp.Header.StatusCode()
	if req.Header.IsHead() || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified {
		resp.SkipBody = true
		t.done(hc, cc, br, mustClose)
		return false, nil
	}
	cl := resp.Header.ContentLength()
	if cl >= 0 && cl <= bufferMax {
		resp.StreamBody = false
		err = resp.ReadBody(br, 0)
		t.done(hc, cc, br, mustClose || err != nil)
		return false, err
	}
	b := t.bodies.Get().(*upstreamBody[C])
	b.t, b.hc, b.cc, b.br = t, hc, cc, br
	b.mustClose = mustClose || cl == -2
	b.left = cl
	framing := cl
	if cl == -2 { // close-delimited: the client gets it chunked
		framing = -1
	}
	resp.SetBodyStream(b, framing)
	return false, nil
}

func (t *transport[C]) done(hc *fasthttp.HostClient, cc C, br *bufio.Reader, mustClose bool) {
	hc.ReleaseReader(br)
	if mustClose {
		t.closeConn(cc)
	} else {
		t.release(cc)
	}
}

// readHeader reads the final response header, skipping interim 1xx responses (which
// fasthttp's server cannot relay) but not 101.
func readHeader(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	for i := 0; ; i++ {
		if err := h.Read(br); err != nil {
			return err
		}
		s := h.StatusCode()
		if s < 100 || s >= 200 || s == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if i >= maxInterim {
			return errTooManyInt
		}
	}
}

// upstreamBody streams one upstream response body. It is owned by the fasthttp response it
// is set on; fasthttp closes it once it has written the body (or abandoned it), and Close
// returns the connection to the pool only if the body was read to its end.
type upstreamBody[C pooledConn] struct {
	t  *transport[C]
	hc *fasthttp.HostClient
	cc C
	br *bufio.Reader

	pre       []byte // bytes already read from the stream by the tap, replayed first
	buf       []byte // owns pre: pooled with the body, so it lives until Close
	keep      int    // largest cap of buf worth keeping in the pool
	left      int    // bytes left for a fixed-length body; -1 chunked; -2 until close
	chunkLeft int
	mustClose bool
	eof       bool
	err       error
}

// readPrefix reads up to n bytes of the body into a buffer the body owns, and makes the body
// replay them before the rest of the stream. The returned slice stays valid until Close,
// which fasthttp calls only after it has written the body to the client, that is after the
// handler has returned: the prefix must not live in per-handler memory.
func (b *upstreamBody[C]) readPrefix(n int) ([]byte, error) {
	p, err := readPrefix(b.buf[:0], b, n)
	b.buf, b.pre, b.keep = p, p, 2*n
	return p, err
}

func (b *upstreamBody[C]) Read(p []byte) (int, error) {
	if len(b.pre) > 0 {
		n := copy(p, b.pre)
		b.pre = b.pre[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	var n int
	var err error
	switch {
	case b.left == -1:
		n, err = b.readChunked(p)
	case b.left == -2:
		n, err = b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
	default:
		if b.left == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if len(p) > b.left {
			p = p[:b.left]
		}
		n, err = b.br.Read(p)
		b.left -= n
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if b.left == 0 && err == nil {
			b.eof = true
		}
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *upstreamBody[C]) readChunked(p []byte) (int, error) {
	if b.chunkLeft == 0 {
		size, err := readChunkSize(b.br)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			// Trailers are not relayed (fasthttp's server cannot announce them after the
			// fact); they are read and dropped so the connection stays usable.
			if err := skipTrailers(b.br); err != nil {
				return 0, err
			}
			b.eof = true
			return 0, io.EOF
		}
		b.chunkLeft = size
	}
	if len(p) > b.chunkLeft {
		p = p[:b.chunkLeft]
	}
	n, err := b.br.Read(p)
	b.chunkLeft -= n
	if err == nil && b.chunkLeft == 0 {
		err = readCRLF(b.br)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func readChunkSize(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	size, digits := 0, 0
	for _, c := range line {
		var d int
		switch {
		case '0' <= c && c <= '9':
			d = int(c - '0')
		case 'a' <= c && c <= 'f':
			d = int(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = int(c-'A') + 10
		default:
			if digits == 0 || (c != ';' && c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				return 0, errBadChunk
			}
			return size, nil
		}
		digits++
		if digits > 15 {
			return 0, errBadChunk
		}
		size = size<<4 | d
	}
	return 0, errBadChunk
}

func readCRLF(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) > 2 || (len(line) == 2 && line[0] != '\r') {
		return errBadChunk
	}
	return nil
}

func skipTrailers(br *bufio.Reader) error {
	for i := 0; i < 64; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
	return fmt.Errorf("proxy: too many trailer lines from upstream: %w", errBadChunk)
}

// Close hands the connection back to the pool when the body was read to its end, and closes
// it otherwise. fasthttp calls it exactly once.
func (b *upstreamBody[C]) Close() error {
	b.hc.ReleaseReader(b.br)
	if b.eof && b.err == nil && !b.mustClose && len(b.pre) == 0 {
		b.t.release(b.cc)
	} else {
		b.t.closeConn(b.cc)
	}
	t := b.t
	buf := b.buf[:0]
	if cap(buf) > b.keep {
		buf = nil // one huge prefix must not pin memory in the pool
	}
	*b = upstreamBody[C]{buf: buf}
	t.bodies.Put(b)
	return nil
}
