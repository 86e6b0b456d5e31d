package rules_test

import (
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// TestParseKeepsItsCompilation checks that a parsed File hands out the Matcher its
// validation compiled (so a loaded file is compiled once), that it classifies like a fresh
// Compile, and that a File built in Go has none.
func TestParseKeepsItsCompilation(t *testing.T) {
	f, err := config.Load("../rules.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := f.Matcher()
	if m == nil {
		t.Fatal("Matcher() = nil for a loaded file")
	}
	fresh, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	var got [2][]string
	for i, mm := range []*rules.Matcher{m, fresh} {
		sk := &sink{}
		c := rules.NewClassifier(mm, f.Classify, sk, nil)
		c.Clock = func() time.Time { return fixedNow } // the same timestamps from both
		x := pageCreate()
		c.Before(x)
		if err := c.After(x); err != nil {
			t.Fatal(err)
		}
		got[i] = sk.got
	}
	if len(got[0]) == 0 || len(got[0]) != len(got[1]) || got[0][0] != got[1][0] {
		t.Errorf("parsed matcher emitted %q, a fresh Compile %q", got[0], got[1])
	}
	if (&rules.File{}).Matcher() != nil {
		t.Error("a File built in Go has a Matcher")
	}
}
