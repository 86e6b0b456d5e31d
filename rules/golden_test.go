package rules_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

const (
	sepExchanges = "---- exchanges"
	sepEvents    = "---- events"
	sepErrors    = "---- errors"
)

// TestGolden runs every case in testdata/cases: a rules file, a separator, exchanges, a
// separator, and the exact output (events and payloads, or the file's errors).
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
			text := string(data)
			src, rest, ok := strings.Cut(text, sepExchanges+"\n")
			if !ok {
				t.Fatalf("no %q line", sepExchanges)
			}
			exch, want := rest, ""
			for _, s := range []string{sepEvents + "\n", sepErrors + "\n"} {
				if i := strings.Index(rest, s); i >= 0 {
					exch, want = rest[:i], rest[i+len(s):]
				}
			}
			got, kind := runCase(t, filepath.Base(path), src, exch)
			if *update {
				out := src + sepExchanges + "\n" + exch + kind + "\n" + got
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !strings.Contains(text, kind+"\n") {
				t.Fatalf("got %s, want the other kind of output:\n%s", kind, got)
			}
			if got != want {
				t.Errorf("output differs (-update rewrites it)\ngot:\n%s\nwant:\n%s", got, want)
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

// runCase loads the rules and plays the exchanges, returning the output and its separator.
func runCase(t *testing.T, name, src, exch string) (string, string) {
	t.Helper()
	data := []byte(src)
	if strings.HasPrefix(src, "@") {
		file := strings.TrimSpace(src[1:])
		var err error
		data, err = os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		name = file
	}
	f, err := rules.Parse(name, data)
	if err != nil {
		var es rules.Errors
		if !errors.As(err, &es) {
			t.Fatalf("Parse returned %T, want rules.Errors", err)
		}
		return err.Error() + "\n", sepErrors
	}
	m, err := rules.Compile(f)
	if err != nil {
		t.Fatalf("Parse accepted the file but Compile did not: %v", err)
	}
	var elapsed time.Duration
	up := &fetcher{answers: map[string]answer{}, clock: &elapsed}
	sk := &sink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	c.Clock = func() time.Time { return fixedNow.Add(elapsed) }
	var out strings.Builder
	for i, chunk := range splitExchanges(exch) {
		x, refuse := parseExchange(t, chunk, up)
		if x == nil {
			continue
		}
		sk.refuse = refuse
		fmt.Fprintf(&out, "== %d %s %s", i+1, x.Method, x.Path)
		if len(x.Query) > 0 {
			fmt.Fprintf(&out, "?%s", x.Query)
		}
		fmt.Fprintf(&out, " -> %d\n", x.Status)
		if !c.Wants(x.Method, x.Path) {
			out.WriteString("not wanted\n")
			continue
		}
		up.calls = up.calls[:0]
		sk.got = sk.got[:0]
		elapsed = 0
		status, respHeader, respBody := x.Status, x.RespHeader, x.RespBody
		x.Status, x.RespHeader, x.RespBody = 0, nil, nil
		c.Before(x)
		x.Status, x.RespHeader, x.RespBody = status, respHeader, respBody
		err := c.After(x)
		for _, call := range up.calls {
			out.WriteString("lookup " + call + "\n")
		}
		for _, line := range sk.got {
			out.WriteString(line + "\n")
		}
		if err != nil {
			out.WriteString("error " + err.Error() + "\n")
		}
	}
	st := c.Stats()
	names := make([]string, 0, len(st.Events))
	for n := range st.Events {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&out, "stats exchanges=%d lookups=%d lookup_errors=%d cache_hits=%d sink_errors=%d", st.Exchanges, st.Lookups, st.LookupErrors, st.CacheHits, st.SinkErrors)
	if st.LookupsLate > 0 || st.LookupsNotMade > 0 {
		fmt.Fprintf(&out, " lookups_late=%d lookups_not_made=%d", st.LookupsLate, st.LookupsNotMade)
	}
	for _, n := range names {
		fmt.Fprintf(&out, " %s=%d", n, st.Events[n])
	}
	out.WriteString("\n")
	return out.String(), sepEvents
}

func splitExchanges(s string) []string {
	var out []string
	for _, c := range strings.Split(s, "\n====\n") {
		if strings.TrimSpace(c) != "" {
			out = append(out, c)
		}
	}
	return out
}

// parseExchange reads one exchange:
//
//	upstream GET /path?q => 200 {"json":1}     (lookup answers, any number, kept for later exchanges)
//	upstream GET /path => error
//	upstream GET /path => after=3s 200 {}       (the answer takes 3s on the classifier's clock)
//	sink refuse                                (the sink refuses this exchange's events)
//	truncated request                          (Body was cut at the tap limit; or response)
//	METHOD /path?query
//	Header: value
//
//	request body
//	=> STATUS
//	Header: value
//
//	response body
func parseExchange(t *testing.T, chunk string, up *fetcher) (*rules.Exchange, bool) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(chunk, "\n"), "\n")
	refuse := false
	var trunc []string
	for len(lines) > 0 {
		l := lines[0]
		if strings.HasPrefix(l, "upstream GET ") {
			target, ans, ok := strings.Cut(strings.TrimPrefix(l, "upstream GET "), " => ")
			if !ok {
				t.Fatalf("bad upstream line %q", l)
			}
			var delay time.Duration
			if d, rest, ok := strings.Cut(ans, " "); ok && strings.HasPrefix(d, "after=") {
				var err error
				if delay, err = time.ParseDuration(strings.TrimPrefix(d, "after=")); err != nil {
					t.Fatalf("bad upstream line %q", l)
				}
				ans = rest
			}
			if ans == "error" {
				up.answers[target] = answer{err: true, delay: delay}
			} else {
				code, body, _ := strings.Cut(ans, " ")
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Fatalf("bad upstream line %q", l)
				}
				up.answers[target] = answer{status: n, body: body, delay: delay}
			}
			lines = lines[1:]
			continue
		}
		if l == "sink refuse" {
			refuse = true
			lines = lines[1:]
			continue
		}
		if l == "truncated request" || l == "truncated response" {
			trunc = append(trunc, l)
			lines = lines[1:]
			continue
		}
		break
	}
	if len(lines) == 0 {
		return nil, false
	}
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("bad request line %q", lines[0])
	}
	path, query, _ := strings.Cut(target, "?")
	x := &rules.Exchange{Method: []byte(method), Path: []byte(path), Query: []byte(query), Upstream: up}
	lines = lines[1:]
	reqH, lines := readHeaders(lines)
	var body []string
	for len(lines) > 0 && !strings.HasPrefix(lines[0], "=> ") {
		body = append(body, lines[0])
		lines = lines[1:]
	}
	if len(lines) == 0 {
		t.Fatalf("exchange %q has no => STATUS line", target)
	}
	st, err := strconv.Atoi(strings.TrimPrefix(lines[0], "=> "))
	if err != nil {
		t.Fatalf("bad status line %q", lines[0])
	}
	respH, lines := readHeaders(lines[1:])
	nl := "\n"
	if strings.HasPrefix(strings.ToLower(reqH["Content-Type"]), "multipart/") {
		nl = "\r\n"
	}
	x.Header, x.Body = reqH, []byte(strings.Join(body, nl))
	x.Status, x.RespHeader, x.RespBody = st, respH, []byte(strings.Join(lines, "\n"))
	for _, tr := range trunc {
		x.BodyTrunc = x.BodyTrunc || tr == "truncated request"
		x.RespTrunc = x.RespTrunc || tr == "truncated response"
	}
	return x, refuse
}

func readHeaders(lines []string) (headers, []string) {
	h := headers{}
	for len(lines) > 0 {
		l := lines[0]
		lines = lines[1:]
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		h[k] = strings.TrimSpace(v)
	}
	return h, lines
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
