package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// passGET and passPOST are the pass-through requests: a page read and a POST that is a read
// (Confluence's storage-format conversion), neither of which any write rule wants.
var (
	passGET  = Request{Method: "GET", Path: "/rest/api/content/123456?expand=body.storage", Header: [][2]string{{"Accept", "application/json"}}}
	passPOST = Request{Method: "POST", Path: "/rest/api/contentbody/convert/view", Body: jsonBody(1024),
		Header: [][2]string{{"Content-Type", "application/json"}}}
)

func jsonBody(n int) []byte {
	b := []byte(`{"representation":"storage","value":"<p>`)
	for len(b) < n-8 {
		b = append(b, 'y')
	}
	return append(b, `</p>"}`...)
}

var loadFractions = []float64{0.25, 0.50, 0.75}

// proxyTarget is one server the proxy scenario measures.
type proxyTarget struct {
	name   string
	addr   string
	proc   *Proc
	absent string // why it is not measured
}

func estimateProxy(s *Settings) time.Duration {
	perTarget := 1 + len(loadFractions)
	if s.ClosedOnly {
		perTarget = 1
	}
	steps := 5 * 2 * perTarget * s.Runs
	return time.Duration(steps)*(s.Duration+s.Warmup+100*time.Millisecond) + 5*time.Second
}

// proxyRun is one run of the proxy scenario: its servers and what the steps measured.
type proxyRun struct {
	s       *Settings
	up      *Proc
	targets []*proxyTarget
	reqs    []Request

	maxRPS     map[string][]Spread   // [target][request] over runs
	open       map[string][][][]Step // [target][request][fraction] -> steps over runs
	closedErrs map[string]int64      // [target]
	closedCPU  map[string]cpuSteps   // [target]
}

func runProxy(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	up, err := startRole(s.tmp, "upstream", s.machine.ServerCPUs)
	if err != nil {
		return res, err
	}
	defer up.Stop()
	pr := &proxyRun{s: s, up: up, reqs: []Request{passGET, passPOST}}
	pr.targets, err = startProxyTargets(s, up.Addrs["up"])
	selectServers(s, pr.targets)
	defer func() {
		for _, t := range pr.targets {
			if t.proc != nil {
				t.proc.Stop()
			}
		}
	}()
	if err != nil {
		return res, err
	}
	if err := pr.closedLoop(ctx, p); err != nil {
		return res, err
	}
	res.Tables = []Table{pr.throughputTable(), proxyCPUTable(s, pr.targets, pr.reqs, pr.closedCPU)}
	if !s.ClosedOnly {
		if err := pr.openLoop(ctx, p); err != nil {
			return res, err
		}
		lat, charts := pr.latencyTable()
		res.Tables = append(res.Tables, lat)
		res.Charts = charts
	}
	res.Raw = map[string]any{"closed_loop_rps": pr.maxRPS, "closed_loop": pr.closedCPU, "open_loop": pr.open, "fractions": loadFractions}
	return res, pr.noteHooktapProcess(&res.Tables[0])
}

// startProxyTargets starts the servers the proxy scenario compares in front of the upstream
// at upAddr: none (direct), hooktap, httputil.ReverseProxy, nginx and HAProxy (the last two
// absent when not installed). On error it returns those started so far.
func startProxyTargets(s *Settings, upAddr string) ([]*proxyTarget, error) {
	pack, err := proxyPack(s, upAddr)
	if err != nil {
		return nil, err
	}
	targets := []*proxyTarget{{name: "direct", addr: upAddr}}
	var hookArgs []string
	hookArgs = append(hookArgs, "-config", pack, "-upstream", upAddr, "-queue", "memory")
	if s.CPUProfile != "" {
		hookArgs = append(hookArgs, "-cpuprofile", s.CPUProfile)
	}
	ht, err := startRole(s.tmp, "hooktap", s.machine.ServerCPUs, hookArgs...)
	if err != nil {
		return targets, err
	}
	targets = append(targets, &proxyTarget{name: "hooktap", addr: ht.Addrs["proxy"], proc: ht})
	if s.Alt != "" {
		alt, err := startRoleExe(s.Alt, s.tmp, "hooktap", s.machine.ServerCPUs, "-config", pack, "-upstream", upAddr, "-queue", "memory")
		if err != nil {
			return targets, err
		}
		targets = append(targets, &proxyTarget{name: "hooktap-alt", addr: alt.Addrs["proxy"], proc: alt})
	}
	rp, err := startRole(s.tmp, "revproxy", s.machine.ServerCPUs, "-upstream", upAddr)
	if err != nil {
		return targets, err
	}
	targets = append(targets, &proxyTarget{name: "httputil.ReverseProxy", addr: rp.Addrs["proxy"], proc: rp})
	targets = append(targets, startNginx(s, upAddr), startHAProxy(s, upAddr))
	return targets, nil
}

