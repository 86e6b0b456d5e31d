package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Settings are the flags every scenario reads.
type Settings struct {
	Short      bool          `json:"short"`
	Duration   time.Duration `json:"duration"` // one measurement step
	Warmup     time.Duration `json:"warmup"`   // before each step, not recorded
	Conns      int           `json:"conns"`
	Runs       int           `json:"runs"`
	Events     int           `json:"events"` // backlog: events accepted while the receiver is down
	Out        string        `json:"out,omitempty"`
	CPUProfile string        `json:"cpuprofile,omitempty"`
	MemProfile string        `json:"memprofile,omitempty"`
	NoPin      bool          `json:"nopin"`
	Pack       string        `json:"pack"`                  // rules file for the proxy and classify scenarios
	ClosedOnly bool          `json:"closed_only,omitempty"` // proxy: closed-loop steps only
	Servers    string        `json:"servers,omitempty"`     // proxy: comma-separated subset of servers
	Alt        string        `json:"alt,omitempty"`         // proxy: another build of this harness, its hooktap measured too

	machine Machine
	tmp     string
}

func (s Settings) String() string {
	return fmt.Sprintf("duration %s per step (+%s warm-up), %d connections, %d repetitions, backlog %d events, rules pack %s",
		s.Duration, s.Warmup, s.Conns, s.Runs, s.Events, s.Pack)
}

type scenario struct {
	name string
	// estimate is how long the scenario will take with these settings, for "time left".
	estimate func(s *Settings) time.Duration
	run      func(ctx context.Context, s *Settings, p *Progress) (Result, error)
}

var scenarios = []scenario{
	{"proxy", estimateProxy, runProxy},
	{"tap", estimateTap, runTap},
	{"dispatch", estimateDispatch, runDispatch},
	{"classify", estimateClassify, runClassify},
	{"backlog", estimateBacklog, runBacklog},
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__serve":
			if err := runServe(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		case "__pin":
			if err := runPin(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		}
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(os.Stderr, "usage: go run ./bench <proxy|tap|dispatch|classify|backlog|all> [flags]\n\n")
	fs.PrintDefaults()
}

// flagSet registers the flags that fill s.
func (s *Settings) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&s.Short, "short", false, "every scenario in a few seconds (CI)")
	fs.DurationVar(&s.Duration, "duration", 0, "length of one measurement step (default 1s, -short 150ms)")
	fs.DurationVar(&s.Warmup, "warmup", 0, "warm-up before each step, not recorded (default 300ms, -short 50ms)")
	fs.IntVar(&s.Conns, "conns", 64, "load generator connections")
	fs.IntVar(&s.Runs, "runs", 0, "repetitions of every measurement (default 3, -short 1)")
	fs.IntVar(&s.Events, "events", 0, "backlog: events accepted while the receiver is down (default 100000, -short 2000)")
	fs.StringVar(&s.Out, "out", "", "write results.json and SVG charts into this directory")
	fs.StringVar(&s.CPUProfile, "cpuprofile", "", "write a CPU profile of the hooktap side: proxy: the hooktap child to this path; tap: the tapped hooktap children to PATH.tap<group> (memory queue) and PATH.tap<group>.disk; dispatch, classify, backlog: this process to PATH.<scenario>")
	fs.StringVar(&s.MemProfile, "memprofile", "", "tap: write the allocation profiles of the tapped hooktap children to PATH.tap<group> (memory queue) and PATH.tap<group>.disk")
	fs.BoolVar(&s.NoPin, "nopin", false, "do not pin the load generator and the servers to separate CPUs")
	fs.StringVar(&s.Pack, "pack", "", "rules file loaded by hooktap in the proxy scenario and benchmarked by classify (default rules.toml when present)")
	fs.BoolVar(&s.ClosedOnly, "closed", false, "proxy: closed-loop steps only (throughput and CPU per request), no open-loop latency runs: for quick A/B comparisons")
	fs.StringVar(&s.Servers, "servers", "", "proxy: measure only these servers, comma-separated (direct, hooktap, httputil, nginx, haproxy); direct is always kept unless -closed")
	fs.StringVar(&s.Alt, "alt", "", "proxy: path to another build of this harness (go build -o PATH ./bench at another commit); its hooktap child is measured as \"hooktap-alt\" in the same steps, the fairest A/B on a busy machine")
	fs.Usage = func() { usage(fs) }
	return fs
}

