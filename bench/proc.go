package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process started by the harness: a role of this binary, or nginx/HAProxy.
type Proc struct {
	Name  string
	cmd   *exec.Cmd
	Addrs map[string]string // role addresses printed by a child of this binary
	stats string            // where a child of this binary writes its ChildStats on exit
	errb  *lockedBuf
	done  chan struct{}
	werr  error
}

// ChildStats is what a child of this binary reports when it stops.
type ChildStats struct {
	RSSPeak   uint64         `json:"rss_peak_bytes"`
	HeapPeak  uint64         `json:"heap_peak_bytes"`
	Mallocs   uint64         `json:"mallocs"`
	NumGC     uint32         `json:"num_gc"`
	CPUTime   float64        `json:"cpu_seconds"`
	Extra     map[string]any `json:"extra,omitempty"`
	Latencies *HistSummary   `json:"latencies,omitempty"`
}

// HistSummary is a latency histogram reduced to what the tables show.
type HistSummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// selfExe is this binary, for re-executing it as a server child.
func selfExe() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("bench: finding own binary: %w", err)
	}
	return p, nil
}

// startRole starts this binary as `__serve -role role args...` pinned to cpus, and waits
// until it prints READY.
func startRole(tmp, role string, cpus []int, args ...string) (*Proc, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	return startRoleExe(exe, tmp, role, cpus, args...)
}

// startRoleExe is startRole with another build of this harness as the binary (-alt).
func startRoleExe(exe, tmp, role string, cpus []int, args ...string) (*Proc, error) {
	statsPath := filepath.Join(tmp, fmt.Sprintf("%s-%d.stats.json", role, time.Now().UnixNano()))
	full := append([]string{"__serve", "-role", role, "-stats", statsPath, "-cpus", cpuList(cpus)}, args...)
	cmd := exec.Command(exe, full...)
	cmd.Env = os.Environ()
	if len(cpus) > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", len(cpus)))
	}
	p := &Proc{Name: role, cmd: cmd, Addrs: map[string]string{}, stats: statsPath, errb: &lockedBuf{}, done: make(chan struct{})}
	cmd.Stderr = p.errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", role, err)
	}
	go func() { p.werr = cmd.Wait(); close(p.done) }()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "ADDR":
				p.Addrs[f[1]] = f[2]
			case len(f) == 1 && f[0] == "READY":
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- errors.New("exited before READY")
	}()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = errors.New("not READY after 60s")
	}
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("bench: %s child: %w\n%s", role, err, p.errb.String())
	}
	return p, nil
}

// startExternal starts an external server binary (nginx, haproxy) pinned to cpus, and
// waits until addr accepts connections.
func startExternal(name string, cpus []int, addr string, bin string, args ...string) (*Proc, error) {
	var cmd *exec.Cmd
	if len(cpus) > 0 {
		exe, err := selfExe()
		if err != nil {
			return nil, err
		}
		cmd = exec.Command(exe, append([]string{"__pin", cpuList(cpus), bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	p := &Proc{Name: name, cmd: cmd, errb: &lockedBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.errb, p.errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", name, err)
	}
	go func() { p.werr = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bench: %s exited at start: %v\n%s", name, p.werr, p.errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("bench: %s not listening on %s after 15s\n%s", name, addr, p.errb.String())
		}
	}
}

// Stop asks the process group to stop (SIGTERM), waits up to 20 s, then kills it. For a
// child of this binary it returns the stats the child wrote.
func (p *Proc) Stop() (*ChildStats, error) {
	if p == nil {
		return nil, nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
		return nil, fmt.Errorf("bench: %s did not stop in 20s", p.Name)
	}
	if p.stats == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p.stats)
	if err != nil {
		return nil, fmt.Errorf("bench: %s stats: %w\n%s", p.Name, err, p.errb.String())
	}
	var st ChildStats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("bench: %s stats: %w", p.Name, err)
	}
	return &st, nil
}

func (p *Proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// runPin is `bench __pin CPUS BIN ARGS...`: pin this process to CPUS and exec BIN, which
// inherits the pinning (and so do its workers).
func runPin(args []string) error {
	if len(args) < 2 {
		return errors.New("bench: usage: __pin CPUS BIN ARGS")
	}
	cpus, err := parseCPUList(args[0])
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	if err := pinProcess(cpus); err != nil {
		return err
	}
	bin, err := exec.LookPath(args[1])
	if err != nil {
		return err
	}
	return syscall.Exec(bin, args[1:], os.Environ())
}

// freePort returns a loopback address that was free a moment ago, for servers that take
// their port from a config file.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}
