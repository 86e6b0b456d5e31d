package admin

import (
	"context"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"hooktap/dispatch"
	"hooktap/rules"
)

// collector is hooktap's metrics as a prometheus.Collector. The counters stay where they are
// kept (atomics in the proxy, the classifier and the dispatcher, read through Deps): each
// scrape reads a snapshot and reports it as constant metrics, so the hot paths pay nothing for
// the exposition and never take a lock of the client library's.
type collector struct{ s *Server }

// metricDesc is one family: its name, help, type and variable labels.
type metricDesc struct {
	d   *prometheus.Desc
	typ prometheus.ValueType
}

func newDesc(name string, typ prometheus.ValueType, help string, labels ...string) metricDesc {
	return metricDesc{prometheus.NewDesc(name, help, labels, nil), typ}
}

// emit sends one sample of family m; a sample the library refuses (a label value that is
// not UTF-8) is reported as an invalid metric, which the handler logs and skips.
func emit(ch chan<- prometheus.Metric, m metricDesc, v float64, labels ...string) {
	s, err := prometheus.NewConstMetric(m.d, m.typ, v, labels...)
	if err != nil {
		s = prometheus.NewInvalidMetric(m.d, err)
	}
	ch <- s
}

var (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue

	mProxyRequests = newDesc("hooktap_proxy_requests_total", counter, "Requests answered by the proxy, by method and status class (the proxy's own 502/503/504 included).", "method", "class")
	mUpstreamErr   = newDesc("hooktap_proxy_upstream_errors_total", counter, "Requests answered 502: the upstream was unreachable or broke the exchange.")
	mTimeouts      = newDesc("hooktap_proxy_upstream_timeouts_total", counter, "Requests answered 504: the upstream was too slow.")
	mTapped        = newDesc("hooktap_proxy_tapped_total", counter, "Exchanges handed to the classifier.")
	mTapRejected   = newDesc("hooktap_proxy_tap_rejected_total", counter, "Writes answered 503 because their event could not be stored.")
	mTapTruncated  = newDesc("hooktap_proxy_tap_truncated_total", counter, "Tapped exchanges whose body exceeded tap_body_limit.")
	mUpgrades      = newDesc("hooktap_proxy_upgrades_total", counter, "WebSocket upgrades tunnelled.")
	mClientErrors  = newDesc("hooktap_proxy_client_errors_total", counter, "Requests answered 400 because the client's body could not be read (malformed, cut short).")

	mClassified   = newDesc("hooktap_classified_total", counter, "Exchanges the classifier looked at.")
	mEvents       = newDesc("hooktap_events_total", counter, "Events recognised, by event name.", "event")
	mEventsLost   = newDesc("hooktap_events_lost_total", counter, "Events recognised that the dispatcher refused (see hooktap_drops_total for why).")
	mLookups      = newDesc("hooktap_lookups_total", counter, "Lookups sent to the upstream (cache misses).")
	mLookupErrors = newDesc("hooktap_lookup_errors_total", counter, "Lookups that failed (transport error or timeout).")
	mCacheHits    = newDesc("hooktap_lookup_cache_hits_total", counter, "Lookups answered from the cache.")
	mCacheRatio   = newDesc("hooktap_lookup_cache_hit_ratio", gauge, "Share of lookups answered from the cache since start (0 before the first).")
	mUnmatched    = newDesc("hooktap_unmatched_writes_total", counter, "Accepted writes (2xx, 3xx) that no rule matched, by method and route shape (ids collapsed; {other} once 256 routes are counted).", "method", "route")

	mAccepted     = newDesc("hooktap_events_accepted_total", counter, "Events accepted by the dispatcher's queue.")
	mNoSubscriber = newDesc("hooktap_events_no_subscriber_total", counter, "Events that no subscribed webhook wants: counted, not stored.")
	mDeliveries   = newDesc("hooktap_deliveries_total", counter, "Delivery attempts and their ends, by webhook and outcome: delivered (2xx), failed, retried, dead, skipped.", "webhook", "outcome")
	mFailures     = newDesc("hooktap_delivery_failures_total", counter, "Failed delivery attempts, by webhook and reason.", "webhook", "reason")
	mBreakerOpen  = newDesc("hooktap_breaker_open", gauge, "Whether the webhook's circuit breaker is open (1) or closed (0).", "webhook")
	mBreakerFails = newDesc("hooktap_breaker_failures", gauge, "Consecutive failed deliveries to the webhook.", "webhook")
	mBreakerOpens = newDesc("hooktap_breaker_opens_total", counter, "Times the webhook's breaker opened or its window grew.", "webhook")
	mGone         = newDesc("hooktap_webhook_gone", gauge, "Whether a 410 Gone turned the webhook off (1).", "webhook")
	mPending      = newDesc("hooktap_queue_pending", gauge, "Deliveries waiting or in flight, by webhook.", "webhook")
	mDead         = newDesc("hooktap_dead_deliveries", gauge, "Dead letters kept for redelivery, by webhook.", "webhook")
	mDepth        = newDesc("hooktap_queue_depth", gauge, "Events the queue holds (pending or dead).")
	mBytes        = newDesc("hooktap_queue_bytes", gauge, "Payload bytes the queue holds.")
	mOldest       = newDesc("hooktap_queue_oldest_age_seconds", gauge, "Age of the oldest event the queue holds (0 when empty).")
	mInFlight     = newDesc("hooktap_deliveries_in_flight", gauge, "Delivery attempts in flight.")
	mDrops        = newDesc("hooktap_drops_total", counter, "Events or deliveries given up without an attempt, by reason.", "reason")
	mWebhooks     = newDesc("hooktap_webhooks", gauge, "Webhooks configured, by source (file or api).", "source")

	// The histograms' bounds are dispatch's (fixed), so the series are bounded by the webhooks
	// configured times the bucket count.
	mLatency = prometheus.NewDesc("hooktap_delivery_latency_seconds", "Time from an event's acceptance to its delivery's 2xx, retries included, by webhook.", []string{"webhook"}, nil)
	mAttempt = prometheus.NewDesc("hooktap_attempt_duration_seconds", "Time of one delivery attempt, request to response or error, by webhook.", []string{"webhook"}, nil)
)

