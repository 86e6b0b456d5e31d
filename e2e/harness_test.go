package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

var (
	seedFlag    = flag.Uint64("e2e.seed", 0, "seed of the random workload (0: HOOKTAP_E2E_SEED, else the clock)")
	actionsFlag = flag.Int("e2e.actions", 0, "actions per backend (0: HOOKTAP_E2E_ACTIONS, else 300)")
)

// TestMain removes the hooktap binary built for the run.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// requireE2E skips the test unless HOOKTAP_E2E=1: the e2e tests install Debian and npm
// packages and start real servers.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("HOOKTAP_E2E") != "1" {
		t.Skip("HOOKTAP_E2E is not 1: set HOOKTAP_E2E=1 to run the end-to-end tests against real backends")
	}
}

// workloadSeed returns the seed and the number of actions for this run, and logs the seed so
// that a failure can be replayed.
func workloadSeed(t *testing.T) (uint64, int) {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		if s := os.Getenv("HOOKTAP_E2E_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("HOOKTAP_E2E_SEED=%q: %v", s, err)
			}
			seed = v
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n := *actionsFlag
	if n == 0 {
		n = 300
		if s := os.Getenv("HOOKTAP_E2E_ACTIONS"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v <= 0 {
				t.Fatalf("HOOKTAP_E2E_ACTIONS=%q: want a positive number", s)
			}
			n = v
		}
	}
	t.Logf("workload seed %d, %d actions (replay: HOOKTAP_E2E=1 go test ./e2e -run %s -args -e2e.seed=%d -e2e.actions=%d)", seed, n, t.Name(), seed, n)
	return seed, n
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// backend is a started backend as backends.sh describes it in <name>.env.
type backend struct {
	name string
	env  map[string]string
}

func (b *backend) url() string { return b.env["URL"] }

var (
	startMu     sync.Mutex
	installOnce sync.Once
	installOut  []byte
	installErr  error
)

// startBackend runs backends.sh start NAME in a state dir of its own and stops the backend
// when the test ends. env adds KEY=value settings for backends.sh (WP_HOST=127.0.0.3).
func startBackend(t *testing.T, name string, env ...string) *backend {
	t.Helper()
	dir, err := os.MkdirTemp("", "hooktap-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	// mariadbd runs as user mysql and must be able to enter the state dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("backends.sh")
	if err != nil {
		t.Fatal(err)
	}
	env = append(append(os.Environ(), "HOOKTAP_E2E_DIR="+dir,
		"MW_PORT="+strconv.Itoa(freePort(t)), "TW_PORT="+strconv.Itoa(freePort(t)), "WP_PORT="+strconv.Itoa(freePort(t))), env...)
	run := func(cmd string) ([]byte, error) {
		c := exec.Command(script, cmd, name)
		c.Env = env
		c.Stdin = nil
		return c.CombinedOutput()
	}
	t.Cleanup(func() {
		if out, err := run("stop"); err != nil {
			t.Errorf("backends.sh stop %s: %v\n%s", name, err, out)
		}
		os.RemoveAll(dir)
	})
	// Starts are serialised: apt-get and dpkg take one lock, and installs are shared. The
	// first one installs what every backend needs, with one apt-get update.
	startMu.Lock()
	start := time.Now()
	installOnce.Do(func() {
		c := exec.Command(script, "install", "all")
		c.Env = env
		installOut, installErr = c.CombinedOutput()
		t.Logf("backends.sh install all: %v", time.Since(start).Round(time.Millisecond))
	})
	if installErr != nil {
		startMu.Unlock()
		t.Fatalf("backends.sh install all: %v\n%s", installErr, installOut)
	}
	out, err := run("start")
	startMu.Unlock()
	if err != nil {
		t.Fatalf("backends.sh start %s: %v\n%s", name, err, out)
	}
	t.Logf("backends.sh start %s: %v", name, time.Since(start).Round(time.Millisecond))
	f, err := os.ReadFile(filepath.Join(dir, name+".env"))
	if err != nil {
		t.Fatalf("backends.sh start %s wrote no env file: %v\n%s", name, err, out)
	}
	b := &backend{name: name, env: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		b.env[k] = v
	}
	b.env["DIR"] = dir
	return b
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// hooktapBinary builds hooktap from the repository root once per test binary, or returns
// HOOKTAP_E2E_BIN when set (a binary built elsewhere).
func hooktapBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKTAP_E2E_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hooktap-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "hooktap")
		c := exec.Command("go", "build", "-o", buildPath, ".")
		c.Dir = ".."
		buildOut, buildErr = c.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build hooktap: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// delivery is one webhook request the receiver accepted.
type delivery struct {
	event   string // X-Event-Key
	payload gjson.Result
}

// receiver is a webhook endpoint that checks every delivery's signature and records it.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu     sync.Mutex
	got    []delivery
	bad    []string // deliveries that failed a check
	notify chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{secret: "e2e-secret-" + strconv.Itoa(os.Getpid()), notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	// Standard Webhooks: v1,base64(HMAC-SHA256(secret, id "." timestamp "." body)).
	mac2 := hmac.New(sha256.New, []byte(r.secret))
	mac2.Write([]byte(req.Header.Get("webhook-id") + "." + req.Header.Get("webhook-timestamp") + "."))
	mac2.Write(body)
	want2 := "v1," + base64.StdEncoding.EncodeToString(mac2.Sum(nil))
	key := req.Header.Get("X-Event-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req.Header.Get("X-Hub-Signature") != want:
		r.bad = append(r.bad, fmt.Sprintf("%s: X-Hub-Signature %q, want %q", key, req.Header.Get("X-Hub-Signature"), want))
	case req.Header.Get("webhook-id") == "" || req.Header.Get("webhook-signature") != want2:
		r.bad = append(r.bad, fmt.Sprintf("%s: webhook-id %q, webhook-signature %q, want %q", key, req.Header.Get("webhook-id"), req.Header.Get("webhook-signature"), want2))
	case !gjson.ValidBytes(body):
		r.bad = append(r.bad, fmt.Sprintf("%s: body is not JSON: %q", key, body))
	case gjson.GetBytes(body, "event").String() != key:
		r.bad = append(r.bad, fmt.Sprintf("%s: body event %q differs from X-Event-Key", key, gjson.GetBytes(body, "event").String()))
	default:
		r.got = append(r.got, delivery{event: key, payload: gjson.ParseBytes(body)})
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// snapshot returns what the receiver has so far.
func (r *receiver) snapshot() ([]delivery, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...), append([]string(nil), r.bad...)
}

// settle waits until at least want deliveries that count arrived (or a minute passed), then
// until no further one arrives for two seconds: hooktap has enqueued every event before
// answering the write, so what is still to come is already on its way.
func (r *receiver) settle(want int, counts func(delivery) bool) []delivery {
	deadline := time.After(60 * time.Second)
	for {
		got, _ := r.snapshot()
		n := 0
		for _, d := range got {
			if counts(d) {
				n++
			}
		}
		if n >= want {
			break
		}
		select {
		case <-r.notify:
			continue
		case <-deadline:
		}
		break
	}
	for {
		select {
		case <-r.notify:
			continue
		case <-time.After(2 * time.Second):
		}
		got, _ := r.snapshot()
		return got
	}
}

// hooktap is a running hooktap child process in front of a backend.
type hooktap struct {
	url string
}

// startHooktap runs the hooktap binary with pack, a memory queue and one webhook (full
// payloads, all events) to rcv, in front of upstream; it is stopped with SIGTERM at cleanup.
// extra are more flags (such as -listen ADDR, to listen where the backend was told it is).
func startHooktap(t *testing.T, pack, upstream string, rcv *receiver, extra ...string) *hooktap {
	t.Helper()
	packText, err := os.ReadFile(filepath.Join("..", "packs", pack+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := string(packText) + fmt.Sprintf(`

[dispatch]
queue = "memory"
allow_targets = ["127.0.0.1", "::1"] # the receiver is on loopback

[[webhook]]
name    = "e2e"
url     = %q
secret  = %q
events  = ["*"]
payload = "full"
`, rcv.srv.URL+"/hook", rcv.secret)
	cfgPath := filepath.Join(dir, "hooktap.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	h := execHooktap(t, cfgPath, append([]string{"-upstream", upstream, "-admin", admin, "-data", filepath.Join(dir, "data")}, extra...)...)
	t.Cleanup(func() { logUnmatched(t, "http://"+admin) }) // runs before the stop: cleanups run last first
	return h
}

// logUnmatched logs the writes the wiki accepted that no rule of the pack accounted for in
// this run (GET /rest/api/unmatched of hooktap's admin API): what the README's known gaps
// must list, and what an operator would see on the admin page.
func logUnmatched(t *testing.T, admin string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(admin + "/rest/api/unmatched")
	if err != nil {
		t.Errorf("unmatched writes: %v", err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Method, Route string
			Status        int
			Count         uint64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("unmatched writes: status %d, %v", resp.StatusCode, err)
		return
	}
	if len(out.Results) == 0 {
		t.Logf("unmatched writes: none")
		return
	}
	var b strings.Builder
	for _, r := range out.Results {
		fmt.Fprintf(&b, "\n  %s %s: %d (last status %d)", r.Method, r.Route, r.Count, r.Status)
	}
	t.Logf("unmatched writes (the wiki accepted them, no rule accounts for them):%s", b.String())
}

// execHooktap runs the hooktap binary with -config cfgPath, -listen on a free loopback port
// (or the address of a -listen in args) and the flags args, and returns once the proxy
// listens; it is stopped with SIGTERM at cleanup, and its log is shown when the test failed.
func execHooktap(t *testing.T, cfgPath string, args ...string) *hooktap {
	t.Helper()
	bin := hooktapBinary(t)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-listen" {
			addr = args[i+1]
		}
	}
	cmd := exec.Command(bin, append([]string{"-config", cfgPath, "-listen", addr}, args...)...)
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logMu.Lock()
			logBuf.Write(sc.Bytes())
			logBuf.WriteByte('\n')
			logMu.Unlock()
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hooktap: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	dumpLog := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		s := logBuf.String()
		if len(s) > 8000 {
			s = "...\n" + s[len(s)-8000:]
		}
		return s
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("hooktap exited with %v after SIGTERM; log:\n%s", err, dumpLog())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("hooktap did not stop within 30s of SIGTERM; log:\n%s", dumpLog())
		}
		if t.Failed() {
			t.Logf("hooktap log:\n%s", dumpLog())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("hooktap exited before listening: %v; log:\n%s", err, dumpLog())
		case <-ctx.Done():
			t.Fatalf("hooktap not listening on %s after 30s; log:\n%s", addr, dumpLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return &hooktap{url: "http://" + addr}
}

// gapSet says which recorded events the packs cannot classify yet (see the README): they
// count in the reported numbers but not in what the test asserts.
type gapSet struct {
	reasons map[string]string // event name -> why
	keys    map[string]bool   // when non-nil, only these "event key" strings are gaps
}

func (g gapSet) has(k string) bool {
	if g.keys != nil {
		return g.keys[k]
	}
	_, ok := g.reasons[strings.SplitN(k, " ", 2)[0]]
	return ok
}

// tally compares delivered events with the backend's record as multisets of "event key"
// strings and reports precision and recall, over everything and without gaps.
func tally(t *testing.T, backendName string, seed uint64, actions int, delivered, record []string, gaps gapSet) {
	t.Helper()
	count := func(xs []string) map[string]int {
		m := map[string]int{}
		for _, x := range xs {
			m[x]++
		}
		return m
	}
	d, r := count(delivered), count(record)
	isGap := gaps.has
	var match, matchNG, nD, nR, nDNG, nRNG int
	var extra, missing []string
	for k, n := range d {
		nD += n
		m := min(n, r[k])
		match += m
		if !isGap(k) {
			nDNG += n
			matchNG += m
		}
		for i := m; i < n; i++ {
			extra = append(extra, k)
		}
	}
	for k, n := range r {
		nR += n
		if !isGap(k) {
			nRNG += n
		}
		for i := d[k]; i < n; i++ {
			missing = append(missing, k)
		}
	}
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 1
		}
		return float64(a) / float64(b)
	}
	byEvent := map[string][2]int{}
	for k, n := range r {
		e := strings.SplitN(k, " ", 2)[0]
		v := byEvent[e]
		v[0] += n
		byEvent[e] = v
	}
	for k, n := range d {
		e := strings.SplitN(k, " ", 2)[0]
		v := byEvent[e]
		v[1] += n
		byEvent[e] = v
	}
	names := make([]string, 0, len(byEvent))
	for e := range byEvent {
		names = append(names, e)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, e := range names {
		fmt.Fprintf(&sb, " %s=%d/%d", e, byEvent[e][1], byEvent[e][0])
	}
	t.Logf("%s: seed %d, %d actions: record %d events, delivered %d, matched %d: precision %.4f, recall %.4f (delivered/recorded by event:%s)",
		backendName, seed, actions, nR, nD, match, ratio(match, nD), ratio(match, nR), sb.String())
	if len(gaps.reasons) > 0 {
		t.Logf("%s: without what hooktap cannot classify yet (%s): %d recorded events left out; precision %.4f, recall %.4f",
			backendName, strings.Join(sortedKeys(gaps.reasons), "; "), nR-nRNG, ratio(matchNG, nDNG), ratio(matchNG, nRNG))
	}
	sort.Strings(extra)
	sort.Strings(missing)
	var extraNG, missingNG []string
	for _, k := range extra {
		if !isGap(k) {
			extraNG = append(extraNG, k)
		}
	}
	for _, k := range missing {
		if !isGap(k) {
			missingNG = append(missingNG, k)
		}
	}
	if len(extraNG) > 0 {
		t.Errorf("%s: %d delivered events not in the backend's record (precision %.4f), first: %q", backendName, len(extraNG), ratio(matchNG, nDNG), head(extraNG, 20))
	}
	if len(missingNG) > 0 {
		t.Errorf("%s: %d recorded events not delivered (recall %.4f), first: %q", backendName, len(missingNG), ratio(matchNG, nRNG), head(missingNG, 20))
	}
	if gapMissing := len(missing) - len(missingNG); gapMissing > 0 {
		t.Logf("%s: %d recorded events hooktap cannot classify yet not delivered, first: %q", backendName, gapMissing, head(diff(missing, missingNG), 10))
	}
	if nR < actions/3 {
		t.Errorf("%s: the record holds %d events for %d actions: the workload did too little to prove anything", backendName, nR, actions)
	}
}

func head(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// diff returns the elements of a (sorted) that are not in b (sorted, a subsequence of a).
func diff(a, b []string) []string {
	var out []string
	j := 0
	for _, x := range a {
		if j < len(b) && b[j] == x {
			j++
			continue
		}
		out = append(out, x)
	}
	return out
}

// notGap returns the number of records that are not gaps, and a test of whether a delivery
// (named by key) is not a gap: what settle waits for.
func notGap(record []string, gaps gapSet, key func(delivery) string) (int, func(delivery) bool) {
	n := 0
	for _, k := range record {
		if !gaps.has(k) {
			n++
		}
	}
	return n, func(d delivery) bool { return !gaps.has(key(d)) }
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkReceiver fails the test on deliveries that failed the receiver's checks.
func checkReceiver(t *testing.T, r *receiver) {
	t.Helper()
	if _, bad := r.snapshot(); len(bad) > 0 {
		t.Errorf("%d deliveries failed the receiver's checks, first: %q", len(bad), head(bad, 5))
	}
}