// closedLoop measures every target's maximum throughput and CPU per request, closed loop,
// for each request kind, s.Runs times.
func (pr *proxyRun) closedLoop(ctx context.Context, p *Progress) error {
	s := pr.s
	pr.maxRPS = map[string][]Spread{}
	pr.closedErrs = map[string]int64{}
	pr.closedCPU = map[string]cpuSteps{}
	for _, t := range pr.targets {
		pr.maxRPS[t.name] = make([]Spread, len(pr.reqs))
		pr.closedCPU[t.name] = make(cpuSteps, len(pr.reqs))
	}
	for r := 0; r < s.Runs; r++ {
		for _, t := range pr.targets {
			if t.absent != "" {
				continue
			}
			for i, rq := range pr.reqs {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				p.Step(s.Duration+s.Warmup, "run %d/%d · %s %s · closed loop, %d conns", r+1, s.Runs, t.name, rq.Method, s.Conns)
				st := ClosedLoop(ctx, []Target{{Addr: t.addr, Req: rq}}, s.Conns, s.Warmup, s.Duration, proxyCPUProcs(t, pr.up)...)
				pr.maxRPS[t.name][i] = append(pr.maxRPS[t.name][i], st.Achieved)
				pr.closedCPU[t.name][i] = append(pr.closedCPU[t.name][i], st)
				pr.closedErrs[t.name] += st.Errors
			}
		}
	}
	return nil
}

// openLoop measures every target's latency, open loop, at each fraction of the direct
// maximum that closedLoop found, for each request kind, s.Runs times.
func (pr *proxyRun) openLoop(ctx context.Context, p *Progress) error {
	s := pr.s
	pr.open = map[string][][][]Step{}
	for _, t := range pr.targets {
		pr.open[t.name] = make([][][]Step, len(pr.reqs))
		for i := range pr.reqs {
			pr.open[t.name][i] = make([][]Step, len(loadFractions))
		}
	}
	for r := 0; r < s.Runs; r++ {
		for _, t := range pr.targets {
			if t.absent != "" {
				continue
			}
			for i, rq := range pr.reqs {
				for k, f := range loadFractions {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					rate := pr.maxRPS["direct"][i].Median() * f
					p.Step(s.Duration+s.Warmup, "run %d/%d · %s %s · open loop %.0f%% = %s", r+1, s.Runs, t.name, rq.Method, f*100, fmtRate(rate))
					st := OpenLoop(ctx, []Target{{Addr: t.addr, Req: rq}}, s.Conns, rate, s.Warmup, s.Duration)
					pr.open[t.name][i][k] = append(pr.open[t.name][i][k], st)
				}
			}
		}
	}
	return nil
}

// throughputTable is the closed-loop throughput of every target, as ratios to direct and
// to hooktap.
func (pr *proxyRun) throughputTable() Table {
	s, maxRPS := pr.s, pr.maxRPS
	through := Table{
		Title:   fmt.Sprintf("Pass-through throughput, closed loop (%d connections, %d×%s)", s.Conns, s.Runs, s.Duration),
		Columns: []string{"server", "GET ÷ direct", "POST ÷ direct", "hooktap ÷ this (GET / POST)", "GET req/s", "POST req/s", "errors"},
	}
	for _, t := range pr.targets {
		if t.absent != "" {
			through.Rows = append(through.Rows, []string{t.name, "absent", "absent", "absent", "absent", "absent", t.absent})
			continue
		}
		m := maxRPS[t.name]
		row := []string{t.name,
			ratios(m[0], maxRPS["direct"][0]).Fmt(fmtRatio), ratios(m[1], maxRPS["direct"][1]).Fmt(fmtRatio),
			ratios(maxRPS["hooktap"][0], m[0]).Fmt(fmtRatio) + " / " + ratios(maxRPS["hooktap"][1], m[1]).Fmt(fmtRatio),
			m[0].Fmt(fmtRate), m[1].Fmt(fmtRate), fmt.Sprint(pr.closedErrs[t.name])}
		through.Rows = append(through.Rows, row)
	}
	through.Notes = append(through.Notes, "Medians over the repetitions, (min–max) in brackets; ratios are paired run by run. "+
		"\"hooktap ÷ this\" above 1 means hooktap served more requests per second than that server.")
	return through
}

