package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"hooktap/dispatch"
	"hooktap/rules"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// proxyCounters are fixed proxy counters, with a method label that needs escaping.
var proxyCounters = ProxyStatsFunc(func() ProxyCounters {
	return ProxyCounters{
		Requests:       []RequestCount{{"GET", "2xx", 10}, {"POST", "5xx", 3}, {"WEIRD\"\\\nMETHOD", "4xx", 1}},
		UpstreamErrors: 2, Timeouts: 1, TapRejected: 4, ClientErrors: 5,
	}
})

// classifierStats are fixed classifier counters.
type classifierStats struct{}

func (classifierStats) Stats() rules.Stats {
	return rules.Stats{Exchanges: 20, Events: map[string]uint64{"page_created": 4, "label_added": 2}, Lookups: 1, CacheHits: 3, LookupErrors: 1}
}

var _ ClassifierStats = (*rules.Classifier)(nil)

func TestMetricsParse(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken, proxy: proxyCounters, class: classifierStats{}})
	rcv := newReceiver(t)
	weird := `chat "ops" \ team`
	h.do("POST", "/rest/api/webhooks", newHook(weird, rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, http.StatusCreated)
	if err := h.disp.Enqueue(event("page_created", 1)); err != nil {
		t.Fatal(err)
	}
	rcv.next(t)
	waitFor(t, "the delivery counted", func() bool {
		fams, _ := parseMetrics(t, h)
		n, _ := sampleValue(fams, "hooktap_deliveries_total", map[string]string{"webhook": weird, "outcome": "delivered"})
		return n == 1
	})

	a := h.do("GET", "/metrics", nil, noAuth).mustStatus(t, 200)
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("got Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(a.raw))
	if err != nil {
		t.Fatalf("the official parser refuses /metrics: %v\n%s", err, a.raw)
	}
	for _, name := range []string{
		"hooktap_proxy_requests_total", "hooktap_proxy_upstream_errors_total", "hooktap_proxy_tap_rejected_total",
		"hooktap_classified_total", "hooktap_events_lost_total", "hooktap_lookup_errors_total",
		"hooktap_events_total", "hooktap_lookups_total",
		"hooktap_lookup_cache_hits_total", "hooktap_lookup_cache_hit_ratio",
		"hooktap_deliveries_total", "hooktap_breaker_open", "hooktap_breaker_failures", "hooktap_dead_deliveries",
		"hooktap_drops_total", "hooktap_events_accepted_total", "hooktap_queue_pending",
		"hooktap_queue_depth", "hooktap_queue_oldest_age_seconds", "hooktap_deliveries_in_flight",
		"hooktap_webhooks",
	} {
		mf := fams[name]
		if mf == nil {
			t.Errorf("no family %s", name)
			continue
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	value := func(family string, labels map[string]string) (float64, bool) {
		return sampleValue(fams, family, labels)
	}
	checks := []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"hooktap_proxy_requests_total", map[string]string{"method": "GET", "class": "2xx"}, 10},
		{"hooktap_proxy_requests_total", map[string]string{"method": "POST", "class": "5xx"}, 3},
		{"hooktap_proxy_requests_total", map[string]string{"method": "WEIRD\"\\\nMETHOD", "class": "4xx"}, 1},
		{"hooktap_proxy_tap_rejected_total", nil, 4},
		{"hooktap_proxy_client_errors_total", nil, 5},
		{"hooktap_classified_total", nil, 20},
		{"hooktap_events_total", map[string]string{"event": "page_created"}, 4},
		{"hooktap_lookups_total", nil, 1},
		{"hooktap_events_total", map[string]string{"event": "label_added"}, 2},
		{"hooktap_lookup_cache_hit_ratio", nil, 0.75},
		{"hooktap_deliveries_total", map[string]string{"webhook": weird, "outcome": "delivered"}, 1},
		{"hooktap_events_accepted_total", nil, 1},
		{"hooktap_breaker_open", map[string]string{"webhook": weird}, 0},
		{"hooktap_webhooks", map[string]string{"source": "api"}, 1},
		{"hooktap_webhooks", map[string]string{"source": "file"}, 0},
	}
	for _, c := range checks {
		got, ok := value(c.family, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.family, c.labels, got, ok, c.want)
		}
	}
	if fams["hooktap_deliveries_total"].GetType().String() != "COUNTER" || fams["hooktap_queue_depth"].GetType().String() != "GAUGE" {
		t.Errorf("wrong types: %v %v", fams["hooktap_deliveries_total"].GetType(), fams["hooktap_queue_depth"].GetType())
	}
}

// fixedStats is the real dispatcher with counters a test sets.
type fixedStats struct {
	*dispatch.Dispatcher
	st dispatch.Stats
}

