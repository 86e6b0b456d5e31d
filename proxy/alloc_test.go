//go:build !race

package proxy

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

// allocsThroughProxy measures allocations per request for the whole loop — a fasthttp client,
// hooktap, a fasthttp upstream, all on loopback in this process — once connections are open
// and pools are warm. fasthttp's client and server allocate nothing per request, so any
// allocation counted here is hooktap's.
func allocsThroughProxy(t *testing.T, tap Tap, method string, body []byte) float64 {
	t.Helper()
	up := startBenchUpstream(t)
	_, addr, _ := startProxy(t, Config{Upstream: "http://" + up}, tap)
	c := benchClient(addr)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	buildRequest(req, method, body)
	do := func() {
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 || len(resp.Body()) != len(page) {
			t.Fatalf("got %d with %d bytes", resp.StatusCode(), len(resp.Body()))
		}
	}
	for range 100 { // open connections, warm every pool
		do()
	}
	return testing.AllocsPerRun(2000, do)
}

func TestPassThroughAllocatesNothing(t *testing.T) {
	if n := allocsThroughProxy(t, nil, "GET", nil); n != 0 {
		t.Errorf("GET pass-through: %v allocs per request, want 0", n)
	}
}

func TestPassThroughWithIdleTapAllocatesNothing(t *testing.T) {
	if n := allocsThroughProxy(t, nopTap{wantAll: false}, "GET", nil); n != 0 {
		t.Errorf("GET with a tap that does not want it: %v allocs per request, want 0", n)
	}
}

// fasthttpStreamingFloor is what fasthttp itself allocates per request with a body when
// Server.StreamRequestBody is on: after the handler, the server drains the request stream
// with io.CopyN, whose io.LimitReader escapes (fasthttp v1.78 streaming.go discard). A
// bare fasthttp server that reads the stream to the end is measured, not assumed.
func fasthttpStreamingFloor(t *testing.T) float64 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	srv := &fasthttp.Server{
		StreamRequestBody: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			r := ctx.RequestBodyStream()
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
			ctx.SetBody(page)
		},
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	c := benchClient(ln.Addr().String())
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	buildRequest(req, "POST", postBody)
	do := func() {
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		do()
	}
	return testing.AllocsPerRun(2000, do)
}

func TestPostPassThroughAllocatesOnlyFasthttpsFloor(t *testing.T) {
	floor := fasthttpStreamingFloor(t)
	if floor > 1 {
		t.Fatalf("fasthttp's own streaming floor is %v allocs, expected at most 1: re-check fasthttp", floor)
	}
	n := allocsThroughProxy(t, nil, "POST", postBody)
	t.Logf("POST: hooktap loop %v allocs/request, fasthttp streaming floor %v", n, floor)
	if n > floor {
		t.Errorf("POST pass-through: %v allocs per request, want <= %v (fasthttp's own)", n, floor)
	}
}

func TestTappedPathAllocatesOnlyFasthttpsFloor(t *testing.T) {
	floor := fasthttpStreamingFloor(t)
	n := allocsThroughProxy(t, nopTap{wantAll: true}, "POST", postBody)
	t.Logf("tapped POST: hooktap loop %v allocs/request, fasthttp streaming floor %v", n, floor)
	if n > floor {
		t.Errorf("tapped POST with a no-op tap: %v allocs per request, want <= %v (fasthttp's own)", n, floor)
	}
}

// peekTap reads headers through the Exchange's Peekers, as a classifier does.
type peekTap struct{ sink *int }

func (peekTap) Wants(method, _ []byte) bool { return string(method) == "POST" }
func (t peekTap) Before(x *rules.Exchange) {
	*t.sink += len(x.Header.Peek("content-type")) + len(x.Header.Peek("COOKIE")) + len(x.Body)
}
func (t peekTap) After(x *rules.Exchange) error {
	*t.sink += len(x.RespHeader.Peek("content-type")) + len(x.RespBody) + x.Status
	return nil
}

func TestTappedPeekersAllocateNothing(t *testing.T) {
	floor := fasthttpStreamingFloor(t)
	var sink int
	n := allocsThroughProxy(t, peekTap{&sink}, "POST", postBody)
	if sink == 0 {
		t.Fatal("the tap saw no headers or bodies")
	}
	if n > floor {
		t.Errorf("tapped POST reading headers: %v allocs per request, want <= %v (fasthttp's own)", n, floor)
	}
}
