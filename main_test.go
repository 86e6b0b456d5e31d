package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	mainBinOnce sync.Once
	mainBin     string
	mainBinErr  error
)

// mainTestBinary builds the hooktap binary once for the tests that run it as a user would.
func mainTestBinary(t *testing.T) string {
	t.Helper()
	mainBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hooktap-main-test-")
		if err != nil {
			mainBinErr = err
			return
		}
		mainBin = filepath.Join(dir, "hooktap")
		out, err := exec.Command("go", "build", "-o", mainBin, ".").CombinedOutput()
		if err != nil {
			mainBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if mainBinErr != nil {
		t.Fatal(mainBinErr)
	}
	return mainBin
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if got, want := out.String(), "hooktap "+version+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCheckShippedRules(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-check", "-config", "rules.toml"}, &out, &errb)
	if code != 0 {
		t.Fatalf("hooktap -check rules.toml: exit %d\n%s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "rules.toml: ") || !strings.Contains(out.String(), "43 events") {
		t.Fatalf("summary %q: want it to start with the file name and count 43 events", out.String())
	}
}

// TestCheckReportsEveryMistake runs the real binary on a file with five different mistakes
// and asserts that every one is printed with its line.
func TestCheckReportsEveryMistake(t *testing.T) {
	bin := mainTestBinary(t)
	cfg := writeFile(t, "bad.toml", `[proxy]
upstream = "http://127.0.0.1:8090"
listne = ":8080"

[[webhook]]
name = "chat"
events = ["page_created"]

[[rule]]
name = "page created"
method = "POST"
path = "/rest/api/content/{id"

[[rule.emit]]
event = "page_creatd"

[[rule]]
name = "labels"
method = "POST"
path = "/rest/api/content/{id}/label"
when = { "req.name" = { matches = "(" } }

[[rule.emit]]
event = "label_added"
`)
	cmd := exec.Command(bin, "-check", "-config", cfg)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		cfg + ":3:",  // unknown key listne
		cfg + ":5:",  // webhook without url
		cfg + ":12:", // bad path template
		cfg + ":15:", // unknown event name
		cfg + ":21:", // bad regular expression
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, cfg+":"); n != 5 {
		t.Errorf("got %d located errors, want 5:\n%s", n, text)
	}
}

// TestGracefulShutdown starts hooktap in front of a slow upstream, sends SIGTERM while a
// request is in flight, and checks that the request completes, new connections are refused,
// and hooktap exits 0.
func TestGracefulShutdown(t *testing.T) {
	bin := mainTestBinary(t)

	arrived := make(chan struct{})
	release := make(chan struct{})
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "slow answer")
	})}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(uln)
	defer up.Close()

	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://`+uln.Addr().String()+`"
shutdown_timeout = "60s"
[dispatch]
queue = "memory"
`)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-config", cfg, "-listen", addr, "-admin", "off")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitListening(t, addr, stderr)

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("request never reached the upstream\n%s", stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once hooktap has stopped accepting, a new connection is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections 30s after SIGTERM\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if body := <-got; body != "slow answer" {
		t.Fatalf("in-flight request got %q, want the upstream's answer", body)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hooktap exited with %v, want 0\n%s", err, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("hooktap did not exit within 60s of SIGTERM\n%s", stderr)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("hooktap never listened on %s\n%s", addr, log)
}

// syncBuffer is a bytes.Buffer safe for a child process's writer and the test's reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs `hooktap demo` as a user would, sends the first curl command it prints
// through hooktap, and waits for the receiver's lines with verified signatures.
func TestDemo(t *testing.T) {
	bin := mainTestBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "-listen", "127.0.0.1:0", "-wiki", "127.0.0.1:0",
		"-receiver", "127.0.0.1:0", "-admin", "off")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string, ok func(string) bool) string {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case l, open := <-lines:
				if !open {
					t.Fatalf("demo output ended before %s\n%s", what, stderr)
				}
				if ok(l) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %s in demo output within 60s\n%s", what, stderr)
			}
		}
	}
	hookLine := next("hooktap address", func(l string) bool { return strings.Contains(l, "hooktap ") && strings.Contains(l, "http://") })
	base := strings.Fields(hookLine)[1]

	req, _ := http.NewRequest("POST", base+"/rest/api/content", strings.NewReader(
		`{"type":"page","title":"Hello","space":{"key":"DS"},"body":{"storage":{"value":"<p>hi</p>","representation":"storage"}}}`))
	req.SetBasicAuth("admin", "admin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create page through the demo: status %d %s", resp.StatusCode, body)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		l := next("event line", func(l string) bool { return strings.Contains(l, "signatures") })
		if !strings.Contains(l, "signatures ok") {
			t.Fatalf("receiver line %q: want verified signatures", l)
		}
		seen[strings.Fields(l)[1]] = true
	}
	if !seen["page_created"] || !seen["content_created"] {
		t.Fatalf("events %v, want page_created and content_created", seen)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v after Ctrl-C, want 0\n%s", err, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not stop within 60s of Ctrl-C\n%s", stderr)
	}
}
