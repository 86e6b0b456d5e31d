package proxy

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Method indexes Stats.Requests by request method.
type Method int

// The methods counted apart; every other method is MethodOther.
const (
	MethodGet Method = iota
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodOther
	NumMethods
)

// MethodNames are the label values of the Method indexes, in order.
var MethodNames = [NumMethods]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"}

// NumClasses is the number of status classes counted: 1xx to 5xx, at index class-1.
const NumClasses = 5

// ClassNames are the label values of the status-class indexes, in order.
var ClassNames = [NumClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Stats is a snapshot of the proxy's counters since New. Every field only grows.
type Stats struct {
	// Requests counts answered requests by method and by the class of the status the client
	// got (the proxy's own 502/503/504 included).
	Requests [NumMethods][NumClasses]uint64
	// UpstreamErrors counts requests answered 502: the upstream could not be dialled, closed
	// the connection, or sent something unparsable.
	UpstreamErrors uint64
	// Timeouts counts requests answered 504: the upstream made no progress for
	// upstream_timeout.
	Timeouts uint64
	// ClientErrors counts requests answered 400 because the client's request body could not
	// be read (malformed chunked framing, client abort, read timeout). They are not counted
	// as UpstreamErrors or Timeouts.
	ClientErrors uint64
	// Tapped counts exchanges handed to the tap (Wants returned true).
	Tapped uint64
	// TapRejected counts tapped exchanges answered 503 because After returned an error
	// (the upstream had already applied the write).
	TapRejected uint64
	// Upgrades counts Upgrade (WebSocket) requests tunnelled after a 101.
	Upgrades uint64
	// TapTruncated counts tapped exchanges whose request or response body exceeded
	// tap_body_limit, so the tap saw only a prefix.
	TapTruncated uint64
}

// counters is the live form of Stats: plain atomics, one cache line apart per method so
// that concurrent requests of different methods do not share lines.
type counters struct {
	requests [NumMethods]struct {
		class [NumClasses]atomic.Uint64
		_     [64 - (NumClasses*8)%64]byte
	}
	upstreamErrors atomic.Uint64
	timeouts       atomic.Uint64
	clientErrors   atomic.Uint64
	tapped         atomic.Uint64
	tapRejected    atomic.Uint64
	upgrades       atomic.Uint64
	tapTruncated   atomic.Uint64
	// upstreamDials and upstreamLive count the pool's connections dialled, and those not yet
	// closed; the fuzz tests use them to know when the upstream has seen all it was sent.
	upstreamDials atomic.Uint64
	upstreamLive  atomic.Int64
}

func methodIndex(m []byte) Method {
	switch string(m) {
	case fasthttp.MethodGet:
		return MethodGet
	case fasthttp.MethodHead:
		return MethodHead
	case fasthttp.MethodPost:
		return MethodPost
	case fasthttp.MethodPut:
		return MethodPut
	case fasthttp.MethodPatch:
		return MethodPatch
	case fasthttp.MethodDelete:
		return MethodDelete
	}
	return MethodOther
}

func (c *counters) count(m Method, status int) {
	cl := status/100 - 1
	if cl < 0 || cl >= NumClasses {
		cl = NumClasses - 1
	}
	c.requests[m].class[cl].Add(1)
}

func (c *counters) snapshot() Stats {
	var s Stats
	for m := range c.requests {
		for k := range c.requests[m].class {
			s.Requests[m][k] = c.requests[m].class[k].Load()
		}
	}
	s.UpstreamErrors = c.upstreamErrors.Load()
	s.Timeouts = c.timeouts.Load()
	s.ClientErrors = c.clientErrors.Load()
	s.Tapped = c.tapped.Load()
	s.TapRejected = c.tapRejected.Load()
	s.Upgrades = c.upgrades.Load()
	s.TapTruncated = c.tapTruncated.Load()
	return s
}
