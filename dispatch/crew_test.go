package dispatch

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// countingReceiver is a fasthttp receiver on loopback that counts the requests it answers
// and the connections it accepts.
type countingReceiver struct {
	addr  string
	reqs  atomic.Int64
	conns atomic.Int64
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &countingReceiver{addr: ln.Addr().String()}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			r.reqs.Add(1)
			ctx.SetBodyString(`{"ok":true}`)
		},
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				r.conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return r
}

// Under load, with 10 and 100 webhooks (one receiver each), deliveries reuse their
// connections: a receiver sees no more connections than the attempts its webhook may have
// in flight at once (its workers), however many deliveries it gets, and no dial happens
// per delivery.
func TestCrewReusesConnections(t *testing.T) {
	for _, hooks := range []int{10, 100} {
		t.Run("hooks="+strconv.Itoa(hooks), func(t *testing.T) {
			rcs := make([]*countingReceiver, hooks)
			ws := make([]Webhook, hooks)
			for i := range rcs {
				rcs[i] = newCountingReceiver(t)
				ws[i] = webhook("h"+strconv.Itoa(i), "http://"+rcs[i].addr+"/hook", "*")
				ws[i].Secret = "s3cret"
			}
			cfg := memCfg()
			cfg.MemoryQueueSize = 1 << 20
			cfg.MaxInFlightPerHook = 8
			d, err := New(cfg, ws, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			defer func() { cancel(); <-done }()
			<-d.ready
			events := 20000 / hooks
			ev := &rules.Event{Name: "page_created", Time: 1778071365412, Payload: benchBody}
			for i := 0; i < events; i++ {
				if err := d.Enqueue(ev); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(2 * time.Minute)
			for _, rc := range rcs {
				for rc.reqs.Load() < int64(events) {
					if time.Now().After(deadline) {
						t.Fatalf("a receiver got %d of %d deliveries", rc.reqs.Load(), events)
					}
					time.Sleep(time.Millisecond)
				}
			}
			var conns int64
			for _, rc := range rcs {
				if n := rc.conns.Load(); n > int64(cfg.MaxInFlightPerHook) {
					t.Errorf("a receiver accepted %d connections for %d deliveries, want at most %d (the per-hook cap)", n, events, cfg.MaxInFlightPerHook)
				}
				conns += rc.conns.Load()
			}
			t.Logf("%d webhooks: %d deliveries over %d connections", hooks, hooks*events, conns)
		})
	}
}
