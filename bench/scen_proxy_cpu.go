package main

import (
	"fmt"
)

// cpuSteps is the closed-loop steps of one server, per request kind, over the runs.
type cpuSteps [][]Step

// proxyCPUProcs is the server processes a closed-loop step against t loads: the upstream,
// and the proxy in front of it (none for direct).
func proxyCPUProcs(t *proxyTarget, up *Proc) []*Proc {
	if t.proc == nil {
		return []*Proc{up}
	}
	return []*Proc{t.proc, up}
}

// procUS is the CPU µs per request of the process named name in st, and whether it was read.
func procUS(st Step, name string) (float64, bool) {
	for _, pc := range st.CPU {
		if pc.Name == name {
			return pc.USPerReq, pc.SampleErr == ""
		}
	}
	return 0, false
}

func fmtCPUUS(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f µs", v)
	}
	return fmt.Sprintf("%.1f µs", v)
}

// proxyCPUTable is CPU time per request of each server process, measured in the same
// closed-loop steps as the throughput table, with the proxy's own as a ratio to nginx's.
func proxyCPUTable(s *Settings, targets []*proxyTarget, reqs []Request, cpu map[string]cpuSteps) Table {
	tb := Table{
		Title: fmt.Sprintf("CPU time per request, closed loop (same steps as the throughput table, %d×%s)", s.Runs, s.Duration),
		Columns: []string{"server", "request", "proxy CPU/req", "proxy ÷ nginx", "upstream CPU/req",
			"total CPU/req", "total ÷ nginx"},
	}
	var nginx *proxyTarget
	for _, t := range targets {
		if t.name == "nginx" && t.absent == "" {
			nginx = t
		}
	}
	unread := 0
	for _, t := range targets {
		for i, rq := range reqs {
			if t.absent != "" {
				tb.Rows = append(tb.Rows, []string{t.name, rq.Method, "absent", "absent", "absent", "absent", t.absent})
				continue
			}
			var proxy, upstream, total, nProxy, nTotal Spread
			for _, st := range cpu[t.name][i] {
				if t.proc != nil {
					v, ok := procUS(st, t.proc.Name)
					if !ok {
						unread++
						continue
					}
					proxy = append(proxy, v)
				}
				v, ok := procUS(st, "upstream")
				if !ok {
					unread++
					continue
				}
				upstream = append(upstream, v)
				total = append(total, st.CPUUSPerReq)
			}
			if nginx != nil {
				for _, st := range cpu[nginx.name][i] {
					v, _ := procUS(st, nginx.proc.Name)
					nProxy = append(nProxy, v)
					nTotal = append(nTotal, st.CPUUSPerReq)
				}
			}
			proxyCell, ratioCell := "— (none)", "—"
			if t.proc != nil {
				proxyCell = proxy.Fmt(fmtCPUUS)
				ratioCell = "no nginx"
				if nginx != nil {
					ratioCell = ratios(proxy, nProxy).Fmt(fmtRatio)
				}
			}
			totalRatio := "no nginx"
			if nginx != nil {
				totalRatio = ratios(total, nTotal).Fmt(fmtRatio)
			}
			tb.Rows = append(tb.Rows, []string{t.name, rq.Method, proxyCell, ratioCell, upstream.Fmt(fmtCPUUS), total.Fmt(fmtCPUUS), totalRatio})
		}
	}
	tb.Notes = append(tb.Notes, fmt.Sprintf("utime+stime from /proc/<pid>/stat summed over each server's process group (nginx and HAProxy workers included), "+
		"read at the start and end of the measured window and divided by the requests answered in it. "+
		"The kernel counts in ticks of 1/%d s, so a process's share of one step is exact to 10 ms: "+
		"with -short steps (150 ms) expect ±10 %%, use -duration 2s or more for stable figures. "+
		"CPU per request does not count the time a server waits for a CPU another program holds, so it is less sensitive to a busy machine than req/s, "+
		"but not immune (caches, frequency, batching under load): read the spread. Below 1× the proxy costs less CPU per request than nginx.", clkTck))
	if unread > 0 {
		tb.Notes = append(tb.Notes, fmt.Sprintf("%d step(s) could not read a process's CPU time and are left out.", unread))
	}
	return tb
}
