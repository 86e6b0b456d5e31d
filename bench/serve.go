package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/proxy"
	"hooktap/rules"
	"hooktap/wiki"
)

// getBody is what the static upstream answers to a GET: 1 KiB of JSON, about the size of a
// small Confluence REST answer.
var getBody = func() []byte {
	b := []byte(`{"id":"123456","type":"page","status":"current","title":"Bench page","body":"`)
	for len(b) < 1024-3 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}()

// runServe is `bench __serve -role ROLE ...`: one server of a scenario, in its own process.
// It prints "ADDR name host:port" for each listener, then "READY", serves until SIGTERM,
// and writes its ChildStats to -stats.
func runServe(args []string) error {
	fs := flag.NewFlagSet("__serve", flag.ContinueOnError)
	role := fs.String("role", "", "upstream | hooktap | revproxy")
	statsPath := fs.String("stats", "", "write ChildStats here on exit")
	cpus := fs.String("cpus", "", "pin to these CPUs")
	upstream := fs.String("upstream", "", "upstream host:port (hooktap, revproxy)")
	config := fs.String("config", "", "rules file (hooktap)")
	queue := fs.String("queue", "", "override [dispatch] queue (hooktap)")
	dataDir := fs.String("data", "", "override [dispatch] data_dir (hooktap)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process here")
	memProfile := fs.String("memprofile", "", "write an allocation profile of this process here on exit")
	withWiki := fs.Bool("wiki", false, "also serve the sample wiki (upstream)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := parseCPUList(*cpus)
	if err != nil {
		return err
	}
	if err := pinProcess(set); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	peak := startHeapSampler()

	var stop func() map[string]any
	var lat *hdrhistogram.Histogram
	switch *role {
	case "upstream":
		stop, lat, err = serveUpstream(*withWiki)
	case "revproxy":
		stop, err = serveRevProxy(*upstream)
	case "hooktap":
		stop, err = serveHooktap(*config, *upstream, *queue, *dataDir, log)
	default:
		err = fmt.Errorf("bench: unknown role %q", *role)
	}
	if err != nil {
		return err
	}
	fmt.Println("READY")
	<-sig
	extra := stop()
	if *memProfile != "" {
		if err := writeAllocs(*memProfile); err != nil {
			return err
		}
	}
	st := ChildStats{Extra: extra, HeapPeak: peak()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.Mallocs, st.NumGC, st.RSSPeak = ms.Mallocs, ms.NumGC, rssHWM()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		st.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if lat != nil {
		st.Latencies = summarize(lat)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(*statsPath, b, 0o644)
}

func summarize(h *hdrhistogram.Histogram) *HistSummary {
	return &HistSummary{Count: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)), P99: float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max())}
}

