package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// clkTck is the kernel's USER_HZ, the unit of utime and stime in /proc/<pid>/stat: what
// `getconf CLK_TCK` prints. Linux has fixed it at 100 on every architecture the harness
// runs on, so a tick is 10 ms, and a CPU time read here is exact to 10 ms per process.
const clkTck = 100

// tickUS is one clock tick in microseconds.
const tickUS = 1e6 / clkTck

// groupCPUTicks returns utime+stime, in clock ticks, summed over every live process whose
// process group is pgid (a process that exited in between is no longer counted). Children
// of the harness are started with Setpgid, so their group is their pid, and the workers
// nginx and HAProxy fork stay in it.
func groupCPUTicks(pgid int) (uint64, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("bench: cpu time: %w", err)
	}
	var sum uint64
	found := false
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // exited since ReadDir
		}
		pg, ticks, ok := parseStat(b)
		if !ok || pg != pgid {
			continue
		}
		sum += ticks
		found = true
	}
	if !found {
		return 0, fmt.Errorf("bench: cpu time: no live process in group %d", pgid)
	}
	return sum, nil
}

// parseStat returns the process group and utime+stime from the text of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces, so fields are counted
// from the last ')': state is field 3, pgrp 5, utime 14, stime 15.
func parseStat(b []byte) (pgrp int, ticks uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	pg, err1 := strconv.Atoi(string(f[2]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return pg, ut + st, true
}

// CPUTicks returns the CPU time, in clock ticks, of the process group of p: the process and
// every worker it forked.
func (p *Proc) CPUTicks() (uint64, error) {
	return groupCPUTicks(p.cmd.Process.Pid)
}

// ProcCPU is the CPU time one server process group spent over a measured window.
type ProcCPU struct {
	Name      string  `json:"name"`
	Ticks     uint64  `json:"ticks"` // 1/clkTck s each
	USPerReq  float64 `json:"cpu_us_per_req"`
	SampleErr string  `json:"error,omitempty"`
}

// cpuSampler reads the CPU time of procs at the start and the end of a window.
type cpuSampler struct {
	procs      []*Proc
	start, end []uint64
	errs       []error
}

func newCPUSampler(procs []*Proc) *cpuSampler {
	c := &cpuSampler{procs: procs, start: make([]uint64, len(procs)), end: make([]uint64, len(procs)), errs: make([]error, len(procs))}
	for i, p := range procs {
		c.start[i], c.errs[i] = p.CPUTicks()
	}
	return c
}

// finish reads the CPU times at the end of the window.
func (c *cpuSampler) finish() {
	for i, p := range c.procs {
		end, err := p.CPUTicks()
		if c.errs[i] == nil {
			c.end[i], c.errs[i] = end, err
		}
	}
}

// apply fills st.CPU per process and st.CPUUSPerReq, their sum, per request answered in
// the window.
func (c *cpuSampler) apply(st *Step) {
	if len(c.procs) == 0 {
		return
	}
	var total uint64
	for i, p := range c.procs {
		pc := ProcCPU{Name: p.Name}
		if c.errs[i] != nil {
			pc.SampleErr = c.errs[i].Error()
		} else {
			pc.Ticks = c.end[i] - c.start[i]
			total += pc.Ticks
			if st.Requests > 0 {
				pc.USPerReq = float64(pc.Ticks) * tickUS / float64(st.Requests)
			}
		}
		st.CPU = append(st.CPU, pc)
	}
	if st.Requests > 0 {
		st.CPUUSPerReq = float64(total) * tickUS / float64(st.Requests)
	}
}

// us is the CPU time of procs[i] over the window in µs, and whether both reads worked.
func (c *cpuSampler) us(i int) (float64, bool) {
	if c.errs[i] != nil {
		return 0, false
	}
	return float64(c.end[i]-c.start[i]) * tickUS, true
}

// selfCPUUS is this process's user+system CPU time so far (getrusage, µs resolution).
func selfCPUUS() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
}
