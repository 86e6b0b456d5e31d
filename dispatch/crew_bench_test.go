package dispatch

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDispatchPaced measures the process CPU time per delivery (every goroutine: the
// producer, the dispatcher and the in-process receiver) with events enqueued at a fixed
// rate of 5000 deliveries/s in all, well under saturation, as hooktap sees them behind a
// wiki: each event alone, so that the goroutine wake-ups per event (queue → worker →
// receiver and back) are what the dispatcher costs beyond its one request.
func BenchmarkDispatchPaced(b *testing.B) {
	for _, hooks := range []int{1, 10} {
		b.Run("hooks="+strconv.Itoa(hooks), func(b *testing.B) {
			rc, d, ev := benchRig(b, hooks)
			every := time.Duration(hooks) * 200 * time.Microsecond

			// Warm up: connections, workers, buffers.
			rc.expect(int64(200 * hooks))
			for i := 0; i < 200; i++ {
				if err := d.Enqueue(ev); err != nil {
					b.Fatal(err)
				}
				time.Sleep(every)
			}
			rc.wait(b)

			rc.expect(int64(b.N) * int64(hooks))
			b.ReportAllocs()
			b.ResetTimer()
			c0 := rusageCPU(b)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if w := time.Until(start.Add(time.Duration(i) * every)); w > 0 {
					time.Sleep(w)
				}
				if err := d.Enqueue(ev); err != nil {
					b.Fatal(err)
				}
			}
			rc.wait(b)
			b.ReportMetric(float64(rusageCPU(b)-c0)/float64(time.Microsecond)/float64(b.N*hooks), "cpu-µs/delivery")
		})
	}
}

func rusageCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
