package proxy

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// reqState is the per-request working memory, pooled by the Server. Everything in it is
// reset before it goes back to the pool; nothing in it outlives the handler.
type reqState struct {
	sc       scratch
	x        rules.Exchange
	reqPeek  reqPeeker
	respPeek respPeeker
	fetch    fetcher
	replay   replay
	cbody    clientBody // the client's body stream, its errors tagged
	body     []byte     // bounded copy of a streamed request body (the tap's view)
	ip       []byte
	head     []byte // the upstream's raw 101 head, for upgrades
}

func newReqState(s *Server) *reqState {
	st := &reqState{}
	st.fetch.s = s
	return st
}

func (s *Server) putState(st *reqState) {
	st.x = rules.Exchange{}
	st.reqPeek.h = nil
	st.respPeek.h = nil
	st.fetch.req = nil
	st.replay = replay{}
	st.cbody = clientBody{}
	// Keep the big buffers for reuse only while they are modest, so that one huge tapped body
	// does not pin memory in the pool.
	if cap(st.body) > 2*s.cfg.TapBodyLimit+1 {
		st.body = nil
	}
	s.states.Put(st)
}

// serveTapped forwards a request the tap wants: bounded copies of the bodies, Before, forward,
// After, and 503 if After refuses.
func (s *Server) serveTapped(ctx *fasthttp.RequestCtx, st *reqState, tap Tap, m Method) {
	s.stats.tapped.Add(1)
	req, resp := &ctx.Request, &ctx.Response
	x := &st.x
	s.describeRequest(ctx, st, tap)
	if err := s.copyRequestBody(req, st); err != nil {
		s.clientFail(ctx, m, err)
		return
	}

	tap.Before(x)
	if err := s.roundTrip(req, resp); err != nil {
		// The classifier still gets After, so it can release what Before took; no rule
		// matches a proxy-made 502/504 with no response headers.
		x.Status = s.fail(ctx, m, err)
		st.respPeek.h = nil
		x.RespHeader = &st.respPeek
		_ = tap.After(x)
		return
	}
	cleanResponse(&resp.Header, &st.sc)
	x.Status = resp.StatusCode()
	st.respPeek.h = &resp.Header
	x.RespHeader = &st.respPeek
	s.copyResponseBody(resp, x)
	if x.BodyTrunc || x.RespTrunc {
		s.stats.tapTruncated.Add(1)
	}
	if err := tap.After(x); err != nil {
		s.stats.tapRejected.Add(1)
		s.log.Error("proxy: tap refused the exchange; answered 503 although the upstream already applied the request",
			"method", string(x.Method), "path", string(x.Path), "upstream_status", x.Status, "err", err)
		resp.Reset() // closes a streamed body and its upstream connection
		resp.SetStatusCode(fasthttp.StatusServiceUnavailable)
		resp.Header.SetContentType("text/plain; charset=utf-8")
		resp.SetBodyString("503 Service Unavailable: the upstream applied this request, but its webhook event could not be stored\n")
		s.stats.count(m, fasthttp.StatusServiceUnavailable)
		return
	}
	s.stats.count(m, x.Status)
}

// describeRequest fills st.x with the request as the tap sees it (no body yet) and points
// its Upstream at the fetcher, bounded by the tap's lookup timeout.
func (s *Server) describeRequest(ctx *fasthttp.RequestCtx, st *reqState, tap Tap) {
	req := &ctx.Request
	x := &st.x
	x.Method = req.Header.Method()
	x.Path = req.URI().PathOriginal()
	x.Query = req.URI().QueryString()
	st.reqPeek.h = &req.Header
	x.Header = &st.reqPeek
	st.fetch.req = req
	st.fetch.timeout = s.cfg.UpstreamTimeout
	if lt, ok := tap.(lookupTimeouter); ok {
		if d := lt.LookupTimeout(); d > 0 {
			st.fetch.timeout = d
		}
	}
	x.Upstream = &st.fetch
	st.ip = appendIP(st.ip[:0], ctx.RemoteAddr())
	x.RemoteAddr = st.ip
}

// copyRequestBody gives the tap the request body's first tap_body_limit bytes. A streamed
// body keeps up to limit+1 bytes (the extra byte tells a cut body from one exactly at the
// limit), then goes upstream as prefix + rest of the stream: it is never held whole. An
// error is the client's (its body could not be read).
func (s *Server) copyRequestBody(req *fasthttp.Request, st *reqState) error {
	limit := s.cfg.TapBodyLimit
	x := &st.x
	if !req.IsBodyStream() {
		x.Body, x.BodyTrunc = cut(req.Body(), limit)
		return nil
	}
	rest := req.BodyStream()
	cl := req.Header.ContentLength()
	var err error
	st.body, err = readPrefix(st.body[:0], rest, limit+1)
	if err != nil {
		return err
	}
	x.Body, x.BodyTrunc = cut(st.body, limit)
	st.replay = replay{pre: st.body, rest: rest}
	req.SetBodyStream(&st.replay, cl)
	return nil
}

