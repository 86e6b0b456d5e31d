package dispatch

import (
	"context"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// dial is the delivery client's dial function: the target policy at dial time, on every
// resolved address.
func (d *Dispatcher) dial(addr string, timeout time.Duration) (net.Conn, error) {
	return d.policy.Load().dialFunc()(addr, timeout)
}

// CheckTarget returns why the target policy refuses url as a webhook URL (an error wrapping
// ErrTargetRefused), an error for a URL that is not http(s) with a host, or nil. Host names
// are checked again, on what they resolve to, at each connection.
func (d *Dispatcher) CheckTarget(url string) error {
	if strings.ContainsFunc(url, isControl) {
		return errControlInURL
	}
	return d.policy.Load().CheckURL(url)
}

// Policy returns the target policy in force.
func (d *Dispatcher) Policy() *TargetPolicy { return d.policy.Load() }

// SetOwnListeners names hooktap's own listen addresses (the proxy's and the admin API's),
// which are never webhook targets, whatever allow_targets says. main calls it before Run.
func (d *Dispatcher) SetOwnListeners(addrs ...string) {
	old := d.policy.Load()
	p := &TargetPolicy{prefixes: old.prefixes, hosts: old.hosts, lookup: old.lookup}
	p.SetOwnListeners(addrs...)
	d.policy.Store(p)
}

// Ping is the package's Ping with this dispatcher's target policy and User-Agent.
func (d *Dispatcher) Ping(ctx context.Context, url string) PingResult {
	return ping(ctx, url, d.policy.Load(), d.userAgent)
}

var errControlInURL = &controlError{}

type controlError struct{}

func (*controlError) Error() string { return "dispatch: url holds a control character" }

// isControl reports whether r is a control character (C0, DEL, C1) or a Unicode format
// character that hides text (bidirectional overrides, zero-width).
func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// RedactURL returns u with its userinfo and every query value replaced by "***"
// ("https://***@host/path?token=***"), for answers and logs: receivers' URLs often carry
// credentials there. The path is kept. A URL that does not parse is cut to its scheme.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.Index(u, "://"); i > 0 && i < 10 {
			return u[:i+3] + "***"
		}
		return "***"
	}
	if p.User != nil {
		p.User = url.User("***")
	}
	if p.RawQuery != "" {
		parts := strings.Split(p.RawQuery, "&")
		for i, kv := range parts {
			if k, _, ok := strings.Cut(kv, "="); ok {
				parts[i] = k + "=***"
			} else if kv != "" {
				parts[i] = "***" // a bare token
			}
		}
		p.RawQuery = strings.Join(parts, "&")
	}
	if p.Fragment != "" {
		p.Fragment = "***"
		p.RawFragment = ""
	}
	return p.String()
}
