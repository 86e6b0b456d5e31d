package proxy

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 plus the historical ones that
// httputil.ReverseProxy removes. They are removed in both directions, whatever their case.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

const (
	hdrXFF   = "X-Forwarded-For"
	hdrXFP   = "X-Forwarded-Proto"
	hdrXFH   = "X-Forwarded-Host"
	maxNamed = 32 // Connection-named headers honoured per message; more are a sign of abuse
)

// equalFold reports whether a and b are equal under ASCII case folding. Header names are
// ASCII tokens, so this is exact for them and never allocates.
func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isHop(name []byte) bool {
	for _, h := range hopHeaders {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

// scratch is per-request working memory for header rewriting, pooled with the request state.
// names holds the exact spellings of the headers to delete, packed into buf.
type scratch struct {
	buf   []byte
	names [][2]int // offsets into buf
	conn  []byte   // Connection header values, comma-joined, copied
	xff   []byte
}

func (s *scratch) reset() {
	s.buf = s.buf[:0]
	s.names = s.names[:0]
	s.conn = s.conn[:0]
	s.xff = s.xff[:0]
}

func (s *scratch) mark(name []byte) {
	for _, n := range s.names {
		if bytes.Equal(s.buf[n[0]:n[1]], name) {
			return
		}
	}
	start := len(s.buf)
	s.buf = append(s.buf, name...)
	s.names = append(s.names, [2]int{start, len(s.buf)})
}

// namedByConnection reports whether name is listed as a token in the collected Connection
// values.
func (s *scratch) namedByConnection(name []byte) bool {
	v := s.conn
	n := 0
	for len(v) > 0 && n < maxNamed {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == 0 {
			continue
		}
		n++
		if len(tok) == len(name) && equalFold(tok, string(name)) {
			return true
		}
	}
	return false
}

func (s *scratch) addConn(v []byte) {
	if len(s.conn) > 0 {
		s.conn = append(s.conn, ',')
	}
	s.conn = append(s.conn, v...)
}

// cleanRequest removes hop-by-hop headers (and those named in Connection) from the outbound
// request, gathers any incoming X-Forwarded-For lines, and reports whether the client sent
// X-Forwarded-Proto and X-Forwarded-Host.
func cleanRequest(h *fasthttp.RequestHeader, s *scratch) (hasProto, hasHost bool) {
	s.reset()
	for k, v := range h.All() {
		if equalFold(k, "Connection") {
			s.addConn(v)
		}
	}
	for k, v := range h.All() {
		switch {
		case equalFold(k, "Transfer-Encoding") || equalFold(k, "Content-Length"):
			// Framing: fasthttp writes it again from the body it forwards.
		case isHop(k) || (len(s.conn) > 0 && s.namedByConnection(k)):
			s.mark(k)
		case equalFold(k, hdrXFF):
			if len(s.xff) > 0 {
				s.xff = append(s.xff, ", "...)
			}
			s.xff = append(s.xff, v...)
			s.mark(k)
		case equalFold(k, hdrXFP):
			hasProto = true
		case equalFold(k, hdrXFH):
			hasHost = true
		}
	}
	for _, n := range s.names {
		h.DelBytes(s.buf[n[0]:n[1]])
	}
	h.ResetConnectionClose()
	return hasProto, hasHost
}

// cleanResponse removes hop-by-hop headers (and those named in Connection) from the
// upstream's response before it goes to the client.
func cleanResponse(h *fasthttp.ResponseHeader, s *scratch) {
	s.reset()
	for k, v := range h.All() {
		if equalFold(k, "Connection") {
			s.addConn(v)
		}
	}
	for k := range h.All() {
		// Transfer-Encoding is framing: fasthttp re-frames the body itself, and deleting it
		// here would clear the stream's chunked length.
		if equalFold(k, "Transfer-Encoding") || equalFold(k, "Content-Length") {
			continue
		}
		if isHop(k) || (len(s.conn) > 0 && s.namedByConnection(k)) {
			s.mark(k)
		}
	}
	for _, n := range s.names {
		h.DelBytes(s.buf[n[0]:n[1]])
	}
	h.ResetConnectionClose()
}

// appendIP appends the textual client IP of addr without allocating.
func appendIP(dst []byte, addr net.Addr) []byte {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return dst
	}
	if a, ok := netip.AddrFromSlice(ip); ok {
		return a.Unmap().AppendTo(dst)
	}
	return dst
}

// reqPeeker reads request headers case-insensitively (fasthttp's own Peek is byte-exact once
// header-name normalising is off). It satisfies rules.Peeker.
type reqPeeker struct{ h *fasthttp.RequestHeader }

func (p *reqPeeker) Peek(name string) []byte {
	if p.h == nil {
		return nil
	}
	for k, v := range p.h.All() {
		if equalFold(k, name) {
			return v
		}
	}
	return nil
}

// respPeeker is reqPeeker for the upstream's response headers.
type respPeeker struct{ h *fasthttp.ResponseHeader }

func (p *respPeeker) Peek(name string) []byte {
	if p.h == nil {
		return nil
	}
	for k, v := range p.h.All() {
		if equalFold(k, name) {
			return v
		}
	}
	return nil
}

// PeekN returns the value of the n-th response header named name (from 0), or nil: the
// classifier reads every Set-Cookie header with it (rules.MultiPeeker).
func (p *respPeeker) PeekN(name string, n int) []byte {
	if p.h == nil {
		return nil
	}
	for k, v := range p.h.All() {
		if equalFold(k, name) {
			if n == 0 {
				return v
			}
			n--
		}
	}
	return nil
}

var _ rules.MultiPeeker = (*respPeeker)(nil)
