package rules_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"hooktap/proxy"
	"hooktap/rules"
)

var _ proxy.Tap = (*rules.Classifier)(nil)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files in testdata/cases")

// fixedNow is the clock of the golden tests: 2023-11-14T22:13:20Z.
var fixedNow = time.UnixMilli(1700000000000)

// headers is a map-backed rules.Peeker.
type headers map[string]string

func (h headers) Peek(name string) []byte {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return unsafe.Slice(unsafe.StringData(v), len(v)) // read-only, as Peeker's callers treat it
		}
	}
	return nil
}

// fetcher is a fake upstream for lookups: answers by path and query, recording each call.
type fetcher struct {
	answers map[string]answer
	calls   []string
	clock   *time.Duration // advanced by slow answers: the classifier's clock is fixedNow + *clock
}

type answer struct {
	status int
	body   string
	err    bool
	delay  time.Duration // the answer takes this long (on the classifier's clock)
}

func (f *fetcher) Fetch(dst []byte, pq []byte) (int, []byte, error) {
	f.calls = append(f.calls, string(pq))
	a, ok := f.answers[string(pq)]
	if !ok {
		return 404, append(dst, `{"message":"not found"}`...), nil
	}
	if f.clock != nil {
		*f.clock += a.delay
	}
	if a.err {
		return 0, dst, errors.New("fake: connection refused")
	}
	return a.status, append(dst, a.body...), nil
}

// sink records events, copying them, and refuses when told to.
type sink struct {
	got    []string
	refuse bool
}

func (s *sink) Enqueue(ev *rules.Event) error {
	line := "event " + ev.Name + " " + string(ev.Payload)
	if ev.Time != fixedNow.UnixMilli() {
		line += fmt.Sprintf(" (time %d)", ev.Time)
	}
	s.got = append(s.got, line)
	if ev.Full != nil {
		s.got = append(s.got, "  full "+string(ev.Full))
	}
	if s.refuse {
		return errors.New("queue full")
	}
	return nil
}

const sepExchanges = rules.CaseExchanges

// TestGolden runs every case in testdata/cases (the format is rules.ParseCase's): a rules
// file, a separator, exchanges, a separator, and the exact output (events and payloads, or
// the file's errors).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	goldenEnv(t)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rules.ParseCase(filepath.Base(path), data)
			if err != nil {
				t.Fatal(err)
			}
			name, src, err := c.LoadRules("testdata")
			if err != nil {
				t.Fatal(err)
			}
			got, kind, err := rules.RunCase(name, src, c.Exchanges)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				out := c.Rules + sepExchanges + "\n" + c.ExchangesText + kind + "\n" + got
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.Kind != kind {
				t.Fatalf("got %s, want the other kind of output:\n%s", kind, got)
			}
			if got != c.Want {
				t.Errorf("output differs (-update rewrites it)\ngot:\n%s\nwant:\n%s", got, c.Want)
			}
		})
	}
}

// goldenEnv sets the environment the cases' *_env keys read: HOOKTAP_GOLDEN_SET_* set,
// HOOKTAP_GOLDEN_EMPTY_* empty and HOOKTAP_GOLDEN_UNSET_* unset, whatever the caller's
// environment holds.
func goldenEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"TOKEN", "CHAT_SECRET", "NATS_PASSWORD"} {
		t.Setenv("HOOKTAP_GOLDEN_UNSET_"+name, "") // restored when the test ends
		os.Unsetenv("HOOKTAP_GOLDEN_UNSET_" + name)
	}
	t.Setenv("HOOKTAP_GOLDEN_EMPTY_SECRET", "")
	t.Setenv("HOOKTAP_GOLDEN_SET_SECRET", "s3cret")
}

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
	_, err := rules.Parse("rules.toml", []byte(src))
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
	f, err := rules.Load(p)
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
	if _, err := rules.Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.HasPrefix(err.Error(), "rules: ") {
		t.Errorf("Load of a missing file: got %v, want a rules: error", err)
	}
}

