package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"hooktap/config"
	"hooktap/rules"
	"hooktap/wiki"
)

// syntheticPack writes a rules file of n rules with distinct path templates, conditions
// on the JSON request body and payloads from path, request and response, cycling through
// the event names. receiver, when set, adds a webhook for every event.
func syntheticPack(n int, upstream, receiver string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\nupstream = %q\n\n[dispatch]\nqueue = \"memory\"\n\n", upstream)
	if receiver != "" {
		fmt.Fprintf(&b, "[[webhook]]\nname = \"bench\"\nurl = %q\nsecret = \"bench-secret\"\nevents = [\"*\"]\n\n", receiver)
	}
	methods := []string{"POST", "PUT", "DELETE"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[[rule]]\nname = \"synthetic %d\"\nmethod = %q\npath = \"/api/v%d/things%d/{id}/sub%d\"\n", i, methods[i%3], i%5, i, i%7)
		if i%2 == 0 {
			fmt.Fprintf(&b, "when = { \"req.type\" = \"page\" }\n")
		}
		ev := rules.Names[i%len(rules.Names)]
		fmt.Fprintf(&b, "[[rule.emit]]\nevent = %q\npayload = { \"thing.id\" = \"path.id|num\", \"thing.name\" = \"req.name\", \"t\" = \"resp.t\" }\nfull = { \"thing.title\" = \"resp.title\" }\n\n", ev)
	}
	return b.String()
}

// hdrs is a Peeker over a few fixed headers.
type hdrs [][2]string

func (h hdrs) Peek(name string) []byte {
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			return []byte(kv[1])
		}
	}
	return nil
}

// countSink counts the events it is given and keeps nothing.
type countSink struct{ n atomic.Int64 }

func (c *countSink) Enqueue(*rules.Event) error { c.n.Add(1); return nil }

// memoFetcher answers lookups from the sample wiki once per path and then from memory, so
// that the benchmark measures the classifier, not the wiki.
type memoFetcher struct {
	w    *wiki.Wiki
	memo map[string]memoAnswer
}

type memoAnswer struct {
	status int
	body   []byte
}

func (f *memoFetcher) Fetch(dst []byte, pq []byte) (int, []byte, error) {
	if a, ok := f.memo[string(pq)]; ok {
		return a.status, append(dst, a.body...), nil
	}
	st, _, body := wikiDo(f.w, "GET", string(pq), nil)
	f.memo[string(pq)] = memoAnswer{st, body}
	return st, append(dst, body...), nil
}

var adminAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))

// wikiDo runs one request through the sample wiki's handler in memory.
func wikiDo(w *wiki.Wiki, method, pathQuery string, body []byte) (int, hdrs, []byte) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI("http://wiki.local" + pathQuery)
	req.Header.Set("Authorization", adminAuth)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	ctx.Init(&req, nil, nil)
	w.Handler()(&ctx)
	var h hdrs
	for _, k := range []string{"Content-Type", "X-AUSERNAME", "X-AUSERKEY"} {
		if v := ctx.Response.Header.Peek(k); v != nil {
			h = append(h, [2]string{k, string(v)})
		}
	}
	return ctx.Response.StatusCode(), h, append([]byte(nil), ctx.Response.Body()...)
}

// classifyCase is one exchange benchmarked against one pack.
type classifyCase struct {
	name string
	x    rules.Exchange
}

func estimateClassify(s *Settings) time.Duration {
	if s.Short {
		return 3 * time.Second
	}
	return 12 * time.Duration(s.Runs) * 1200 * time.Millisecond
}

// classifyPack is a rules pack and the exchanges benchmarked against it.
type classifyPack struct {
	name  string
	file  *config.File
	cases []classifyCase
	fetch rules.Fetcher
}

func runClassify(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	var packs []classifyPack
	shipped, err := shippedClassifyPack(s)
	if err != nil {
		return res, err
	}
	if shipped != nil {
		packs = append(packs, *shipped)
	}
	syn, err := syntheticClassifyPack()
	if err != nil {
		return res, err
	}
	packs = append(packs, syn)

	tab := Table{
		Title:   "Classifier cost per exchange (testing.Benchmark, Wants + Before + After as the proxy calls them)",
		Columns: []string{"pack", "exchange", "ns/op", "allocs/op", "B/op", "events/op"},
	}
	raw := []map[string]any{}
	for _, pk := range packs {
		m, err := rules.Compile(&pk.file.File)
		if err != nil {
			return res, fmt.Errorf("%s: %w", pk.name, err)
		}
		for _, c := range pk.cases {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			ns, allocs, bytes, evPerOp := benchClassifyCase(s, p, pk, m, c)
			tab.Rows = append(tab.Rows, []string{pk.name, c.name, ns.Fmt(fmtFloat), allocs.Fmt(fmtFloat), bytes.Fmt(fmtFloat), fmt.Sprintf("%.2f", evPerOp)})
			raw = append(raw, map[string]any{"pack": pk.name, "case": c.name, "ns_per_op": ns, "allocs_per_op": allocs, "bytes_per_op": bytes, "events_per_op": evPerOp})
		}
	}
	if _, err := os.Stat(s.Pack); err != nil {
		tab.Notes = append(tab.Notes, "The shipped pack ("+s.Pack+") was not found, so only the synthetic pack is measured.")
	}
	tab.Notes = append(tab.Notes, "Events are handed to a sink that only counts them, so the numbers are the classifier's own; lookups are answered from memory "+
		"(replies recorded once from the sample wiki, the before-forwarding ones before the write was made), so each replay classifies the same write as new.")
	res.Tables = []Table{tab}
	res.Raw = raw
	return res, nil
}

