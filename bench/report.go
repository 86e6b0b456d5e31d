package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Table is one Markdown table of a scenario.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	Notes   []string   `json:"notes,omitempty"`
}

// Chart is latency percentiles by offered load, one curve per server and request.
type Chart struct {
	Title  string  `json:"title"`
	Curves []Curve `json:"curves"`
}

// Curve is one server's latency at each offered load.
type Curve struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is one open-loop step, reduced to medians over the repetitions.
type Point struct {
	Offered float64 `json:"offered_rps"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
}

// Result is what a scenario hands back.
type Result struct {
	Scenario string  `json:"scenario"`
	Tables   []Table `json:"tables"`
	Charts   []Chart `json:"charts,omitempty"`
	Raw      any     `json:"raw,omitempty"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
}

func (t Table) Markdown() string {
	var b strings.Builder
	if t.Title != "" {
		fmt.Fprintf(&b, "### %s\n\n", t.Title)
	}
	b.WriteString("| " + strings.Join(t.Columns, " | ") + " |\n|")
	for range t.Columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	for _, n := range t.Notes {
		b.WriteString("\n" + n + "\n")
	}
	return b.String()
}

// Spread is a set of repeated measurements of one quantity.
type Spread []float64

func (s Spread) Median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s Spread) Min() float64 { return slices.Min(s) }
func (s Spread) Max() float64 { return slices.Max(s) }

// Fmt prints the median and, with more than one repetition, the min–max range.
func (s Spread) Fmt(f func(float64) string) string {
	if len(s) == 0 {
		return "—"
	}
	if len(s) == 1 {
		return f(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median()), f(s.Min()), f(s.Max()))
}

func fmtRate(v float64) string {
	switch {
	case v >= 100_000:
		return fmt.Sprintf("%.0fk/s", v/1000)
	case v >= 10_000:
		return fmt.Sprintf("%.1fk/s", v/1000)
	default:
		return fmt.Sprintf("%.0f/s", v)
	}
}

func fmtRatio(v float64) string { return fmt.Sprintf("%.2f×", v) }

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", v/(1<<10))
	}
}

func fmtFloat(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// ratios divides a by b run by run (paired: same repetition).
func ratios(a, b Spread) Spread {
	n := min(len(a), len(b))
	out := make(Spread, 0, n)
	for i := 0; i < n; i++ {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// writeOut writes results.json and one SVG per chart into dir.
func writeOut(dir string, hdr any, res []Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"run": hdr, "results": res}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	for _, r := range res {
		for i, c := range r.Charts {
			name := fmt.Sprintf("%s-%d.svg", r.Scenario, i+1)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(svgChart(c)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// svgChart draws latency (log scale) against offered load: one colour per curve, solid p50,
// dashed p99, dotted p99.9. Hand-written SVG, no dependencies.
func svgChart(c Chart) string {
	const w, h, ml, mr, mt, mb = 920.0, 520.0, 100.0, 260.0, 40.0, 60.0
	pw, ph := w-ml-mr, h-mt-mb
	xmax, ymin, ymax := 0.0, math.Inf(1), 0.0
	for _, cv := range c.Curves {
		for _, p := range cv.Points {
			xmax = max(xmax, p.Offered)
			for _, v := range []float64{p.P50, p.P99, p.P999} {
				if v > 0 {
					ymin, ymax = min(ymin, v), max(ymax, v)
				}
			}
		}
	}
	if xmax == 0 || ymax == 0 {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="25">no data</text></svg>`
	}
	lo := math.Floor(math.Log10(ymin))
	hi := math.Ceil(math.Log10(ymax))
	if hi == lo {
		hi++
	}
	x := func(v float64) float64 { return ml + v/xmax*pw }
	y := func(v float64) float64 { return mt + ph - (math.Log10(max(v, 1))-lo)/(hi-lo)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="22" font-size="15">%s</text>`+"\n", ml, html.EscapeString(c.Title))
	for e := lo; e <= hi; e++ {
		yy := y(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			ml, ml+pw, yy, yy, ml-6, yy+4, fmtUS(math.Pow(10, e)))
	}
	for i := 0; i <= 5; i++ {
		v := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			x(v), x(v), mt, mt+ph, x(v), mt+ph+18, fmtRate(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">offered load (requests/s)</text>`+"\n", ml+pw/2, h-15)
	fmt.Fprintf(&b, `<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">latency from intended send (log)</text>`+"\n", mt+ph/2)
	dashes := []string{"", "6,4", "2,3"}
	for i, cv := range c.Curves {
		col := palette[i%len(palette)]
		for k, get := range []func(Point) float64{func(p Point) float64 { return p.P50 }, func(p Point) float64 { return p.P99 }, func(p Point) float64 { return p.P999 }} {
			var pts []string
			for _, p := range cv.Points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Offered), y(get(p))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`+"\n", col, dashes[k], strings.Join(pts, " "))
			for _, p := range cv.Points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", x(p.Offered), y(get(p)), col)
			}
		}
		ly := mt + 10 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			ml+pw+15, ml+pw+40, ly, ly, col, ml+pw+46, ly+4, html.EscapeString(cv.Name))
	}
	ly := mt + 20 + float64(len(c.Curves))*18
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">solid p50 · dashed p99 · dotted p99.9</text>`+"\n", ml+pw+15, ly)
	b.WriteString("</svg>\n")
	return b.String()
}
