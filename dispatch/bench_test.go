package dispatch

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// benchReceiver is a fasthttp server on loopback that counts requests and signals when a
// target count is reached.
type benchReceiver struct {
	addr   string
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	r := &benchReceiver{addr: ln.Addr().String(), done: make(chan struct{}, 1)}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if r.n.Add(1) == r.target.Load() {
			r.done <- struct{}{}
		}
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return r
}

func (r *benchReceiver) expect(n int64) {
	r.n.Store(0)
	r.target.Store(n)
}

func (r *benchReceiver) wait(b *testing.B) {
	select {
	case <-r.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("receiver got %d of %d", r.n.Load(), r.target.Load())
	}
}

// benchRounds is how many alternations of dispatcher and ceiling make one measurement.
const benchRounds = 10

var benchBody = []byte(`{"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":123456}}`)

// signedHooks returns n webhooks h0…h(n-1), each signed and subscribed to every event, all to url.
func signedHooks(url string, n int) []Webhook {
	ws := make([]Webhook, 0, n)
	for i := 0; i < n; i++ {
		w := webhook("h"+strconv.Itoa(i), url, "*")
		w.Secret = "s3cret"
		ws = append(ws, w)
	}
	return ws
}

// benchRig starts a dispatcher on the memory queue with hooks signed webhooks, all to one
// local receiver, for the benchmark b; it is stopped when b ends. It returns the receiver,
// the dispatcher (ready) and the event to enqueue.
func benchRig(b *testing.B, hooks int) (*benchReceiver, *Dispatcher, *rules.Event) {
	b.Helper()
	rc := newBenchReceiver(b)
	ws := signedHooks("http://"+rc.addr+"/hook", hooks)
	cfg := memCfg()
	cfg.MemoryQueueSize = 1 << 20
	d, err := New(cfg, ws, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	<-d.ready
	return rc, d, &rules.Event{Name: "page_created", Time: 1778071365412, Payload: benchBody}
}

// BenchmarkDispatch measures deliveries per second from Enqueue to a local fasthttp receiver
// with 1 and 10 webhooks (all to the same receiver, signed), then, in the same iteration and
// against the same receiver, the receiver's ceiling: a plain fasthttp client POSTing the same
// body and headers as many times, with the dispatcher's concurrency (64 for 1 hook: the
// per-hook cap; 500 for 10: the global cap). The two alternate in benchRounds rounds so that
// load from elsewhere on the machine affects both sides of the ratio alike. It reports
// deliveries/s, ceiling/s and ratio (their quotient).
func BenchmarkDispatch(b *testing.B) {
	for _, hooks := range []int{1, 10} {
		b.Run("hooks="+strconv.Itoa(hooks), func(b *testing.B) {
			rc, d, ev := benchRig(b, hooks)

			// Alternate dispatcher and ceiling in rounds so that both see the same load.
			conc := min(hooks*d.set.perHook, d.set.maxInFlight)
			var el, ceil time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for left := b.N; left > 0; {
				n := min(left, max(b.N/benchRounds, 1))
				left -= n
				b.StartTimer()
				rc.expect(int64(n) * int64(hooks))
				start := time.Now()
				for i := 0; i < n; i++ {
					for {
						err := d.Enqueue(ev)
						if err == nil {
							break
						}
						if !errors.Is(err, ErrQueueFull) {
							b.Fatal(err)
						}
						runtime.Gosched()
					}
				}
				rc.wait(b)
				el += time.Since(start)
				b.StopTimer()
				ceil += ceiling(b, rc, conc, n*hooks)
			}
			rate, crate := float64(b.N*hooks)/el.Seconds(), float64(b.N*hooks)/ceil.Seconds()
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(crate, "ceiling/s")
			b.ReportMetric(rate/crate, "ratio")
		})
	}
}

// BenchmarkReceiverCeiling is the receiver's own ceiling alone: a plain fasthttp client
// POSTing the same body with the same headers from as many goroutines as the dispatcher keeps
// in flight.
func BenchmarkReceiverCeiling(b *testing.B) {
	for _, conc := range []int{64, 500} {
		b.Run("conc="+strconv.Itoa(conc), func(b *testing.B) {
			rc := newBenchReceiver(b)
			b.ReportAllocs()
			b.ResetTimer()
			el := ceiling(b, rc, conc, b.N)
			b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
		})
	}
}

// ceiling POSTs the benchmark body n times to rc from conc goroutines and returns how long
// that took.
func ceiling(b *testing.B, rc *benchReceiver, conc, n int) time.Duration {
	c := &fasthttp.Client{MaxConnsPerHost: conc, NoDefaultUserAgentHeader: true}
	defer c.CloseIdleConnections()
	url := "http://" + rc.addr + "/hook"
	rc.expect(int64(n))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(url)
			req.Header.SetContentType("application/json; charset=utf-8")
			req.Header.SetUserAgent("hooktap/dev")
			req.Header.Set("X-Event-Key", "page_created")
			req.Header.Set("X-Request-Id", "6f1f4a4e-9d0c-4a55-8a8e-0d1c2b3a4f5e")
			req.Header.Set("webhook-id", "0123456789abcdef0123456789abcdef")
			req.Header.Set("webhook-timestamp", "1778071365")
			req.Header.Set("X-Hub-Signature", "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
			req.Header.Set("webhook-signature", "v1,MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
			req.SetBodyRaw(benchBody)
			for next.Add(1) <= int64(n) {
				if err := c.DoTimeout(req, resp, 20*time.Second); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rc.wait(b)
	return time.Since(start)
}

// BenchmarkEnqueue measures Enqueue into the memory queue with one subscribed webhook,
// including the matching Fetch and Ack that keep the queue from filling.
func BenchmarkEnqueue(b *testing.B) {
	r := newAllocRig(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.d.Enqueue(r.ev); err != nil {
			b.Fatal(err)
		}
		batch, err := r.q.Fetch(context.Background(), "bench", r.buf[:0])
		if err != nil || len(batch) != 1 {
			b.Fatalf("Fetch: %d, %v", len(batch), err)
		}
		if err := r.q.Ack(batch[0]); err != nil {
			b.Fatal(err)
		}
		batch[0] = nil
	}
}

// BenchmarkSign measures both signatures (X-Hub-Signature and webhook-signature) of a
// typical id-only payload with a reused HMAC.
func BenchmarkSign(b *testing.B) {
	s := newSigner("s3cret")
	hub, std := make([]byte, 0, 80), make([]byte, 0, 64)
	id, ts := []byte("0123456789abcdef0123456789abcdef"), []byte("1778071365")
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		hub = s.appendHub(hub[:0], benchBody)
		std = s.appendStandard(std[:0], id, ts, benchBody)
	}
}

// BenchmarkPrepare measures building one attempt's request: headers, UUID and both
// signatures.
func BenchmarkPrepare(b *testing.B) {
	r := newAllocRig(b)
	cfg := r.h.cfg.Load()
	dl := &Delivery{Message: Message{Event: "page_created", Payload: benchBody}, Attempt: 1}
	r.d.nextID(&dl.ID)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.d.prepare(r.w, cfg, dl, now)
	}
}
