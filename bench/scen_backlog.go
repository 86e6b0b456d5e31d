package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"hooktap/dispatch"
	"hooktap/rules"
)

func estimateBacklog(s *Settings) time.Duration {
	// Accepting is quick; the receiver's breaker (open 10 s after the 5th failure) and the
	// drain dominate.
	return 2 * (15*time.Second + time.Duration(s.Events)*50*time.Microsecond)
}

type backlogRun struct {
	Queue        string  `json:"queue"`
	Events       int     `json:"events"`
	Accepted     int64   `json:"accepted"`
	AcceptRate   float64 `json:"accept_rate"`
	HeapBase     uint64  `json:"heap_base_bytes"`
	HeapPeak     uint64  `json:"heap_peak_bytes"`
	RSSPeak      uint64  `json:"rss_peak_bytes"`
	RSSBase      uint64  `json:"rss_base_bytes"`
	FirstAfterUp float64 `json:"first_delivery_after_up_s"`
	DrainRate    float64 `json:"drain_rate"`
	Delivered    int64   `json:"delivered"`
	DrainSeconds float64 `json:"drain_seconds"`
}

// rssSampler tracks the peak VmRSS of this process.
func rssSampler() (peak func() uint64, stop func()) {
	var p atomic.Uint64
	done := make(chan struct{})
	sample := func() {
		if v := rssNow(); v > p.Load() {
			p.Store(v)
		}
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 { sample(); return p.Load() }, func() { close(done) }
}

func runBacklog(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	var runs []backlogRun
	absent := map[string]string{}
	for _, q := range []string{"memory", "disk"} {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		br, err := backlogOnce(ctx, s, p, q)
		if err != nil {
			absent[q] = lastLine(err.Error())
			runs = append(runs, backlogRun{Queue: q})
			continue
		}
		runs = append(runs, br)
	}
	tab := Table{
		Title:   fmt.Sprintf("Backlog: the receiver is down while %d events are accepted, then comes back", s.Events),
		Columns: []string{"queue", "accepted", "accept rate", "heap: base → peak", "RSS: base → peak", "first delivery after up", "drain rate", "delivered"},
	}
	for _, r := range runs {
		if why := absent[r.Queue]; why != "" {
			tab.Rows = append(tab.Rows, []string{r.Queue, "absent", "absent", "absent", "absent", "absent", "absent", why})
			continue
		}
		tab.Rows = append(tab.Rows, []string{r.Queue, fmt.Sprint(r.Accepted), fmtRate(r.AcceptRate),
			fmtBytes(float64(r.HeapBase)) + " → " + fmtBytes(float64(r.HeapPeak)),
			fmtBytes(float64(r.RSSBase)) + " → " + fmtBytes(float64(r.RSSPeak)),
			fmt.Sprintf("%.1f s", r.FirstAfterUp), fmtRate(r.DrainRate), fmt.Sprintf("%d / %d in %.1f s", r.Delivered, r.Accepted, r.DrainSeconds)})
	}
	tab.Notes = append(tab.Notes,
		"One webhook; its receiver refuses connections while the events are accepted, so the first attempts fail, the breaker opens (10 s after the 5th failure) and the backlog waits in the queue unfetched. "+
			"\"First delivery after up\" is mostly the rest of that breaker window (by design: no request reaches a receiver while its breaker is open). "+
			"Drain rate = deliveries from the first to the last, over that time. Memory is this whole process (harness included); heap is the bytes of heap objects, live or not yet swept, sampled every 20 ms; one repetition.")
	res.Tables = []Table{tab}
	res.Raw = runs
	return res, nil
}

func backlogOnce(ctx context.Context, s *Settings, p *Progress, queue string) (backlogRun, error) {
	br := backlogRun{Queue: queue, Events: s.Events}
	addr, err := freePort()
	if err != nil {
		return br, err
	}
	retry := make([]time.Duration, 40)
	for i := range retry {
		retry[i] = time.Second
	}
	d, err := newDispatcher(queue, filepath.Join(s.tmp, "backlog-"+queue), []string{addr}, func(c *dispatch.Config) {
		c.Retry = retry
		c.MemoryQueueSize = s.Events + 1024
	})
	if err != nil {
		return br, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	heapPeak := startHeapSampler()
	rssPeak, rssStop := rssSampler()
	defer rssStop()
	br.RSSBase = rssNow()
	{
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		br.HeapBase = ms.HeapAlloc
	}
	dctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(dctx) }()
	defer func() {
		cancel()
		<-runErr
	}()

	p.Step(time.Duration(s.Events)*20*time.Microsecond, "%s queue · receiver down · accepting %d events", queue, s.Events)
	if err := acceptBacklog(ctx, d, s.Events, &br); err != nil {
		return br, err
	}
	sleepCtx(ctx, 500*time.Millisecond)
	if err := drainBacklog(ctx, s, p, queue, addr, &br); err != nil {
		return br, err
	}
	br.HeapPeak = heapPeak()
	br.RSSPeak = rssPeak()
	return br, nil
}

// acceptBacklog enqueues up to events events into d, counting them in br.Accepted and the
// rate in br.AcceptRate; a full queue is an error.
func acceptBacklog(ctx context.Context, d *dispatch.Dispatcher, events int, br *backlogRun) error {
	ev := newStampedEvent()
	e := rules.Event{Name: "label_added", Time: time.Now().UnixMilli()}
	t0 := time.Now()
	for i := 0; i < events && ctx.Err() == nil; i++ {
		e.Payload = ev.stamp(time.Now())
		if err := d.Enqueue(&e); err != nil {
			if errors.Is(err, dispatch.ErrQueueFull) {
				return fmt.Errorf("queue full after %d events", br.Accepted)
			}
			return err
		}
		br.Accepted++
	}
	br.AcceptRate = float64(br.Accepted) / time.Since(t0).Seconds()
	return nil
}

// drainBacklog brings the receiver up on addr, the address the webhook points at, and
// waits until the backlog is delivered (or a time limit), recording how it went in br.
func drainBacklog(ctx context.Context, s *Settings, p *Progress, queue, addr string, br *backlogRun) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("receiver address taken meanwhile: %w", err)
	}
	rc := &receivers{hist: newHist()}
	rc.serve(ln)
	defer rc.stop()
	up := time.Now()
	limit := 180 * time.Second
	if s.Short {
		limit = 40 * time.Second
	}
	p.Step(15*time.Second, "%s queue · receiver up · draining (breaker window first)", queue)
	waitDelivered(ctx, rc, br.Accepted, limit)
	br.Delivered = rc.got.Load()
	first, last := rc.first.Load(), rc.last.Load()
	if first > 0 {
		br.FirstAfterUp = time.Unix(0, first).Sub(up).Seconds()
		br.DrainSeconds = time.Duration(last - first).Seconds()
		if br.DrainSeconds > 0 {
			br.DrainRate = float64(br.Delivered) / br.DrainSeconds
		}
	}
	return nil
}