// shippedClassifyPack is the shipped pack (s.Pack) against exchanges taken from the sample
// wiki, or nil when the file cannot be read.
func shippedClassifyPack(s *Settings) (*classifyPack, error) {
	data, err := os.ReadFile(s.Pack)
	if err != nil {
		return nil, nil
	}
	f, err := config.Parse(s.Pack, data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", s.Pack, err)
	}
	w := wiki.New()
	fe := &memoFetcher{w: w, memo: map[string]memoAnswer{}}
	pm, err := rules.Compile(&f.File)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", s.Pack, err)
	}
	primer := rules.NewClassifier(pm, f.Classify, &countSink{}, nil)
	mk := func(name, method, path string, body []byte) classifyCase {
		pth, q, _ := strings.Cut(path, "?")
		x := rules.Exchange{Method: []byte(method), Path: []byte(pth), Query: []byte(q),
			Header: hdrs{{"Authorization", adminAuth}, {"Content-Type", "application/json"}}, Body: body,
			Upstream: fe, RemoteAddr: []byte("127.0.0.1")}
		// Record the before-forwarding lookups against the wiki as it is before the
		// write, so that every replay sees the write as new.
		if primer.Wants(x.Method, x.Path) {
			px := x
			primer.Before(&px)
			_ = primer.After(&px)
		}
		x.Status, x.RespHeader, x.RespBody = wikiDo(w, method, path, body)
		return classifyCase{name: name, x: x}
	}
	page := mk("write: POST page create", "POST", "/rest/api/content",
		[]byte(`{"type":"page","title":"Bench page","space":{"key":"DS"},"body":{"storage":{"value":"<p>hi</p>","representation":"storage"}}}`))
	id := gjson.GetBytes(page.x.RespBody, "id").String()
	label := mk("write: POST label add", "POST", "/rest/api/content/"+id+"/label", []byte(`[{"prefix":"global","name":"bench"}]`))
	comment := mk("write: POST comment", "POST", "/rest/api/content",
		[]byte(`{"type":"comment","container":{"id":"`+id+`","type":"page"},"body":{"storage":{"value":"<p>bench comment</p>","representation":"storage"}}}`))
	read := mk("read: GET page", "GET", "/rest/api/content/"+id+"?expand=body.storage", nil)
	return &classifyPack{name: filepath.Base(s.Pack) + fmt.Sprintf(" (shipped, %d rules)", len(f.Rules)), file: f,
		cases: []classifyCase{read, page, comment, label}, fetch: fe}, nil
}

// syntheticClassifyPack is a 1000-rule synthetic pack against a read, a write no rule wants
// and a write one rule wants.
func syntheticClassifyPack() (classifyPack, error) {
	f, err := config.Parse("synthetic.toml", []byte(syntheticPack(1000, "http://127.0.0.1:1", "")))
	if err != nil {
		return classifyPack{}, fmt.Errorf("synthetic pack: %w", err)
	}
	syn := func(name, method, path string, body []byte) classifyCase {
		return classifyCase{name: name, x: rules.Exchange{Method: []byte(method), Path: []byte(path),
			Header: hdrs{{"Content-Type", "application/json"}}, Body: body, Status: 200,
			RespHeader: hdrs{{"Content-Type", "application/json"}}, RespBody: []byte(`{"id":42,"title":"Bench","t":1700000000000000000}`),
			RemoteAddr: []byte("127.0.0.1")}}
	}
	return classifyPack{name: "synthetic (1000 rules)", file: f, cases: []classifyCase{
		syn("read: GET, no rule wants it", "GET", "/api/v3/things998/42/sub4", nil),
		syn("write: no rule wants it", "POST", "/api/v3/nothing/42", []byte(`{"type":"page","name":"x"}`)),
		syn("write: matches 1 rule", "POST", "/api/v3/things498/42/sub1", []byte(`{"type":"page","name":"bench"}`)),
	}}, nil
}

// benchClassifyCase benchmarks c against pk (compiled as m) s.Runs times, as the proxy calls
// the classifier: Wants, then Before and After when it wants the exchange.
func benchClassifyCase(s *Settings, p *Progress, pk classifyPack, m *rules.Matcher, c classifyCase) (ns, allocs, bytes Spread, evPerOp float64) {
	for r := 0; r < s.Runs; r++ {
		p.Step(time.Second, "run %d/%d · %s · %s", r+1, s.Runs, pk.name, c.name)
		sink := &countSink{}
		cls := rules.NewClassifier(m, pk.file.Classify, sink, nil)
		x := c.x
		br := benchmark(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !cls.Wants(x.Method, x.Path) {
					continue
				}
				ex := x
				cls.Before(&ex)
				_ = cls.After(&ex)
			}
		})
		ns = append(ns, float64(br.NsPerOp()))
		allocs = append(allocs, float64(br.AllocsPerOp()))
		bytes = append(bytes, float64(br.AllocedBytesPerOp()))
		evPerOp = float64(sink.n.Load()) / float64(br.N)
	}
	return ns, allocs, bytes, evPerOp
}

// benchmark runs f through testing.Benchmark, for 1 s per measurement (50 ms under -short).
func benchmark(s *Settings, f func(b *testing.B)) testing.BenchmarkResult {
	benchOnce.Do(func() {
		testing.Init()
		bt := "1s"
		if s.Short {
			bt = "50ms"
		}
		_ = flag.CommandLine.Set("test.benchtime", bt)
	})
	return testing.Benchmark(f)
}

var benchOnce sync.Once

// parsePack parses and compiles a rules file held in memory.
func parsePack(src string) (*rules.Matcher, error) {
	f, err := config.Parse("pack.toml", []byte(src))
	if err != nil {
		return nil, err
	}
	return rules.Compile(&f.File)
}
