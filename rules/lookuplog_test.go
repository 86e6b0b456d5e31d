package rules_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"hooktap/config"
	"hooktap/internal/testkit"
	"hooktap/rules"
)

// downFetcher fails every lookup, as an upstream that is down does.
type downFetcher struct{}

func (downFetcher) Fetch(dst, pq []byte) (int, []byte, error) {
	return 0, dst, errors.New("connection refused")
}

// A failed lookup is logged at Debug with its path and its query's names, never the values:
// lookups carry the client's nonces and keys in their queries (WordPress's _wpnonce).
func TestLookupFailureLogHidesQueryValues(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[classify]
user = ["lookup.me.slug", "basic.user"]

[[classify.lookup]]
name = "me"
path = "/wp-json/wp/v2/users/me?_wpnonce={header.X-WP-Nonce}&context=edit"

[[rule]]
name   = "created"
method = "POST"
path   = "/pages"

[[rule.emit]]
event   = "page_created"
payload = { "t" = "query.t" }
`
	f, err := config.Parse("l.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var out testkit.LogBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sk := &nSink{}
	c := rules.NewClassifier(f.Matcher(), f.Classify, sk, log)
	const nonce = "3f9a1c0d7e"
	x := &rules.Exchange{Method: []byte("POST"), Path: []byte("/pages"), Query: []byte("t=x"),
		Header: headers{"X-WP-Nonce": nonce}, Status: 200, RespHeader: headers{}, Upstream: downFetcher{}}
	c.Before(x)
	if err := c.After(x); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "lookup failed") || !strings.Contains(got, "/wp-json/wp/v2/users/me?_wpnonce=***&context=***") {
		t.Errorf("log does not show the failed lookup's path with its values hidden:\n%s", got)
	}
	if strings.Contains(got, nonce) {
		t.Errorf("the nonce reached the log:\n%s", got)
	}
	if sk.n != 1 {
		t.Errorf("%d events, want 1 (a failed user lookup falls back, it does not lose the event)", sk.n)
	}
}

type nSink struct {
	mu sync.Mutex
	n  int
}

func (s *nSink) Enqueue(*rules.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return nil
}

// wrapFetcher fails every lookup as the proxy's fetcher does when the upstream does not
// answer: its error quotes the lookup's path and query (proxy: lookup "/p?k=v": ...).
type wrapFetcher struct{}

func (wrapFetcher) Fetch(dst, pq []byte) (int, []byte, error) {
	return 0, dst, fmt.Errorf("proxy: lookup %q: %w", pq, errors.New("timeout"))
}

// The error a failed lookup carries is logged with the query's values hidden too: the
// proxy's fetcher quotes the whole lookup URL in it, nonce included.
func TestLookupFailureLogHidesQueryValuesInErr(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "created"
method = "POST"
path   = "/pages"
[[rule.lookup]]
name  = "me"
path  = "/wp-json/wp/v2/users/me?_wpnonce={header.X-WP-Nonce}&context=edit"
stage = "before"
[[rule.emit]]
event   = "page_created"
payload = { "t" = "query.t" }
`
	f, err := config.Parse("l.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var out testkit.LogBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := rules.NewClassifier(f.Matcher(), f.Classify, &nSink{}, log)
	const nonce = "3f9a1c0d7e"
	x := &rules.Exchange{Method: []byte("POST"), Path: []byte("/pages"), Query: []byte("t=x"),
		Header: headers{"X-WP-Nonce": nonce}, Status: 200, RespHeader: headers{}, Upstream: wrapFetcher{}}
	c.Before(x)
	if err := c.After(x); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "lookup failed") || !strings.Contains(got, "timeout") {
		t.Errorf("log does not show the failed lookup and its error:\n%s", got)
	}
	if strings.Contains(got, nonce) {
		t.Errorf("the nonce reached the log through the lookup's error:\n%s", got)
	}
}
