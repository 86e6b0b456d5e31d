package admin

import (
	"log/slog"

	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// checkTimeout bounds all readiness checks of one /readyz request together.
const checkTimeout = 5 * time.Second

// metricsHandler answers GET /metrics in the Prometheus text format, from a registry of its
// own holding hooktap's collector and the Go runtime's and the process's (CPU seconds, memory,
// file descriptors). A sample that cannot be encoded is logged and left out; the rest is
// served.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
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
