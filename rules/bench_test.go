package rules_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// discard is a Sink that keeps nothing.
type discard struct{ n int }

func (d *discard) Enqueue(ev *rules.Event) error {
	d.n += len(ev.Payload)
	return nil
}

// packs returns the Confluence pack (about 60 rules) and a 1000-rule pack: the same rules
// plus generated ones spread over realistic REST paths.
func packs(tb testing.TB) map[string]*rules.Matcher {
	tb.Helper()
	src, err := os.ReadFile("testdata/confluence.toml")
	if err != nil {
		tb.Fatal(err)
	}
	compile := func(name string, data []byte) *rules.Matcher {
		f, err := config.Parse(name, data)
		if err != nil {
			tb.Fatal(err)
		}
		m, err := rules.Compile(&f.File)
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
	m60 := compile("confluence.toml", src)
	big := syntheticPack(src, 1000-m60.Len())
	m1000 := compile("synthetic.toml", big)
	if m1000.Len() != 1000 {
		tb.Fatalf("synthetic pack has %d rules, want 1000", m1000.Len())
	}
	return map[string]*rules.Matcher{"60": m60, "1000": m1000}
}

// syntheticPack appends n generated rules to base.
func syntheticPack(base []byte, n int) []byte {
	var b strings.Builder
	b.Write(base)
	methods := []string{"POST", "PUT", "DELETE", "PATCH"}
	roots := []string{"/rest/api", "/wiki/api/v2", "/api/v1", "/plugins/servlet", "/rest/ext"}
	for i := 0; i < n; i++ {
		root := roots[i%len(roots)]
		fmt.Fprintf(&b, "\n[[rule]]\nname = \"synthetic %d\"\nmethod = %q\n", i, methods[i%len(methods)])
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "path = \"%s/res%d/{id}\"\n", root, i)
		case 1:
			fmt.Fprintf(&b, "path = \"%s/res%d/{id}/child/{kind}\"\n", root, i)
		case 2:
			fmt.Fprintf(&b, "path = \"%s/res%d\"\nwhen = { \"req.type\" = \"t%d\" }\n", root, i, i)
		default:
			fmt.Fprintf(&b, "path = \"%s/res%d/{rest...}\"\n", root, i)
		}
		fmt.Fprintf(&b, "[[rule.emit]]\nevent = %q\npayload = { \"content.id\" = \"resp.id|num\" }\n", rules.Names[i%len(rules.Names)])
	}
	return []byte(b.String())
}

// pageCreate is a matching write: POST /rest/api/content creating a page, which emits
// page_created and content_created with payloads built from the response.
func pageCreate() *rules.Exchange {
	return &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/rest/api/content"),
		Header:     headers{"Content-Type": "application/json"},
		Body:       []byte(`{"type":"page","title":"Release notes","space":{"key":"DS"},"body":{"storage":{"value":"<p>hello</p>","representation":"storage"}}}`),
		Status:     200,
		RespHeader: headers{"X-AUSERNAME": "admin"},
		RespBody:   []byte(`{"id":"65601","type":"page","status":"current","title":"Release notes","space":{"key":"DS"},"version":{"number":1},"_links":{"self":"http://wiki/rest/api/content/65601"}}`),
	}
}

var (
	readMethod = []byte("GET")
	readPath   = []byte("/rest/api/content/65601/child/attachment")
)

func newBenchClassifier(m *rules.Matcher) (*rules.Classifier, *discard) {
	d := &discard{}
	c := rules.NewClassifier(m, rules.ClassifySection{}, d, nil)
	c.Clock = func() time.Time { return fixedNow }
	return c, d
}

// classifyWrite is what the proxy does for a tapped write.
func classifyWrite(c *rules.Classifier, x *rules.Exchange) error {
	c.Wants(x.Method, x.Path)
	c.Before(x)
	return c.After(x)
}

// BenchmarkRead is the classification of a non-matching read: the proxy's only call.
func BenchmarkRead(b *testing.B) {
	for _, size := range []string{"60", "1000"} {
		m := packs(b)[size]
		b.Run(size, func(b *testing.B) {
			c, _ := newBenchClassifier(m)
			b.ReportAllocs()
			done := cpuTimer(b)
			for b.Loop() {
				if c.Wants(readMethod, readPath) {
					b.Fatal("a read is wanted")
				}
			}
			done()
		})
	}
}

// BenchmarkWrite is the classification of a matching write with payload building.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []string{"60", "1000"} {
		m := packs(b)[size]
		b.Run(size, func(b *testing.B) {
			c, d := newBenchClassifier(m)
			x := pageCreate()
			b.ReportAllocs()
			done := cpuTimer(b)
			for b.Loop() {
				if err := classifyWrite(c, x); err != nil {
					b.Fatal(err)
				}
			}
			done()
			if d.n == 0 {
				b.Fatal("no event")
			}
		})
	}
}

// BenchmarkWriteParallel is BenchmarkWrite from every P at once (pooled state, shared cache).
func BenchmarkWriteParallel(b *testing.B) {
	m := packs(b)["60"]
	c, _ := newBenchClassifier(m)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		x := pageCreate()
		for pb.Next() {
			if err := classifyWrite(c, x); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWantsWriteMiss is Wants for a write that no rule matches: it walks the index.
func BenchmarkWantsWriteMiss(b *testing.B) {
	method, path := []byte("POST"), []byte("/rest/api/content/65601/pageproperties/refresh")
	for _, size := range []string{"60", "1000"} {
		m := packs(b)[size]
		b.Run(size, func(b *testing.B) {
			c, _ := newBenchClassifier(m)
			b.ReportAllocs()
			done := cpuTimer(b)
			for b.Loop() {
				if c.Wants(method, path) {
					b.Fatal("wanted")
				}
			}
			done()
		})
	}
}

// BenchmarkWantsCanonicalise is Wants for a write whose path needs its canonical form built
// (a path parameter, an encoded letter, an empty segment and a trailing slash).
func BenchmarkWantsCanonicalise(b *testing.B) {
	method, path := []byte("POST"), []byte("/rest//api/%63ontent/65601;jsessionid=abc/label/")
	for _, size := range []string{"60", "1000"} {
		m := packs(b)[size]
		b.Run(size, func(b *testing.B) {
			c, _ := newBenchClassifier(m)
			b.ReportAllocs()
			done := cpuTimer(b)
			for b.Loop() {
				if !c.Wants(method, path) {
					b.Fatal("not wanted")
				}
			}
			done()
		})
	}
}
