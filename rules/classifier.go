package rules

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// lookupCache holds lookups' answers by path (without query); under one path, up to
// maxVariants answers to different queries (as /rest/api/user?username=a and ?username=b),
// each with an expiry time. Entries are immutable once stored: put replaces a path's list.
//
// A lookup sent before a write may be answered before the write lands and stored after the
// write dropped its path: its answer is stale. So every path has a generation (shared by the
// paths hashing to the same slot of gens), which drop advances; a fetch reads it before asking
// the upstream, and put stores nothing when it has moved since. Two paths sharing a slot only
// cost a put skipped now and then, never a stale answer.
type lookupCache struct {
	lru *lru.Cache[string, *cacheEntry]
	ttl int64 // nanoseconds
	// mu serialises put and drop, so that a put racing a drop of the same path cannot bring
	// back the variants the drop removed, nor store an answer fetched before the drop. get
	// does not take it.
	mu   sync.Mutex
	seed maphash.Seed
	gens [genSlots]atomic.Uint64 // advanced by drop, under mu
}

// maxVariants bounds the queries cached under one path; the oldest is dropped first.
const maxVariants = 64

// genSlots is the number of generation counters (a power of two).
const genSlots = 4096

type cacheEntry struct {
	query   string
	status  int
	body    []byte
	expires int64         // UnixNano
	others  []*cacheEntry // the path's other queries, newest first; immutable
}

// newLookupCache returns a cache of size entries (at least one) that keep for ttl.
func newLookupCache(size int, ttl time.Duration) *lookupCache {
	c, _ := lru.New[string, *cacheEntry](max(size, 1)) // only fails for size <= 0
	return &lookupCache{lru: c, ttl: int64(ttl), seed: maphash.MakeSeed()}
}

// slot returns the generation counter of path.
func (c *lookupCache) slot(path []byte) *atomic.Uint64 {
	return &c.gens[maphash.Bytes(c.seed, path)&(genSlots-1)]
}

// gen returns path's generation: read it before fetching an answer to put.
func (c *lookupCache) gen(path []byte) uint64 { return c.slot(path).Load() }

// get returns the live entry for path?query, or nil.
func (c *lookupCache) get(path, query []byte, now int64) *cacheEntry {
	head, ok := c.lru.Get(b2s(path)) // Get does not keep the key
	if !ok {
		return nil
	}
	e := head
	if e.query != b2s(query) {
		e = nil
		for _, o := range head.others {
			if o.query == b2s(query) {
				e = o
				break
			}
		}
	}
	if e == nil || now >= e.expires {
		return nil
	}
	return e
}

// put stores the answer to path?query, fetched when path's generation was gen; nothing if
// path was dropped since (the answer may predate the write that dropped it).
func (c *lookupCache) put(path, query []byte, status int, body []byte, now int64, gen uint64) {
	g := c.slot(path)
	if g.Load() != gen {
		return
	}
	e := &cacheEntry{query: string(query), status: status, body: append([]byte(nil), body...), expires: now + c.ttl}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.Load() != gen {
		return
	}
	if old, ok := c.lru.Peek(b2s(path)); ok {
		// Keep the path's other live queries, newest first, at most maxVariants in all.
		for _, o := range append([]*cacheEntry{old}, old.others...) {
			if len(e.others) >= maxVariants-1 {
				break
			}
			if o.query != e.query && now < o.expires {
				e.others = append(e.others, &cacheEntry{query: o.query, status: o.status, body: o.body, expires: o.expires})
			}
		}
	}
	c.lru.Add(string(path), e)
}

func (c *lookupCache) drop(path []byte) {
	g := c.slot(path)
	c.mu.Lock()
	g.Add(1)
	c.lru.Remove(b2s(path)) // Remove does not keep the key
	c.mu.Unlock()
}

// counters are the classifier's statistics.
type counters struct {
	exchanges    atomic.Uint64
	lookups      atomic.Uint64
	lookupErrors atomic.Uint64
	cacheHits    atomic.Uint64
	sinkErrors   atomic.Uint64
	// lookupLate: answers that came after lookup_timeout (counted in lookupErrors too);
	// lookupsNotMade: elements of per-element lookups not looked up (limit, budget, failure).
	lookupLate     atomic.Uint64
	lookupsNotMade atomic.Uint64
	events         [len(Names)]atomic.Uint64
}

// Stats is a snapshot of a Classifier's counters since it was made.
type Stats struct {
	Exchanges    uint64            // exchanges classified (After calls)
	Events       map[string]uint64 // events recognised, by name (including those the sink refused)
	Lookups      uint64            // lookups sent upstream
	LookupErrors uint64            // of which failed (transport error or timeout)
	CacheHits    uint64            // lookups answered from the cache
	SinkErrors   uint64            // events lost because the sink refused them
	// LookupsLate counts the lookups whose answer came after lookup_timeout and was discarded
	// (they are in LookupErrors too).
	LookupsLate uint64
	// LookupsNotMade counts the elements of per-element lookups that were not looked up:
	// past each_lookup_limit, past the lookup's time budget, or after an element failed. Each
	// counts as a failed lookup for its element.
	LookupsNotMade uint64
}

