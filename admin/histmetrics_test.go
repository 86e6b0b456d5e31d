package admin

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"hooktap/dispatch"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics GETs /metrics and parses it with the official parser.
func parseMetrics(t *testing.T, h *harness) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	raw := h.do("GET", "/metrics", nil, noAuth).mustStatus(t, 200).raw
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("the official parser refuses /metrics: %v\n%s", err, raw)
	}
	return fams, raw
}

// histogramOf returns the histogram of family with label webhook=name.
func histogramOf(t *testing.T, fams map[string]*dto.MetricFamily, family, name string) *dto.Histogram {
	t.Helper()
	mf := fams[family]
	if mf == nil {
		t.Fatalf("no family %s", family)
	}
	if mf.GetType() != dto.MetricType_HISTOGRAM || mf.GetHelp() == "" {
		t.Fatalf("%s: type %v, help %q; want a histogram with HELP", family, mf.GetType(), mf.GetHelp())
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == "webhook" && m.GetLabel()[0].GetValue() == name {
			return m.GetHistogram()
		}
	}
	t.Fatalf("%s has no series for webhook %q", family, name)
	return nil
}

// checkCumulative checks that h's buckets ascend in bound and never decrease in count, end
// with +Inf, and that +Inf equals the count.
func checkCumulative(t *testing.T, what string, h *dto.Histogram) {
	t.Helper()
	bs := h.GetBucket()
	if len(bs) < 2 {
		t.Fatalf("%s: %d buckets", what, len(bs))
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() || bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
			t.Errorf("%s: bucket %d (le=%v, %d) after (le=%v, %d): not cumulative", what, i,
				bs[i].GetUpperBound(), bs[i].GetCumulativeCount(), bs[i-1].GetUpperBound(), bs[i-1].GetCumulativeCount())
		}
	}
	last := bs[len(bs)-1]
	if !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != h.GetSampleCount() {
		t.Errorf("%s: last bucket le=%v count %d, want +Inf with the sample count %d", what, last.GetUpperBound(), last.GetCumulativeCount(), h.GetSampleCount())
	}
}

// TestMetricsHistogramsAfterDeliveries delivers real events to a real receiver and reads
// the two histograms back through the official parser.
func TestMetricsHistogramsAfterDeliveries(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	name := `lat "hook"`
	h.do("POST", "/rest/api/webhooks", newHook(name, rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, http.StatusCreated)
	const n = 5
	for i := range n {
		if err := h.disp.Enqueue(event("page_created", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		rcv.next(t)
	}
	waitFor(t, "the deliveries counted", func() bool {
		return strings.Contains(h.do("GET", "/metrics", nil, noAuth).raw, `hooktap_delivery_latency_seconds_count{webhook="lat \"hook\""} 5`)
	})
	fams, raw := parseMetrics(t, h)
	lat := histogramOf(t, fams, "hooktap_delivery_latency_seconds", name)
	dur := histogramOf(t, fams, "hooktap_attempt_duration_seconds", name)
	if lat.GetSampleCount() != n || dur.GetSampleCount() != n {
		t.Errorf("latency count %d, attempt count %d; want %d each (every attempt delivered)\n%s", lat.GetSampleCount(), dur.GetSampleCount(), n, raw)
	}
	checkCumulative(t, "latency", lat)
	checkCumulative(t, "attempt duration", dur)
	if lat.GetSampleSum() <= 0 || dur.GetSampleSum() <= 0 || dur.GetSampleSum() > lat.GetSampleSum() {
		t.Errorf("sums: latency %v, attempts %v; want both > 0 and attempts <= latency", lat.GetSampleSum(), dur.GetSampleSum())
	}
	// Loopback deliveries take far less than a minute: all land below the 60s bound.
	for _, b := range lat.GetBucket() {
		if b.GetUpperBound() == 60 && b.GetCumulativeCount() != n {
			t.Errorf("latency le=60: %d, want %d", b.GetCumulativeCount(), n)
		}
	}
}

// TestMetricsHistogramFormat pins the text of a histogram from fixed stats.
func TestMetricsHistogramFormat(t *testing.T) {
	d := fixedStats{newTestDispatcher(t), dispatch.Stats{
		Hooks: []dispatch.HookStats{{ID: "a", Name: "a",
			Latency:         dispatch.Histogram{Bounds: []float64{0.5, 1, 86400}, Cumulative: []uint64{1, 3, 3}, Count: 4, Sum: 100000.25},
			AttemptDuration: dispatch.Histogram{Bounds: []float64{0.005}, Cumulative: []uint64{2}, Count: 2, Sum: 0.003},
		}},
	}}
	h := newHarness(t, harnessOpts{disp: d, file: []dispatch.Webhook{{Name: "a", URL: "http://127.0.0.1:9/", Events: []string{"*"}}}})
	fams, raw := parseMetrics(t, h)
	for _, want := range []string{
		"# TYPE hooktap_delivery_latency_seconds histogram\n" +
			`hooktap_delivery_latency_seconds_bucket{webhook="a",le="0.5"} 1` + "\n" +
			`hooktap_delivery_latency_seconds_bucket{webhook="a",le="1"} 3` + "\n" +
			`hooktap_delivery_latency_seconds_bucket{webhook="a",le="86400"} 3` + "\n" +
			`hooktap_delivery_latency_seconds_bucket{webhook="a",le="+Inf"} 4` + "\n" +
			`hooktap_delivery_latency_seconds_sum{webhook="a"} 100000.25` + "\n" +
			`hooktap_delivery_latency_seconds_count{webhook="a"} 4` + "\n",
		"# TYPE hooktap_attempt_duration_seconds histogram\n" +
			`hooktap_attempt_duration_seconds_bucket{webhook="a",le="0.005"} 2` + "\n" +
			`hooktap_attempt_duration_seconds_bucket{webhook="a",le="+Inf"} 2` + "\n" +
			`hooktap_attempt_duration_seconds_sum{webhook="a"} 0.003` + "\n" +
			`hooktap_attempt_duration_seconds_count{webhook="a"} 2` + "\n",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("/metrics has no\n%s\nin\n%s", want, raw)
		}
	}
	checkCumulative(t, "latency", histogramOf(t, fams, "hooktap_delivery_latency_seconds", "a"))
}
