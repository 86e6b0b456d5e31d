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

	"hooktap/internal/testkit"
)

var (
	builtMu sync.Mutex            // guards built
	built   = map[string]string{} // package -> executable built by goBuild
)

// goBuild builds the Go package pkg into a temporary directory, once per test binary, and
// returns the executable's path.
func goBuild(t testing.TB, name, pkg string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "hooktap-test-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", p, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = p
	return p
}

// mainTestBinary is the hooktap binary, for the tests that run it as a user would.
func mainTestBinary(t testing.TB) string { return goBuild(t, "hooktap", ".") }

func writeFile(t testing.TB, name, text string) string {
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
	// README shows this very output; it once said 61 rules when the file had 50.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "$ hooktap -check -config rules.toml\n"+out.String()) {
		t.Errorf("README.md's -check example does not show what -check prints now:\n%s", out.String())
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
	ulnAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "slow answer")
	}))

	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://`+ulnAddr+`"
shutdown_timeout = "60s"
[dispatch]
queue = "memory"
`)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-config", cfg, "-listen", addr, "-admin", "off")
	stderr := &testkit.LogBuffer{}
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

// serveHTTP serves h on a loopback port until the test ends and returns its address.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t testing.TB, addr string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute) // a restart replays the durable queue first
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("hooktap never listened on %s within 4 minutes\n%s", addr, log)
}

// TestDemo runs `hooktap demo` as a user would, sends the first curl command it prints
// through hooktap, and waits for the receiver's lines with verified signatures.
func TestDemo(t *testing.T) {
	bin := mainTestBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "-listen", "127.0.0.1:0", "-wiki", "127.0.0.1:0",
		"-receiver", "127.0.0.1:0", "-admin", "127.0.0.1:0")
	// The demo must leave the directory it runs in alone (no ./data of its own, none read).
	cwd := t.TempDir()
	cmd.Dir = cwd
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testkit.LogBuffer{}
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
	if left, _ := os.ReadDir(cwd); len(left) != 0 {
		t.Fatalf("the demo left %d entries (%s...) in the directory it ran in, want none", len(left), left[0].Name())
	}
}

// runHooktap runs the binary on cfg with the proxy on a free port and waits until it listens.
func runHooktap(t *testing.T, cfg string) (cmd *exec.Cmd, addr string, stderr *testkit.LogBuffer) {
	t.Helper()
	addr = freeAddr(t)
	cmd = exec.Command(mainTestBinary(t), "-config", cfg, "-listen", addr, "-admin", "off")
	stderr = &testkit.LogBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, addr, stderr)
	return cmd, addr, stderr
}

// waitLog waits until the child's log holds substr.
func waitLog(t *testing.T, log *testkit.LogBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(log.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within 60s:\n%s", substr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadOnSIGHUP changes the rules file under a running hooktap: a good file is applied
// (a write then emits the new rule's event), a change that only a restart applies is named in
// the log, and a bad file is refused with the old rules kept.
func TestReloadOnSIGHUP(t *testing.T) {
	var mu sync.Mutex
	var got []string
	rlnAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Event-Key"))
		mu.Unlock()
	}))
	ulnAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))

	base := `[proxy]
upstream = "http://` + ulnAddr + `"
%s
[dispatch]
queue = "memory"
allow_targets = ["127.0.0.1", "::1"]

[[webhook]]
name   = "r"
url    = "http://` + rlnAddr + `/hook"
events = ["*"]
%s`
	rule := `
[[rule]]
name   = "group removed"
method = "DELETE"
path   = "/rest/api/admin/group/{name}"

