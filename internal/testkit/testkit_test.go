package testkit

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestLogBufferConcurrentWriters(t *testing.T) {
	var lb LogBuffer
	log := slog.New(slog.NewTextHandler(&lb, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				log.Info("line", "writer", i, "n", j)
			}
		}()
	}
	wg.Wait()
	if n := lb.Lines("msg=line"); n != 400 {
		t.Fatalf("Lines = %d, want 400:\n%s", n, lb.String())
	}
	if n := lb.Lines("writer=3 "); n != 50 {
		t.Fatalf("Lines(writer=3) = %d, want 50", n)
	}
}

func TestServeFastAndDeadAddr(t *testing.T) {
	addr := ServeFast(t, func(ctx *fasthttp.RequestCtx) { fmt.Fprintf(ctx, "hi %s", ctx.Path()) })
	var req fasthttp.Request
	var resp fasthttp.Response
	req.SetRequestURI("http://" + addr + "/x")
	if err := fasthttp.DoTimeout(&req, &resp, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body()); got != "hi /x" {
		t.Fatalf("body %q", got)
	}
	dead := DeadAddr(t)
	if c, err := net.DialTimeout("tcp", dead, time.Minute); err == nil {
		c.Close()
		t.Fatalf("DeadAddr %s accepted a connection", dead)
	}
}

// A server stopped before it served anything (Serve may not have reached Accept) stops.
func TestServeFastStopsUnused(t *testing.T) {
	for range 20 {
		t.Run("", func(t *testing.T) { ServeFast(t, func(*fasthttp.RequestCtx) {}) })
	}
}
