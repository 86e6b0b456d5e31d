package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/valyala/fasthttp"
)

// tapWrite is the write of the tap scenario: a label added to a page, as Confluence's REST
// API takes it. The tap rule turns it into one label_added event whose payload carries the
// upstream's "t" (its answer's time, in ns) so the receiver can time the whole path.
var tapWrite = Request{Method: "POST", Path: "/rest/api/content/123456/label",
	Body: []byte(`{"prefix":"global","name":"bench"}`), Header: [][2]string{{"Content-Type", "application/json"}}}

const tapRule = `
[[rule]]
name   = "bench label added"
method = "POST"
path   = "/rest/api/content/{id}/label"
[[rule.emit]]
event   = "label_added"
payload = { "label.name" = "req.name", "labelled.id" = "path.id|num", "t" = "resp.t" }
`

func tapConfig(upstream, receiver string, withRules bool) string {
	s := fmt.Sprintf("[proxy]\nupstream = %q\n\n[dispatch]\nqueue = \"memory\"\nmemory_queue_size = 1000000\n", upstream)
	if !withRules {
		return s
	}
	s += fmt.Sprintf("\n[[webhook]]\nname = \"bench\"\nurl = %q\nsecret = \"bench-secret\"\nevents = [\"label_added\"]\n", receiver)
	return s + tapRule
}

var tapFractions = []float64{0.25, 0.50}

func estimateTap(s *Settings) time.Duration {
	steps := 3 * (1 + len(tapFractions)) * s.Runs
	return time.Duration(steps)*(s.Duration+s.Warmup+500*time.Millisecond) + 5*time.Second
}

// recvStats is the receiver's GET /stats.
type recvStats struct {
	Received int64        `json:"received"`
	WithoutT int64        `json:"without_t"`
	Latency  *HistSummary `json:"latency"`
}

func getRecv(addr, path string) (recvStats, error) {
	var st recvStats
	code, body, err := fasthttp.GetTimeout(nil, "http://"+addr+path, 10*time.Second)
	if err != nil {
		return st, err
	}
	if code != 200 {
		return st, fmt.Errorf("bench: receiver %s: status %d", path, code)
	}
	if path == "/stats" {
		err = json.Unmarshal(body, &st)
	}
	return st, err
}

// drainRecv waits until the receiver's count stops moving for 300 ms (or 60 s pass).
func drainRecv(ctx context.Context, addr string) (recvStats, error) {
	var last recvStats
	stable := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		st, err := getRecv(addr, "/stats")
		if err != nil {
			return st, err
		}
		if st.Received != last.Received {
			stable = time.Now()
		}
		last = st
		if time.Since(stable) > 300*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last, nil
}

