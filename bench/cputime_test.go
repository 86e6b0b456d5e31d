package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStatNameWithParens(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
	// cmajflt utime stime ...
	line := "4242 (a) (b c) R 1 777 777 0 -1 4194560 10 0 0 0 31 9 0 0 20 0\n"
	pg, ticks, ok := parseStat([]byte(line))
	if !ok || pg != 777 || ticks != 40 {
		t.Fatalf("parseStat = %d, %d, %v; want 777, 40, true", pg, ticks, ok)
	}
	if _, _, ok := parseStat([]byte("4242 (x) R 1")); ok {
		t.Fatal("parseStat accepted a truncated line")
	}
}

// TestGroupCPUTicksCountsForkedWorkers starts a shell in its own process group that forks
// two busy-looping subshells and waits, as nginx's master waits on its workers: the group's
// CPU time must grow, and be more than the waiting shell's own.
func TestGroupCPUTicksCountsForkedWorkers(t *testing.T) {
	cmd := exec.Command("sh", "-c", "(while :; do :; done) & (while :; do :; done) & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Name: "busy", cmd: cmd, done: make(chan struct{})}
	go func() { p.werr = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)

	t0, err := p.CPUTicks()
	if err != nil {
		t.Fatal(err)
	}
	// Wait for 20 ticks (200 ms of CPU) of growth; generous deadline on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	var t1 uint64
	for {
		if t1, err = p.CPUTicks(); err != nil {
			t.Fatal(err)
		}
		if t1 >= t0+20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if t1 < t0+20 {
		t.Fatalf("group CPU ticks grew from %d to %d in 60s of two busy loops", t0, t1)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	_, own, ok := parseStat(b)
	if !ok {
		t.Fatalf("unparsable stat %q", b)
	}
	if t1 <= own {
		t.Fatalf("group ticks %d not above the waiting shell's own %d: forked workers not counted", t1, own)
	}
}

func TestGroupCPUTicksNoGroup(t *testing.T) {
	// A process group id no live process has: pid_max is at most 2^22.
	if _, err := groupCPUTicks(1 << 23); err == nil {
		t.Fatal("groupCPUTicks of an empty group returned no error")
	}
}
