//go:build !race

package rules_test

import (
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// TestAllocs asserts that classifying a non-matching read and a matching write (payloads
// built, events enqueued) allocates nothing, with the 60-rule and the 1000-rule packs.
func TestAllocs(t *testing.T) {
	for size, m := range packs(t) {
		c, d := newBenchClassifier(m)
		x := pageCreate()
		if n := testing.AllocsPerRun(200, func() {
			if c.Wants(readMethod, readPath) {
				t.Fatal("a read is wanted")
			}
		}); n != 0 {
			t.Errorf("%s rules: read: %v allocs/op, want 0", size, n)
		}
		if n := testing.AllocsPerRun(200, func() {
			if err := classifyWrite(c, x); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s rules: write: %v allocs/op, want 0", size, n)
		}
		if d.n == 0 {
			t.Errorf("%s rules: the write produced no event", size)
		}
	}
}

// TestAllocsEachLookup asserts that a write classified with per-element lookups (uncached)
// allocates nothing in steady state, with the shipped pack's rule (its "#.name" not_in
// conditions and "#.{name}" payload are projections built in the state's buffer, not by
// gjson) and with plain JSON paths only.
func TestAllocsEachLookup(t *testing.T) {
	for _, v := range []struct{ name, pack string }{{"pack", eachPack}, {"plain", eachPlain}} {
		c, cs := eachClassifier(t, v.pack)
		x := labelPost(&labelUpstream{})
		if n := testing.AllocsPerRun(200, func() {
			if err := classifyWrite(c, x); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: per-element lookups: %v allocs/op, want 0", v.name, n)
		}
		if cs.created == 0 || cs.added == 0 {
			t.Errorf("%s: no label_created or label_added", v.name)
		}
	}
}

// tagPack classifies a TiddlyWiki tiddler's tag changes: the tags before (a title list from a
// lookup) against the tags sent (a title list), both read with |titlelist.
const tagPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "tags"
method = "PUT"
path   = "/recipes/default/tiddlers/{title}"
status = [204]

[[rule.lookup]]
name  = "before"
path  = "/recipes/default/tiddlers/{title}"
cache = false

[[rule.emit]]
event   = "label_added"
each    = "req.tags|titlelist"
when    = { "item" = { not_in = "lookup.before.tags|titlelist" } }
payload = { "label.name" = "item", "labeled.id" = "path.title|str" }

[[rule.emit]]
event   = "label_removed"
each    = "lookup.before.tags|titlelist"
when    = { "item" = { not_in = "req.tags|titlelist" } }
payload = { "label.name" = "item", "labeled.id" = "path.title|str", "labeled.labels" = "req.tags|titlelist" }
`

// tiddlerUpstream answers the lookup of a tiddler whose tags are a title list.
type tiddlerUpstream struct{}

func (tiddlerUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	return 200, append(dst, `{"title":"Note 1","tags":"alpha [[two words]] gamma [[x y]]"}`...), nil
}

// tagSink counts label events without keeping them.
type tagSink struct{ added, removed int }

func (s *tagSink) Enqueue(ev *rules.Event) error {
	switch ev.Name {
	case "label_added":
		s.added++
	case "label_removed":
		s.removed++
	}
	return nil
}

// TestAllocsTitleList asserts that a set difference of two title lists (|titlelist under
// each, not_in and a payload) allocates nothing in steady state, and gives the right events:
// added "beta" and "three words"; removed "two words" and "gamma".
func TestAllocsTitleList(t *testing.T) {
	f, err := config.Parse("tags.toml", []byte(tagPack))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sink := &tagSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return fixedNow }
	x := &rules.Exchange{
		Method:   []byte("PUT"),
		Path:     []byte("/recipes/default/tiddlers/Note%201"),
		Header:   headers{"Content-Type": "application/json"},
		Body:     []byte(`{"title":"Note 1","tags":"alpha beta [[three words]] [[x y]] beta"}`),
		Status:   204,
		Upstream: tiddlerUpstream{},
	}
	if err := classifyWrite(c, x); err != nil {
		t.Fatal(err)
	}
	if sink.added != 2 || sink.removed != 2 {
		t.Fatalf("got %d label_added, %d label_removed; want 2, 2", sink.added, sink.removed)
	}
	if n := testing.AllocsPerRun(200, func() {
		if err := classifyWrite(c, x); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("title lists: %v allocs/op, want 0", n)
	}
}

// TestAllocsCanonicalPath asserts that paths needing canonicalisation (a short one, built on
// the stack, and one over 512 bytes, built in a pooled buffer) cost no allocation either.
func TestAllocsCanonicalPath(t *testing.T) {
	c, d := newBenchClassifier(packs(t)["60"])
	for _, p := range []string{"/rest//api/%63ontent;jsessionid=x/", longDetour} {
		path := []byte(p)
		if n := testing.AllocsPerRun(200, func() {
			if !c.Wants([]byte("POST"), path) {
				t.Fatal("not wanted")
			}
		}); n != 0 {
			t.Errorf("Wants(POST, %.40q...): %v allocs/op, want 0", p, n)
		}
		x := pageCreate()
		x.Path = path
		if n := testing.AllocsPerRun(200, func() {
			if err := classifyWrite(c, x); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("write to %.40q...: %v allocs/op, want 0", p, n)
		}
	}
	if d.n == 0 {
		t.Error("the writes produced no event")
	}
}

// TestAllocsRespCookie asserts that reading every Set-Cookie header of an answer (respcookie
// with a pattern, its #2 in a lookup path and a payload) allocates nothing in steady state.
func TestAllocsRespCookie(t *testing.T) {
	c, sink := formClassifier(t)
	x := formSave(&revUpstream{})
	if n := testing.AllocsPerRun(200, func() {
		if err := classifyWrite(c, x); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("respcookie: %v allocs/op, want 0", n)
	}
	if sink.n == 0 {
		t.Error("the save produced no event")
	}
}
