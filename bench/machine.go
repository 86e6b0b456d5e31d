package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	CPUModel   string `json:"cpu_model"`
	OS         string `json:"os"`
	MemTotalMB int    `json:"mem_total_mb"`
	// LoadCPUs and ServerCPUs are the CPU sets the load generator and the servers are
	// pinned to; both empty when the machine is too small to split (they then share).
	LoadCPUs   []int `json:"load_cpus,omitempty"`
	ServerCPUs []int `json:"server_cpus,omitempty"`
	Shared     bool  `json:"shared"`
}

func describeMachine(noPin bool) Machine {
	m := Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		CPUModel:   "unknown",
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.Atoi(f[1])
				m.MemTotalMB = kb / 1024
			}
		}
	}
	cpus := allowedCPUs()
	if runtime.GOOS != "linux" || noPin || len(cpus) <= 2 {
		m.Shared = true
		return m
	}
	// Servers get the first half, the load generator the second: the load generator needs
	// about as much CPU as the proxy it drives.
	half := len(cpus) / 2
	m.ServerCPUs = cpus[:half]
	m.LoadCPUs = cpus[half:]
	return m
}

func (m Machine) String() string {
	pin := "load generator and servers share all CPUs (too few to split: results include the load generator's own cost)"
	if !m.Shared {
		pin = fmt.Sprintf("servers pinned to CPUs %s, load generator to CPUs %s", cpuList(m.ServerCPUs), cpuList(m.LoadCPUs))
	}
	return fmt.Sprintf("%d CPUs (%s), GOMAXPROCS %d, %s, %s, %d MiB RAM; %s",
		m.CPUs, m.CPUModel, m.GOMAXPROCS, m.GoVersion, m.OS, m.MemTotalMB, pin)
}

func cpuList(c []int) string {
	s := make([]string, len(c))
	for i, v := range c {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func parseCPUList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n >= 1024 {
			return nil, fmt.Errorf("bench: bad CPU list %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// cpuMask is the kernel's cpu_set_t for up to 1024 CPUs.
type cpuMask [1024 / 64]uint64

func allowedCPUs() []int {
	var m cpuMask
	if runtime.GOOS != "linux" {
		return nil
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return nil
	}
	var out []int
	for i := 0; i < 1024; i++ {
		if m[i/64]&(1<<(i%64)) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// pinProcess restricts every thread of this process (and so every thread and child it
// creates later) to cpus. Linux only; a no-op for an empty set.
func pinProcess(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var m cpuMask
	for _, c := range cpus {
		m[c/64] |= 1 << (c % 64)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("bench: pinning: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
		if e != 0 && e != syscall.ESRCH {
			return fmt.Errorf("bench: sched_setaffinity: %w", e)
		}
	}
	return nil
}

// rssHWM returns the process's peak resident set size in bytes (VmHWM), or 0.
func rssHWM() uint64 { return procStatus("VmHWM:") }

// rssNow returns the process's resident set size in bytes (VmRSS), or 0.
func rssNow() uint64 { return procStatus("VmRSS:") }

func procStatus(key string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
