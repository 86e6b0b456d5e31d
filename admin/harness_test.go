package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hooktap/dispatch"
	"hooktap/internal/testkit"
	"hooktap/rules"
)

// testToken is the admin token of harnesses made with one.
const testToken = "t0ken-for-tests"

// harness is an admin server on a loopback listener with its dispatcher.
type harness struct {
	t    *testing.T
	srv  *Server
	disp testDispatcher
	base string // http://127.0.0.1:port
	dir  string
	done chan error
}

// testDispatcher is what tests drive: the admin's view plus Enqueue.
type testDispatcher interface {
	Dispatcher
	rules.Sink
}

type harnessOpts struct {
	token  string
	read   string // read_token
	file   []dispatch.Webhook
	dir    string // "" = a new temporary directory
	disp   testDispatcher
	checks []Check
	proxy  ProxyStats
	class  ClassifierStats
}

var logSinks sync.Map // *harness -> *testkit.LogBuffer

// newHarness starts an admin server; it is shut down when the test ends.
func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.disp == nil {
		o.disp = newTestDispatcher(t)
	}
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(Config{Token: o.token, ReadToken: o.read}, Deps{
		Dispatcher: o.disp, Webhooks: o.file, DataDir: o.dir, Checks: o.checks,
		Proxy: o.proxy, Classifier: o.class,
	}, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, disp: o.disp, base: "http://" + ln.Addr().String(), dir: o.dir, done: make(chan error, 1)}
	logSinks.Store(h, logs)
	go func() { h.done <- srv.Serve(ln) }()
	t.Cleanup(func() { h.stop() })
	return h
}

// stop shuts the server down and checks that Serve returned nil; idempotent.
func (h *harness) stop() {
	if h.done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	if err := <-h.done; err != nil {
		h.t.Errorf("Serve returned %v, want nil after Shutdown", err)
	}
	h.done = nil
}

func (h *harness) logText() string {
	v, _ := logSinks.Load(h)
	return v.(*testkit.LogBuffer).String()
}

// answer is a response as tests look at it.
type answer struct {
	status int
	header http.Header
	raw    string
	json   map[string]any
}

// auth values for do.
const (
	noAuth = ""
)

func bearer(tok string) string { return "Bearer " + tok }
func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// do sends a request; body is marshalled unless it is a string (sent as is).
func (h *harness) do(method, path string, body any, auth string) answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.json); err != nil {
			h.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return a
}

// mustStatus fails the test unless a has the status.
func (a answer) mustStatus(t *testing.T, want int) answer {
	t.Helper()
	if a.status != want {
		t.Fatalf("got status %d, want %d; body: %s", a.status, want, a.raw)
	}
	return a
}

// errorFields returns the field names of an error answer.
func (a answer) errorFields() []string {
	errs, _ := a.json["errors"].([]any)
	var out []string
	for _, e := range errs {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		out = append(out, f)
	}
	return out
}

// num reads a number field.
func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// results reads a RestList's results.
func (a answer) results() []map[string]any {
	rs, _ := a.json["results"].([]any)
	out := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.(map[string]any))
	}
	return out
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook receiver on loopback that records what it gets and answers with a
// status and body chosen by the test.
type receiver struct {
	srv    *httptest.Server
	got    chan received
	status atomic.Int64
	reply  atomic.Value // string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan received, 1000)}
	r.status.Store(200)
	r.reply.Store(`{"ok":true}`)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		w.WriteHeader(int(r.status.Load()))
		io.WriteString(w, r.reply.Load().(string))
		r.got <- received{header: req.Header.Clone(), body: b}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hook" }

// next waits for the next request the receiver gets.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case g := <-r.got:
		return g
	case <-time.After(60 * time.Second):
		t.Fatal("the receiver got nothing in 60s")
		return received{}
	}
}

// waitFor polls cond (an observation of state another goroutine changes) until it holds,
// failing after a generous deadline. Tests use it only after the event that causes the change
// has been seen (the receiver got the request): it bridges the dispatcher recording the
// attempt after the response.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// event returns a page_created event.
func event(name string, id int) *rules.Event {
	now := time.Now().UnixMilli()
	p := []byte(`{"timestamp":` + itoa64(now) + `,"event":"` + name + `","userKey":"admin","page":{"id":` + itoa64(int64(id)) + `}}`)
	return &rules.Event{Name: name, Time: now, Payload: p}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// boolp returns a pointer to b.
func boolp(b bool) *bool { return &b }