func runTap(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	up, err := startRole(s.tmp, "upstream", s.machine.ServerCPUs)
	if err != nil {
		return res, err
	}
	defer up.Stop()
	upURL, recv := "http://"+up.Addrs["up"], up.Addrs["recv"]

	type variant struct {
		name, queue string
		rules       bool
		addr        string
		proc        *Proc
		absent      string
		closed      Spread
		open        [][]Step // [fraction][run]
		e2e         [][]*HistSummary
		delivered   int64
		writes      int64
	}
	vars := []*variant{
		{name: "no rules (pass-through)", queue: "memory"},
		{name: "rules, memory queue", queue: "memory", rules: true},
		{name: "rules, disk queue", queue: "disk", rules: true},
	}
	for i, v := range vars {
		cfg := filepath.Join(s.tmp, fmt.Sprintf("tap-%d.toml", i))
		if err := os.WriteFile(cfg, []byte(tapConfig(upURL, "http://"+recv+"/hook", v.rules)), 0o644); err != nil {
			return res, err
		}
		args := []string{"-config", cfg, "-queue", v.queue, "-data", filepath.Join(s.tmp, fmt.Sprintf("tap-data-%d", i))}
		if s.CPUProfile != "" && v.rules && v.queue == "memory" {
			args = append(args, "-cpuprofile", s.CPUProfile+".tap")
		}
		pr, err := startRole(s.tmp, "hooktap", s.machine.ServerCPUs, args...)
		if err != nil {
			v.absent = lastLine(err.Error())
			continue
		}
		v.proc, v.addr = pr, pr.Addrs["proxy"]
		v.open = make([][]Step, len(tapFractions))
		v.e2e = make([][]*HistSummary, len(tapFractions))
	}
	defer func() {
		for _, v := range vars {
			if v.proc != nil {
				v.proc.Stop()
			}
		}
	}()
	if vars[0].absent != "" {
		return res, fmt.Errorf("hooktap without rules did not start: %s", vars[0].absent)
	}

	count := func(v *variant, st recvStats, writes int64) {
		v.delivered += st.Received
		v.writes += writes
	}
	for r := 0; r < s.Runs; r++ {
		for _, v := range vars {
			if v.absent != "" {
				continue
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			p.Step(s.Duration+s.Warmup, "run %d/%d · %s · closed loop, %d conns", r+1, s.Runs, v.name, s.Conns)
			if _, err := getRecv(recv, "/reset"); err != nil {
				return res, err
			}
			st := ClosedLoop(ctx, []Target{{Addr: v.addr, Req: tapWrite}}, s.Conns, s.Warmup, s.Duration)
			v.closed = append(v.closed, st.Achieved)
			if v.rules {
				if _, err := drainRecv(ctx, recv); err != nil {
					return res, err
				}
			}
		}
	}
	base := vars[0].closed.Median()
	for r := 0; r < s.Runs; r++ {
		for _, v := range vars {
			if v.absent != "" {
				continue
			}
			for k, f := range tapFractions {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				rate := base * f
				p.Step(s.Duration+s.Warmup, "run %d/%d · %s · open loop %.0f%% = %s", r+1, s.Runs, v.name, f*100, fmtRate(rate))
				if _, err := getRecv(recv, "/reset"); err != nil {
					return res, err
				}
				st := OpenLoop(ctx, []Target{{Addr: v.addr, Req: tapWrite}}, s.Conns, rate, s.Warmup, s.Duration)
				v.open[k] = append(v.open[k], st)
				if v.rules {
					rs, err := drainRecv(ctx, recv)
					if err != nil {
						return res, err
					}
					v.e2e[k] = append(v.e2e[k], rs.Latency)
					// Every write of the step (warm-up included) should be one delivery.
					count(v, rs, st.Sent)
				}
			}
		}
	}

	through := Table{
		Title:   fmt.Sprintf("Tapped writes vs the same writes with no rules (POST %s, %d connections, %d×%s)", tapWrite.Path, s.Conns, s.Runs, s.Duration),
		Columns: []string{"hooktap", "throughput ÷ no rules", "writes/s", "added p50 @50%", "added p99 @50%", "p50 / p99 @25%", "p50 / p99 @50%", "upstream answer → receiver p50 / p99 @50%", "deliveries ÷ writes"},
	}
	k50 := 1
	for _, v := range vars {
		if v.absent != "" {
			through.Rows = append(through.Rows, []string{v.name, "absent", "absent", "absent", "absent", "absent", "absent", "absent", v.absent})
			continue
		}
		lat := func(k int) (p50, p99 Spread) {
			for _, st := range v.open[k] {
				p50, p99 = append(p50, st.P50), append(p99, st.P99)
			}
			return
		}
		b50, b99 := lat2(vars[0].open[k50])
		v50, v99 := lat(k50)
		q50, q99 := lat(0)
		added := func(a, b Spread) Spread {
			out := Spread{}
			for i := 0; i < min(len(a), len(b)); i++ {
				out = append(out, a[i]-b[i])
			}
			return out
		}
		e2e, dl := "—", "—"
		if v.rules {
			var e50, e99 Spread
			for _, h := range v.e2e[k50] {
				if h != nil && h.Count > 0 {
					e50, e99 = append(e50, h.P50), append(e99, h.P99)
				}
			}
			e2e = e50.Fmt(fmtUS) + " / " + e99.Fmt(fmtUS)
			if v.writes > 0 {
				dl = fmt.Sprintf("%.3f", float64(v.delivered)/float64(v.writes))
			}
		}
		addedFmt := func(d Spread) string {
			return d.Fmt(func(x float64) string {
				if x < 0 {
					return "−" + fmtUS(-x)
				}
				return "+" + fmtUS(x)
			})
		}
		through.Rows = append(through.Rows, []string{v.name, ratios(v.closed, vars[0].closed).Fmt(fmtRatio), v.closed.Fmt(fmtRate),
			addedFmt(added(v50, b50)), addedFmt(added(v99, b99)),
			q50.Fmt(fmtUS) + " / " + q99.Fmt(fmtUS), v50.Fmt(fmtUS) + " / " + v99.Fmt(fmtUS), e2e, dl})
	}
	through.Notes = append(through.Notes,
		"Throughput is closed-loop; latencies are open-loop at 25% and 50% of the no-rules maximum, from the intended send time; "+
			"\"added\" is the tapped latency minus the no-rules latency of the same repetition. "+
			"End-to-end latency runs from the upstream's answer (a time stamped in its body, copied into the payload by the rule) to the receiver's request.",
		"The rule emits one label_added per write to one webhook (HMAC-signed); \"deliveries ÷ writes\" counts what the receiver got over the open-loop steps (1.000 = every write delivered).")
	for _, v := range vars {
		if v.proc == nil {
			continue
		}
		st, err := v.proc.Stop()
		v.proc = nil
		if err == nil && st != nil {
			through.Notes = append(through.Notes, fmt.Sprintf("%s: peak RSS %s, peak live heap %s, %.1f CPU s.", v.name, fmtBytes(float64(st.RSSPeak)), fmtBytes(float64(st.HeapPeak)), st.CPUTime))
		}
	}
	res.Tables = []Table{through}
	raw := map[string]any{}
	for _, v := range vars {
		raw[v.name] = map[string]any{"closed_rps": v.closed, "open": v.open, "e2e": v.e2e, "absent": v.absent, "delivered": v.delivered, "writes": v.writes}
	}
	res.Raw = raw
	return res, nil
}

func lat2(steps []Step) (p50, p99 Spread) {
	for _, st := range steps {
		p50, p99 = append(p50, st.P50), append(p99, st.P99)
	}
	return
}
