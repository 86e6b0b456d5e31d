package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// explainCase loads a case file's rules and plays it through rules.ExplainCase.
func explainCase(t *testing.T, path, dir string) (*rules.Case, []*rules.Explanation) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rules.ParseCase(filepath.Base(path), data)
	if err != nil {
		t.Fatal(err)
	}
	name, src, err := c.LoadRules(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(name, src)
	if err != nil {
		return c, nil
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	return c, rules.ExplainCase(m, f.Classify, c.Exchanges, false)
}

// TestExplainAgreesWithRunCase checks that Explain, the slow path with a trace, finds the
// same events, payloads and lookups as the classifier's path for every golden case.
func TestExplainAgreesWithRunCase(t *testing.T) {
	files, _ := filepath.Glob("testdata/cases/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	goldenEnv(t)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			c, exs := explainCase(t, path, "testdata")
			if c.Kind != rules.CaseEvents {
				return
			}
			var want, got []string
			for _, l := range strings.Split(c.Want, "\n") {
				if strings.HasPrefix(l, "event ") || strings.HasPrefix(l, "  full ") || strings.HasPrefix(l, "lookup ") {
					want = append(want, l)
				}
			}
			for _, ex := range exs {
				if ex == nil {
					continue
				}
				for _, r := range ex.Rules {
					for _, l := range r.Lookups {
						if !l.NotMade && !l.Cached {
							got = append(got, "lookup "+l.Target)
						}
					}
				}
				for _, l := range ex.UserLookups {
					if !l.NotMade && !l.Cached {
						got = append(got, "lookup "+l.Target)
					}
				}
				for _, ev := range ex.Events {
					line := "event " + ev.Name + " " + string(ev.Payload)
					if ev.Time != rules.CaseClock.UnixMilli() {
						line += fmt.Sprintf(" (time %d)", ev.Time)
					}
					got = append(got, line)
					if ev.Full != nil {
						got = append(got, "  full "+string(ev.Full))
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Explain differs from RunCase\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestExplainWhy checks the reasons Explain gives: the first failed condition with the
// value seen, a status mismatch, and an unmatched write.
func TestExplainWhy(t *testing.T) {
	_, exs := explainCase(t, "testdata/cases/01_page_created.txt", "testdata")
	if len(exs) != 5 {
		t.Fatalf("got %d explanations, want 5", len(exs))
	}
	for i, want := range []string{
		"",
		`when "req.type" = "page": got "blogpost"`,
		"status 400: want 2xx",
	} {
		ex := exs[i]
		if len(ex.Rules) != 1 || ex.Rules[0].Name != "page created" {
			t.Fatalf("exchange %d: rules %+v, want page created only", i+1, ex.Rules)
		}
		if r := ex.Rules[0]; r.Failed != want || r.Matched != (want == "") {
			t.Errorf("exchange %d: failed %q matched %v, want %q", i+1, r.Failed, r.Matched, want)
		}
	}
	if ex := exs[0]; len(ex.Events) != 2 || len(ex.Rules[0].Events) != 2 || ex.Unmatched {
		t.Errorf("exchange 1: %d events, rule's %v, unmatched %v; want 2 events", len(ex.Events), ex.Rules[0].Events, ex.Unmatched)
	}
	if ex := exs[1]; !ex.Unmatched || ex.Route != "/rest/api/content" {
		t.Errorf("exchange 2: unmatched %v route %q, want an unmatched write", ex.Unmatched, ex.Route)
	}
	if ex := exs[2]; ex.Unmatched {
		t.Error("exchange 3: a failed write counted as unmatched")
	}
	if ex := exs[3]; ex.Wanted || len(ex.Rules) != 0 || ex.Unmatched {
		t.Errorf("exchange 4 (GET): wanted %v rules %d unmatched %v", ex.Wanted, len(ex.Rules), ex.Unmatched)
	}
	if ex := exs[4]; ex.Wanted || !ex.Unmatched {
		t.Errorf("exchange 5 (PUT, no rule): wanted %v unmatched %v, want an untapped unmatched write", ex.Wanted, ex.Unmatched)
	}
}

// TestMatcherExplain checks the uncached Explain: a lookup with no upstream fails, a
// credential header's value is never shown, a status list is written as the file has it.
func TestMatcherExplain(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "signed"
method = "POST"
path   = "/a/{id}"
status = ["2xx", 404]
when   = { "header.Authorization" = "Basic c2VjcmV0" }
[[rule.emit]]
event   = "page_created"
payload = { "page.id" = "path.id|num" }

[[rule]]
name   = "looked up"
method = "POST"
path   = "/a/{id}"
[[rule.lookup]]
name = "page"
path = "/rest/page/{id}"
[[rule.emit]]
event   = "page_updated"
payload = { "page.id" = "lookup.page.id" }
`
	f, err := config.Parse("r.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	x := &rules.Exchange{Method: []byte("POST"), Path: []byte("/a/7"), Header: rules.CaseHeaders{{"Authorization", "Basic aHVudGVyMg=="}}, Status: 201}
	ex := m.Explain(x)
	if len(ex.Rules) != 2 || len(ex.Events) != 0 || ex.Unmatched {
		t.Fatalf("got %+v, want two rules, no event, a lookup failure (not unmatched)", ex)
	}
	if got, want := ex.Rules[0].Failed, `when "header.Authorization" = "Basic c2VjcmV0": got [redacted]`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r := ex.Rules[1]
	if len(r.Lookups) != 1 || !r.Lookups[0].Failed || r.Lookups[0].Target != "/rest/page/7" || r.Failed != `lookup "page" failed (on_lookup_error = "skip": no event)` {
		t.Errorf("got %+v, want the failed lookup /rest/page/7", r)
	}
	x.Status, x.Header = 500, rules.CaseHeaders{{"Authorization", "Basic c2VjcmV0"}}
	if got, want := m.Explain(x).Rules[0].Failed, "status 500: want 2xx, 404"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
