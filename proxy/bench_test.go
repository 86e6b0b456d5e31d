package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// The benchmarks share one shape: a fasthttp upstream on loopback answering every request
// with a 1 KiB page, and a fasthttp HostClient driving load in parallel (b.RunParallel), so
// Direct, Proxy and HTTPUtil differ only in what sits between client and upstream:
//
//	go test ./proxy -run '^$' -bench 'GET$|POST' -benchmem -count 5
//
// Ratios hooktap/direct and hooktap/httputil come from one such run.

var page = bytes.Repeat([]byte("<p>wiki page content</p>\n"), 41)[:1024]

// startBenchUpstream runs the fasthttp upstream and returns its address.
func startBenchUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentType("text/html; charset=utf-8")
			ctx.Response.Header.Set("Cache-Control", "no-cache")
			ctx.SetBody(page)
		},
		NoDefaultServerHeader: true,
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startHTTPUtil runs Go's httputil.ReverseProxy in front of upstream.
func startHTTPUtil(tb testing.TB, upstream string) string {
	tb.Helper()
	target, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024, IdleConnTimeout: 90 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

func benchClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxConns: 1024, ReadBufferSize: 16 << 10}
}

func runLoad(b *testing.B, addr string, method string, body []byte) {
	c := benchClient(addr)
	b.ReportAllocs()
	b.SetBytes(int64(len(page) + len(body)))
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() {
		// CPU time of the whole process (client, proxy, upstream) per request: on a shared,
		// oversubscribed machine it is steadier than wall time, and its ratios compare the
		// work each setup costs.
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		buildRequest(req, method, body)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode() != 200 || len(resp.Body()) != len(page) {
				b.Fatalf("got %d with %d bytes", resp.StatusCode(), len(resp.Body()))
			}
		}
	})
}

// buildRequest fills req once; fasthttp's client leaves it reusable (setting Cookie again
// would add a second cookie).
func buildRequest(req *fasthttp.Request, method string, body []byte) {
	req.SetRequestURI("http://wiki.example/rest/api/content/123?expand=body.storage")
	req.Header.SetMethod(method)
	req.Header.Set("Cookie", "JSESSIONID=0123456789abcdef")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
}

func benchProxy(b *testing.B, upstream string, tap Tap) string {
	_, addr, _ := startProxy(b, Config{Upstream: "http://" + upstream}, tap)
	return addr
}

// BenchmarkDirectGET is the baseline: the client straight to the upstream.
func BenchmarkDirectGET(b *testing.B) {
	runLoad(b, startBenchUpstream(b), "GET", nil)
}

// BenchmarkProxyGET is a read through hooktap with no tap (pass-through path).
func BenchmarkProxyGET(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, benchProxy(b, up, nil), "GET", nil)
}

// BenchmarkProxyGETTapIdle is a read through hooktap with a tap installed that wants only
// writes: the real production shape for reads.
func BenchmarkProxyGETTapIdle(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, benchProxy(b, up, nopTap{wantAll: false}), "GET", nil)
}

// BenchmarkHTTPUtilGET is the same read through Go's httputil.ReverseProxy.
func BenchmarkHTTPUtilGET(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, startHTTPUtil(b, up), "GET", nil)
}

var postBody = []byte(`{"type":"page","title":"Benchmark page","space":{"key":"DS"},"body":{"storage":{"value":"<p>hello</p>","representation":"storage"}}}`)

// BenchmarkProxyPOST is an untapped write through hooktap.
func BenchmarkProxyPOST(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, benchProxy(b, up, nil), "POST", postBody)
}

// BenchmarkProxyPOSTTapped is a write that the tap wants, with a no-op tap: the cost of the
// seam itself (bounded body copy, Exchange, Before/After).
func BenchmarkProxyPOSTTapped(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, benchProxy(b, up, nopTap{wantAll: true}), "POST", postBody)
}

// BenchmarkDirectPOST and BenchmarkHTTPUtilPOST are the POST baselines.
func BenchmarkDirectPOST(b *testing.B) {
	runLoad(b, startBenchUpstream(b), "POST", postBody)
}

func BenchmarkHTTPUtilPOST(b *testing.B) {
	up := startBenchUpstream(b)
	runLoad(b, startHTTPUtil(b, up), "POST", postBody)
}

// cpuTime returns the user+system CPU time this process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// nopTap wants writes (or everything) and does nothing with them.
type nopTap struct{ wantAll bool }

func (t nopTap) Wants(method, _ []byte) bool { return t.wantAll || string(method) != "GET" }
func (nopTap) Before(x *rules.Exchange)      {}
func (nopTap) After(x *rules.Exchange) error { return nil }
