//go:build !race

package main

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fasthttpBodyFloor is what fasthttp itself allocates per request with a body on a server
// with StreamRequestBody on, as hooktap's proxy runs: after the handler, the server drains
// the request stream with io.CopyN(io.Discard, …), whose io.LimitReader escapes (fasthttp
// v1.78 streaming.go, requestStream.discard), even when the handler read the body to its
// end. A bare fasthttp server that reads the stream to the end is measured, not assumed.
func fasthttpBodyFloor(t *testing.T) float64 {
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
			ctx.SetBody(tapPathAnswer)
		},
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	c := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 1, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("/rest/api/content/9/label")
	req.Header.SetHost(ln.Addr().String())
	req.SetBody(tapPathWrite)
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

// TestTappedPathAllocs: one tapped exchange through the whole path (proxy, classifier,
// memory queue, dispatcher, signer, a POST to a real loopback receiver, ack), every
// goroutine of the process counted, allocates exactly what fasthttp allocates for the
// client's request body and nothing more: hooktap's own share is 0. Each run waits for the
// delivery, so a run's allocations are the whole exchange's.
func TestTappedPathAllocs(t *testing.T) {
	floor := fasthttpBodyFloor(t)
	if floor != 1 {
		t.Fatalf("fasthttp's own floor is %v allocs per request with a body, expected 1: re-check fasthttp's requestStream.discard", floor)
	}
	st := startTapStack(t, "memory")
	x := newExchange(st, "/rest/api/content/9/label", true)
	defer x.release()
	for range 200 { // open connections, fill the delivery log's ring, warm every pool
		x.do(t)
	}
	if n := testing.AllocsPerRun(1000, func() { x.do(t) }); n != floor {
		t.Errorf("tapped exchange end to end: %v allocs, want %v (fasthttp's own, hooktap's 0)", n, floor)
	}
}

// TestMissedWriteAllocs: a write to a path that no rule matches goes through the full
// stack's classifier (Wants refuses it, the write is recorded as unmatched) and allocates
// nothing but fasthttp's own floor.
func TestMissedWriteAllocs(t *testing.T) {
	floor := fasthttpBodyFloor(t)
	st := startTapStack(t, "memory")
	x := newExchange(st, "/rest/api/content/9/property", false)
	defer x.release()
	for range 200 {
		x.do(t)
	}
	if n := testing.AllocsPerRun(1000, func() { x.do(t) }); n != floor {
		t.Errorf("write no rule matches: %v allocs, want %v (fasthttp's own, hooktap's 0)", n, floor)
	}
	select {
	case <-st.got:
		t.Error("a write no rule matches was delivered")
	default:
	}
	if got := st.px.Stats(); got.Tapped != 1 {
		t.Errorf("tapped %d exchanges, want 1 (the stack's start-up write)", got.Tapped)
	}
}
