//go:build !race

package rules_test

import "testing"

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
// allocates nothing in steady state either, when its JSON paths are plain (the shipped
// pack's "#.name" queries allocate inside gjson: BenchmarkWriteEachLookup shows how much).
func TestAllocsEachLookup(t *testing.T) {
	c, cs := eachClassifier(t, eachPlain)
	x := labelPost(&labelUpstream{})
	if n := testing.AllocsPerRun(200, func() {
		if err := classifyWrite(c, x); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("per-element lookups: %v allocs/op, want 0", n)
	}
	if cs.created == 0 {
		t.Error("no label_created")
	}
}
