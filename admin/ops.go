package admin

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"hooktap/dispatch"
)

// checkTimeout bounds all readiness checks of one /readyz request together.
const checkTimeout = 5 * time.Second

// metrics answers GET /metrics in the Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	p := promWriter{b: make([]byte, 0, 8<<10)}
	if px := s.deps.Proxy; px != nil {
		c := px.ProxyCounters()
		p.family("hooktap_proxy_requests_total", "counter", "Requests answered by the proxy, by method and status class (the proxy's own 502/503/504 included).")
		for _, rc := range c.Requests {
			p.uint("hooktap_proxy_requests_total", rc.N, "method", rc.Method, "class", rc.Class)
		}
		for _, m := range []struct {
			name, help string
			v          uint64
		}{
			{"hooktap_proxy_upstream_errors_total", "Requests answered 502: the upstream was unreachable or broke the exchange.", c.UpstreamErrors},
			{"hooktap_proxy_upstream_timeouts_total", "Requests answered 504: the upstream was too slow.", c.Timeouts},
			{"hooktap_proxy_tapped_total", "Exchanges handed to the classifier.", c.Tapped},
			{"hooktap_proxy_tap_rejected_total", "Writes answered 503 because their event could not be stored.", c.TapRejected},
			{"hooktap_proxy_tap_truncated_total", "Tapped exchanges whose body exceeded tap_body_limit.", c.TapTruncated},
			{"hooktap_proxy_upgrades_total", "WebSocket upgrades tunnelled.", c.Upgrades},
			{"hooktap_proxy_client_errors_total", "Requests answered 400 because the client's body could not be read (malformed, cut short).", c.ClientErrors},
		} {
			p.family(m.name, "counter", m.help)
			p.uint(m.name, m.v)
		}
	}
	if c := s.deps.Classifier; c != nil {
		cs := c.Stats()
		p.family("hooktap_classified_total", "counter", "Exchanges the classifier looked at.")
		p.uint("hooktap_classified_total", cs.Exchanges)
		p.family("hooktap_events_total", "counter", "Events recognised, by event name.")
		for _, name := range slices.Sorted(maps.Keys(cs.Events)) {
			p.uint("hooktap_events_total", cs.Events[name], "event", name)
		}
		p.family("hooktap_events_lost_total", "counter", "Events recognised that the dispatcher refused (see hooktap_drops_total for why).")
		p.uint("hooktap_events_lost_total", cs.SinkErrors)
		p.family("hooktap_lookups_total", "counter", "Lookups sent to the upstream (cache misses).")
		p.uint("hooktap_lookups_total", cs.Lookups)
		p.family("hooktap_lookup_errors_total", "counter", "Lookups that failed (transport error or timeout).")
		p.uint("hooktap_lookup_errors_total", cs.LookupErrors)
		p.family("hooktap_lookup_cache_hits_total", "counter", "Lookups answered from the cache.")
		p.uint("hooktap_lookup_cache_hits_total", cs.CacheHits)
		ratio := 0.0
		if n := cs.CacheHits + cs.Lookups; n > 0 {
			ratio = float64(cs.CacheHits) / float64(n)
		}
		p.family("hooktap_lookup_cache_hit_ratio", "gauge", "Share of lookups answered from the cache since start (0 before the first).")
		p.float("hooktap_lookup_cache_hit_ratio", ratio)
		s.unmatchedMetrics(&p)
	}

	st := s.stats(r.Context())
	names := make(map[string]string, len(st.Hooks)) // dispatcher id -> the name shown
	hooks := s.snapshot()
	for _, h := range hooks {
		names[h.dispID] = h.Name
	}
	label := func(hs *dispatch.HookStats) string {
		if n, ok := names[hs.ID]; ok {
			return n
		}
		return hs.Name
	}
	p.family("hooktap_events_accepted_total", "counter", "Events accepted by the dispatcher's queue.")
	p.uint("hooktap_events_accepted_total", st.Accepted)
	p.family("hooktap_deliveries_total", "counter", "Delivery attempts and their ends, by webhook and outcome: delivered (2xx), failed, retried, dead, skipped.")
	for i := range st.Hooks {
		hs := &st.Hooks[i]
		n := label(hs)
		p.uint("hooktap_deliveries_total", hs.Delivered, "webhook", n, "outcome", "delivered")
		p.uint("hooktap_deliveries_total", hs.Failed, "webhook", n, "outcome", "failed")
		p.uint("hooktap_deliveries_total", hs.Retried, "webhook", n, "outcome", "retried")
		p.uint("hooktap_deliveries_total", hs.Dead, "webhook", n, "outcome", "dead")
		p.uint("hooktap_deliveries_total", hs.Skipped, "webhook", n, "outcome", "skipped")
	}
	p.family("hooktap_delivery_failures_total", "counter", "Failed delivery attempts, by webhook and reason.")
	for i := range st.Hooks {
		hs := &st.Hooks[i]
		for _, reason := range slices.Sorted(maps.Keys(hs.Failures)) {
			p.uint("hooktap_delivery_failures_total", hs.Failures[reason], "webhook", label(hs), "reason", reason)
		}
	}
	deliveryHistograms(&p, st.Hooks, label)
	p.family("hooktap_breaker_open", "gauge", "Whether the webhook's circuit breaker is open (1) or closed (0).")
	for i := range st.Hooks {
		v := uint64(0)
		if st.Hooks[i].Breaker.Open {
			v = 1
		}
		p.uint("hooktap_breaker_open", v, "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_breaker_failures", "gauge", "Consecutive failed deliveries to the webhook.")
	for i := range st.Hooks {
		p.uint("hooktap_breaker_failures", uint64(max(st.Hooks[i].Breaker.Failures, 0)), "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_breaker_opens_total", "counter", "Times the webhook's breaker opened or its window grew.")
	for i := range st.Hooks {
		p.uint("hooktap_breaker_opens_total", st.Hooks[i].Breaker.Opens, "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_webhook_gone", "gauge", "Whether a 410 Gone turned the webhook off (1).")
	for i := range st.Hooks {
		v := uint64(0)
		if st.Hooks[i].Gone {
			v = 1
		}
		p.uint("hooktap_webhook_gone", v, "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_queue_pending", "gauge", "Deliveries waiting or in flight, by webhook.")
	for i := range st.Hooks {
		d := st.Hooks[i].Depth
		p.uint("hooktap_queue_pending", uint64(max(d.Pending+d.Fetched, 0)), "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_dead_deliveries", "gauge", "Dead letters kept for redelivery, by webhook.")
	for i := range st.Hooks {
		p.uint("hooktap_dead_deliveries", uint64(max(st.Hooks[i].Depth.Dead, 0)), "webhook", label(&st.Hooks[i]))
	}
	p.family("hooktap_queue_depth", "gauge", "Events the queue holds (pending or dead).")
	p.uint("hooktap_queue_depth", uint64(max(st.Queue.Events, 0)))
	p.family("hooktap_queue_bytes", "gauge", "Payload bytes the queue holds.")
	p.uint("hooktap_queue_bytes", uint64(max(st.Queue.Bytes, 0)))
	p.family("hooktap_queue_oldest_age_seconds", "gauge", "Age of the oldest event the queue holds (0 when empty).")
	p.float("hooktap_queue_oldest_age_seconds", st.QueueAge.Seconds())
	p.family("hooktap_deliveries_in_flight", "gauge", "Delivery attempts in flight.")
	p.uint("hooktap_deliveries_in_flight", uint64(max(st.InFlight, 0)))
	p.family("hooktap_drops_total", "counter", "Events or deliveries given up without an attempt, by reason.")
	for _, reason := range slices.Sorted(maps.Keys(st.Drops)) {
		p.uint("hooktap_drops_total", st.Drops[reason], "reason", reason)
	}
	p.family("hooktap_webhooks", "gauge", "Webhooks configured, by source (file or api).")
	var file, api uint64
	for _, h := range hooks {
		if h.File {
			file++
		} else {
			api++
		}
	}
	p.uint("hooktap_webhooks", file, "source", "file")
	p.uint("hooktap_webhooks", api, "source", "api")

	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(p.b)
}

// healthz answers GET /healthz: 200 while the process runs.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptimeSeconds": int64(s.now().Sub(s.start).Seconds())})
}

// readyz answers GET /readyz: 200 when every check passes, else 503 with the reasons. The
// checks run in parallel under one deadline.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	results := make([]error, len(s.deps.Checks))
	done := make(chan struct{}, len(s.deps.Checks))
	for i, c := range s.deps.Checks {
		go func() {
			defer func() {
				if v := recover(); v != nil {
					results[i] = fmt.Errorf("check panicked: %v", v)
				}
				done <- struct{}{}
			}()
			results[i] = c.Checker.Check(ctx)
		}()
	}
	for range s.deps.Checks {
		<-done
	}
	checks := map[string]string{}
	var reasons []string
	for i, c := range s.deps.Checks {
		if err := results[i]; err != nil {
			checks[c.Name] = err.Error()
			reasons = append(reasons, c.Name+": "+err.Error())
			continue
		}
		checks[c.Name] = "ok"
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "checks": checks, "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

// UpstreamCheck returns a readiness check that the upstream at rawURL ("http://host:port")
// accepts TCP connections.
func UpstreamCheck(rawURL string) (Checker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("admin: upstream url: %w", err)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("admin: upstream url %q has no host", rawURL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	return CheckFunc(func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("upstream %s unreachable: %w", addr, err)
		}
		c.Close()
		return nil
	}), nil
}

// QueueCheck returns a readiness check that the dispatcher's queue answers: its depth can
// be read (an embedded or external JetStream that is down fails it). It cannot tell a
// memory queue that is closed; a Ready method on the dispatcher would.
func QueueCheck(sr StatsReader) Checker {
	return CheckFunc(func(ctx context.Context) error {
		if _, err := sr.Stats(ctx); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		return nil
	})
}
