package proxy

import (
	"net/url"
	"time"

	"hooktap/internal/conf"
)

// Config is [proxy] of the rules file: where clients connect and the upstream wiki/CMS. A
// zero field means its default (the Default constants), which SetDefaults fills in.
type Config struct {
	Listen   string `toml:"listen"`   // default ":8080"
	Upstream string `toml:"upstream"` // required: "http://host:port" of the wiki/CMS
	// HostHeader, when set, replaces the client's Host header on forwarded requests. Default
	// "": the client's Host is kept, as wikis build absolute URLs from it.
	HostHeader string `toml:"host_header"`

	ReadTimeout     time.Duration `toml:"read_timeout"`     // client request read, body included; default 10m (large uploads)
	WriteTimeout    time.Duration `toml:"write_timeout"`    // client response write; default 10m
	IdleTimeout     time.Duration `toml:"idle_timeout"`     // client keep-alive idle; default 90s
	UpstreamTimeout time.Duration `toml:"upstream_timeout"` // upstream response headers; default 60s, then 504
	DialTimeout     time.Duration `toml:"dial_timeout"`     // upstream connect; default 3s, then 502
	MaxConns        int           `toml:"max_conns"`        // upstream connections; default 1024
	MaxHeaderBytes  int           `toml:"max_header_bytes"` // request/response header block; default 65536
	TapBodyLimit    int           `toml:"tap_body_limit"`   // bytes of a tapped request/response body kept for rules; default 1 MiB
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"` // in-flight requests' grace on SIGTERM; default 30s
}

// Defaults of the zero fields of Config.
const (
	DefaultListen          = ":8080"
	DefaultReadTimeout     = 10 * time.Minute
	DefaultWriteTimeout    = 10 * time.Minute
	DefaultIdleTimeout     = 90 * time.Second
	DefaultUpstreamTimeout = 60 * time.Second
	DefaultDialTimeout     = 3 * time.Second
	DefaultMaxConns        = 1024
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultTapBodyLimit    = 1 << 20
	DefaultShutdownTimeout = 30 * time.Second
)

// SetDefaults sets every zero field of c to its default. A negative limit stays, for
// Validate to refuse.
func (c *Config) SetDefaults() {
	set := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.WriteTimeout, DefaultWriteTimeout)
	set(&c.IdleTimeout, DefaultIdleTimeout)
	set(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	set(&c.DialTimeout, DefaultDialTimeout)
	set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.TapBodyLimit == 0 {
		c.TapBodyLimit = DefaultTapBodyLimit
	}
}

// Validate checks c, defaults filled: the upstream, the listen address and the limits. It
// returns a [conf.Errors] naming each mistake's key, or nil.
func (c *Config) Validate() error {
	var es conf.Errors
	if c.Upstream == "" {
		es.Add("upstream", "upstream is required (the wiki's \"http://host:port\")")
	} else if err := checkUpstream(c.Upstream); err != "" {
		es.Add("upstream", "upstream %q: %s", conf.Redact(c.Upstream), err)
	}
	if err := conf.CheckListen(c.Listen); err != "" {
		es.Add("listen", "listen %q: %s", c.Listen, err)
	}
	for _, kv := range []struct {
		key string
		n   int
	}{{"max_conns", c.MaxConns}, {"max_header_bytes", c.MaxHeaderBytes}, {"tap_body_limit", c.TapBodyLimit}} {
		if kv.n < 0 {
			es.Add(kv.key, "%s must not be negative", kv.key)
		}
	}
	if n := c.MaxHeaderBytes; n > 0 && n < 4096 {
		es.Add("max_header_bytes", "max_header_bytes must be at least 4096, not %d", n)
	}
	return es.Err()
}

// checkUpstream returns why s is not an upstream the proxy can use, or "": it takes
// http://host[:port] and nothing else (no https, path, query, user or fragment; a lone "/"
// path is allowed).
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	if u.Scheme != "http" {
		return "must be http://host[:port]: the proxy reaches the upstream over plain HTTP"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host"
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "must be http://host[:port], with no path, query, user or fragment"
	}
	return ""
}
