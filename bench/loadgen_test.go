package main

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// stallServer answers at once, except that the request numbered stallAt sleeps for stall.
func stallServer(t *testing.T, stallAt int64, stall time.Duration) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == stallAt {
			time.Sleep(stall)
		}
		ctx.SetBodyString("ok")
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), &n
}

// TestOpenLoopChargesStalls is the coordinated-omission check: one connection, a fixed
// rate, one answer that stalls. Every request due during the stall must be charged the
// wait from its intended send time, so many latencies are long, not just the stalled one
// (a closed-loop generator would record a single slow request).
func TestOpenLoopChargesStalls(t *testing.T) {
	const stall = 400 * time.Millisecond
	addr, _ := stallServer(t, 50, stall)
	tg := []Target{{Addr: addr, Req: Request{Method: "GET", Path: "/"}}}
	st := OpenLoop(context.Background(), tg, 1, 500, 0, 2*time.Second)
	if st.Errors != 0 {
		t.Fatalf("errors: %d", st.Errors)
	}
	// At 500/s, about 200 requests fall due during a 400 ms stall; each waits at least
	// until it ends, the earliest the full 400 ms. Half of that, generously: their p99 must
	// show a wait of at least 100 ms and the median request must not (the rest is fast).
	if st.P99 < 100_000 {
		t.Fatalf("p99 %.0f µs: the requests queued behind the stall were not charged for it", st.P99)
	}
	if st.Requests+st.Unsent < 900 {
		t.Fatalf("only %d requests answered of about 1000 due", st.Requests)
	}
	cl := ClosedLoop(context.Background(), tg, 1, 0, 300*time.Millisecond)
	if cl.Requests == 0 || cl.Errors != 0 {
		t.Fatalf("closed loop: %+v", cl)
	}
}

func TestSpreadAndRatios(t *testing.T) {
	s := Spread{3, 1, 2}
	if s.Median() != 2 || s.Min() != 1 || s.Max() != 3 {
		t.Fatalf("median/min/max of %v: %v %v %v", s, s.Median(), s.Min(), s.Max())
	}
	r := ratios(Spread{10, 20}, Spread{5, 0})
	if len(r) != 1 || r[0] != 2 {
		t.Fatalf("paired ratios: %v", r)
	}
	if got := (Spread{1.5, 2.5}).Fmt(fmtRatio); got != "2.00× (1.50×–2.50×)" {
		t.Fatalf("Fmt: %q", got)
	}
}

func TestTableAndChart(t *testing.T) {
	md := Table{Title: "T", Columns: []string{"a", "b"}, Rows: [][]string{{"1", "2"}}, Notes: []string{"n"}}.Markdown()
	if md != "### T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nn\n" {
		t.Fatalf("markdown:\n%s", md)
	}
	svg := svgChart(Chart{Title: "c", Curves: []Curve{{Name: "x <y>", Points: []Point{{100, 50, 900, 2000}, {200, 80, 1500, 4000}}}}})
	for _, want := range []string{"<svg", "</svg>", "x &lt;y&gt;", "<polyline", "1.00 ms"} {
		if !strings.Contains(svg, want) {
			t.Fatalf("svg lacks %q:\n%s", want, svg)
		}
	}
}

func TestSyntheticPackCompiles(t *testing.T) {
	for _, n := range []int{1, 1000} {
		if _, err := parsePack(syntheticPack(n, "http://127.0.0.1:1", "http://127.0.0.1:2/hook")); err != nil {
			t.Fatalf("%d rules: %v", n, err)
		}
	}
}