[[rule.emit]]
event   = "group_removed"
payload = { "group" = "path.name" }
`
	cfg := writeFile(t, "rules.toml", fmt.Sprintf(base, "", ""))
	cmd, addr, log := runHooktap(t, cfg)

	del := func() {
		t.Helper()
		req, _ := http.NewRequest("DELETE", "http://"+addr+"/rest/api/admin/group/devs", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	del() // no rule yet: no event

	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(base, `idle_timeout = "30s"`, rule)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, log, "rules reloaded")
	waitLog(t, log, "sections=[proxy]")
	del()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery within 60s of a write after the reload\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(base, "listne = 1", rule)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, log, "reload refused")
	waitLog(t, log, `unknown key \"listne\"`)
	del()
	deadline = time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a refused reload the old rules should still emit: got %d events\n%s", n, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0] != "group_removed" || got[1] != "group_removed" {
		t.Fatalf("events %v, want two group_removed (none before the reload)", got)
	}
}

// TestSecondSignalForcesExit sends SIGTERM while a request holds the graceful shutdown, then
// a second one, which must end the process at once.
func TestSecondSignalForcesExit(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	ulnAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://`+ulnAddr+`"
shutdown_timeout = "10m"
[dispatch]
queue = "memory"
`)
	cmd, addr, log := runHooktap(t, cfg)
	go http.Get("http://" + addr + "/held")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("request never reached the upstream\n%s", log)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog(t, log, "shutting down")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("hooktap exited 0 after a second SIGTERM; want it killed by the signal")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a second SIGTERM did not end hooktap within 30s (the graceful shutdown holds for 10m)\n%s", log)
	}
}

// TestCheckRefusesWhatStartupRefuses: what the dispatcher would refuse at startup, -check
// refuses with its line, by the same Validate: a webhook whose secret_env is unset or holds a
// whsec_ secret that does not decode, nats_* credentials beside the embedded queue.
func TestCheckRefusesWhatStartupRefuses(t *testing.T) {
	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://127.0.0.1:8090"
[dispatch]
allow_targets = ["127.0.0.1"]
[[webhook]]
name = "chat"
url = "http://127.0.0.1:9000/hook"
secret_env = "HOOKTAP_TEST_SURELY_UNSET_SECRET"
events = ["*"]
`)
	var out, errb bytes.Buffer
	if code := run([]string{"-check", "-config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), cfg+":8:") || !strings.Contains(errb.String(), "HOOKTAP_TEST_SURELY_UNSET_SECRET") {
		t.Fatalf("error %q: want the file, the line and the variable named", errb.String())
	}
	t.Setenv("HOOKTAP_TEST_BAD_WHSEC", "whsec_not*base64")
	cfg = writeFile(t, "rules2.toml", `[proxy]
upstream = "http://127.0.0.1:8090"
[dispatch]
nats_user = "hooktap"
[[webhook]]
name = "chat"
url = "http://203.0.113.9/hook"
secret_env = "HOOKTAP_TEST_BAD_WHSEC"
events = ["*"]
`)
	out.Reset()
	errb.Reset()
	if code := run([]string{"-check", "-config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{cfg + ":4: [dispatch]: nats_* credentials", cfg + `:8: webhook "chat": secret_env HOOKTAP_TEST_BAD_WHSEC: a whsec_ secret`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error %q: want %q", errb.String(), want)
		}
	}
	if strings.Contains(errb.String(), "not*base64") {
		t.Errorf("error %q shows the secret", errb.String())
	}
}

// TestReloadOnFileChange edits the rules file with no signal: the watcher reloads it.
func TestReloadOnFileChange(t *testing.T) {
	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://127.0.0.1:1"
[dispatch]
queue = "memory"
`)
	_, _, log := runHooktap(t, cfg)
	if err := os.WriteFile(cfg, []byte(`[proxy]
upstream = "http://127.0.0.1:1"
[dispatch]
queue = "memory"

[[rule]]
name   = "group removed"
method = "DELETE"
path   = "/rest/api/admin/group/{name}"

[[rule.emit]]
event   = "group_removed"
payload = { "group" = "path.name" }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "rules reloaded")
	waitLog(t, log, "rules=1")
}
