package admin

import (
	"math"
	"strconv"
)

// promWriter appends the Prometheus text exposition format (version 0.0.4) to a buffer, by
// hand: a HELP and a TYPE line per family, then its samples.
type promWriter struct {
	b []byte
}

// family starts a metric family. help is escaped as the format requires (\ and newline).
func (p *promWriter) family(name, typ, help string) {
	p.b = append(p.b, "# HELP "...)
	p.b = append(p.b, name...)
	p.b = append(p.b, ' ')
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			p.b = append(p.b, `\\`...)
		case '\n':
			p.b = append(p.b, `\n`...)
		default:
			p.b = append(p.b, c)
		}
	}
	p.b = append(p.b, "\n# TYPE "...)
	p.b = append(p.b, name...)
	p.b = append(p.b, ' ')
	p.b = append(p.b, typ...)
	p.b = append(p.b, '\n')
}

// labels appends {k1="v1",k2="v2"} from alternating names and values; nothing when kv is
// empty. Values are escaped (\, " and newline).
func (p *promWriter) labels(kv []string) {
	if len(kv) == 0 {
		return
	}
	p.b = append(p.b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			p.b = append(p.b, ',')
		}
		p.b = append(p.b, kv[i]...)
		p.b = append(p.b, `="`...)
		v := kv[i+1]
		for j := 0; j < len(v); j++ {
			switch c := v[j]; c {
			case '\\':
				p.b = append(p.b, `\\`...)
			case '"':
				p.b = append(p.b, `\"`...)
			case '\n':
				p.b = append(p.b, `\n`...)
			default:
				p.b = append(p.b, c)
			}
		}
		p.b = append(p.b, '"')
	}
	p.b = append(p.b, '}')
}

// uint appends one sample with an integer value.
func (p *promWriter) uint(name string, v uint64, kv ...string) {
	p.b = append(p.b, name...)
	p.labels(kv)
	p.b = append(p.b, ' ')
	p.b = strconv.AppendUint(p.b, v, 10)
	p.b = append(p.b, '\n')
}

// float appends one sample with a float value (NaN and infinities as the format spells them).
func (p *promWriter) float(name string, v float64, kv ...string) {
	p.b = append(p.b, name...)
	p.labels(kv)
	p.b = append(p.b, ' ')
	switch {
	case math.IsNaN(v):
		p.b = append(p.b, "NaN"...)
	case math.IsInf(v, 1):
		p.b = append(p.b, "+Inf"...)
	case math.IsInf(v, -1):
		p.b = append(p.b, "-Inf"...)
	default:
		p.b = strconv.AppendFloat(p.b, v, 'g', -1, 64)
	}
	p.b = append(p.b, '\n')
}
