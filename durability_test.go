package main

// Durability tests: hooktap runs as a child process (built once by mainTestBinary) in front
// of a test upstream, with a recording receiver, and is killed, starved of its receiver, or
// run in pairs on a NATS JetStream cluster. Every wait is on a condition, with generous
// deadlines for a loaded 2-core machine.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hooktap/internal/testkit"
)

// durDeadline bounds each wait of these tests.
const durDeadline = 4 * time.Minute

// durUpstream is a wiki stand-in: POST /rest/api/content with {"n":k} answers
// {"id":k,"type":"page"}, so each write's event names its write.
func durUpstream(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/rest/api/content" {
			http.NotFound(w, r)
			return
		}
		var in struct{ N int64 }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d,"type":"page"}`, in.N)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// durReceiver records every delivery: the page id of its payload and its webhook-id. In
// hold mode it answers nothing: each request waits until its connection goes.
type durReceiver struct {
	mu       sync.Mutex
	receipts map[int64][]string  // page id -> webhook-id of each request
	ids      map[string]int      // webhook-id -> requests
	paths    map[string][]string // webhook-id -> URL path of each request
	total    int
	hold     bool
	held     map[string]string // webhook-id -> URL path, of requests held
	release  chan struct{}     // closed: held requests are answered
	bad      []string          // malformed deliveries
}

func newDurReceiver() *durReceiver {
	return &durReceiver{receipts: make(map[int64][]string), ids: make(map[string]int), paths: make(map[string][]string),
		held: make(map[string]string), release: make(chan struct{})}
}

func (rc *durReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p struct {
		Event string
		Page  struct{ ID int64 }
	}
	id := r.Header.Get("webhook-id")
	err := json.Unmarshal(body, &p)
	rc.mu.Lock()
	if err != nil || p.Event != "page_created" || id == "" || r.Header.Get("X-Event-Key") != "page_created" {
		rc.bad = append(rc.bad, fmt.Sprintf("%s %q %v", id, body, err))
	}
	rc.receipts[p.Page.ID] = append(rc.receipts[p.Page.ID], id)
	rc.ids[id]++
	rc.paths[id] = append(rc.paths[id], r.URL.Path)
	rc.total++
	hold, release := rc.hold, rc.release
	if hold {
		rc.held[id] = r.URL.Path
	}
	rc.mu.Unlock()
	if hold {
		select {
		case <-r.Context().Done(): // hooktap's connection closes when it dies
			return
		case <-release:
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *durReceiver) snapshot(f func(rc *durReceiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc)
}

// serve runs rc on ln until the test ends or the returned stop is called.
func (rc *durReceiver) serve(t testing.TB, ln net.Listener) (stop func()) {
	srv := &http.Server{Handler: rc}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	stop = func() { once.Do(func() { _ = srv.Close() }) }
	t.Cleanup(stop)
	return stop
}

// durConfig is a rules file with one rule (a page created per POST) and one webhook.
func durConfig(t testing.TB, queue, hookURL string, perHook int, extra string) string {
	t.Helper()
	retry := strings.TrimSuffix(strings.Repeat(`"1s", `, 60), ", ")
	return writeFile(t, "rules.toml", fmt.Sprintf(`
[proxy]
upstream = "http://127.0.0.1:9"

[admin]
listen = "off"

[dispatch]
queue = %q
max_in_flight = %d
max_in_flight_per_hook = %d
timeout = "20s"
retry = [%s]
allow_targets = ["127.0.0.1", "::1"]
%s

[[webhook]]
name   = "rec"
url    = %q
secret = "s3cret"
events = ["page_created"]

[[rule]]
name   = "page created"
method = "POST"
path   = "/rest/api/content"

