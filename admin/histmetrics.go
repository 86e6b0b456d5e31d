package admin

import (
	"strconv"

	"hooktap/dispatch"
)

// histogram appends one sample set of a histogram family: a cumulative _bucket per bound
// plus le="+Inf" (the count), then _sum and _count. kv are the labels before le, as
// alternating names and values.
func (p *promWriter) histogram(name string, h *dispatch.Histogram, kv ...string) {
	bucket := name + "_bucket"
	lk := make([]string, len(kv), len(kv)+2)
	copy(lk, kv)
	lk = append(lk, "le", "")
	var le []byte
	for i, b := range h.Bounds {
		le = strconv.AppendFloat(le[:0], b, 'g', -1, 64)
		lk[len(lk)-1] = string(le)
		var n uint64
		if i < len(h.Cumulative) {
			n = h.Cumulative[i]
		}
		p.uint(bucket, n, lk...)
	}
	lk[len(lk)-1] = "+Inf"
	p.uint(bucket, h.Count, lk...)
	p.float(name+"_sum", h.Sum, kv...)
	p.uint(name+"_count", h.Count, kv...)
}

// deliveryHistograms appends the per-webhook latency and attempt-duration histograms. The
// webhook label is the name shown elsewhere in /metrics, so the series number is bounded by
// the webhooks configured times the fixed bucket count.
func deliveryHistograms(p *promWriter, hooks []dispatch.HookStats, label func(*dispatch.HookStats) string) {
	p.family("hooktap_delivery_latency_seconds", "histogram", "Time from an event's acceptance to its delivery's 2xx, retries included, by webhook.")
	for i := range hooks {
		p.histogram("hooktap_delivery_latency_seconds", &hooks[i].Latency, "webhook", label(&hooks[i]))
	}
	p.family("hooktap_attempt_duration_seconds", "histogram", "Time of one delivery attempt, request to response or error, by webhook.")
	for i := range hooks {
		p.histogram("hooktap_attempt_duration_seconds", &hooks[i].AttemptDuration, "webhook", label(&hooks[i]))
	}
}
