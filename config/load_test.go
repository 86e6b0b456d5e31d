package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/rules"
)

// TestFiveMistakes checks that a file with five different mistakes reports all five, each
// with its line, in the format hooktap -check prints.
func TestFiveMistakes(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"
listen = 8080

[[webhook]]
name   = "chat"
url    = "ftp://127.0.0.1:9000/hook"
events = ["page_created"]

[[rule]]
name   = "page created"
method = "POST"
path   = "/rest/api/content/{id"

[[rule.emit]]
event   = "page_create"
payload = { "page.id" = "resp.id|num" }

[[rule]]
name   = "labels"
method = "POST"
path   = "/rest/api/content/{id}/label"

[[rule.emit]]
event   = "label_added"
each    = "req"
payload = { "label.name" = "item.name", "labeled.id" = "lookup.content.id" }
`
	_, err := config.Parse("rules.toml", []byte(src))
	want := `rules.toml:3: [proxy]: listen must be a string, not an integer
rules.toml:7: webhook "chat": url "ftp://127.0.0.1:9000/hook": must be http or https
rules.toml:13: rule "page created": path "/rest/api/content/{id": segment "{id": a {name} must be a whole segment
rules.toml:16: rule "page created": unknown event "page_create"
rules.toml:27: rule "labels": payload "labeled.id": "lookup.content.id": the rule has no lookup "content"`
	if err == nil {
		t.Fatal("Parse accepted a file with mistakes")
	}
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var es rules.Errors
	if !errors.As(err, &es) || len(es) != 5 {
		t.Fatalf("got %d errors, want 5", len(es))
	}
	if es[0].Line != 3 || es[0].File != "rules.toml" || es[0].Where != "[proxy]" {
		t.Errorf("first error %+v, want line 3 of rules.toml in [proxy]", *es[0])
	}
}

// TestLoadDefaults checks that Load fills every documented default.
func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.toml")
	src := "[proxy]\nupstream = \"http://127.0.0.1:8090\"\n\n[[webhook]]\nname = \"a\"\nurl = \"http://127.0.0.1:9000/\"\nevents = [\"*\"]\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"proxy.listen", f.Proxy.Listen, ":8080"},
		{"proxy.read_timeout", f.Proxy.ReadTimeout, 10 * time.Minute},
		{"proxy.upstream_timeout", f.Proxy.UpstreamTimeout, 60 * time.Second},
		{"proxy.tap_body_limit", f.Proxy.TapBodyLimit, 1 << 20},
		{"admin.listen", f.Admin.Listen, "127.0.0.1:8081"},
		{"dispatch.queue", f.Dispatch.Queue, "disk"},
		{"dispatch.retry", fmt.Sprint(f.Dispatch.Retry), "[5s 5m0s 30m0s 2h0m0s 5h0m0s 10h0m0s]"},
		{"dispatch.on_skip", f.Dispatch.OnSkip, "retry"},
		{"dispatch.on_store_error", f.Dispatch.OnStoreError, "reject"},
		{"dispatch.max_bytes", f.Dispatch.MaxBytes, int64(1 << 30)},
		{"classify.user", fmt.Sprint(f.Classify.User), "[respheader.X-AUSERNAME basic.user]"},
		{"classify.cache_ttl", f.Classify.CacheTTL, 30 * time.Second},
		{"webhook.active", *f.Webhooks[0].Active, true},
		{"webhook.payload", f.Webhooks[0].Payload, "id"},
		{"webhook.timeout", f.Webhooks[0].Timeout, 20 * time.Second},
		{"webhook.line", f.Webhooks[0].Line, 4},
		{"path", f.Path, p},
		{"summary", f.Summary(), p + ": 0 rules, 0 events, 1 webhook"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := config.Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.HasPrefix(err.Error(), "rules: ") {
		t.Errorf("Load of a missing file: got %v, want a rules: error", err)
	}
}

// TestOverrides checks that overrides replace the file's values before validation, and that
// a bad overridden value is reported without a line.
func TestOverrides(t *testing.T) {
	src := []byte("[proxy]\nlisten = \":1\"\n\n[[webhook]]\nname = \"file\"\nurl = \"http://127.0.0.1:9/\"\nevents = [\"*\"]\n")
	if _, err := config.Parse("o.toml", src); err == nil || !strings.Contains(err.Error(), "upstream is required") {
		t.Fatalf("without overrides: got %v, want upstream is required", err)
	}
	f, err := config.ParseWith("o.toml", src, config.Overrides{
		Upstream: "http://127.0.0.1:8090", Listen: "127.0.0.1:0", Admin: "off", DataDir: "/tmp/x", Queue: "memory",
		Webhooks: []dispatch.Webhook{{Name: "demo", URL: "http://127.0.0.1:1/hook", Events: []string{"page_created"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Proxy.Upstream != "http://127.0.0.1:8090" || f.Proxy.Listen != "127.0.0.1:0" || f.Admin.Listen != "off" || f.Dispatch.DataDir != "/tmp/x" || f.Dispatch.Queue != "memory" {
		t.Errorf("overrides not applied: %+v %+v %+v", f.Proxy, f.Admin, f.Dispatch)
	}
	if len(f.Webhooks) != 1 || f.Webhooks[0].Name != "demo" || f.Webhooks[0].Payload != "id" || !*f.Webhooks[0].Active {
		t.Errorf("webhooks: got %+v, want the demo webhook with defaults filled", f.Webhooks)
	}
	_, err = config.ParseWith("o.toml", src, config.Overrides{Upstream: "ftp://x", Webhooks: []dispatch.Webhook{{Name: "w"}}})
	want := `o.toml: [proxy]: upstream "ftp://x": must be http://host[:port]: the proxy reaches the upstream over plain HTTP
o.toml: webhook "w": url is required
o.toml: webhook "w": events is required (event names, or ["*"])`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
