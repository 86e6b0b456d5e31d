package rules_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

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
	f, err := rules.Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(f)
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
