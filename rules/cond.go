package rules

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// conds reports whether every condition holds. A condition that reads a lookup that failed
// is not checked (the rule chose on_lookup_error = "emit").
func (s *state) conds(cs []cond, x *Exchange) bool {
	for i := range cs {
		c := &cs[i]
		if s.lookupFailed(&c.e) || c.other != nil && s.lookupFailed(c.other) {
			continue
		}
		v := s.eval(&c.e, x)
		if c.other != nil {
			if !s.compare(c, &v, x) {
				if s.tr != nil {
					s.tr.condFailed(s, c, x)
				}
				return false
			}
			continue
		}
		if !c.holds(&v) {
			if s.tr != nil {
				s.tr.condFailed(s, c, x)
			}
			return false
		}
	}
	return true
}

// lookupFailed reports whether e reads a rule's lookup that failed or was not made.
func (s *state) lookupFailed(e *expr) bool {
	if e.src != srcLookup && e.src != srcLookupStatus || e.global {
		return false
	}
	l := s.lookup(e.idx)
	return l == nil || l.failed
}

// compare checks a same or differs condition: v against the value of c.other, as text.
func (s *state) compare(c *cond, v *value, x *Exchange) bool {
	if v.kind == vMissing {
		return c.op == opSame || c.op == opNotIn
	}
	s.cmp = append(s.cmp[:0], v.asText()...)
	w := s.eval(c.other, x)
	if w.kind == vMissing {
		return c.op == opSame || c.op == opNotIn
	}
	if c.op == opIn || c.op == opNotIn {
		found := false
		if w.kind == vJSON && w.res.IsArray() {
			w.res.ForEach(func(_, el gjson.Result) bool {
				t := el.Raw
				if el.Type == gjson.String {
					t = el.Str
				}
				found = t == b2s(s.cmp)
				return !found
			})
		} else {
			found = bytes.Equal(s.cmp, w.asText())
		}
		return found == (c.op == opIn)
	}
	differ := !bytes.Equal(s.cmp, w.asText())
	return differ == (c.op == opDiffers)
}
