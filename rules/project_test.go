package rules

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestProjectionAsGJSON checks that the projections built in the state's buffer are what
// gjson answers for the same path, on arrays with missing keys, non-objects, nesting and
// empty arrays; and that paths outside the simple forms are left to gjson.
func TestProjectionAsGJSON(t *testing.T) {
	docs := []string{
		`{"results":[{"name":"old","prefix":"global"},{"name":"Alpha"},{"prefix":"my"},3,"x",{"name":{"a":1}},{"name":[1,2]}]}`,
		`{"results":[]}`,
		`{"results":{"name":"not an array"}}`,
		`{"results":"text"}`,
		`{"a":{"b":[{"c":{"d":1}},{"c":{"d":"two"}},{"c":null}]}}`,
		`[{"name":"top"},{"name":"level"},{"id":7}]`,
		`{}`,
		` { "results" : [ { "name" : "spaced" } , { "name" : true } ] } `,
	}
	paths := []string{"results.#.name", "results.#.{name}", "results.#.{name,prefix}", "results.#.prefix",
		"a.b.#.c.d", "a.b.#.c", "a.b.#.{c}", "#.name", "#.{name,id}", "missing.#.name", "results.#.missing"}
	for _, p := range paths {
		pr := parseProjection(p)
		if pr == nil {
			t.Fatalf("%q: not parsed as a projection", p)
		}
		for _, d := range docs {
			s := &state{}
			got := s.project(gjson.Parse(d), pr)
			want := gjson.Get(d, p)
			if !want.Exists() {
				if got.kind != vMissing {
					t.Errorf("%q on %s: got %s, want missing", p, d, got.res.Raw)
				}
				continue
			}
			if got.kind != vJSON || got.res.Raw != want.Raw {
				t.Errorf("%q on %s: got %q (kind %d), want %q", p, d, got.res.Raw, got.kind, want.Raw)
			}
		}
	}
	for _, p := range []string{"results.#", "results.#(name==old).name", "results.#.name|@reverse", "results.#.na*e",
		"results.#.a.#.b", `results.#.{"x":name}`, "results.#.{name.first}", "a\\.b.#.c", "results.0.name", "name"} {
		if parseProjection(p) != nil {
			t.Errorf("%q: parsed as a projection, want it left to gjson", p)
		}
	}
}