func (f fixedStats) Stats(context.Context) (dispatch.Stats, error) { return f.st, nil }

func TestMetricsFromStats(t *testing.T) {
	open := time.Unix(1700000000, 0)
	d := fixedStats{newTestDispatcher(t), dispatch.Stats{
		Accepted: 12, InFlight: 7, QueueAge: 1500 * time.Millisecond,
		Queue: dispatch.QueueDepth{Events: 42, Bytes: 4096},
		Drops: map[string]uint64{"queue_full": 5, "closed": 1},
		Hooks: []dispatch.HookStats{
			{ID: "a", Name: "a", Delivered: 9, Failed: 2, Retried: 1, Dead: 1, Failures: map[string]uint64{"status_5xx": 2},
				Breaker: dispatch.BreakerState{Open: true, Until: open, Failures: 6, Opens: 2},
				Depth:   dispatch.HookDepth{Pending: 3, Fetched: 1, Dead: 1}},
			{ID: "api-7", Name: "old name", Delivered: 1, Gone: true},
		},
	}}
	h := newHarness(t, harnessOpts{disp: d, file: []dispatch.Webhook{{Name: "a", URL: "http://127.0.0.1:9/", Events: []string{"*"}}}})
	fams, raw := parseMetrics(t, h)
	type l = map[string]string
	for _, c := range []struct {
		family string
		labels l
		want   float64
	}{
		{"hooktap_events_accepted_total", nil, 12},
		{"hooktap_queue_depth", nil, 42},
		{"hooktap_queue_bytes", nil, 4096},
		{"hooktap_queue_oldest_age_seconds", nil, 1.5},
		{"hooktap_deliveries_in_flight", nil, 7},
		{"hooktap_drops_total", l{"reason": "closed"}, 1},
		{"hooktap_drops_total", l{"reason": "queue_full"}, 5},
		{"hooktap_deliveries_total", l{"webhook": "a", "outcome": "delivered"}, 9},
		{"hooktap_deliveries_total", l{"webhook": "a", "outcome": "failed"}, 2},
		{"hooktap_deliveries_total", l{"webhook": "a", "outcome": "dead"}, 1},
		{"hooktap_delivery_failures_total", l{"webhook": "a", "reason": "status_5xx"}, 2},
		{"hooktap_deliveries_total", l{"webhook": "old name", "outcome": "delivered"}, 1},
		{"hooktap_webhook_gone", l{"webhook": "old name"}, 1},
		{"hooktap_breaker_open", l{"webhook": "a"}, 1},
		{"hooktap_breaker_failures", l{"webhook": "a"}, 6},
		{"hooktap_breaker_opens_total", l{"webhook": "a"}, 2},
		{"hooktap_queue_pending", l{"webhook": "a"}, 4},
		{"hooktap_dead_deliveries", l{"webhook": "a"}, 1},
		{"hooktap_webhooks", l{"source": "file"}, 1},
	} {
		if got, ok := sampleValue(fams, c.family, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v\n%s", c.family, c.labels, got, ok, c.want, raw)
		}
	}
	// No proxy or classifier given: their families are absent, not zero.
	if strings.Contains(raw, "hooktap_proxy_requests_total") || strings.Contains(raw, "hooktap_events_total") {
		t.Errorf("families without a source:\n%s", raw)
	}
}

// sampleValue finds the counter or gauge sample of family with exactly these labels.
func sampleValue(fams map[string]*dto.MetricFamily, family string, labels map[string]string) (float64, bool) {
	mf := fams[family]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// A label value the exposition cannot carry (not UTF-8) drops that sample only: the scrape
// still answers 200 with every other family, and the runtime's and process's families.
func TestMetricsSurviveBadLabel(t *testing.T) {
	bad := ProxyStatsFunc(func() ProxyCounters {
		return ProxyCounters{Requests: []RequestCount{{"GET", "2xx", 10}, {"B\xffD", "4xx", 1}}, Tapped: 3}
	})
	h := newHarness(t, harnessOpts{proxy: bad, class: classifierStats{}})
	fams, raw := parseMetrics(t, h)
	if n, ok := sampleValue(fams, "hooktap_proxy_requests_total", map[string]string{"method": "GET", "class": "2xx"}); !ok || n != 10 {
		t.Errorf("GET 2xx = %v (found %v), want 10\n%s", n, ok, raw)
	}
	if n, _ := sampleValue(fams, "hooktap_proxy_tapped_total", nil); n != 3 {
		t.Errorf("tapped = %v, want 3", n)
	}
	for _, f := range []string{"process_cpu_seconds_total", "go_goroutines", "hooktap_events_total"} {
		if fams[f] == nil {
			t.Errorf("no family %s", f)
		}
	}
}