// startHeapSampler samples the heap objects (live, and dead but not yet swept) every 20 ms
// (runtime/metrics: no stop-the-world)
// and returns a function giving the peak seen.
func startHeapSampler() func() uint64 {
	var peak atomic.Uint64
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	sample := func() {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 { sample(); close(done); return peak.Load() }
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// staticUpstream is the static upstream: a fixed body for reads, and for writes
// {"id":<n>,"t":<now in ns>}, the time the receiver measures the whole path from.
type staticUpstream struct {
	posts atomic.Int64 // writes answered
}

func (u *staticUpstream) handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("application/json")
	if ctx.IsGet() || ctx.IsHead() {
		ctx.Response.SetBodyRaw(getBody)
		return
	}
	n := u.posts.Add(1)
	b := ctx.Response.BodyWriter()
	buf := make([]byte, 0, 64)
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendInt(buf, n, 10)
	buf = append(buf, `,"t":`...)
	buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
	buf = append(buf, '}')
	_, _ = b.Write(buf)
}

// latencyReceiver is the webhook receiver that records each delivery's end-to-end latency
// from the "t" in its payload; GET /stats reports, GET /reset starts again.
type latencyReceiver struct {
	mu       sync.Mutex // guards lat, and makes /stats and /reset consistent
	lat      *hdrhistogram.Histogram
	got, bad atomic.Int64 // deliveries; those without a "t"
}

func (rc *latencyReceiver) handle(ctx *fasthttp.RequestCtx) {
	now := time.Now().UnixNano()
	if ctx.IsGet() {
		// GET /stats: what was received since the last GET /reset.
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if string(ctx.Path()) == "/reset" {
			rc.got.Store(0)
			rc.bad.Store(0)
			rc.lat.Reset()
			return
		}
		b, _ := json.Marshal(map[string]any{"received": rc.got.Load(), "without_t": rc.bad.Load(), "latency": summarize(rc.lat)})
		ctx.SetBody(b)
		return
	}
	rc.got.Add(1)
	if t := gjson.GetBytes(ctx.PostBody(), "t").Int(); t > 0 {
		rc.mu.Lock()
		_ = rc.lat.RecordValue(max(1, (now-t)/1000))
		rc.mu.Unlock()
	} else {
		rc.bad.Add(1)
	}
	ctx.SetStatusCode(204)
}

// serveUpstream runs the static upstream ("up"), a receiver ("recv") that records the
// end-to-end latency of each delivery from the "t" the upstream stamped in its answer, and,
// with withWiki, the sample wiki ("wiki"), the realistic upstream.
func serveUpstream(withWiki bool) (func() map[string]any, *hdrhistogram.Histogram, error) {
	upstream := &staticUpstream{}
	up := &fasthttp.Server{Name: "bench-upstream", MaxRequestBodySize: 64 << 20, Handler: upstream.handle}
	rc := &latencyReceiver{lat: newHist()}
	recv := &fasthttp.Server{Name: "bench-receiver", Handler: rc.handle}
	var servers []interface{ Shutdown() error }
	for _, s := range []struct {
		name string
		srv  *fasthttp.Server
	}{{"up", up}, {"recv", recv}} {
		ln, err := listen()
		if err != nil {
			return nil, nil, err
		}
		fmt.Println("ADDR", s.name, ln.Addr().String())
		go func() { _ = s.srv.Serve(ln) }()
		servers = append(servers, s.srv)
	}
	if withWiki {
		w := wiki.New()
		ln, err := listen()
		if err != nil {
			return nil, nil, err
		}
		fmt.Println("ADDR wiki", ln.Addr().String())
		go func() { _ = w.Serve(ln) }()
		servers = append(servers, w)
	}
	return func() map[string]any {
		for _, s := range servers {
			_ = s.Shutdown()
		}
		return map[string]any{"received": rc.got.Load(), "received_without_t": rc.bad.Load(), "posts": upstream.posts.Load()}
	}, rc.lat, nil
}

// serveRevProxy runs Go's httputil.ReverseProxy, tuned as a user would for a single
// upstream (idle connections enough for the load).
func serveRevProxy(upstream string) (func() map[string]any, error) {
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2048, 2048
	rp.Transport = tr
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}
	fmt.Println("ADDR proxy", ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	return func() map[string]any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		return nil
	}, nil
}

// serveHooktap wires hooktap as main.go does: load the rules file, compile it, build the
// dispatcher and the classifier, and put the classifier in the proxy as its tap. upstream,
// queue and dataDir override the file's values when set.
func serveHooktap(path, upstream, queue, dataDir string, log *slog.Logger) (func() map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := config.Parse(path, data)
	if err != nil {
		return nil, err
	}
	// The bench receivers are on loopback, which the target policy refuses by default.
	f.Dispatch.AllowTargets = append(f.Dispatch.AllowTargets, "127.0.0.1", "::1")
	if upstream != "" {
		f.Proxy.Upstream = "http://" + upstream
	}
	if queue != "" {
		f.Dispatch.Queue = queue
	}
	if dataDir != "" {
		f.Dispatch.DataDir = dataDir
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		return nil, err
	}
	d, err := dispatch.New(f.Dispatch, f.Webhooks, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	cls := rules.NewClassifier(m, f.Classify, d, log)
	var tap proxy.Tap = cls
	if m.Len() == 0 {
		tap = nil
	}
	srv, err := proxy.New(f.Proxy, tap, log)
	if err != nil {
		cancel()
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		cancel()
		return nil, err
	}
	fmt.Println("ADDR proxy", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil {
			log.Error("bench: hooktap serve", "err", err)
		}
	}()
	return func() map[string]any {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		// Let the queue drain a little so that the receiver sees what was accepted.
		ds, _ := d.Stats(sctx)
		cancel()
		if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("bench: dispatcher", "err", err)
		}
		return map[string]any{"proxy": srv.Stats(), "classifier": cls.Stats(), "dispatch": ds, "rules": m.Len()}
	}, nil
}

// writeAllocs writes the allocation profile (every allocation sampled since the start, at
// runtime.MemProfileRate) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
