package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"hooktap/dispatch"
	"hooktap/rules"
)

var dispatchFanout = []int{1, 10, 100}

func estimateDispatch(s *Settings) time.Duration {
	return time.Duration(len(dispatchFanout)*2*3*s.Runs)*(s.Duration+s.Warmup+300*time.Millisecond) + 3*time.Second
}

type dispatchRun struct {
	Ceiling        float64 `json:"ceiling_rps"`
	Delivered      float64 `json:"delivered_rps"`
	AllocsPerDel   float64 `json:"allocs_per_delivery"`
	BytesPerDel    float64 `json:"bytes_per_delivery"`
	Latency        *HistSummary
	LatencyOffered float64 `json:"latency_offered_events_per_s"`
	Failed         uint64  `json:"failed"`
	// CPUPerDel is this process's CPU time (getrusage) per delivery in the measured
	// window: the dispatcher, the in-process receivers and the producer. CeilCPUPerReq is
	// the same per request in the ceiling step: the load generator and the receivers.
	CPUPerDel     float64 `json:"cpu_us_per_delivery"`
	CeilCPUPerReq float64 `json:"ceiling_cpu_us_per_req"`
	Drops         uint64  `json:"drops"`
}

func newDispatcher(queue, dataDir string, addrs []string, extra func(*dispatch.Config)) (*dispatch.Dispatcher, error) {
	cfg := dispatch.Config{Queue: queue, DataDir: dataDir, MemoryQueueSize: 1 << 20,
		AllowTargets: []string{"127.0.0.1", "::1"}} // the receiver is on loopback
	if extra != nil {
		extra(&cfg)
	}
	hooks := make([]dispatch.Webhook, len(addrs))
	for i, a := range addrs {
		hooks[i] = dispatch.Webhook{Name: fmt.Sprintf("r%d", i), URL: "http://" + a + "/hook", Secret: "bench-secret", Events: []string{"label_added"}}
	}
	return dispatch.New(cfg, hooks, nil)
}

