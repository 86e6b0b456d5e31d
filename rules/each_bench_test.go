package rules_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// eachPack is the shipped pack's label rule: a lookup of the object's labels and one
// existence lookup per posted label, made before forwarding.
const eachPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "labels added"
method = "POST"
path   = "/rest/api/content/{id}/label"

[[rule.lookup]]
name  = "had"
path  = "/rest/api/content/{id}/label"
cache = false

[[rule.lookup]]
name  = "existing"
each  = "req"
path  = "/rest/api/label?name={item.name|lower}"
cache = false

[[rule.emit]]
event   = "label_added"
each    = "req"
when    = { "item.name|lower" = { not_in = "lookup.had.results.#.name" } }
payload = { "label.name" = "item.name|lower", "labeled.labels" = "resp.results.#.{name}", "labeled.id" = "path.id|num" }

[[rule.emit]]
event   = "label_created"
each    = "req"
when    = { "lookup.existing#status" = 404, "item.name|lower" = { not_in = "lookup.had.results.#.name" } }
payload = { "label.name" = "item.name|lower" }
`

// labelUpstream answers the label lookups without allocating: the object has "old"; "beta"
// exists elsewhere; every other label is new (404).
type labelUpstream struct{ calls int }

func (u *labelUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	u.calls++
	switch {
	case bytes.HasSuffix(pq, []byte("/label")):
		return 200, append(dst, `{"results":[{"prefix":"global","name":"old"}]}`...), nil
	case bytes.HasSuffix(pq, []byte("=beta")):
		return 200, append(dst, `{"label":{"name":"beta"}}`...), nil
	}
	return 404, append(dst, `{"statusCode":404}`...), nil
}

func labelPost(up rules.Fetcher) *rules.Exchange {
	return &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/rest/api/content/65601/label"),
		Header:     headers{"Content-Type": "application/json"},
		Body:       []byte(`[{"prefix":"global","name":"Alpha"},{"prefix":"global","name":"beta"},{"prefix":"global","name":"old"},{"prefix":"global","name":"gamma"},{"prefix":"global","name":"delta"}]`),
		Status:     200,
		RespHeader: headers{"X-AUSERNAME": "admin"},
		RespBody:   []byte(`{"results":[{"name":"old"},{"name":"alpha"},{"name":"beta"},{"name":"gamma"},{"name":"delta"}]}`),
		Upstream:   up,
	}
}

// eachPlain is eachPack with plain JSON paths only: label_added for every posted label.
var eachPlain = strings.NewReplacer(
	`when    = { "item.name|lower" = { not_in = "lookup.had.results.#.name" } }`+"\n", "",
	`, "labeled.labels" = "resp.results.#.{name}"`, "",
	`, "item.name|lower" = { not_in = "lookup.had.results.#.name" }`, "",
).Replace(eachPack)

func eachClassifier(tb testing.TB, pack string) (*rules.Classifier, *countSink) {
	tb.Helper()
	f, err := config.Parse("each.toml", []byte(pack))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		tb.Fatal(err)
	}
	cs := &countSink{}
	c := rules.NewClassifier(m, f.Classify, cs, nil)
	c.Clock = func() time.Time { return fixedNow }
	return c, cs
}

// countSink counts events by name without keeping them.
type countSink struct{ added, created int }

func (s *countSink) Enqueue(ev *rules.Event) error {
	switch ev.Name {
	case "label_added":
		s.added++
	case "label_created":
		s.created++
	}
	return nil
}

// TestEachLookupEvents checks the benchmark's exchange: six lookups (the object's labels, one
// per posted label), four label_added (not "old") and three label_created (not "beta").
func TestEachLookupEvents(t *testing.T) {
	c, cs := eachClassifier(t, eachPack)
	up := &labelUpstream{}
	if err := classifyWrite(c, labelPost(up)); err != nil {
		t.Fatal(err)
	}
	if up.calls != 6 || cs.added != 4 || cs.created != 3 {
		t.Errorf("got %d lookups, %d label_added, %d label_created; want 6, 4, 3", up.calls, cs.added, cs.created)
	}
	c, cs = eachClassifier(t, eachPlain)
	if err := classifyWrite(c, labelPost(up)); err != nil {
		t.Fatal(err)
	}
	if cs.added != 5 || cs.created != 4 {
		t.Errorf("plain pack: got %d label_added, %d label_created; want 5, 4", cs.added, cs.created)
	}
}

// BenchmarkWriteEachLookup is a POST of five labels classified with per-element lookups
// (uncached, answered in memory): six lookups, conditions on each element, seven payloads
// ("pack": the shipped pack's rule, with "#.name" and "#.{name}" projections; "plain": plain
// JSON paths only). Both allocate nothing (TestAllocsEachLookup).
func BenchmarkWriteEachLookup(b *testing.B) {
	for _, v := range []struct{ name, pack string }{{"pack", eachPack}, {"plain", eachPlain}} {
		b.Run(v.name, func(b *testing.B) {
			c, _ := eachClassifier(b, v.pack)
			x := labelPost(&labelUpstream{})
			b.ReportAllocs()
			done := cpuTimer(b)
			for b.Loop() {
				if err := classifyWrite(c, x); err != nil {
					b.Fatal(err)
				}
			}
			done()
		})
	}
}
