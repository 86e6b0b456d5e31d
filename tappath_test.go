package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/internal/testkit"
	"hooktap/proxy"
	"hooktap/rules"
)

// The whole tapped path in one process, wired as serve in main.go wires it: a fasthttp
// client, hooktap's proxy with the classifier of a rules file, the dispatcher with its queue
// and workers, a fasthttp upstream and a fasthttp webhook receiver, all on loopback. One
// tapped exchange is a write that the proxy classifies into one event, enqueues, forwards,
// answers, and that the dispatcher signs and POSTs to the receiver.

// tapPathRules is the rules file of the stack: one rule (a label added, one event with a
// payload built from the request, the path and the response), one signed webhook.
const tapPathRules = `
[proxy]
upstream = "http://%s"

[admin]
listen = "off"

[dispatch]
queue = %q
data_dir = %q
retry = []
allow_targets = ["127.0.0.1"]

[[webhook]]
name   = "rec"
url    = "http://%s/hook"
secret = "s3cret"
events = ["label_added"]

[[rule]]
name   = "label added"
method = "POST"
path   = "/rest/api/content/{id}/label"

[[rule.emit]]
event   = "label_added"
payload = { "label.name" = "req.name", "labelled.id" = "path.id|num", "t" = "resp.t" }
`

// tapPathWrite is the tapped write; tapPathMiss is a write to a path no rule mentions.
var (
	tapPathWrite  = []byte(`{"prefix":"global","name":"bench"}`)
	tapPathAnswer = []byte(`{"prefix":"global","name":"bench","id":"9","t":1733313600000000000}`)
)

// tapStack is the running stack. Each delivery the receiver gets is one value on got.
type tapStack struct {
	addr string       // the proxy's listener
	got  chan []byte  // the X-Hub-Signature of each delivery (its buffer is the receiver's: read it at once), unless no one waits
	n    atomic.Int64 // deliveries received
	d    *dispatch.Dispatcher
	px   *proxy.Server
	// timer bounds each wait; reused, because time.After allocates and the alloc test
	// counts every goroutine's allocations, the test's own included.
	timer *time.Timer
}