// produce enqueues stamped events until stop is closed: at rate events/s on a fixed
// schedule, or (rate 0) as fast as the dispatcher delivers, keeping at most window
// deliveries outstanding (accepted × fanout − delivered) so that the queue always has work
// ready without growing a backlog that later steps would wait behind.
func produce(d *dispatch.Dispatcher, stop <-chan struct{}, rate float64, rc *receivers, fanout int, window int64) (accepted int64) {
	base := rc.got.Load()
	ev := newStampedEvent()
	e := rules.Event{Name: "label_added", Time: time.Now().UnixMilli()}
	start := time.Now()
	for k := int64(0); ; k++ {
		select {
		case <-stop:
			return accepted
		default:
		}
		if rate == 0 {
			for accepted*int64(fanout)-(rc.got.Load()-base) > window {
				select {
				case <-stop:
					return accepted
				default:
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
		}
		e.Payload = ev.stamp(time.Now())
		if err := d.Enqueue(&e); err != nil {
			if errors.Is(err, dispatch.ErrQueueFull) {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			return accepted
		}
		accepted++
	}
}

func runDispatch(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	queues := []string{"memory", "disk"}
	out := map[string][]dispatchRun{}
	absent := map[string]string{}
	for r := 0; r < s.Runs; r++ {
		for _, q := range queues {
			if absent[q] != "" {
				continue
			}
			for _, n := range dispatchFanout {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				key := fmt.Sprintf("%s/%d", q, n)
				dr, err := dispatchOnce(ctx, s, p, q, n, r)
				if err != nil {
					absent[q] = lastLine(err.Error())
					break
				}
				out[key] = append(out[key], dr)
			}
		}
	}
	tab := Table{
		Title: fmt.Sprintf("Dispatch: deliveries/s as a ratio of the receivers' own ceiling (%d×%s)", s.Runs, s.Duration),
		Columns: []string{"queue", "receivers", "÷ ceiling", "deliveries/s", "ceiling req/s", "allocs / delivery", "B / delivery",
			"process CPU / delivery", "dispatcher CPU / delivery",
			"enqueue → receiver p50 / p99 / p99.9 @50%", "failed / dropped"},
	}
	for _, q := range queues {
		for _, n := range dispatchFanout {
			key := fmt.Sprintf("%s/%d", q, n)
			runs := out[key]
			if len(runs) == 0 {
				why := absent[q]
				if why == "" {
					why = "not measured"
				}
				tab.Rows = append(tab.Rows, []string{q, fmt.Sprint(n), "absent", "absent", "absent", "absent", "absent", "absent", "absent", "absent", why})
				continue
			}
			var ceil, del, al, by, l50, l99, l999, cpu, own Spread
			var failed, drops uint64
			for _, d := range runs {
				ceil, del, al, by = append(ceil, d.Ceiling), append(del, d.Delivered), append(al, d.AllocsPerDel), append(by, d.BytesPerDel)
				if d.Latency != nil && d.Latency.Count > 0 {
					l50, l99, l999 = append(l50, d.Latency.P50), append(l99, d.Latency.P99), append(l999, d.Latency.P999)
				}
				if d.CPUPerDel > 0 {
					cpu = append(cpu, d.CPUPerDel)
					if d.CeilCPUPerReq > 0 {
						own = append(own, d.CPUPerDel-d.CeilCPUPerReq)
					}
				}
				failed += d.Failed
				drops += d.Drops
			}
			tab.Rows = append(tab.Rows, []string{q, fmt.Sprint(n), ratios(del, ceil).Fmt(fmtRatio), del.Fmt(fmtRate), ceil.Fmt(fmtRate),
				al.Fmt(fmtFloat), by.Fmt(fmtFloat), cpu.Fmt(fmtCPUUS), own.Fmt(fmtCPUUS), l50.Fmt(fmtUS) + " / " + l99.Fmt(fmtUS) + " / " + l999.Fmt(fmtUS), fmt.Sprintf("%d / %d", failed, drops)})
		}
	}
	tab.Notes = append(tab.Notes,
		"Ceiling: this harness's fasthttp load generator POSTing the same payload at the same receivers, closed loop, with as many connections as the dispatcher may have in flight (64 per webhook, 500 in all). "+
			"Deliveries/s: a producer enqueues events (one event = one delivery per receiver) as fast as the queue takes them; the receivers count what arrives in the measured window.",
		"Allocations: runtime.MemStats Mallocs and TotalAlloc over the measured window divided by deliveries; they include the in-process receivers (fasthttp, about 0 per request) and the producer (0: it rewrites one payload in place).",
		"CPU: this process's utime+stime (getrusage) over the measured window ÷ deliveries; it holds the receivers and the producer as well as the dispatcher. "+
			"\"Dispatcher CPU\" subtracts the process CPU per request of the ceiling step (the load generator's POST and the receivers' answer, the same work minus the queue, signing and bookkeeping): what the dispatcher costs beyond a bare fasthttp client.",
		"Latency: from Enqueue (the moment the proxy hands over the event, right after the upstream's answer) to the receiver's request, with events enqueued at a fixed rate of half the measured delivery rate.")
	res.Tables = []Table{tab}
	res.Raw = out
	return res, nil
}

// dispatchBench is one repetition of the dispatch scenario for one queue kind and fan-out.
type dispatchBench struct {
	s     *Settings
	p     *Progress
	queue string
	n     int // receivers
	run   int
	rc    *receivers
}

// step announces the step what of b.
func (b *dispatchBench) step(what string) {
	b.p.Step(b.s.Duration+b.s.Warmup, "run %d/%d · %s queue · %d receivers · %s", b.run+1, b.s.Runs, b.queue, b.n, what)
}

// dispatchOnce measures the queue kind queue with n receivers: the receivers' own ceiling,
// then the dispatcher's deliveries/s at saturation and its latency at half that rate.
func dispatchOnce(ctx context.Context, s *Settings, p *Progress, queue string, n, run int) (dispatchRun, error) {
	var dr dispatchRun
	rc, err := startReceivers(n)
	if err != nil {
		return dr, err
	}
	defer rc.stop()
	b := &dispatchBench{s: s, p: p, queue: queue, n: n, run: run, rc: rc}
	dr.Ceiling, dr.CeilCPUPerReq = b.ceiling(ctx)
	rc.reset()

	d, err := newDispatcher(queue, filepath.Join(s.tmp, fmt.Sprintf("dispatch-%s-%d-%d", queue, n, run)), rc.addrs, nil)
	if err != nil {
		return dr, err
	}
	dctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(dctx) }()
	defer func() {
		cancel()
		<-runErr
	}()

	acc, err := b.saturate(ctx, d, runErr, &dr)
	if err != nil {
		return dr, err
	}
	// Let what the saturation run left in the queue drain before timing latency.
	waitDelivered(ctx, rc, acc*int64(n), 30*time.Second)
	acc2 := b.latency(ctx, d, &dr)
	waitDelivered(ctx, rc, (acc+acc2)*int64(n), 30*time.Second)
	rc.rec.Store(false)
	dr.Latency = rc.latency()
	if ds, err := d.Stats(ctx); err == nil {
		for _, h := range ds.Hooks {
			dr.Failed += h.Failed
		}
		for _, v := range ds.Drops {
			dr.Drops += v
		}
	}
	return dr, nil
}

// ceiling is the receivers' own ceiling: this harness's load generator POSTing the same
// payload at them, closed loop; and this process's CPU µs per request meanwhile (0 when
// unread).
func (b *dispatchBench) ceiling(ctx context.Context) (rps, cpuPerReq float64) {
	body := newStampedEvent().stamp(time.Now())
	targets := make([]Target, b.n)
	for i, a := range b.rc.addrs {
		targets[i] = Target{Addr: a, Req: Request{Method: "POST", Path: "/hook", Body: body,
			Header: [][2]string{{"Content-Type", "application/json; charset=utf-8"}, {"X-Event-Key", "label_added"}}}}
	}
	conns := min(64*b.n, 500)
	b.step(fmt.Sprintf("ceiling (%d conns)", conns))
	st := ClosedLoop(ctx, targets, conns, b.s.Warmup, b.s.Duration)
	if st.Requests > 0 && st.SelfCPUUS > 0 {
		cpuPerReq = st.SelfCPUUS / float64(st.Requests)
	}
	return st.Achieved, cpuPerReq
}

// saturate measures d's deliveries/s, allocations and CPU per delivery with a producer
// enqueueing as fast as d delivers, into dr, and returns how many events it accepted.
// runErr is where d's Run reports.
func (b *dispatchBench) saturate(ctx context.Context, d *dispatch.Dispatcher, runErr <-chan error, dr *dispatchRun) (int64, error) {
	s, rc, n := b.s, b.rc, b.n
	b.step("deliveries")
	stop := make(chan struct{})
	prodDone := make(chan int64, 1)
	// Enough ready deliveries to keep every in-flight slot busy (64 per webhook, 500 in
	// all), few enough that the rest drains in well under a second.
	window := int64(min(256*n, 2048))
	go func() { prodDone <- produce(d, stop, 0, rc, n, window) }()
	// Warm-up, longer with many receivers: each webhook opens its own connections.
	sleepCtx(ctx, s.Warmup+time.Duration(n)*5*time.Millisecond)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0 := selfCPUUS()
	g0, t0 := rc.got.Load(), time.Now()
	sleepCtx(ctx, s.Duration)
	g1, el := rc.got.Load(), time.Since(t0)
	c1 := selfCPUUS()
	runtime.ReadMemStats(&m1)
	close(stop)
	acc := <-prodDone
	if g1 == g0 {
		select {
		case err := <-runErr:
			return acc, fmt.Errorf("dispatcher stopped: %v", err)
		default:
		}
		return acc, errors.New("no delivery arrived in the measured window")
	}
	dels := float64(g1 - g0)
	dr.Delivered = dels / el.Seconds()
	dr.AllocsPerDel = float64(m1.Mallocs-m0.Mallocs) / dels
	dr.BytesPerDel = float64(m1.TotalAlloc-m0.TotalAlloc) / dels
	dr.CPUPerDel = (c1 - c0) / dels
	return acc, nil
}

// latency records enqueue-to-receiver latency with events produced at half the measured
// delivery rate (dr.Delivered) and returns how many events it accepted; the receivers keep
// recording until the caller stops them.
func (b *dispatchBench) latency(ctx context.Context, d *dispatch.Dispatcher, dr *dispatchRun) int64 {
	s, rc, n := b.s, b.rc, b.n
	rate := max(dr.Delivered/2/float64(n), 1)
	dr.LatencyOffered = rate
	b.step("latency at " + fmtRate(rate) + " events")
	stop := make(chan struct{})
	prodDone := make(chan int64, 1)
	go func() { prodDone <- produce(d, stop, rate, rc, n, 0) }()
	sleepCtx(ctx, s.Warmup)
	rc.mu.Lock()
	rc.hist.Reset()
	rc.mu.Unlock()
	rc.rec.Store(true)
	sleepCtx(ctx, s.Duration)
	close(stop)
	return <-prodDone
}

// waitDelivered waits until the receivers have got want requests in all, or up to limit.
func waitDelivered(ctx context.Context, rc *receivers, want int64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) && rc.got.Load() < want {
		time.Sleep(10 * time.Millisecond)
	}
}