// Classifier is the proxy's tap: it matches exchanges against the current Matcher and hands
// the events to a Sink. It satisfies proxy.Tap. It is safe for concurrent use.
type Classifier struct {
	// Clock returns the current time; nil means time.Now. Set it before the first use.
	Clock func() time.Time

	m     atomic.Pointer[Matcher]
	sink  Sink
	log   *slog.Logger
	cache *lookupCache
	env   env
	once  sync.Once
	pool  sync.Pool
	stats counters
	miss  *unmatchedTable
}

// NewClassifier returns a Classifier matching with m and enqueueing to sink. cfg gives the
// lookup cache's size and lifetime (zero fields mean their defaults); the rest of [classify]
// (user and its lookups, lookup_timeout, each_lookup_limit) comes with the Matcher, so that a
// Reload applies it. It starts no goroutine.
func NewClassifier(m *Matcher, cfg ClassifySection, sink Sink, log *slog.Logger) *Classifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SetDefaults()
	c := &Classifier{sink: sink, log: log, cache: newLookupCache(cfg.CacheSize, cfg.CacheTTL), miss: newUnmatchedTable()}
	c.m.Store(m)
	c.pool.New = func() any { return new(state) }
	return c
}

// Reload swaps in a new Matcher. Exchanges already begun finish with the Matcher they began
// with. Cached lookups are kept.
func (c *Classifier) Reload(m *Matcher) {
	c.m.Store(m)
}

// Matcher returns the current Matcher.
func (c *Classifier) Matcher() *Matcher { return c.m.Load() }

// LookupTimeout returns the current Matcher's [classify] lookup_timeout (see
// [Matcher.LookupTimeout]): the bound the Fetcher must put on each Fetch.
func (c *Classifier) LookupTimeout() time.Duration { return c.m.Load().LookupTimeout() }

func (c *Classifier) environment() *env {
	c.once.Do(func() {
		now := c.Clock
		if now == nil {
			now = time.Now
		}
		c.env = env{cache: c.cache, stats: &c.stats, now: now, log: c.log}
	})
	return &c.env
}

// Wants reports whether a request with this method and raw path could match a rule, the
// path read in its canonical form (see "Path templates"). It allocates nothing and keeps
// nothing.
func (c *Classifier) Wants(method, path []byte) bool {
	return c.m.Load().Wants(method, path)
}

// Before matches the request side and makes the before-forwarding lookups. Its state
// travels in x.State to After.
func (c *Classifier) Before(x *Exchange) {
	s := c.pool.Get().(*state)
	c.m.Load().begin(s, x, c.environment())
	x.State = s
	x.RespUnneeded = !slices.Contains(s.reqOK, true)
}

// After matches the response, builds the events and enqueues each to the sink. It returns
// an error when the sink refused an event (every event is still offered).
func (c *Classifier) After(x *Exchange) error {
	s, _ := x.State.(*state)
	if s == nil {
		s = c.pool.Get().(*state)
		c.m.Load().begin(s, x, c.environment())
	}
	x.State = nil
	c.stats.exchanges.Add(1)
	s.events, s.buf = s.m.finish(s, x, s.events[:0], s.buf[:0])
	if !s.matched {
		c.miss.record(x.Method, x.Path, x.Query, x.Status, c.environment().now().UnixMilli())
	}
	var first error
	var firstName string
	for i := range s.events {
		ev := &s.events[i]
		c.stats.events[nameIndex[ev.Name]].Add(1)
		if err := c.sink.Enqueue(ev); err != nil {
			c.stats.sinkErrors.Add(1)
			if first == nil {
				first, firstName = err, ev.Name
			}
		}
	}
	s.release()
	c.pool.Put(s)
	if first != nil {
		return fmt.Errorf("rules: enqueue %s: %w", firstName, first)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Classifier) Stats() Stats {
	st := Stats{
		Exchanges:    c.stats.exchanges.Load(),
		Events:       map[string]uint64{},
		Lookups:      c.stats.lookups.Load(),
		LookupErrors: c.stats.lookupErrors.Load(),
		CacheHits:    c.stats.cacheHits.Load(),
		SinkErrors:   c.stats.sinkErrors.Load(),

		LookupsLate:    c.stats.lookupLate.Load(),
		LookupsNotMade: c.stats.lookupsNotMade.Load(),
	}
	for i := range c.stats.events {
		if n := c.stats.events[i].Load(); n > 0 {
			st.Events[Names[i]] = n
		}
	}
	return st
}
