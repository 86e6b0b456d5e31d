package dispatch

import (
	"sync/atomic"
	"time"
)

// Bucket upper bounds, in seconds, of the two per-webhook histograms. Attempt durations run
// up to the attempt timeout (default 20s); delivery latency, from acceptance to the 2xx,
// includes the retry schedule's delays (5s, 5m, 30m, 2h, ...).
var (
	attemptBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}
	latencyBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 7200, 21600, 86400}
)

// maxBuckets bounds the bucket count of a histo (bounds plus +Inf).
const maxBuckets = 24

// Histogram is a snapshot of a histogram in Prometheus' form.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds, ascending; the +Inf bucket is implied.
	Bounds []float64
	// Cumulative[i] counts observations <= Bounds[i] (Prometheus' le buckets).
	Cumulative []uint64
	Count      uint64  // all observations (the +Inf bucket)
	Sum        float64 // seconds
}

// histo counts observations in fixed buckets with atomic counters: recording neither locks
// nor allocates. Safe for concurrent use.
type histo struct {
	bounds []time.Duration // upper bounds
	secs   []float64       // the same in seconds, for snapshots
	counts [maxBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// init sets h's bucket bounds, in seconds (at most maxBuckets-1), before first use.
func (h *histo) init(bounds []float64) {
	h.secs, h.bounds = bounds, make([]time.Duration, len(bounds))
	for i, b := range bounds {
		h.bounds[i] = time.Duration(b * float64(time.Second))
	}
}

// observe records d (a negative d, from a clock step, counts as 0).
func (h *histo) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// snapshot returns the histogram with cumulative counts.
func (h *histo) snapshot() Histogram {
	s := Histogram{Bounds: h.secs, Cumulative: make([]uint64, len(h.bounds))}
	var n uint64
	for i := range h.bounds {
		n += h.counts[i].Load()
		s.Cumulative[i] = n
	}
	s.Count = n + h.counts[len(h.bounds)].Load()
	s.Sum = time.Duration(h.sum.Load()).Seconds()
	return s
}