// latencyTable is the open-loop latency of every target at each offered load, with one
// chart per request kind.
func (pr *proxyRun) latencyTable() (Table, []Chart) {
	s, open := pr.s, pr.open
	lat := Table{
		Title:   fmt.Sprintf("Pass-through latency, open loop at fixed rates (%% of direct maximum), from the intended send time (%d×%s)", s.Runs, s.Duration),
		Columns: []string{"server", "request", "offered", "p99 ÷ direct", "p50", "p99", "p99.9", "achieved", "errors"},
	}
	var charts []Chart
	var lagMax float64
	for i, rq := range pr.reqs {
		ch := Chart{Title: fmt.Sprintf("%s pass-through: latency by offered load (%s)", rq.Method, s.machine.CPUModel)}
		for _, t := range pr.targets {
			if t.absent != "" {
				lat.Rows = append(lat.Rows, []string{t.name, rq.Method, "—", "absent", "absent", "absent", "absent", "absent", t.absent})
				continue
			}
			cv := Curve{Name: t.name + " " + rq.Method}
			for k, f := range loadFractions {
				steps := open[t.name][i][k]
				var p50, p99, p999, ach, dp99 Spread
				var errs, unsent int64
				for _, st := range steps {
					p50, p99, p999, ach = append(p50, st.P50), append(p99, st.P99), append(p999, st.P999), append(ach, st.Achieved)
					errs += st.Errors
					unsent += st.Unsent
					lagMax = max(lagMax, st.LagP99)
				}
				for _, st := range open["direct"][i][k] {
					dp99 = append(dp99, st.P99)
				}
				lat.Rows = append(lat.Rows, []string{t.name, rq.Method, fmt.Sprintf("%.0f%% (%s)", f*100, fmtRate(steps[0].Offered)),
					ratios(p99, dp99).Fmt(fmtRatio), p50.Fmt(fmtUS), p99.Fmt(fmtUS), p999.Fmt(fmtUS), ach.Fmt(fmtRate), errCell(errs, unsent)})
				cv.Points = append(cv.Points, Point{Offered: steps[0].Offered, P50: p50.Median(), P99: p99.Median(), P999: p999.Median()})
			}
			ch.Curves = append(ch.Curves, cv)
		}
		charts = append(charts, ch)
	}
	lat.Notes = append(lat.Notes, "\"unsent\": the server was so far behind the schedule that these requests were still waiting at the step's hard stop (half a step after its end); "+
		"each is counted in the percentiles with its wait until then, a lower bound, so an overloaded server's latencies are, if anything, understated.")
	lat.Notes = append(lat.Notes, fmt.Sprintf("Each latency counts from when the request was due on the fixed schedule, so queueing behind a slow answer is included. "+
		"The generator's own lateness (p99 of sent − due, worst step) was %s: latencies below that are the generator's floor, not the server's.", fmtUS(lagMax)))
	if s.machine.Shared {
		lat.Notes = append(lat.Notes, "The load generator shares the CPUs with the servers (too few CPUs to split), so every number includes its cost.")
	}
	return lat, charts
}

// noteHooktapProcess stops the hooktap child and adds its per-process numbers (and where
// its CPU profile went) to tb's notes.
func (pr *proxyRun) noteHooktapProcess(tb *Table) error {
	for _, t := range pr.targets {
		if t.proc == nil || t.name != "hooktap" {
			continue
		}
		st, err := t.proc.Stop()
		t.proc = nil
		if err != nil {
			return err
		}
		if st != nil {
			tb.Notes = append(tb.Notes, fmt.Sprintf("hooktap process: peak RSS %s, peak heap %s, %d GCs, %.1f CPU seconds over the scenario.",
				fmtBytes(float64(st.RSSPeak)), fmtBytes(float64(st.HeapPeak)), st.NumGC, st.CPUTime))
		}
		if pr.s.CPUProfile != "" {
			tb.Notes = append(tb.Notes, "CPU profile of the hooktap process: "+pr.s.CPUProfile+" (go tool pprof -top)")
		}
	}
	return nil
}