func run(args []string) error {
	var s Settings
	fs := s.flagSet()
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	chosen, err := choose(fs, name)
	if err != nil {
		return err
	}
	s.fill()
	if err := s.absProfiles(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hooktap-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755) // nginx workers may run as another user
	s.tmp = tmp

	s.machine = describeMachine(s.NoPin)
	if err := pinProcess(s.machine.LoadCPUs); err != nil {
		return err
	}
	printHeader(&s, append([]string{name}, args...))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	p := &Progress{start: time.Now()}
	for _, sc := range chosen {
		p.planned += sc.estimate(&s)
	}
	var results []Result
	failed := 0
	for _, sc := range chosen {
		if ctx.Err() != nil {
			break
		}
		res, err := runScenario(ctx, sc, &s, p)
		if err != nil {
			failed++
		}
		results = append(results, res)
	}
	fmt.Printf("- load average at end: %s\n", loadAvg())
	fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(p.start).Round(time.Second))
	if s.Out != "" {
		if err := writeOut(s.Out, map[string]any{"machine": s.machine, "settings": s, "scenario": name}, results); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", s.Out)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed", failed)
	}
	return nil
}

// choose returns the scenarios that name (a scenario or "all") selects.
func choose(fs *flag.FlagSet, name string) ([]scenario, error) {
	if name == "" {
		usage(fs)
		return nil, fmt.Errorf("no scenario given")
	}
	var chosen []scenario
	for _, sc := range scenarios {
		if name == "all" || name == sc.name {
			chosen = append(chosen, sc)
		}
	}
	if len(chosen) == 0 {
		usage(fs)
		return nil, fmt.Errorf("unknown scenario %q", name)
	}
	return chosen, nil
}

// absProfiles makes the profile paths absolute, as the hooktap children run elsewhere.
func (s *Settings) absProfiles() error {
	for _, p := range []*string{&s.CPUProfile, &s.MemProfile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

// printHeader prints the report's title and what it was run with: command is the scenario
// name and the flags.
func printHeader(s *Settings, command []string) {
	fmt.Printf("# hooktap benchmark\n\n")
	fmt.Printf("- command: `go run ./bench %s`\n", strings.Join(command, " "))
	fmt.Printf("- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- machine: %s\n", s.machine)
	fmt.Printf("- settings: %s\n", s)
	fmt.Printf("- load average at start: %s (other work on the machine skews every number)\n\n", loadAvg())
}

// runScenario runs sc (under a CPU profile of this process when asked and sc runs in it)
// and prints its section of the report; a failure is also in the result's Error.
func runScenario(ctx context.Context, sc scenario, s *Settings, p *Progress) (Result, error) {
	t0 := time.Now()
	p.scenario = sc.name
	stopProf := func() {}
	if s.CPUProfile != "" && inProcess[sc.name] {
		if stop, err := startProfile(s.CPUProfile + "." + sc.name); err == nil {
			stopProf = stop
		} else {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	res, err := sc.run(ctx, s, p)
	stopProf()
	res.Scenario, res.Seconds = sc.name, time.Since(t0).Seconds()
	fmt.Printf("## %s\n\n", sc.name)
	if err != nil {
		res.Error = err.Error()
		fmt.Printf("**failed**: %s\n\n", oneLine(err.Error()))
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", sc.name, err)
	}
	for _, t := range res.Tables {
		fmt.Println(t.Markdown())
	}
	return res, err
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func (s *Settings) fill() {
	def := func(d *time.Duration, long, short time.Duration) {
		if *d == 0 {
			*d = long
			if s.Short {
				*d = short
			}
		}
	}
	def(&s.Duration, time.Second, 150*time.Millisecond)
	def(&s.Warmup, 300*time.Millisecond, 50*time.Millisecond)
	if s.Runs <= 0 {
		s.Runs = 3
		if s.Short {
			s.Runs = 1
		}
	}
	if s.Events <= 0 {
		s.Events = 100_000
		if s.Short {
			s.Events = 2000
		}
	}
	if s.Conns <= 0 {
		s.Conns = 64
	}
	if s.Pack == "" {
		s.Pack = "rules.toml"
		if _, err := os.Stat(s.Pack); err != nil {
			s.Pack = "bench (synthetic pack; rules.toml not found)"
		}
	}
}

// Progress prints what is running and an estimate of the time left, on stderr.
type Progress struct {
	mu       sync.Mutex
	start    time.Time
	planned  time.Duration
	scenario string
}

// Step announces a step expected to take about d.
func (p *Progress) Step(d time.Duration, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	left := p.planned - el
	if left < d {
		left = d
	}
	fmt.Fprintf(os.Stderr, "[%6s] %-8s %-60s ~%s left\n", el.Round(time.Second), p.scenario, fmt.Sprintf(format, args...), left.Round(time.Second))
}

// inProcess lists the scenarios that run in this process; -cpuprofile profiles this process
// for them (the others profile the hooktap child).
var inProcess = map[string]bool{"dispatch": true, "classify": true, "backlog": true}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// loadAvg is /proc/loadavg's first three fields, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
