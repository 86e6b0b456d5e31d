package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Request describes the one request a load step sends over and over.
type Request struct {
	Method string
	Path   string
	Body   []byte
	Header [][2]string
}

// Target is one address to load, plus the request to send there.
type Target struct {
	Addr string // host:port
	Req  Request
}

// Step is the outcome of one load step.
type Step struct {
	Offered  float64 `json:"offered_rps"` // 0 for closed loop
	Achieved float64 `json:"achieved_rps"`
	Requests int64   `json:"requests"` // answered with 2xx in the measured window
	Sent     int64   `json:"sent"`     // every request sent, warm-up included
	Errors   int64   `json:"errors"`   // transport errors and non-2xx answers
	// Unsent counts requests due in the window that the server was too far behind to be
	// sent before the step's hard stop; each is recorded with its wait so far (a lower
	// bound of its latency).
	Unsent int64   `json:"unsent,omitempty"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	P999   float64 `json:"p999_us"`
	Max    float64 `json:"max_us"`
	// LagP99 is the 99th percentile of how late the generator sent a request after its
	// intended time (open loop only): the floor under the latencies it reports.
	LagP99 float64 `json:"lag_p99_us,omitempty"`
	// CPU is the CPU time of each server process group passed to ClosedLoop over the
	// measured window, and CPUUSPerReq their sum per request answered in it.
	CPU         []ProcCPU `json:"cpu,omitempty"`
	CPUUSPerReq float64   `json:"cpu_us_per_req,omitempty"`
	// SelfCPUUS is this process's own CPU time (the load generator, and whatever else runs
	// in it) over the measured window of a closed-loop step, in µs.
	SelfCPUUS float64 `json:"self_cpu_us,omitempty"`
}

const (
	histMin = 1                // µs
	histMax = 60 * 1000 * 1000 // 60 s in µs
	histSig = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// newClients builds one fasthttp HostClient per target address, each with conns connections.
func newClients(targets []Target, conns int) []*fasthttp.HostClient {
	cs := make([]*fasthttp.HostClient, len(targets))
	for i, t := range targets {
		cs[i] = &fasthttp.HostClient{
			Addr:                      t.Addr,
			MaxConns:                  conns,
			ReadTimeout:               20 * time.Second,
			WriteTimeout:              20 * time.Second,
			MaxIdleConnDuration:       time.Minute,
			NoDefaultUserAgentHeader:  true,
			MaxConnWaitTimeout:        20 * time.Second,
			MaxIdemponentCallAttempts: 1,
		}
	}
	return cs
}

type worker struct {
	req    *fasthttp.Request
	resp   *fasthttp.Response
	hc     *fasthttp.HostClient
	hist   *hdrhistogram.Histogram
	lag    *hdrhistogram.Histogram
	n      int64
	sent   int64
	errs   int64
	unsent int64
}

func newWorkers(targets []Target, conns int) []*worker {
	clients := newClients(targets, perTarget(conns, len(targets)))
	ws := make([]*worker, conns)
	for i := range ws {
		ti := i % len(targets)
		t := targets[ti]
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://" + t.Addr + t.Req.Path)
		req.Header.SetMethod(t.Req.Method)
		for _, h := range t.Req.Header {
			req.Header.Set(h[0], h[1])
		}
		if t.Req.Body != nil {
			req.SetBody(t.Req.Body)
		}
		ws[i] = &worker{req: req, resp: fasthttp.AcquireResponse(), hc: clients[ti], hist: newHist(), lag: newHist()}
	}
	return ws
}

func perTarget(conns, n int) int {
	if n <= 0 {
		return conns
	}
	return (conns + n - 1) / n
}

func (w *worker) do() bool {
	w.sent++
	err := w.hc.Do(w.req, w.resp)
	ok := err == nil && w.resp.StatusCode() >= 200 && w.resp.StatusCode() < 300
	w.resp.Reset()
	return ok
}

func (w *worker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

func merge(ws []*worker, achievedOver time.Duration, offered float64) Step {
	h, lag := newHist(), newHist()
	var st Step
	for _, w := range ws {
		h.Merge(w.hist)
		lag.Merge(w.lag)
		st.Requests += w.n
		st.Errors += w.errs
		st.Sent += w.sent
		st.Unsent += w.unsent
		w.release()
	}
	st.Offered = offered
	st.Achieved = float64(st.Requests) / achievedOver.Seconds()
	st.P50 = float64(h.ValueAtQuantile(50))
	st.P99 = float64(h.ValueAtQuantile(99))
	st.P999 = float64(h.ValueAtQuantile(99.9))
	st.Max = float64(h.Max())
	if offered > 0 {
		st.LagP99 = float64(lag.ValueAtQuantile(99))
	}
	return st
}

// ClosedLoop sends as fast as conns connections allow (each waits for its answer before
// sending again) for warm+dur, and measures over dur. Latencies are from the actual send.
// The CPU time of every server in procs is read at the start and the end of the measured
// window and reported per request in Step.CPU.
func ClosedLoop(ctx context.Context, targets []Target, conns int, warm, dur time.Duration, procs ...*Proc) Step {
	ws := newWorkers(targets, conns)
	var measuring, stop atomic.Bool
	var wg, connected sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		connected.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for !stop.Load() {
				t0 := time.Now()
				ok := w.do()
				if first {
					first = false
					connected.Done()
				}
				if measuring.Load() {
					if ok {
						w.n++
						_ = w.hist.RecordValue(max(1, time.Since(t0).Microseconds()))
					} else {
						w.errs++
					}
				}
			}
		}()
	}
	// Measure only once every connection is open (bounded: a dead server fails fast).
	conn := make(chan struct{})
	go func() { connected.Wait(); close(conn) }()
	select {
	case <-conn:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	sleepCtx(ctx, warm)
	cpu := newCPUSampler(procs)
	self0 := selfCPUUS()
	measuring.Store(true)
	t0 := time.Now()
	sleepCtx(ctx, dur)
	measuring.Store(false)
	elapsed := time.Since(t0)
	self1 := selfCPUUS()
	cpu.finish()
	stop.Store(true)
	wg.Wait()
	st := merge(ws, elapsed, 0)
	cpu.apply(&st)
	st.SelfCPUUS = self1 - self0
	return st
}

// OpenLoop sends at a fixed rate: request k is due at start + k/rate, whatever happened to
// the ones before it. conns workers share the schedule; a worker that is free sends the next
// due request (sleeping until its time), and its latency counts from when it was due, so a
// server that stalls is charged for the whole queue it built (no coordinated omission).
// Requests due during warm are sent but not recorded.
func OpenLoop(ctx context.Context, targets []Target, conns int, rate float64, warm, dur time.Duration) Step {
	ws := newWorkers(targets, conns)
	interval := float64(time.Second) / rate
	start := time.Now().Add(5 * time.Millisecond)
	measureFrom := start.Add(warm)
	end := measureFrom.Add(dur)
	// A server far behind the schedule would make the step last until it caught up; past
	// hardStop the requests still due are recorded unsent, with their wait so far.
	hardStop := end.Add(max(dur/2, 100*time.Millisecond))
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				due := start.Add(time.Duration(math.Round(float64(k) * interval)))
				if !due.Before(end) {
					return
				}
				if now := time.Now(); now.After(hardStop) {
					if !due.Before(measureFrom) {
						w.unsent++
						_ = w.hist.RecordValue(max(1, now.Sub(due).Microseconds()))
					}
					continue
				}
				slept := false
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
					slept = true
				}
				sent := time.Now()
				ok := w.do()
				if due.Before(measureFrom) {
					continue
				}
				if !ok {
					w.errs++
					continue
				}
				w.n++
				_ = w.hist.RecordValue(max(1, time.Since(due).Microseconds()))
				if slept {
					// Only when the worker was idle: a late send after a busy worker is the
					// server's queueing, which the latency already charges to it.
					_ = w.lag.RecordValue(max(1, sent.Sub(due).Microseconds()))
				}
			}
		}()
	}
	wg.Wait()
	// Every request due in the window was sent and answered (or failed), so the achieved
	// rate is what was answered over the time it took to answer it.
	over := max(min(time.Since(measureFrom), hardStop.Sub(measureFrom)), dur)
	return merge(ws, over, rate)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func fmtUS(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2f s", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2f ms", us/1e3)
	default:
		return fmt.Sprintf("%.0f µs", us)
	}
}