// TestReload checks that Reload swaps the matcher used by later exchanges.
func TestReload(t *testing.T) {
	load := func(path string) *rules.Matcher {
		src := "[proxy]\nupstream = \"http://127.0.0.1:8090\"\n[[rule]]\nname = \"r\"\nmethod = \"DELETE\"\npath = \"" + path + "\"\n[[rule.emit]]\nevent = \"page_trashed\"\npayload = { \"page.id\" = \"path.id|num\" }\n"
		f, err := rules.Parse("r.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		m, err := rules.Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	sk := &sink{}
	c := rules.NewClassifier(load("/a/{id}"), rules.ClassifySection{}, sk, nil)
	if !c.Wants([]byte("DELETE"), []byte("/a/1")) || c.Wants([]byte("DELETE"), []byte("/b/1")) {
		t.Fatal("before reload: want /a/1 only")
	}
	c.Reload(load("/b/{id}"))
	if c.Wants([]byte("DELETE"), []byte("/a/1")) || !c.Wants([]byte("DELETE"), []byte("/b/1")) {
		t.Fatal("after reload: want /b/1 only")
	}
	x := &rules.Exchange{Method: []byte("DELETE"), Path: []byte("/b/7"), Header: headers{}, Status: 204, RespHeader: headers{}}
	c.Before(x)
	if err := c.After(x); err != nil {
		t.Fatal(err)
	}
	if len(sk.got) != 1 || !strings.Contains(sk.got[0], `"page":{"id":7}`) {
		t.Errorf("got %q, want one page_trashed for id 7", sk.got)
	}
	if x.State != nil {
		t.Error("After left x.State set")
	}
}

func TestMatchWithoutClassifier(t *testing.T) {
	f, err := rules.Parse("m.toml", []byte("[proxy]\nupstream = \"http://h:1\"\n[[rule]]\nname = \"r\"\nmethod = [\"PUT\", \"POST\"]\npath = \"/x/{rest...}\"\n[[rule.emit]]\nevent = \"page_updated\"\npayload = { \"p\" = \"path.rest\", \"m\" = \"method\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := rules.Compile(f)
	x := &rules.Exchange{Method: []byte("PUT"), Path: []byte("/x/a%20b/c"), Header: headers{}, Status: 200, RespHeader: headers{}}
	evs, buf := m.Match(x, nil, nil)
	if len(evs) != 1 || !bytes.Contains(evs[0].Payload, []byte(`"p":"a b/c","m":"PUT"`)) {
		t.Fatalf("got %d events %q", len(evs), buf)
	}
}

// TestOverrides checks that overrides replace the file's values before validation, and that
// a bad overridden value is reported without a line.
func TestOverrides(t *testing.T) {
	src := []byte("[proxy]\nlisten = \":1\"\n\n[[webhook]]\nname = \"file\"\nurl = \"http://127.0.0.1:9/\"\nevents = [\"*\"]\n")
	if _, err := rules.Parse("o.toml", src); err == nil || !strings.Contains(err.Error(), "upstream is required") {
		t.Fatalf("without overrides: got %v, want upstream is required", err)
	}
	f, err := rules.ParseWith("o.toml", src, rules.Overrides{
		Upstream: "http://127.0.0.1:8090", Listen: "127.0.0.1:0", Admin: "off", DataDir: "/tmp/x", Queue: "memory",
		Webhooks: []rules.Webhook{{Name: "demo", URL: "http://127.0.0.1:1/hook", Events: []string{"page_created"}}},
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
	_, err = rules.ParseWith("o.toml", src, rules.Overrides{Upstream: "ftp://x", Webhooks: []rules.Webhook{{Name: "w"}}})
	want := `o.toml: [proxy]: upstream "ftp://x": must be http://host[:port]: the proxy reaches the upstream over plain HTTP
o.toml: webhook "w": url is required
o.toml: webhook "w": events is required (event names, or ["*"])`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
