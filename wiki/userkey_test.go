package wiki_test

import (
	"testing"
)

// TestPackUserKeyByLookup: in front of a real Confluence, which names the acting user only by
// X-AUSERNAME, the pack's [classify] lookup GET /rest/api/user?username= gives the payloads
// the real userKey; the answer is cached per user name.
func TestPackUserKeyByLookup(t *testing.T) {
	h := newPackHarness(t)
	h.alice() // with X-AUSERKEY: no user lookup yet
	h.rec.take()
	h.asConfluence = true

	write := func(user, title string) (lookups, hits uint64) {
		t.Helper()
		h.user = user
		before := h.cls.Stats()
		h.must(200, jsonReq("POST", "/rest/api/content", pageJSON(title, "")))
		after := h.cls.Stats()
		return after.Lookups - before.Lookups, after.CacheHits - before.CacheHits
	}
	steps := []struct {
		user, title       string
		lookups, hits     uint64
		wantKey, wantPage string
	}{
		{"admin:admin", "A", 1, 0, admin, "1002"}, // looked up
		// alice's answer is already cached: user_created's lookup asked the same URL
		{"alice:pw", "B", 0, 1, aliceKey, "1003"},
		{"admin:admin", "C", 0, 1, admin, "1004"}, // cached beside alice's (same path, other query)
		{"alice:pw", "D", 0, 1, aliceKey, "1005"},
	}
	for _, s := range steps {
		l, hits := write(s.user, s.title)
		if l != s.lookups || hits != s.hits {
			t.Errorf("%s as %s: %d lookups, %d cache hits; want %d, %d", s.title, s.user, l, hits, s.lookups, s.hits)
		}
		sameEvents(t, s.title, h.rec.take(), []string{
			ev("page_created", s.wantKey, `,"page":{"id":`+s.wantPage+`}`),
			ev("content_created", s.wantKey, `,"content":{"id":`+s.wantPage+`}`),
		})
	}
}

// TestPackUserKeyFromHeader: with the sample wiki's X-AUSERKEY, no user lookup is made.
func TestPackUserKeyFromHeader(t *testing.T) {
	h := newPackHarness(t)
	before := h.cls.Stats()
	h.must(200, jsonReq("POST", "/rest/api/content", pageJSON("A", "")))
	if got := h.cls.Stats().Lookups - before.Lookups; got != 0 {
		t.Errorf("%d lookups for a page created with X-AUSERKEY, want 0", got)
	}
	sameEvents(t, "events", h.rec.take(), []string{ev("page_created", admin, `,"page":{"id":1002}`), ev("content_created", admin, `,"content":{"id":1002}`)})
}
