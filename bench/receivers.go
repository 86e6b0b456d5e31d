package main

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// receivers are in-process fasthttp webhook receivers on loopback. Each counts what it
// gets and, while recording, records the latency from the "t" (Unix ns) in the payload.
type receivers struct {
	addrs []string
	srvs  []*fasthttp.Server
	lns   []net.Listener
	got   atomic.Int64
	rec   atomic.Bool
	first atomic.Int64 // Unix ns of the first request received after reset
	last  atomic.Int64 // Unix ns of the latest request
	mu    sync.Mutex
	hist  *hdrhistogram.Histogram
}

func startReceivers(n int) (*receivers, error) {
	r := &receivers{hist: newHist()}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.stop()
			return nil, err
		}
		r.serve(ln)
	}
	return r, nil
}

func (r *receivers) serve(ln net.Listener) {
	srv := &fasthttp.Server{Name: "bench-receiver", Handler: r.handle, ReadTimeout: time.Minute}
	r.addrs = append(r.addrs, ln.Addr().String())
	r.srvs = append(r.srvs, srv)
	r.lns = append(r.lns, ln)
	go func() { _ = srv.Serve(ln) }()
}

func (r *receivers) handle(ctx *fasthttp.RequestCtx) {
	now := time.Now().UnixNano()
	r.got.Add(1)
	r.first.CompareAndSwap(0, now)
	r.last.Store(now)
	if r.rec.Load() {
		if t := gjson.GetBytes(ctx.PostBody(), "t").Int(); t > 0 {
			r.mu.Lock()
			_ = r.hist.RecordValue(max(1, (now-t)/1000))
			r.mu.Unlock()
		}
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

func (r *receivers) reset() {
	r.mu.Lock()
	r.hist.Reset()
	r.mu.Unlock()
	r.got.Store(0)
	r.first.Store(0)
	r.last.Store(0)
}

func (r *receivers) latency() *HistSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summarize(r.hist)
}

func (r *receivers) stop() {
	for _, s := range r.srvs {
		_ = s.Shutdown()
	}
}

// stampedEvent is a reusable event payload whose "t" (Unix ns, 19 digits) is rewritten in
// place before each Enqueue, so producing events allocates nothing.
type stampedEvent struct {
	payload []byte
	tAt     int
}

func newStampedEvent() *stampedEvent {
	p := []byte(`{"timestamp":1700000000000,"event":"label_added","userKey":"ff808081000000000000000000000001","label":{"name":"bench","id":"1"},"labelled":{"id":123456},"t":`)
	at := len(p)
	p = append(p, "0000000000000000000}"...)
	return &stampedEvent{payload: p, tAt: at}
}

func (e *stampedEvent) stamp(now time.Time) []byte {
	var d [24]byte
	b := strconv.AppendInt(d[:0], now.UnixNano(), 10)
	copy(e.payload[e.tAt:e.tAt+19], b)
	return e.payload
}
