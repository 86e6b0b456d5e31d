//go:build !race

package rules_test

import (
	"bytes"
	"testing"

	"hooktap/rules"
)

// nestedPack is an each within an each: one label_added per tag that a post[] has after the
// write and not before (the per-element lookups before and after), as WordPress's bulk edit.
const nestedPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "bulk tags"
method = "GET"
path   = "/wp-admin/edit.php"
status = [302]

[[rule.lookup]]
name  = "before"
each  = "queryall.post[]"
path  = "/posts/{item|num}"
cache = false

[[rule.lookup]]
name  = "after"
each  = "queryall.post[]"
path  = "/posts/{item|num}?after=1"
stage = "after"
cache = false

[[rule.emit]]
event   = "label_added"
each    = "lookup.after.tags"
when    = { "item.id" = { not_in = "lookup.before.tags.#.id" } }
payload = { "label.name" = "item.name", "labeled.id" = "lookup.after.id|num" }
`

// bulkUpstream answers every post with tag 1 before and tags 1, 2 and 3 after.
type bulkUpstream struct{}

func (bulkUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	if bytes.HasSuffix(pq, []byte("after=1")) {
		return 200, append(dst, `{"id":4,"tags":[{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}]}`...), nil
	}
	return 200, append(dst, `{"id":4,"tags":[{"id":1,"name":"a"}]}`...), nil
}

// TestAllocsEachNested asserts that an emit over a per-element lookup's arrays allocates
// nothing in steady state and makes one event per post and new tag (3 posts, 2 tags each).
func TestAllocsEachNested(t *testing.T) {
	c, cs := eachClassifier(t, nestedPack)
	x := &rules.Exchange{
		Method:     []byte("GET"),
		Path:       []byte("/wp-admin/edit.php"),
		Query:      []byte("action=edit&post%5B%5D=4&post%5B%5D=5&post%5B%5D=6"),
		Status:     302,
		RespHeader: headers{"Location": "/wp-admin/edit.php?updated=3"},
		Upstream:   bulkUpstream{},
	}
	if err := classifyWrite(c, x); err != nil {
		t.Fatal(err)
	}
	if cs.added != 6 {
		t.Fatalf("got %d label_added, want 6", cs.added)
	}
	if n := testing.AllocsPerRun(200, func() {
		if err := classifyWrite(c, x); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("nested each: %v allocs/op, want 0", n)
	}
}
