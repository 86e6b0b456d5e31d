package rules_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// TestClassifierConcurrent classifies from several goroutines while the rules are reloaded,
// with lookups going through the shared cache; run it with -race.
func TestClassifierConcurrent(t *testing.T) {
	data, err := os.ReadFile("testdata/confluence.toml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("confluence.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := rules.Compile(&f.File)
	m2, _ := rules.Compile(&f.File)
	var mu sync.Mutex
	counts := map[string]int{}
	sk := sinkFunc(func(ev *rules.Event) error {
		mu.Lock()
		counts[ev.Name]++
		mu.Unlock()
		return nil
	})
	c := rules.NewClassifier(m1, f.Classify, sk, nil)
	c.Clock = func() time.Time { return fixedNow }
	const workers, rounds = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up := &fetcher{answers: map[string]answer{
				"/rest/api/content/5?status=any&expand=container,space": {status: 200, body: `{"type":"page","status":"current"}`},
			}}
			for i := 0; i < rounds; i++ {
				x := &rules.Exchange{Method: []byte("DELETE"), Path: []byte("/rest/api/content/5"), Header: headers{}, Upstream: up}
				if !c.Wants(x.Method, x.Path) {
					t.Error("DELETE not wanted")
					return
				}
				c.Before(x)
				x.Status, x.RespHeader = 204, headers{}
				if err := c.After(x); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		if i%2 == 0 {
			c.Reload(m2)
		} else {
			c.Reload(m1)
		}
	}
	wg.Wait()
	st := c.Stats()
	if st.Exchanges != workers*rounds {
		t.Errorf("got %d exchanges, want %d", st.Exchanges, workers*rounds)
	}
	if counts["page_trashed"] != workers*rounds || counts["content_trashed"] != workers*rounds {
		t.Errorf("got %v, want %d page_trashed and content_trashed", counts, workers*rounds)
	}
	if st.Events["page_trashed"] != workers*rounds {
		t.Errorf("stats: got %d page_trashed, want %d", st.Events["page_trashed"], workers*rounds)
	}
	if st.Lookups+st.CacheHits != workers*rounds {
		t.Errorf("got %d lookups + %d cache hits, want %d", st.Lookups, st.CacheHits, workers*rounds)
	}
}

type sinkFunc func(*rules.Event) error

func (f sinkFunc) Enqueue(ev *rules.Event) error { return f(ev) }

// TestLookupCacheTTL checks that a cached lookup expires after cache_ttl, on the injected
// clock.
func TestLookupCacheTTL(t *testing.T) {
	f, err := config.Parse("ttl.toml", []byte(`
[proxy]
upstream = "http://127.0.0.1:8090"
[classify]
cache_ttl = "10s"
[[rule]]
name = "space removed"
method = "DELETE"
path = "/rest/api/space/{key}"
invalidate = []
[[rule.lookup]]
name = "space"
path = "/rest/api/space/{key}"
[[rule.emit]]
event = "space_removed"
payload = { "space.id" = "lookup.space.id" }
`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := rules.Compile(&f.File)
	now := fixedNow
	sk := &sink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	c.Clock = func() time.Time { return now }
	up := &fetcher{answers: map[string]answer{"/rest/api/space/DS": {status: 200, body: `{"id":1}`}}}
	run := func() {
		x := &rules.Exchange{Method: []byte("DELETE"), Path: []byte("/rest/api/space/DS"), Header: headers{}, Upstream: up}
		c.Before(x)
		x.Status, x.RespHeader = 202, headers{}
		if err := c.After(x); err != nil {
			t.Fatal(err)
		}
	}
	run()
	now = now.Add(9 * time.Second)
	run()
	if st := c.Stats(); st.Lookups != 1 || st.CacheHits != 1 {
		t.Fatalf("within the TTL: got %d lookups, %d hits; want 1, 1", st.Lookups, st.CacheHits)
	}
	now = now.Add(2 * time.Second)
	run()
	if st := c.Stats(); st.Lookups != 2 || st.CacheHits != 1 {
		t.Fatalf("after the TTL: got %d lookups, %d hits; want 2, 1", st.Lookups, st.CacheHits)
	}
	if len(sk.got) != 3 {
		t.Fatalf("got %d events, want 3", len(sk.got))
	}
}
