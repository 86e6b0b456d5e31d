package rules

import (
	"net/url"
	"os"
	"strconv"
	"strings"
)

// validateSections checks everything but the rules, which compile checks.
func (d *decoder) validateSections(f *File) {
	d.validateProxy(&f.Proxy)
	d.validateAdmin(&f.Admin)
	d.validateDispatch(&f.Dispatch)
	d.validateClassify(&f.Classify)
	d.validateWebhooks(f.Webhooks)
}

// validateProxy checks [proxy]: the upstream, the listen address and the limits.
func (d *decoder) validateProxy(p *ProxySection) {
	if p.Upstream == "" {
		if !d.bad["proxy"+sep+"upstream"] {
			d.errorf("proxy", "[proxy]", "upstream is required (the wiki's \"http://host:port\")")
		}
	} else if err := checkUpstream(p.Upstream); err != "" {
		d.errorf("proxy"+sep+"upstream", "[proxy]", "upstream %q: %s", redact(p.Upstream), err)
	}
	if err := checkListen(p.Listen); err != "" {
		d.errorf("proxy"+sep+"listen", "[proxy]", "listen %q: %s", p.Listen, err)
	}
	for _, kv := range []struct {
		key string
		n   int
	}{{"max_conns", p.MaxConns}, {"max_header_bytes", p.MaxHeaderBytes}, {"tap_body_limit", p.TapBodyLimit}} {
		if kv.n < 0 {
			d.errorf("proxy"+sep+kv.key, "[proxy]", "%s must not be negative", kv.key)
		}
	}
	if n := p.MaxHeaderBytes; n > 0 && n < 4096 {
		d.errorf("proxy"+sep+"max_header_bytes", "[proxy]", "max_header_bytes must be at least 4096, not %d", n)
	}
}

// validateAdmin checks [admin] (nothing when listen = "off"): the listen address and the
// tokens.
func (d *decoder) validateAdmin(a *AdminSection) {
	if a.Listen == "off" {
		return
	}
	if err := checkListen(a.Listen); err != "" {
		d.errorf("admin"+sep+"listen", "[admin]", "listen %q: %s", a.Listen, err)
	}
	if a.Token == "" {
		d.checkEnv("admin"+sep+"token_env", "[admin]", "token_env", a.TokenEnv)
	}
	if a.ReadToken == "" {
		d.checkEnv("admin"+sep+"read_token_env", "[admin]", "read_token_env", a.ReadTokenEnv)
	}
	if a.ReadToken != "" && a.ReadToken == a.Token {
		d.errorf("admin"+sep+"read_token", "[admin]", "read_token must differ from token: it is the one that cannot change anything")
	}
}

// validateDispatch checks [dispatch]: the queue (and an external queue's credentials), the
// policies and the limits.
func (d *decoder) validateDispatch(q *DispatchSection) {
	switch {
	case q.Queue == "memory" || q.Queue == "disk":
	case strings.HasPrefix(q.Queue, "nats://") || strings.HasPrefix(q.Queue, "tls://"):
		for _, u := range strings.Split(q.Queue, ",") {
			if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || pu.Host == "" {
				d.errorf("dispatch"+sep+"queue", "[dispatch]", "queue: bad NATS URL %q", redact(u))
			}
		}
		if q.NATSPassword == "" {
			d.checkEnv("dispatch"+sep+"nats_password_env", "[dispatch]", "nats_password_env", q.NATSPassEnv)
		}
		d.checkEnv("dispatch"+sep+"nats_token_env", "[dispatch]", "nats_token_env", q.NATSToken)
	default:
		d.errorf("dispatch"+sep+"queue", "[dispatch]", "queue must be \"memory\", \"disk\" or \"nats://host:port,...\", not %q", redact(q.Queue))
	}
	if q.OnSkip != "retry" && q.OnSkip != "drop" {
		d.errorf("dispatch"+sep+"on_skip", "[dispatch]", "on_skip must be \"retry\" or \"drop\", not %q", q.OnSkip)
	}
	if q.OnStoreError != "reject" && q.OnStoreError != "pass" {
		d.errorf("dispatch"+sep+"on_store_error", "[dispatch]", "on_store_error must be \"reject\" or \"pass\", not %q", q.OnStoreError)
	}
	for _, kv := range []struct {
		key string
		n   int64
	}{{"max_in_flight", int64(q.MaxInFlight)}, {"max_in_flight_per_hook", int64(q.MaxInFlightPerHook)},
		{"memory_queue_size", int64(q.MemoryQueueSize)}, {"history_size", int64(q.HistorySize)}, {"max_bytes", q.MaxBytes}} {
		if kv.n < 0 {
			d.errorf("dispatch"+sep+kv.key, "[dispatch]", "%s must not be negative", kv.key)
		}
	}
}