// startTapStack starts the stack with queue "memory" or "disk" (embedded JetStream in a
// temporary directory) and stops it when tb ends.
func startTapStack(tb testing.TB, queue string) *tapStack {
	tb.Helper()
	up := testkit.ServeFast(tb, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(tapPathAnswer)
	})
	st := &tapStack{got: make(chan []byte, 1), timer: time.NewTimer(time.Hour)}
	recv := testkit.ServeFast(tb, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(`{"ok":true}`)
		st.n.Add(1)
		select {
		case st.got <- ctx.Request.Header.Peek("X-Hub-Signature"):
		default: // a parallel benchmark does not wait for each delivery
		}
	})
	file, err := config.Parse("tappath.toml", fmt.Appendf(nil, tapPathRules, up, queue, tb.TempDir(), recv))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := rules.Compile(&file.File)
	if err != nil {
		tb.Fatal(err)
	}
	st.d, err = dispatch.New(file.Dispatch, file.Webhooks, log)
	if err != nil {
		tb.Fatal(err)
	}
	cls := rules.NewClassifier(m, file.Classify, st.d, log)
	st.px, err = proxy.New(file.Proxy, cls, log)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	st.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	dispDone := make(chan error, 1)
	go func() { dispDone <- st.d.Run(ctx) }()
	pxDone := make(chan error, 1)
	go func() { pxDone <- st.px.Serve(ln) }()
	tb.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := st.px.Shutdown(sctx); err != nil {
			tb.Errorf("proxy shutdown: %v", err)
		}
		if err := <-pxDone; err != nil {
			tb.Errorf("proxy: %v", err)
		}
		cancel()
		select {
		case err := <-dispDone:
			if err != nil && err != context.Canceled {
				tb.Errorf("dispatcher: %v", err)
			}
		case <-time.After(time.Minute):
			tb.Error("dispatcher did not stop")
		}
	})
	// A disk queue opens in Run: wait until a tapped write is accepted and delivered.
	deadline := time.Now().Add(time.Minute)
	c := st.client()
	for {
		code := st.post(tb, c, "/rest/api/content/9/label", tapPathWrite)
		if code == 200 {
			st.wait(tb)
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the stack answered %d for a minute", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}

// client is a fasthttp client with one connection to the proxy.
func (st *tapStack) client() *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: st.addr, MaxConns: 1, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
}

// post sends one write through the proxy and returns the status.
func (st *tapStack) post(tb testing.TB, c *fasthttp.HostClient, path string, body []byte) int {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(path)
	req.Header.SetHost(st.addr)
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	if err := c.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode()
}

// wait waits for the next delivery and checks that it is signed.
func (st *tapStack) wait(tb testing.TB) {
	st.timer.Reset(time.Minute)
	defer st.timer.Stop()
	select {
	case sig := <-st.got:
		if len(sig) != len("sha256=")+64 {
			tb.Fatalf("delivery with X-Hub-Signature %q", sig)
		}
	case <-st.timer.C:
		tb.Fatal("no delivery within a minute")
	}
}

// exchange is one tapped exchange, reused by the alloc test and the benchmark: the write
// answered, then its delivery received.
type exchange struct {
	st   *tapStack
	c    *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
	tap  bool // whether the write is tapped (then each one waits for its delivery)
}

func newExchange(st *tapStack, path string, tap bool) *exchange {
	x := &exchange{st: st, c: st.client(), req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(), tap: tap}
	x.req.Header.SetMethod(fasthttp.MethodPost)
	x.req.SetRequestURI(path)
	x.req.Header.SetHost(st.addr)
	x.req.Header.SetContentType("application/json")
	x.req.SetBody(tapPathWrite)
	return x
}

func (x *exchange) do(tb testing.TB) {
	if err := x.c.Do(x.req, x.resp); err != nil {
		tb.Fatal(err)
	}
	if x.resp.StatusCode() != 200 || len(x.resp.Body()) != len(tapPathAnswer) {
		tb.Fatalf("got %d with %q", x.resp.StatusCode(), x.resp.Body())
	}
	if x.tap {
		x.st.wait(tb)
	}
}

func (x *exchange) release() {
	fasthttp.ReleaseRequest(x.req)
	fasthttp.ReleaseResponse(x.resp)
}

// BenchmarkTappedExchange is one tapped write end to end: classified, enqueued, forwarded,
// answered, signed, delivered to the receiver and acked, one at a time (ns/op is the
// latency of the whole chain; allocs/op counts every goroutine of the process). "miss" is a
// write no rule matches, the untapped baseline.
//
//	go test -run XXX -bench TappedExchange -count 5 .
func BenchmarkTappedExchange(b *testing.B) {
	for _, v := range []struct {
		name, queue, path string
		tap               bool
	}{
		{"miss", "memory", "/rest/api/content/9/property", false},
		{"memory", "memory", "/rest/api/content/9/label", true},
		{"disk", "disk", "/rest/api/content/9/label", true},
	} {
		b.Run(v.name, func(b *testing.B) {
			st := startTapStack(b, v.queue)
			x := newExchange(st, v.path, v.tap)
			defer x.release()
			for range 100 {
				x.do(b)
			}
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				x.do(b)
			}
			cpu.report(b)
		})
	}
}

// BenchmarkTappedLoad is the tapped path under load: parallel writers (GOMAXPROCS × 16
// connections), each write classified into one event, and the benchmark ends once every
// event has been delivered, so ns/op is the throughput cost of one exchange with its
// delivery. It is the benchmark to profile (bench/doc.go, "Profiling the tapped path").
//
//	go test -run XXX -bench TappedLoad -count 5 .
func BenchmarkTappedLoad(b *testing.B) {
	for _, queue := range []string{"memory", "disk"} {
		b.Run(queue, func(b *testing.B) {
			st := startTapStack(b, queue)
			base := st.n.Load()
			var sent atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			cpu := startCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				x := newExchange(st, "/rest/api/content/9/label", false)
				defer x.release()
				for pb.Next() {
					x.do(b)
					sent.Add(1)
				}
			})
			deadline := time.Now().Add(time.Minute)
			for st.n.Load()-base < sent.Load() {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d events delivered after a minute", st.n.Load()-base, sent.Load())
				}
				time.Sleep(time.Millisecond)
			}
			cpu.report(b)
		})
	}
}

// cpuClock reads the process's CPU time (every goroutine: client, proxy, dispatcher,
// upstream, receiver) for a cpu-µs/op metric, steadier than ns/op on a machine that other
// work shares.
type cpuClock struct{ start time.Duration }

func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(tb testing.TB) cpuClock { return cpuClock{processCPU(tb)} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU(b)-c.start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
