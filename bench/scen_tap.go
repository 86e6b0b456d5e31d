package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tidwall/gjson"
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
	return tapConfigFor(upstream, receiver, withRules, "label_added")
}

// tapConfigFor is tapConfig with the webhook subscribed to event: one the rule does not emit
// makes the rule's events wanted by no one (the tapped write with no subscriber).
func tapConfigFor(upstream, receiver string, withRules bool, event string) string {
	s := fmt.Sprintf("[proxy]\nupstream = %q\n\n[dispatch]\nqueue = \"memory\"\nmemory_queue_size = 1000000\n", upstream)
	if !withRules {
		return s
	}
	s += fmt.Sprintf("\n[[webhook]]\nname = \"bench\"\nurl = %q\nsecret = \"bench-secret\"\nevents = [%q]\n", receiver, event)
	return s + tapRule
}

var tapFractions = []float64{0.25, 0.50}

func estimateTap(s *Settings) time.Duration {
	steps := (7*(1+len(tapFractions)) + 8) * s.Runs
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

// tapVariant is one hooktap configuration measured by the tap scenario.
type tapVariant struct {
	name, queue string
	config      string // rules file contents
	rules       bool
	nosub       bool // rules, and no webhook wants their events: no delivery expected
	addr        string
	proc        *Proc
	absent      string
	closed      Spread
	open        [][]Step // [fraction][run]
	// own is the open-loop step at half of this variant's own closed-loop maximum (tapped
	// variants only): its latency at 50 % load, where a tapped path is not overloaded.
	own       []Step
	ownBase   []Step // the no-rules variant at the same rate, in the same repetition
	e2e       [][]*HistSummary
	delivered int64
	writes    int64
	// CPU time of the hooktap process from /proc, µs: per write answered in the closed-loop
	// steps; per write sent and per event delivered over each open-loop step at 50 %, from
	// its start to the end of its deliveries (the receiver's count has stopped moving).
	cpuClosed, cpuWrite50, cpuEvent50 Spread
}

// tapGroup is a set of variants measured with the same write against the same upstream;
// the first variant (no rules) is the baseline.
type tapGroup struct {
	title    string
	write    Request
	vars     []*tapVariant
	notes    []string
	perWrite int // events each write produces (0 means 1)
}

func runTap(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	res := Result{}
	up, err := startRole(s.tmp, "upstream", s.machine.ServerCPUs, "-wiki")
	if err != nil {
		return res, err
	}
	defer up.Stop()
	upURL, recv := "http://"+up.Addrs["up"], up.Addrs["recv"]
	hook := "http://" + recv + "/hook"

	groups := []*tapGroup{{
		title: fmt.Sprintf("Tapped writes vs the same writes with no rules: static upstream, one bench rule (POST %s, %d connections, %d×%s)", tapWrite.Path, s.Conns, s.Runs, s.Duration),
		write: tapWrite,
		vars: []*tapVariant{
			{name: "no rules (pass-through)", queue: "memory", config: tapConfig(upURL, hook, false)},
			{name: "rules, memory queue", queue: "memory", rules: true, config: tapConfig(upURL, hook, true)},
			{name: "rules, disk queue", queue: "disk", rules: true, config: tapConfig(upURL, hook, true)},
			{name: "rules, no subscriber, disk queue", queue: "disk", rules: true, nosub: true, config: tapConfigFor(upURL, hook, true, "page_created")},
		},
		notes: []string{"The rule emits one label_added per write to one webhook (HMAC-signed); \"deliveries ÷ writes\" counts what the receiver got over the open-loop steps (1.000 = every write delivered).",
			"No subscriber: the same rule, its webhook subscribed to page_created only, so each write is matched and classified and its event is wanted by no one (counted, not stored)."},
	}}
	if data, err := os.ReadFile(s.Pack); err == nil {
		wikiURL := "http://" + up.Addrs["wiki"]
		id, err := wikiPage(up.Addrs["wiki"])
		if err != nil {
			return res, err
		}
		write := Request{Method: "POST", Path: "/rest/api/content",
			Body:   []byte(`{"type":"comment","container":{"id":"` + id + `","type":"page"},"body":{"storage":{"value":"<p>bench comment</p>","representation":"storage"}}}`),
			Header: [][2]string{{"Content-Type", "application/json"}, {"Authorization", adminAuth}}}
		shipped := withWebhook(string(data), wikiURL, hook)
		groups = append(groups, &tapGroup{
			title: fmt.Sprintf("Tapped writes, realistic: the sample wiki as upstream, the shipped %s (POST %s: a comment, %d connections, %d×%s)", filepath.Base(s.Pack), write.Path, s.Conns, s.Runs, s.Duration),
			write: write,
			vars: []*tapVariant{
				{name: "wiki, no rules (pass-through)", queue: "memory", config: tapConfig(wikiURL, hook, false)},
				{name: "wiki, shipped rules, memory queue", queue: "memory", rules: true, config: shipped},
				{name: "wiki, shipped rules, disk queue", queue: "disk", rules: true, config: shipped},
			},
			perWrite: 2,
			notes: []string{"Each write adds a comment to one page (POST /rest/api/content, type comment: always a new object, so every write is an event); " +
				"the shipped pack emits comment_created and content_created for it, both to one webhook subscribed to every event, so \"deliveries ÷ writes\" is per event (1.000 = every event delivered). " +
				"The wiki serves every request under one mutex. No end-to-end latency here: the wiki's answers carry no timestamp."},
		})
	}
	var tables []Table
	raw := map[string]any{}
	for gi, g := range groups {
		t, err := runTapGroup(ctx, s, p, g, gi, recv)
		for _, v := range g.vars {
			raw[v.name] = map[string]any{"closed_rps": v.closed, "open": v.open, "open_own_half": v.own, "open_own_half_base": v.ownBase, "e2e": v.e2e, "absent": v.absent, "delivered": v.delivered, "writes": v.writes}
		}
		if err != nil {
			res.Tables, res.Raw = tables, raw
			return res, err
		}
		tables = append(tables, t...)
	}
	res.Tables, res.Raw = tables, raw
	return res, nil
}

// withWebhook returns a rules file with its upstream and webhooks replaced: every event to
// the bench receiver, memory queue by default (the variant sets the queue).
func withWebhook(src, upstream, hook string) string {
	return src + fmt.Sprintf("\n# added by the benchmark\n[[webhook]]\nname = \"bench-receiver\"\nurl = %q\nsecret = \"bench-secret\"\nevents = [\"*\"]\n", hook) +
		"# upstream: " + upstream + "\n"
}

// wikiPage creates a page in the sample wiki's space DS and returns its id.
func wikiPage(addr string) (string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/rest/api/content")
	req.Header.SetMethod("POST")
	req.Header.Set("Authorization", adminAuth)
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"type":"page","title":"Bench page","space":{"key":"DS"},"body":{"storage":{"value":"<p>bench</p>","representation":"storage"}}}`)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		return "", fmt.Errorf("bench: creating a wiki page: %w", err)
	}
	id := gjson.GetBytes(resp.Body(), "id").String()
	if resp.StatusCode() != 200 || id == "" {
		return "", fmt.Errorf("bench: creating a wiki page: status %d: %s", resp.StatusCode(), resp.Body())
	}
	return id, nil
}

// k50 is the index of 50 % in tapFractions.
const k50 = 1

func runTapGroup(ctx context.Context, s *Settings, p *Progress, g *tapGroup, gi int, recv string) ([]Table, error) {
	defer func() {
		for _, v := range g.vars {
			if v.proc != nil {
				v.proc.Stop()
			}
		}
	}()
	if err := g.start(s, gi); err != nil {
		return nil, err
	}
	if g.vars[0].absent != "" {
		return nil, fmt.Errorf("hooktap without rules did not start: %s", g.vars[0].absent)
	}
	if err := g.closedLoop(ctx, s, p, recv); err != nil {
		return nil, err
	}
	if err := g.openLoop(ctx, s, p, recv); err != nil {
		return nil, err
	}
	through := g.throughputTable()
	cpuTab := tapCPUTable(g, s)
	for _, v := range g.vars {
		if v.proc == nil {
			continue
		}
		st, err := v.proc.Stop()
		v.proc = nil
		if err == nil && st != nil {
			through.Notes = append(through.Notes, fmt.Sprintf("%s: peak RSS %s, peak heap %s, %.1f CPU s.", v.name, fmtBytes(float64(st.RSSPeak)), fmtBytes(float64(st.HeapPeak)), st.CPUTime))
		}
	}
	return []Table{through, g.ownLoadTable(), cpuTab}, nil
}

// start starts a hooktap child for every variant of g (group number gi), with its rules file
// and, for the variants with rules, the profiles asked for; a variant that does not start is
// marked absent. An error (writing a rules file) leaves those started so far running.
func (g *tapGroup) start(s *Settings, gi int) error {
	for i, v := range g.vars {
		cfg := filepath.Join(s.tmp, fmt.Sprintf("tap-%d-%d.toml", gi, i))
		if err := os.WriteFile(cfg, []byte(v.config), 0o644); err != nil {
			return err
		}
		args := []string{"-config", cfg, "-queue", v.queue, "-data", filepath.Join(s.tmp, fmt.Sprintf("tap-data-%d-%d", gi, i))}
		if upstream := upstreamComment(v.config); upstream != "" {
			args = append(args, "-upstream", upstream)
		}
		if v.rules {
			suffix := fmt.Sprintf(".tap%d", gi+1)
			if v.queue != "memory" {
				suffix += "." + v.queue
			}
			if v.nosub {
				suffix += ".nosub"
			}
			if s.CPUProfile != "" {
				args = append(args, "-cpuprofile", s.CPUProfile+suffix)
			}
			if s.MemProfile != "" {
				args = append(args, "-memprofile", s.MemProfile+suffix)
			}
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
	return nil
}

// closedLoop measures every variant's maximum write throughput and CPU per write, closed
// loop, s.Runs times; with rules, the receiver (at recv) drains after each step.
func (g *tapGroup) closedLoop(ctx context.Context, s *Settings, p *Progress, recv string) error {
	for r := 0; r < s.Runs; r++ {
		for _, v := range g.vars {
			if v.absent != "" {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.Step(s.Duration+s.Warmup, "run %d/%d · %s · closed loop, %d conns", r+1, s.Runs, v.name, s.Conns)
			if _, err := getRecv(recv, "/reset"); err != nil {
				return err
			}
			st := ClosedLoop(ctx, []Target{{Addr: v.addr, Req: g.write}}, s.Conns, s.Warmup, s.Duration, v.proc)
			v.closed = append(v.closed, st.Achieved)
			if us, ok := procUS(st, v.proc.Name); ok {
				v.cpuClosed = append(v.cpuClosed, us)
			}
			if v.rules {
				if _, err := drainRecv(ctx, recv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// openLoop measures every variant's latency, open loop at each fraction of the no-rules
// maximum, s.Runs times.
func (g *tapGroup) openLoop(ctx context.Context, s *Settings, p *Progress, recv string) error {
	base := g.vars[0].closed.Median()
	for r := 0; r < s.Runs; r++ {
		for _, v := range g.vars {
			if v.absent != "" {
				continue
			}
			for k, f := range tapFractions {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rate := base * f
				p.Step(s.Duration+s.Warmup, "run %d/%d · %s · open loop %.0f%% = %s", r+1, s.Runs, v.name, f*100, fmtRate(rate))
				if err := g.openStep(ctx, s, v, k, rate, recv); err != nil {
					return err
				}
			}
			if v.rules && !v.nosub {
				if err := g.ownStep(ctx, s, p, v, r, recv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// openStep is one open-loop step of v at rate (tapFractions[k] of the no-rules maximum):
// its latencies; with rules, its deliveries and end-to-end latency once the receiver at recv
// has drained; at 50 %, the CPU per write and per event over the whole step.
func (g *tapGroup) openStep(ctx context.Context, s *Settings, v *tapVariant, k int, rate float64, recv string) error {
	if _, err := getRecv(recv, "/reset"); err != nil {
		return err
	}
	cpu := newCPUSampler([]*Proc{v.proc})
	st := OpenLoop(ctx, []Target{{Addr: v.addr, Req: g.write}}, s.Conns, rate, s.Warmup, s.Duration)
	v.open[k] = append(v.open[k], st)
	var rs recvStats
	if v.rules {
		var err error
		if rs, err = drainRecv(ctx, recv); err != nil {
			return err
		}
	}
	cpu.finish()
	if us, ok := cpu.us(0); ok && k == k50 {
		if st.Sent > 0 {
			v.cpuWrite50 = append(v.cpuWrite50, us/float64(st.Sent))
		}
		if rs.Received > 0 {
			v.cpuEvent50 = append(v.cpuEvent50, us/float64(rs.Received))
		}
	}
	if v.rules {
		v.e2e[k] = append(v.e2e[k], rs.Latency)
		// Every write of the step (warm-up included) should be one delivery.
		v.delivered += rs.Received
		v.writes += st.Sent
	}
	return nil
}

// throughputTable is every variant's throughput and latency, against the no-rules variant.
func (g *tapGroup) throughputTable() Table {
	through := Table{
		Title:   g.title,
		Columns: []string{"hooktap", "throughput ÷ no rules", "writes/s", "added p50 @50%", "added p99 @50%", "p50 / p99 @25%", "p50 / p99 @50%", "upstream answer → receiver p50 / p99 @50%", "deliveries ÷ writes"},
	}
	for _, v := range g.vars {
		if v.absent != "" {
			through.Rows = append(through.Rows, []string{v.name, "absent", "absent", "absent", "absent", "absent", "absent", "absent", v.absent})
			continue
		}
		through.Rows = append(through.Rows, g.throughputRow(v))
	}
	through.Notes = append(through.Notes,
		"Throughput is closed-loop; latencies are open-loop at 25% and 50% of the no-rules maximum, from the intended send time; "+
			"\"added\" is the tapped latency minus the no-rules latency of the same repetition. "+
			"End-to-end latency runs from the upstream's answer (a time stamped in its body, copied into the payload by the rule) to the receiver's request.")
	through.Notes = append(through.Notes, g.notes...)
	return through
}

// ownStep runs, in repetition r, the no-rules variant and then v open loop at half of v's
// median closed-loop maximum.
func (g *tapGroup) ownStep(ctx context.Context, s *Settings, p *Progress, v *tapVariant, r int, recv string) error {
	rate := v.closed.Median() / 2
	for _, x := range []*tapVariant{g.vars[0], v} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.Step(s.Duration+s.Warmup, "run %d/%d · %s · open loop at half of %s's max = %s", r+1, s.Runs, x.name, v.name, fmtRate(rate))
		if _, err := getRecv(recv, "/reset"); err != nil {
			return err
		}
		st := OpenLoop(ctx, []Target{{Addr: x.addr, Req: g.write}}, s.Conns, rate, s.Warmup, s.Duration)
		if x == v {
			v.own = append(v.own, st)
			if _, err := drainRecv(ctx, recv); err != nil {
				return err
			}
		} else {
			v.ownBase = append(v.ownBase, st)
		}
	}
	return nil
}

// ownLoadTable is each tapped variant's latency at half its own maximum, against the
// no-rules variant's at the same rate in the same repetition.
func (g *tapGroup) ownLoadTable() Table {
	tb := Table{
		Title:   "Latency at 50% of each tapped variant's own maximum (not overloaded), against no rules at the same rate",
		Columns: []string{"hooktap", "rate", "p50 / p99 / p99.9", "no rules at that rate: p50 / p99", "added p50", "added p99"},
	}
	for _, v := range g.vars[1:] {
		if v.absent != "" || len(v.own) == 0 {
			continue
		}
		v50, v99 := lat2(v.own)
		b50, b99 := lat2(v.ownBase)
		tb.Rows = append(tb.Rows, []string{v.name, fmtRate(v.closed.Median() / 2), stepLat(v.own),
			b50.Fmt(fmtUS) + " / " + b99.Fmt(fmtUS), fmtAdded(added(v50, b50)), fmtAdded(added(v99, b99))})
	}
	tb.Notes = append(tb.Notes, "Open loop at half of the variant's median closed-loop throughput, from the intended send time; the no-rules variant runs at the same rate just before it, and \"added\" is paired repetition by repetition. "+
		"At 50% of the no-rules maximum (the table above) a tapped variant whose own maximum is near or below that rate is overloaded, and its latency is queueing; here each runs at half of what it can do. "+
		"The client's answer still waits for its event to be stored (disk queue: acknowledged by the embedded JetStream server).")
	return tb
}

// stepLat formats the p50 / p99 / p99.9 of steps, median (min–max) over the repetitions.
func stepLat(steps []Step) string {
	var p50, p99, p999 Spread
	for _, st := range steps {
		p50, p99, p999 = append(p50, st.P50), append(p99, st.P99), append(p999, st.P999)
	}
	return p50.Fmt(fmtUS) + " / " + p99.Fmt(fmtUS) + " / " + p999.Fmt(fmtUS)
}

// throughputRow is v's row of the throughput table.
func (g *tapGroup) throughputRow(v *tapVariant) []string {
	vars := g.vars
	b50, b99 := lat2(vars[0].open[k50])
	v50, v99 := lat2(v.open[k50])
	q50, q99 := lat2(v.open[0])
	e2e, dl := "—", "—"
	if v.rules {
		var e50, e99 Spread
		for _, h := range v.e2e[k50] {
			if h != nil && h.Count > 0 {
				e50, e99 = append(e50, h.P50), append(e99, h.P99)
			}
		}
		if len(e50) > 0 {
			e2e = e50.Fmt(fmtUS) + " / " + e99.Fmt(fmtUS)
		}
		switch {
		case v.nosub:
			dl = fmt.Sprintf("none wanted (%d delivered)", v.delivered)
		case v.writes > 0:
			dl = fmt.Sprintf("%.3f", float64(v.delivered)/float64(v.writes*int64(max(g.perWrite, 1))))
		}
	}
	return []string{v.name, ratios(v.closed, vars[0].closed).Fmt(fmtRatio), v.closed.Fmt(fmtRate),
		fmtAdded(added(v50, b50)), fmtAdded(added(v99, b99)),
		q50.Fmt(fmtUS) + " / " + q99.Fmt(fmtUS), v50.Fmt(fmtUS) + " / " + v99.Fmt(fmtUS), e2e, dl}
}

// added is a − b, repetition by repetition.
func added(a, b Spread) Spread {
	out := Spread{}
	for i := 0; i < min(len(a), len(b)); i++ {
		out = append(out, a[i]-b[i])
	}
	return out
}

// fmtAdded formats a latency difference with its sign.
func fmtAdded(d Spread) string {
	return d.Fmt(func(x float64) string {
		if x < 0 {
			return "−" + fmtUS(-x)
		}
		return "+" + fmtUS(x)
	})
}

// tapCPUTable is the hooktap process's CPU time per write and per delivered event.
func tapCPUTable(g *tapGroup, s *Settings) Table {
	vars := g.vars
	tb := Table{
		Title:   fmt.Sprintf("CPU time of the hooktap process per write and per delivered event (%s; %d×%s)", g.write.Path, s.Runs, s.Duration),
		Columns: []string{"hooktap", "CPU/write closed loop", "CPU/write @50%", "CPU/event @50% (all ÷ events)", "CPU/event above no rules @50%"},
	}
	per := float64(max(g.perWrite, 1))
	base := vars[0].cpuWrite50
	for _, v := range vars {
		if v.absent != "" {
			tb.Rows = append(tb.Rows, []string{v.name, "absent", "absent", "absent", "absent"})
			continue
		}
		ev, above := "—", "—"
		if v.rules {
			ev = v.cpuEvent50.Fmt(fmtCPUUS)
			div := per
			if v.nosub {
				ev, div = "— (none wanted)", 1
			}
			var d Spread
			for i := 0; i < min(len(v.cpuWrite50), len(base)); i++ {
				d = append(d, (v.cpuWrite50[i]-base[i])/div)
			}
			above = d.Fmt(fmtCPUUS)
			if v.nosub {
				above += " per write"
			}
		}
		tb.Rows = append(tb.Rows, []string{v.name, v.cpuClosed.Fmt(fmtCPUUS), v.cpuWrite50.Fmt(fmtCPUUS), ev, above})
	}
	tb.Notes = append(tb.Notes,
		"utime+stime of the hooktap process from /proc (10 ms ticks). Closed loop: over the measured window, per write answered (deliveries lag behind and may run past it). "+
			"@50%: from the start of the open-loop step at 50% of the no-rules maximum (its warm-up included) until the receiver's count has stopped moving for 300 ms, "+
			"per write sent, and per event delivered (everything hooktap did: proxying, classification, enqueue, delivery, ack). "+
			"\"Above no rules\" is the tapped CPU per write minus the no-rules CPU per write of the same repetition, divided by the events per write: what one event costs end to end. "+
			"With no subscriber it is per write: what matching a write and building its event cost when no one wants it.")
	return tb
}

// upstreamComment finds the "# upstream: URL" line withWebhook appends, as host:port.
func upstreamComment(cfg string) string {
	i := strings.LastIndex(cfg, "\n# upstream: http://")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(cfg[i+len("\n# upstream: http://"):])
}

func lat2(steps []Step) (p50, p99 Spread) {
	for _, st := range steps {
		p50, p99 = append(p50, st.P50), append(p99, st.P99)
	}
	return
}