// validateClassify checks the limits and route_at paths of [classify]; its user and lookups
// are checked by compile.
func (d *decoder) validateClassify(c *ClassifySection) {
	if c.CacheSize < 0 {
		d.errorf("classify"+sep+"cache_size", "[classify]", "cache_size must not be negative")
	}
	if c.EachLookupLimit < 0 {
		d.errorf("classify"+sep+"each_lookup_limit", "[classify]", "each_lookup_limit must not be negative")
	}
	for _, p := range c.RouteAt {
		if !strings.HasPrefix(p, "/") {
			d.errorf("classify"+sep+"route_at", "[classify]", "route_at path %q must start with '/'", p)
		}
	}
}

// validateWebhooks checks every [[webhook]]: a unique name, a URL, the secrets, the events
// and the payload kind.
func (d *decoder) validateWebhooks(hooks []Webhook) {
	names := map[string]int{}
	for i := range hooks {
		w := &hooks[i]
		p := "webhook" + sep + strconv.Itoa(i)
		where := d.hookWhere[i]
		if w.Name == "" && !d.bad[p+sep+"name"] {
			d.errorf(p, where, "name is required")
		} else if HasControl(w.Name) {
			d.errorf(p+sep+"name", where, "name %s holds a control character", strconv.QuoteToASCII(w.Name))
		} else if prev, dup := names[w.Name]; dup && w.Name != "" {
			d.errorf(p+sep+"name", where, "duplicate webhook name (first at line %d)", prev)
		} else {
			names[w.Name] = w.Line
		}
		if w.URL == "" && !d.bad[p+sep+"url"] {
			d.errorf(p, where, "url is required")
		} else if err := checkURL(w.URL); w.URL != "" && err != "" {
			d.errorf(p+sep+"url", where, "url %q: %s", redact(w.URL), err)
		}
		d.checkSecrets(w, p, where)
		if !d.bad[p+sep+"events"] {
			for _, msg := range CheckEvents(w.Events) {
				d.errorf(p+sep+"events", where, "%s", msg)
			}
		}
		if w.Payload != "id" && w.Payload != "full" {
			d.errorf(p+sep+"payload", where, "payload must be \"id\" or \"full\", not %q", w.Payload)
		}
	}
}

// checkEnv reports an error at path when key names an environment variable (name != "")
// that is unset or empty: the part that reads it at startup (the dispatcher for secret_env
// and the NATS credentials) refuses to start without it, and an admin token_env that names
// nothing would leave the admin API read-only, which is not what its author meant. Checking
// here makes -check refuse the file too. The value itself is never shown.
func (d *decoder) checkEnv(path, where, key, name string) {
	if name == "" {
		return
	}
	switch v, ok := os.LookupEnv(name); {
	case !ok:
		d.errorf(path, where, "%s %s is not set", key, name)
	case v == "":
		d.errorf(path, where, "%s %s is empty", key, name)
	}
}

// checkUpstream returns why s is not an upstream the proxy can use, or "": the proxy
// (proxy.New) takes http://host[:port] and nothing else (no https, path, query, user or
// fragment; a lone "/" path is allowed).
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

// redact returns s, a URL or a comma-separated list of URLs, with each password replaced
// by *** ("nats://user:***@host"), for error messages. s need not parse.
func redact(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		scheme := strings.Index(p, "://")
		if scheme < 0 {
			continue
		}
		auth := p[scheme+3:]
		if end := strings.IndexAny(auth, "/?#"); end >= 0 {
			auth = auth[:end]
		}
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		user, _, hasPass := strings.Cut(auth[:at], ":")
		if !hasPass {
			continue
		}
		parts[i] = p[:scheme+3] + user + ":***" + p[scheme+3+at:]
	}
	return strings.Join(parts, ",")
}

// checkURL returns why s is not an absolute http(s) URL with a host, or "".
func checkURL(s string) string {
	if HasControl(s) {
		return "holds a control character"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be http or https"
	}
	if u.Host == "" {
		return "has no host"
	}
	return ""
}

// checkListen returns why s is not a "host:port" listen address, or "".
func checkListen(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "want host:port"
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "bad port"
	}
	return ""
}