// proxyPack returns the rules file hooktap loads in the proxy scenario: the shipped pack
// when it exists (none of its rules wants the pass-through requests), else a synthetic one.
func proxyPack(s *Settings, upAddr string) (string, error) {
	if _, err := os.Stat(s.Pack); err == nil {
		return filepath.Abs(s.Pack)
	}
	path := filepath.Join(s.tmp, "synthetic-pack.toml")
	return path, os.WriteFile(path, []byte(syntheticPack(100, "http://"+upAddr, "")), 0o644)
}

// startNginx runs nginx configured as a tuned production reverse proxy would be, so that
// the "÷ nginx" ratios compare hooktap with a fair baseline, neither handicapped nor
// flattered: one worker per server CPU (worker_processes auto would pick the same), access
// log off (hooktap logs no request either), keep-alive to the upstream (keepalive 1024,
// HTTP/1.1, Connection cleared, which nginx needs to reuse upstream connections), no limit
// worth the name on requests per connection on either side (nginx's default of 1000 would
// make it reconnect every few seconds per connection where hooktap and HAProxy never do),
// response buffering on (its default; a 1 KiB answer fits its first buffer), the client's
// Host passed on and X-Forwarded-For appended, as hooktap does. hooktap also adds
// X-Forwarded-Proto and X-Forwarded-Host, which this config does not ask of nginx.
func startNginx(s *Settings, upAddr string) *proxyTarget {
	t := &proxyTarget{name: "nginx"}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			t.absent = "nginx not installed"
			return t
		}
	}
	addr, err := freePort()
	if err != nil {
		t.absent = err.Error()
		return t
	}
	dir := filepath.Join(s.tmp, "nginx")
	_ = os.MkdirAll(dir, 0o755)
	workers := len(s.machine.ServerCPUs)
	if workers == 0 {
		workers = s.machine.CPUs
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes %d;
daemon off;
master_process on;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  client_max_body_size 0;
  keepalive_requests 1000000;
  upstream up { server %s; keepalive 1024; keepalive_requests 1000000; }
  server {
    listen %s;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, user, workers, dir, dir, dir, dir, dir, dir, dir, upAddr, addr)
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.absent = err.Error()
		return t
	}
	p, err := startExternal("nginx", s.machine.ServerCPUs, addr, bin, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log"))
	if err != nil {
		t.absent = "failed to start: " + lastLine(err.Error())
		return t
	}
	t.addr, t.proc = addr, p
	return t
}

// startHAProxy runs HAProxy on the same terms as nginx: one thread per server CPU, no
// logging, keep-alive on both sides with idle upstream connections shared between clients
// (http-reuse always, the setting for a single trusted upstream), X-Forwarded-For added
// (option forwardfor).
func startHAProxy(s *Settings, upAddr string) *proxyTarget {
	t := &proxyTarget{name: "HAProxy"}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
		if _, err := os.Stat(bin); err != nil {
			t.absent = "haproxy not installed"
			return t
		}
	}
	addr, err := freePort()
	if err != nil {
		t.absent = err.Error()
		return t
	}
	threads := len(s.machine.ServerCPUs)
	if threads == 0 {
		threads = s.machine.CPUs
	}
	conf := fmt.Sprintf(`global
  nbthread %d
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
frontend fe
  bind %s
  default_backend be
backend be
  http-reuse always
  server up %s
`, threads, addr, upAddr)
	cfg := filepath.Join(s.tmp, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.absent = err.Error()
		return t
	}
	p, err := startExternal("HAProxy", s.machine.ServerCPUs, addr, bin, "-db", "-f", cfg)
	if err != nil {
		t.absent = "failed to start: " + lastLine(err.Error())
		return t
	}
	t.addr, t.proc = addr, p
	return t
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.ReplaceAll(lines[len(lines)-1], "|", "/")
}

func errCell(errs, unsent int64) string {
	if unsent == 0 {
		return fmt.Sprint(errs)
	}
	return fmt.Sprintf("%d + %d unsent", errs, unsent)
}
