package rules_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// userFetcher answers /rest/api/user?username=X with X's key; it belongs to one goroutine.
type userFetcher struct{}

func (userFetcher) Fetch(dst, pq []byte) (int, []byte, error) {
	_, name, ok := strings.Cut(string(pq), "username=")
	if !ok {
		return 404, dst, nil
	}
	return 200, append(dst, `{"userKey":"key-`+name+`"}`...), nil
}

// TestCacheQueriesConcurrent classifies from many goroutines at once writes whose user comes
// from a cached lookup (one path, many queries) while other writes drop that path: every
// event must carry its own user's key (run with -race).
func TestCacheQueriesConcurrent(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[classify]
user = ["lookup.me.userKey"]

[[classify.lookup]]
name = "me"
path = "/rest/api/user?username={query.u}"

[[rule]]
name   = "created"
method = "POST"
path   = "/pages"

[[rule.emit]]
event   = "page_created"
payload = { "u" = "query.u" }

[[rule]]
name   = "user changed"
method = "PUT"
path   = "/rest/api/user"

[[rule.emit]]
event   = "user_reactivated"
payload = { "u" = "query.u" }
`
	f, err := config.Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sk := &checkSink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				u := fmt.Sprintf("u%d", (w+i)%5)
				method, path := "POST", "/pages"
				if i%7 == 0 {
					method, path = "PUT", "/rest/api/user"
				}
				x := &rules.Exchange{Method: []byte(method), Path: []byte(path), Query: []byte("u=" + u),
					Header: headers{}, Status: 200, RespHeader: headers{}, Upstream: userFetcher{}}
				c.Before(x)
				if err := c.After(x); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if sk.n != workers*rounds || sk.bad != "" {
		t.Errorf("got %d events, want %d; first mismatch: %s", sk.n, workers*rounds, sk.bad)
	}
	if st := c.Stats(); st.CacheHits == 0 {
		t.Errorf("no cache hit in %d lookups", st.Lookups)
	}
}

// checkSink checks that each event's userKey is key-<its u>.
type checkSink struct {
	mu  sync.Mutex
	n   int
	bad string
}

func (s *checkSink) Enqueue(ev *rules.Event) error {
	p := string(ev.Payload)
	_, u, _ := strings.Cut(p, `"u":"`)
	u, _, _ = strings.Cut(u, `"`)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if !strings.Contains(p, `"userKey":"key-`+u+`"`) && s.bad == "" {
		s.bad = p
	}
	return nil
}

// racingFetcher answers a content lookup with the version it holds; on its first Fetch it
// runs write (while the lookup is in flight) and still answers with the version from before.
type racingFetcher struct {
	version int
	calls   int
	write   func()
}

func (f *racingFetcher) Fetch(dst, pq []byte) (int, []byte, error) {
	f.calls++
	v := f.version
	if w := f.write; w != nil {
		f.write = nil
		w()
	}
	return 200, fmt.Appendf(dst, `{"type":"page","version":{"number":%d}}`, v), nil
}

// TestCacheDropDuringLookup interleaves a lookup and a write deterministically: the lookup
// is sent, the write lands upstream and drops the looked-up path, then the lookup's (now
// stale) answer comes back. The cache must not keep that answer: the next lookup of the path
// goes upstream and sees the write.
func TestCacheDropDuringLookup(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "content updated"
method = "PUT"
path   = "/rest/api/content/{id}"
invalidate = []

[[rule.lookup]]
name = "before"
path = "/rest/api/content/{id}?expand=version"

[[rule.emit]]
event   = "page_updated"
payload = { "oldVersion" = "lookup.before.version.number" }

[[rule]]
name   = "label added"
method = "POST"
path   = "/rest/api/content/{id}/label"
invalidate = ["/rest/api/content/{id}"]

[[rule.emit]]
event   = "label_added"
payload = { "labeled.id" = "path.id|num" }
`
	f, err := config.Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	c.Clock = func() time.Time { return fixedNow }
	up := &racingFetcher{version: 1}
	classify := func(method, path string) {
		t.Helper()
		x := &rules.Exchange{Method: []byte(method), Path: []byte(path), Header: headers{"Content-Type": "application/json"},
			Body: []byte(`{}`), Status: 200, RespHeader: headers{}, Upstream: up}
		c.Before(x)
		if err := c.After(x); err != nil {
			t.Fatal(err)
		}
	}
	up.write = func() {
		up.version = 2                                // the write lands upstream...
		classify("POST", "/rest/api/content/1/label") // ...and its exchange drops the path
	}
	classify("PUT", "/rest/api/content/1") // the lookup in flight during the write: answer 1
	classify("PUT", "/rest/api/content/1") // must ask again and see 2
	if up.calls != 2 {
		t.Errorf("lookups sent upstream: %d, want 2 (the stale answer was cached)", up.calls)
	}
	want := []string{"label_added", `"oldVersion":1`, `"oldVersion":2`}
	if len(sk.got) != len(want) {
		t.Fatalf("events: %q, want 3", sk.got)
	}
	for i, w := range want {
		if !strings.Contains(sk.got[i], w) {
			t.Errorf("event %d: %s, want %s", i, sk.got[i], w)
		}
	}
	// With no write in between, the answer is cached as before.
	classify("PUT", "/rest/api/content/1")
	if up.calls != 2 {
		t.Errorf("lookups sent upstream: %d, want 2 (the fresh answer was not cached)", up.calls)
	}
}