// Describe sends nothing: the collector is unchecked, because which families it reports
// depends on the parts given (no proxy: no proxy families).
func (c collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads a snapshot of every part's counters and sends them.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if px := s.deps.Proxy; px != nil {
		collectProxy(ch, px.ProxyCounters())
	}
	if cl := s.deps.Classifier; cl != nil {
		collectClassifier(ch, cl.Stats())
		if u := s.unmatchedReader(); u != nil {
			for _, m := range u.Unmatched() {
				emit(ch, mUnmatched, float64(m.Count), m.Method, m.Route)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	st := s.stats(ctx)
	hooks := s.snapshot()
	names := make(map[string]string, len(hooks)) // dispatcher id -> the name shown
	var file, api float64
	for _, h := range hooks {
		names[h.dispID] = h.Name
		if h.File {
			file++
		} else {
			api++
		}
	}
	collectDispatch(ch, &st, func(hs *dispatch.HookStats) string {
		if n, ok := names[hs.ID]; ok {
			return n
		}
		return hs.Name
	})
	emit(ch, mWebhooks, file, "file")
	emit(ch, mWebhooks, api, "api")
}

func collectProxy(ch chan<- prometheus.Metric, c ProxyCounters) {
	for _, rc := range c.Requests {
		emit(ch, mProxyRequests, float64(rc.N), rc.Method, rc.Class)
	}
	emit(ch, mUpstreamErr, float64(c.UpstreamErrors))
	emit(ch, mTimeouts, float64(c.Timeouts))
	emit(ch, mTapped, float64(c.Tapped))
	emit(ch, mTapRejected, float64(c.TapRejected))
	emit(ch, mTapTruncated, float64(c.TapTruncated))
	emit(ch, mUpgrades, float64(c.Upgrades))
	emit(ch, mClientErrors, float64(c.ClientErrors))
}

func collectClassifier(ch chan<- prometheus.Metric, cs rules.Stats) {
	emit(ch, mClassified, float64(cs.Exchanges))
	for _, name := range slices.Sorted(maps.Keys(cs.Events)) {
		emit(ch, mEvents, float64(cs.Events[name]), name)
	}
	emit(ch, mEventsLost, float64(cs.SinkErrors))
	emit(ch, mLookups, float64(cs.Lookups))
	emit(ch, mLookupErrors, float64(cs.LookupErrors))
	emit(ch, mCacheHits, float64(cs.CacheHits))
	ratio := 0.0
	if n := cs.CacheHits + cs.Lookups; n > 0 {
		ratio = float64(cs.CacheHits) / float64(n)
	}
	emit(ch, mCacheRatio, ratio)
}

func collectDispatch(ch chan<- prometheus.Metric, st *dispatch.Stats, label func(*dispatch.HookStats) string) {
	emit(ch, mAccepted, float64(st.Accepted))
	emit(ch, mNoSubscriber, float64(st.NoSubscriber))
	for i := range st.Hooks {
		hs := &st.Hooks[i]
		n := label(hs)
		emit(ch, mDeliveries, float64(hs.Delivered), n, "delivered")
		emit(ch, mDeliveries, float64(hs.Failed), n, "failed")
		emit(ch, mDeliveries, float64(hs.Retried), n, "retried")
		emit(ch, mDeliveries, float64(hs.Dead), n, "dead")
		emit(ch, mDeliveries, float64(hs.Skipped), n, "skipped")
		for _, reason := range slices.Sorted(maps.Keys(hs.Failures)) {
			emit(ch, mFailures, float64(hs.Failures[reason]), n, reason)
		}
		emit(ch, mBreakerOpen, b2f(hs.Breaker.Open), n)
		emit(ch, mBreakerFails, float64(max(hs.Breaker.Failures, 0)), n)
		emit(ch, mBreakerOpens, float64(hs.Breaker.Opens), n)
		emit(ch, mGone, b2f(hs.Gone), n)
		emit(ch, mPending, float64(max(hs.Depth.Pending+hs.Depth.Fetched, 0)), n)
		emit(ch, mDead, float64(max(hs.Depth.Dead, 0)), n)
		ch <- constHistogram(mLatency, &hs.Latency, n)
		ch <- constHistogram(mAttempt, &hs.AttemptDuration, n)
	}
	emit(ch, mDepth, float64(max(st.Queue.Events, 0)))
	emit(ch, mBytes, float64(max(st.Queue.Bytes, 0)))
	emit(ch, mOldest, st.QueueAge.Seconds())
	emit(ch, mInFlight, float64(max(st.InFlight, 0)))
	for _, reason := range slices.Sorted(maps.Keys(st.Drops)) {
		emit(ch, mDrops, float64(st.Drops[reason]), reason)
	}
}

// constHistogram reports one of dispatch's histograms (cumulative counts per bound).
func constHistogram(d *prometheus.Desc, h *dispatch.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		var n uint64
		if i < len(h.Cumulative) {
			n = h.Cumulative[i]
		}
		buckets[b] = n
	}
	m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
