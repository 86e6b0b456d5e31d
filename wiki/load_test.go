package wiki_test

import (
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// TestShippedRulesLoad loads the shipped rules.toml with config.Load and compiles it, so that
// the default pack cannot rot.
func TestShippedRulesLoad(t *testing.T) {
	f, err := config.Load("../rules.toml")
	if err != nil {
		t.Fatalf("rules.toml: %v", err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatalf("compile rules.toml: %v", err)
	}
	if m.Len() != len(f.Rules) || m.Len() < 40 {
		t.Errorf("compiled %d rules of %d", m.Len(), len(f.Rules))
	}
	emitted := map[string]bool{}
	for _, r := range f.Rules {
		for _, e := range r.Emit {
			emitted[e.Event] = true
		}
	}
	for _, n := range rules.Names {
		if !emitted[n] {
			t.Errorf("no rule emits %s", n)
		}
	}
}