// copyResponseBody gives the tap the answer's first tap_body_limit bytes, unless Before said
// no rule can match whatever the body says (a page view under a rule for ?action=rollback):
// then the body streams through uncopied, as on the pass-through path. A streamed answer's
// prefix lives in the body, not in st: fasthttp writes the body to the client after the
// handler has returned and st is back in the pool. An event stream is never read ahead.
func (s *Server) copyResponseBody(resp *fasthttp.Response, x *rules.Exchange) {
	limit := s.cfg.TapBodyLimit
	switch {
	case x.RespUnneeded:
	case resp.IsBodyStream():
		if p, ok := resp.BodyStream().(prefixer); ok && !isEventStream(resp) {
			pre, err := p.readPrefix(limit + 1)
			if err == nil {
				x.RespBody, x.RespTrunc = cut(pre, limit)
			} else {
				x.RespBody, x.RespTrunc = cut(pre, 0)
			}
		}
	default:
		x.RespBody, x.RespTrunc = cut(resp.Body(), limit)
	}
}

// cut bounds b to limit bytes and reports whether it was longer.
func cut(b []byte, limit int) ([]byte, bool) {
	if len(b) > limit {
		return b[:limit], true
	}
	return b, false
}

func isEventStream(resp *fasthttp.Response) bool {
	return bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream"))
}

// readPrefix appends up to n bytes of r to dst, stopping early at io.EOF.
func readPrefix(dst []byte, r io.Reader, n int) ([]byte, error) {
	for len(dst) < n {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		end := min(cap(dst), n)
		k, err := r.Read(dst[len(dst):end])
		dst = dst[:len(dst)+k]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// prefixer is implemented by the transport's streamed bodies: the tap reads a prefix of the
// response into the body's own buffer, and the body replays it to the client.
type prefixer interface {
	readPrefix(n int) ([]byte, error)
}

// replay is a request body stream that yields pre, then the rest of the client's stream.
type replay struct {
	pre  []byte
	rest io.Reader
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	if r.rest == nil {
		return 0, io.EOF
	}
	return r.rest.Read(p)
}

// lookupTimeouter is a Tap that bounds its own lookups ([classify] lookup_timeout);
// rules.Classifier is one. It is asked on every tapped exchange, so a reload applies at once.
type lookupTimeouter interface {
	LookupTimeout() time.Duration
}

// fetcher is the Exchange's rules.Fetcher: a GET to the upstream with the client's own
// Authorization and Cookie, bounded by the tap's LookupTimeout (else upstream_timeout) and
// by tap_body_limit.
type fetcher struct {
	s       *Server
	timeout time.Duration     // bound on one lookup: the tap's, else upstream_timeout
	req     *fasthttp.Request // the client's request, valid while the handler runs
	peek    reqPeeker
}

func (f *fetcher) Fetch(dst []byte, pathAndQuery []byte) (int, []byte, error) {
	return f.do(dst, fasthttp.MethodGet, pathAndQuery, nil, nil)
}

// Post is a lookup that POSTs body (an XML-RPC methodCall: rules.Poster), otherwise as Fetch.
func (f *fetcher) Post(dst, pathAndQuery, contentType, body []byte) (int, []byte, error) {
	return f.do(dst, fasthttp.MethodPost, pathAndQuery, contentType, body)
}

// do makes one lookup: method to pathAndQuery on the upstream with the client's Host,
// Authorization and Cookie (and body, when contentType is set), appending the answer to dst.
func (f *fetcher) do(dst []byte, method string, pathAndQuery, contentType, body []byte) (int, []byte, error) {
	if f.req == nil {
		return 0, dst, fmt.Errorf("proxy: lookup %q: exchange is over", pathAndQuery)
	}
	r := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(r)
	defer fasthttp.ReleaseResponse(resp)
	r.Header.SetMethod(method)
	r.SetRequestURIBytes(pathAndQuery)
	r.Header.SetHostBytes(f.req.Header.Host())
	r.UseHostHeader = true
	if contentType != nil {
		r.Header.SetContentTypeBytes(contentType)
		r.SetBody(body)
	}
	f.peek.h = &f.req.Header
	if v := f.peek.Peek("Authorization"); v != nil {
		r.Header.SetBytesV("Authorization", v)
	}
	if v := f.peek.Peek("Cookie"); v != nil {
		r.Header.SetBytesV("Cookie", v)
	}
	f.peek.h = nil
	if err := f.s.lookup.DoTimeout(r, resp, f.timeout); err != nil {
		return 0, dst, fmt.Errorf("proxy: lookup %q: %w", pathAndQuery, err)
	}
	return resp.StatusCode(), append(dst, resp.Body()...), nil
}

var _ rules.Poster = (*fetcher)(nil)