[[rule.emit]]
event   = "page_created"
payload = { "page.id" = "resp.id|num" }
`, queue, perHook, perHook, retry, extra, hookURL))
}

// durProc is one hooktap child process.
type durProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testkit.LogBuffer
	done   chan error
}

func startHooktap(t testing.TB, config, upstream, data string) *durProc {
	t.Helper()
	p := &durProc{addr: freeAddr(t), stderr: new(testkit.LogBuffer), done: make(chan error, 1)}
	p.cmd = exec.Command(mainTestBinary(t), "-config", config, "-listen", p.addr, "-upstream", upstream,
		"-admin", "off", "-data", data)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	waitListening(t, p.addr, p.stderr)
	return p
}

// waitOpen waits until hooktap's queue is open (for an external cluster, until its stream
// exists), so that writes are not refused while it starts.
func (p *durProc) waitOpen(t testing.TB) {
	t.Helper()
	waitCond(t, "hooktap's queue open", func() bool {
		return strings.Contains(p.stderr.String(), "jetstream queue open")
	}, p.stderr)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *durProc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
	}
}

// vmHWM reads the process's peak resident memory (VmHWM) in KiB.
func (p *durProc) vmHWM(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// writers sends page-creating writes through hooktap proxies from n goroutines until stop
// is closed or limit writes got a 2xx, and records which writes got a 2xx.
type writers struct {
	next   atomic.Int64
	mu     sync.Mutex
	ok     map[int64]bool
	failed atomic.Int64
	wg     sync.WaitGroup
	stop   chan struct{}
}

func startWriters(n int, limit int64, addrs func(i int) string) *writers {
	w := &writers{ok: make(map[int64]bool), stop: make(chan struct{})}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true},
	}
	for g := 0; g < n; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				k := w.next.Add(1)
				if k > limit {
					return
				}
				addr := addrs(int(k))
				if addr == "" {
					return
				}
				resp, err := client.Post("http://"+addr+"/rest/api/content", "application/json",
					strings.NewReader(`{"n":`+strconv.FormatInt(k, 10)+`,"type":"page"}`))
				if err != nil {
					w.failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					w.failed.Add(1)
					continue
				}
				w.mu.Lock()
				w.ok[k] = true
				w.mu.Unlock()
			}
		}()
	}
	return w
}

func (w *writers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ok)
}

func (w *writers) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// waitCond polls cond until it holds or durDeadline passes.
func waitCond(t testing.TB, what string, cond func() bool, logs ...fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(durDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, l := range logs {
				s := l.String()
				if len(s) > 8000 {
					s = s[len(s)-8000:]
				}
				b.WriteString(s)
			}
			t.Fatalf("timed out waiting for %s\n%s", what, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDelivered waits until every write in ok has been delivered at least once.
func waitDelivered(t testing.TB, rc *durReceiver, ok map[int64]bool, logs ...fmt.Stringer) {
	t.Helper()
	missing := 0
	waitCond(t, "every accepted write delivered", func() bool {
		missing = 0
		rc.snapshot(func(rc *durReceiver) {
			for k := range ok {
				if len(rc.receipts[k]) == 0 {
					missing++
				}
			}
		})
		return missing == 0
	}, append(logs, stringer(func() string { return fmt.Sprintf("(%d of %d writes still undelivered)\n", missing, len(ok)) }))...)
}

type stringer func() string

func (s stringer) String() string { return s() }

// checkDelivered asserts that every write in ok was delivered, that each page carries one
// webhook-id on all its deliveries, and that the ids delivered more than once are among
// allowed (nil: any, counted against maxDup).
func checkDelivered(t testing.TB, rc *durReceiver, ok map[int64]bool, allowed map[string]string, maxDup int) (dups int) {
	t.Helper()
	rc.snapshot(func(rc *durReceiver) {
		if len(rc.bad) > 0 {
			t.Fatalf("%d malformed deliveries, first: %s", len(rc.bad), rc.bad[0])
		}
		for k := range ok {
			if len(rc.receipts[k]) == 0 {
				t.Fatalf("write %d got a 2xx but its event was never delivered", k)
			}
		}
		for k, ids := range rc.receipts {
			for _, id := range ids[1:] {
				if id != ids[0] {
					t.Fatalf("page %d delivered with webhook-ids %q and %q, want one id", k, ids[0], id)
				}
			}
		}
		for id, n := range rc.ids {
			if n < 2 {
				continue
			}
			dups++
			if _, ok := allowed[id]; allowed != nil && !ok {
				t.Fatalf("%s delivered %d times but was not in flight at the kill", id, n)
			}
		}
	})
	if maxDup >= 0 && dups > maxDup {
		t.Fatalf("%d events delivered more than once, want at most %d (the attempts in flight at the kill)", dups, maxDup)
	}
	return dups
}

// TestCrashKeepsAcceptedWrites kills hooktap (kill -9) in the middle of a burst of writes,
// with deliveries in flight, and restarts it on the same data directory: every write that
// got a 2xx has its event delivered, and the only events delivered twice are the attempts
// in flight at the kill, again with the same webhook-id.
func TestCrashKeepsAcceptedWrites(t *testing.T) {
	const inFlight = 8
	upstream := durUpstream(t)
	rc := newDurReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.serve(t, ln)
	data := t.TempDir()
	config := durConfig(t, "disk", "http://"+ln.Addr().String()+"/hook", inFlight, "")

	p := startHooktap(t, config, upstream, data)
	w := startWriters(8, 1<<40, func(int) string { return p.addr })
	defer w.halt()
	// Mid-burst: deliveries are flowing; then the receiver stops answering, and once all of
	// hooktap's in-flight slots are held by it, kill -9.
	waitCond(t, "deliveries flowing", func() bool {
		n := 0
		rc.snapshot(func(rc *durReceiver) { n = rc.total })
		return n >= 200 && w.count() >= 300
	}, p.stderr)
	rc.snapshot(func(rc *durReceiver) { rc.hold = true })
	waitCond(t, "all in-flight slots held", func() bool {
		n := 0
		rc.snapshot(func(rc *durReceiver) { n = len(rc.held) })
		return n >= inFlight
	}, p.stderr)
	before := w.count()
	waitCond(t, "writes continuing", func() bool { return w.count() >= before+50 }, p.stderr)
	if n := w.failed.Load(); n != 0 {
		t.Fatalf("%d writes failed before the kill, want none\n%s", n, p.stderr)
	}
	p.kill()
	w.halt()
	var held map[string]string
	rc.snapshot(func(rc *durReceiver) {
		rc.hold = false
		held = rc.held
		rc.held = make(map[string]string)
	})
	if len(held) < inFlight {
		t.Fatalf("%d attempts held at the kill, want %d", len(held), inFlight)
	}
	t.Logf("at the kill: %d writes got a 2xx, %d failed, %d held in flight", w.count(), w.failed.Load(), len(held))

	p2 := startHooktap(t, config, upstream, data)
	waitCond(t, "every accepted write delivered, and every held attempt again", func() bool {
		done := true
		rc.snapshot(func(rc *durReceiver) {
			for id := range held {
				if rc.ids[id] < 2 {
					done = false
					return
				}
			}
			for k := range w.ok {
				if len(rc.receipts[k]) == 0 {
					done = false
					return
				}
			}
		})
		return done
	}, p2.stderr)
	dups := checkDelivered(t, rc, w.ok, held, len(held))
	t.Logf("after restart: %d accepted writes all delivered; %d delivered twice (all held at the kill)", len(w.ok), dups)
}

// TestOutageHoldsEventsInBoundedMemory accepts 100,000 writes while the receiver is down
// (it resets every connection), checks that the breaker kept hooktap from hammering it and
// that hooktap's peak memory stayed bounded, then brings the receiver back and waits for
// every event.
func TestOutageHoldsEventsInBoundedMemory(t *testing.T) {
	n := int64(100_000)
	upstream := durUpstream(t)
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := down.Addr().String()
	var refused atomic.Int64
	go func() {
		for {
			c, err := down.Accept()
			if err != nil {
				return
			}
			refused.Add(1)
			c.Close()
		}
	}()
	const perHook = 64
	config := durConfig(t, "disk", "http://"+addr+"/hook", perHook, "")
	p := startHooktap(t, config, upstream, t.TempDir())

	start := time.Now()
	w := startWriters(32, n, func(int) string { return p.addr })
	w.wg.Wait()
	accepted := time.Since(start)
	if got := int64(w.count()); got != n {
		t.Fatalf("%d of %d writes got a 2xx during the outage (%d failed)", got, n, w.failed.Load())
	}
	peakAccepting := p.vmHWM(t)
	attempts := refused.Load()
	t.Logf("outage: %d writes accepted in %v (%.0f/s); %d delivery attempts reached the dead receiver; hooktap VmHWM %d MiB",
		n, accepted.Round(time.Millisecond), float64(n)/accepted.Seconds(), attempts, peakAccepting>>10)
	// Without the breaker every event would have been attempted; with it, only the 5
	// failures that open it and the probes at the end of each window (one per-hook cap each).
	if attempts > 20*perHook {
		t.Fatalf("%d attempts reached the dead receiver while its breaker should have been open", attempts)
	}

	down.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("receiver cannot come back on %s: %v", addr, err)
	}
	rc := newDurReceiver()
	rc.serve(t, ln)
	back := time.Now()
	waitCond(t, "every event delivered after the outage", func() bool {
		ids := 0
		rc.snapshot(func(rc *durReceiver) { ids = len(rc.ids) })
		return int64(ids) >= n
	}, p.stderr)
	drained := time.Since(back)
	peak := p.vmHWM(t)
	checkDelivered(t, rc, w.ok, nil, -1)
	t.Logf("receiver back: %d events delivered in %v (%.0f/s, breaker wait included); hooktap VmHWM %d MiB",
		n, drained.Round(time.Millisecond), float64(n)/drained.Seconds(), peak>>10)
	if peak > 512<<10 {
		t.Fatalf("hooktap's peak memory is %d MiB for %d queued events, want it bounded (< 512 MiB)", peak>>10, n)
	}
}

// natsServerBinary builds nats-server from the module hooktap requires, once.
func natsServerBinary(t testing.TB) string {
	return goBuild(t, "nats-server", "github.com/nats-io/nats-server/v2")
}

// startNATSCluster starts three JetStream nats-servers on loopback, routed to each other,
// and waits until each reports healthy JetStream. It returns the client URLs.
func startNATSCluster(t testing.TB) []string {
	t.Helper()
	bin := natsServerBinary(t)
	// Free ports are picked by listening and closing, so another process may take one before
	// a node binds it, and a cluster whose route port was taken never elects a leader: start
	// over on new ports, a few times, before calling it a failure.
	const tries = 3
	for try := 1; ; try++ {
		urls, stop, logs, err := tryNATSCluster(t, bin, 90*time.Second)
		if err == nil {
			t.Cleanup(stop)
			return urls
		}
		stop()
		var b strings.Builder
		for i, l := range logs {
			s := l.String()
			if len(s) > 3000 {
				s = s[:3000] // the start: where bind and route errors are
			}
			fmt.Fprintf(&b, "--- n%d:\n%s\n", i+1, s)
		}
		if try == tries {
			t.Fatalf("3-node NATS cluster: %v (try %d of %d)\n%s", err, try, tries, b.String())
		}
		t.Logf("3-node NATS cluster: %v (try %d of %d); starting over on new ports\n%s", err, try, tries, b.String())
	}
}

// tryNATSCluster starts three JetStream nats-servers routed to each other on fresh loopback
// ports and waits up to wait for each to report healthy JetStream. stop kills them.
func tryNATSCluster(t testing.TB, bin string, wait time.Duration) (urls []string, stop func(), logs []*testkit.LogBuffer, err error) {
	type node struct{ client, cluster, monitor string }
	nodes := make([]node, 3)
	var routes []string
	for i := range nodes {
		nodes[i] = node{freeAddr(t), freeAddr(t), freeAddr(t)}
		routes = append(routes, "nats://"+nodes[i].cluster)
	}
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for i, nd := range nodes {
		host, port, _ := net.SplitHostPort(nd.client)
		_, mport, _ := net.SplitHostPort(nd.monitor)
		logs = append(logs, new(testkit.LogBuffer))
		cmd := exec.Command(bin, "-a", host, "-p", port, "-n", "n"+strconv.Itoa(i+1), "-js",
			"-sd", t.TempDir(), "-m", mport, "--cluster_name", "hooktap-test",
			"--cluster", "nats://"+nd.cluster, "--routes", strings.Join(routes, ","))
		cmd.Stdout, cmd.Stderr = logs[i], logs[i]
		if err := cmd.Start(); err != nil {
			return nil, stop, logs, err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stops = append(stops, func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		})
		urls = append(urls, "nats://"+nd.client)
	}
	deadline := time.Now().Add(wait)
	for i, nd := range nodes {
		for {
			resp, err := http.Get("http://" + nd.monitor + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return nil, stop, logs, fmt.Errorf("n%d not healthy within %v", i+1, wait)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return urls, stop, logs, nil
}

// TestClusterSharesDeliveries runs two hooktap instances on one 3-node JetStream cluster,
// writing through both, and kills one (kill -9) mid-stream: the other delivers everything
// either accepted, including the first one's attempts in flight at the kill.
func TestClusterSharesDeliveries(t *testing.T) {
	const inFlight = 8
	urls := startNATSCluster(t)
	upstream := durUpstream(t)
	rc := newDurReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.serve(t, ln)
	// Same webhook (so the same consumer) in both; the URL's path tells the receiver which
	// instance made an attempt.
	queue := strings.Join(urls, ",")
	a := startHooktap(t, durConfig(t, queue, "http://"+ln.Addr().String()+"/hook/a", inFlight, ""), upstream, t.TempDir())
	b := startHooktap(t, durConfig(t, queue, "http://"+ln.Addr().String()+"/hook/b", inFlight, ""), upstream, t.TempDir())
	logs := []fmt.Stringer{a.stderr, b.stderr}
	a.waitOpen(t)
	b.waitOpen(t)

	var aDead atomic.Bool
	w := startWriters(8, 1<<40, func(k int) string {
		if k%2 == 0 && !aDead.Load() {
			return a.addr
		}
		return b.addr
	})
	defer w.halt()
	waitCond(t, "deliveries flowing through both", func() bool {
		n := 0
		rc.snapshot(func(rc *durReceiver) { n = rc.total })
		return n >= 300 && w.count() >= 400
	}, logs...)
	// Hold every in-flight slot of both instances at the receiver, then kill -9 the first:
	// its held attempts die with it and must be made again by the second.
	rc.snapshot(func(rc *durReceiver) { rc.hold = true })
	waitCond(t, "both instances' in-flight slots held", func() bool {
		n := 0
		rc.snapshot(func(rc *durReceiver) { n = len(rc.held) })
		return n >= 2*inFlight
	}, logs...)
	a.kill()
	aDead.Store(true)
	var held map[string]string
	heldByA := 0
	rc.snapshot(func(rc *durReceiver) {
		rc.hold = false
		close(rc.release)
		held = rc.held
		rc.held = make(map[string]string)
	})
	for _, path := range held {
		if path == "/hook/a" {
			heldByA++
		}
	}
	if heldByA < inFlight {
		t.Fatalf("%d of the killed instance's attempts held at the kill, want %d", heldByA, inFlight)
	}
	atKill := w.count()
	waitCond(t, "writes through the survivor", func() bool { return w.count() >= atKill+300 }, logs...)
	w.halt()
	t.Logf("%d writes got a 2xx (%d at the kill), %d failed", w.count(), atKill, w.failed.Load())

	waitDelivered(t, rc, w.ok, logs...)
	waitCond(t, "the killed instance's held attempts made again by the survivor", func() bool {
		again := 0
		rc.snapshot(func(rc *durReceiver) {
			for id, path := range held {
				if path == "/hook/a" && slices.Contains(rc.paths[id][1:], "/hook/b") {
					again++
				}
			}
		})
		return again == heldByA
	}, logs...)
	dups := checkDelivered(t, rc, w.ok, held, len(held))
	t.Logf("all %d accepted writes delivered; the killed instance's %d in-flight attempts were made again by the survivor with the same webhook-ids (%d delivered twice)",
		len(w.ok), heldByA, dups)
}

// BenchmarkProxiedWrite measures the latency of a page-creating write through hooktap
// (8 concurrent writers, deliveries running to a live receiver) with queue = "memory" and
// queue = "disk", and straight to the upstream as the baseline; the difference between the
// two queues is what the durable enqueue adds to the write path. It reports p50 and p99.
//
//	go test -run XXX -bench ProxiedWrite -benchtime 20000x .
func BenchmarkProxiedWrite(b *testing.B) {
	for _, queue := range []string{"direct", "memory", "disk"} {
		b.Run("queue="+queue, func(b *testing.B) {
			bt := testing.TB(b)
			upstream := durUpstream(bt)
			rc := newDurReceiver()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			rc.serve(bt, ln)
			target := strings.TrimPrefix(upstream, "http://")
			if queue != "direct" {
				config := durConfig(bt, queue, "http://"+ln.Addr().String()+"/hook", 64, "")
				p := startHooktap(bt, config, upstream, b.TempDir())
				if queue == "disk" {
					p.waitOpen(bt)
				}
				target = p.addr
			}
			const conc = 8
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}}
			lat := make([][]time.Duration, conc)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := 0; g < conc; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						k := next.Add(1)
						if k > int64(b.N) {
							return
						}
						t0 := time.Now()
						resp, err := client.Post("http://"+target+"/rest/api/content", "application/json",
							strings.NewReader(`{"n":`+strconv.FormatInt(k, 10)+`}`))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 != 2 {
							b.Errorf("write %d: status %d", k, resp.StatusCode)
							return
						}
						lat[g] = append(lat[g], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
