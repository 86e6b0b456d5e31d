package rules_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"hooktap/config"
	"hooktap/proxy"
	"hooktap/rules"
)

var _ proxy.Tap = (*rules.Classifier)(nil)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files in testdata/cases")

// fixedNow is the clock of the golden tests: 2023-11-14T22:13:20Z.
var fixedNow = time.UnixMilli(1700000000000)

// headers is a map-backed rules.Peeker.
type headers map[string]string

func (h headers) Peek(name string) []byte {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return unsafe.Slice(unsafe.StringData(v), len(v)) // read-only, as Peeker's callers treat it
		}
	}
	return nil
}

// fetcher is a fake upstream for lookups: answers by path and query, recording each call.
type fetcher struct {
	answers map[string]answer
	calls   []string
	clock   *time.Duration // advanced by slow answers: the classifier's clock is fixedNow + *clock
}

type answer struct {
	status int
	body   string
	err    bool
	delay  time.Duration // the answer takes this long (on the classifier's clock)
}

func (f *fetcher) Fetch(dst []byte, pq []byte) (int, []byte, error) {
	f.calls = append(f.calls, string(pq))
	a, ok := f.answers[string(pq)]
	if !ok {
		return 404, append(dst, `{"message":"not found"}`...), nil
	}
	if f.clock != nil {
		*f.clock += a.delay
	}
	if a.err {
		return 0, dst, errors.New("fake: connection refused")
	}
	return a.status, append(dst, a.body...), nil
}

// sink records events, copying them, and refuses when told to.
type sink struct {
	got    []string
	refuse bool
}

func (s *sink) Enqueue(ev *rules.Event) error {
	line := "event " + ev.Name + " " + string(ev.Payload)
	if ev.Time != fixedNow.UnixMilli() {
		line += fmt.Sprintf(" (time %d)", ev.Time)
	}
	s.got = append(s.got, line)
	if ev.Full != nil {
		s.got = append(s.got, "  full "+string(ev.Full))
	}
	if s.refuse {
		return errors.New("queue full")
	}
	return nil
}

const sepExchanges = rules.CaseExchanges

// TestGolden runs every case in testdata/cases (the format is rules.ParseCase's): a rules
// file, a separator, exchanges, a separator, and the exact output (events and payloads, or
// the file's errors).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	goldenEnv(t)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rules.ParseCase(filepath.Base(path), data)
			if err != nil {
				t.Fatal(err)
			}
			name, src, err := c.LoadRules("testdata")
			if err != nil {
				t.Fatal(err)
			}
			got, kind, err := rules.RunCase(config.ParseRules, name, src, c.Exchanges)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				out := c.Rules + sepExchanges + "\n" + c.ExchangesText + kind + "\n" + got
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.Kind != kind {
				t.Fatalf("got %s, want the other kind of output:\n%s", kind, got)
			}
			if got != c.Want {
				t.Errorf("output differs (-update rewrites it)\ngot:\n%s\nwant:\n%s", got, c.Want)
			}
		})
	}
}

// goldenEnv sets the environment the cases' *_env keys read: HOOKTAP_GOLDEN_SET_* set,
// HOOKTAP_GOLDEN_EMPTY_* empty and HOOKTAP_GOLDEN_UNSET_* unset, whatever the caller's
// environment holds.
func goldenEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"TOKEN", "CHAT_SECRET", "NATS_PASSWORD"} {
		t.Setenv("HOOKTAP_GOLDEN_UNSET_"+name, "") // restored when the test ends
		os.Unsetenv("HOOKTAP_GOLDEN_UNSET_" + name)
	}
	t.Setenv("HOOKTAP_GOLDEN_EMPTY_SECRET", "")
	t.Setenv("HOOKTAP_GOLDEN_SET_SECRET", "s3cret")
}

// TestReload checks that Reload swaps the matcher used by later exchanges.
func TestReload(t *testing.T) {
	load := func(path string) *rules.Matcher {
		src := "[proxy]\nupstream = \"http://127.0.0.1:8090\"\n[[rule]]\nname = \"r\"\nmethod = \"DELETE\"\npath = \"" + path + "\"\n[[rule.emit]]\nevent = \"page_trashed\"\npayload = { \"page.id\" = \"path.id|num\" }\n"
		f, err := config.Parse("r.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		m, err := rules.Compile(&f.File)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	sk := &sink{}
	c := rules.NewClassifier(load("/a/{id}"), rules.ClassifySection{}, sk, nil)
	if !c.Wants([]byte("DELETE"), []byte("/a/1")) || c.Wants([]byte("DELETE"), []byte("/b/1")) {
		t.Fatal("before reload: want /a/1 only")
	}
	c.Reload(load("/b/{id}"))
	if c.Wants([]byte("DELETE"), []byte("/a/1")) || !c.Wants([]byte("DELETE"), []byte("/b/1")) {
		t.Fatal("after reload: want /b/1 only")
	}
	x := &rules.Exchange{Method: []byte("DELETE"), Path: []byte("/b/7"), Header: headers{}, Status: 204, RespHeader: headers{}}
	c.Before(x)
	if err := c.After(x); err != nil {
		t.Fatal(err)
	}
	if len(sk.got) != 1 || !strings.Contains(sk.got[0], `"page":{"id":7}`) {
		t.Errorf("got %q, want one page_trashed for id 7", sk.got)
	}
	if x.State != nil {
		t.Error("After left x.State set")
	}
}

func TestMatchWithoutClassifier(t *testing.T) {
	f, err := config.Parse("m.toml", []byte("[proxy]\nupstream = \"http://h:1\"\n[[rule]]\nname = \"r\"\nmethod = [\"PUT\", \"POST\"]\npath = \"/x/{rest...}\"\n[[rule.emit]]\nevent = \"page_updated\"\npayload = { \"p\" = \"path.rest\", \"m\" = \"method\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := rules.Compile(&f.File)
	x := &rules.Exchange{Method: []byte("PUT"), Path: []byte("/x/a%20b/c"), Header: headers{}, Status: 200, RespHeader: headers{}}
	evs, buf := m.Match(x, nil, nil)
	if len(evs) != 1 || !bytes.Contains(evs[0].Payload, []byte(`"p":"a b/c","m":"PUT"`)) {
		t.Fatalf("got %d events %q", len(evs), buf)
	}
}
