package rules

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// litVal is a constant in a condition.
type litVal struct {
	s      string
	n      float64
	isNum  bool
	isBool bool
	b      bool
}

// toLit converts a TOML value to a condition constant; false for a value that is not a
// string, number or boolean.
func toLit(v any) (litVal, bool) {
	switch x := v.(type) {
	case string:
		return litVal{s: x}, true
	case int64:
		return litVal{s: strconv.FormatInt(x, 10), n: float64(x), isNum: true}, true
	case float64:
		return litVal{s: strconv.FormatFloat(x, 'f', -1, 64), n: x, isNum: true}, true
	case bool:
		return litVal{s: strconv.FormatBool(x), isBool: true, b: x}, true
	}
	return litVal{}, false
}

// equal reports whether v equals the constant l.
func (l *litVal) equal(v *value) bool {
	switch v.kind {
	case vMissing:
		return false
	case vJSON:
		switch v.res.Type {
		case gjson.String:
			return !l.isNum && !l.isBool && v.res.Str == l.s
		case gjson.Number:
			return l.isNum && v.res.Num == l.n || !l.isNum && !l.isBool && v.res.Raw == l.s
		case gjson.True, gjson.False:
			return l.isBool && l.b == (v.res.Type == gjson.True) || !l.isBool && !l.isNum && v.res.Raw == l.s
		}
		return false
	}
	t := b2s(v.text)
	if l.isNum {
		f, err := strconv.ParseFloat(t, 64)
		return err == nil && f == l.n
	}
	return t == l.s
}

type op uint8

// cond is one compiled condition: an expression and a test.
type cond struct {
	e      expr
	op     op
	vals   []litVal
	exists bool
	re     *regexp.Regexp
	other  *expr // opSame, opDiffers: the expression compared with
}

// stage says when the condition can be checked: the later of its expressions' stages.
func (c *cond) stage() stage {
	st := c.e.stage()
	if c.other != nil && c.other.stage() > st {
		st = c.other.stage()
	}
	return st
}

// holds reports whether the condition holds for v.
func (c *cond) holds(v *value) bool {
	switch c.op {
	case opExists:
		return (v.kind != vMissing) == c.exists
	case opEq, opOneOf:
		for i := range c.vals {
			if c.vals[i].equal(v) {
				return true
			}
		}
		return false
	case opNot, opNotOneOf:
		for i := range c.vals {
			if c.vals[i].equal(v) {
				return false
			}
		}
		return true
	case opMatches:
		if v.kind == vMissing {
			return false
		}
		return c.re.Match(v.asText())
	}
	return false
}

// parseConds compiles a when table. It returns the conditions in key order.
func parseConds(m map[string]any, keys []string, sc *scope) ([]cond, []error) {
	var out []cond
	var errs []error
	for _, k := range keys {
		e, err := parseExpr(k, sc)
		if err != nil {
			errs = append(errs, fmt.Errorf("when: %v", err))
			continue
		}
		cs, err := parseTest(e, m[k], sc)
		if err != nil {
			errs = append(errs, fmt.Errorf("when %q: %v", k, err))
			continue
		}
		out = append(out, cs...)
	}
	return out, errs
}

// parseTest compiles the condition on e written as v: a value (equals), an array (one of), or
// a table of named tests (condTests), each a condition of its own, in key order.
func parseTest(e expr, v any, sc *scope) ([]cond, error) {
	switch x := v.(type) {
	case []any:
		vals, err := toLits(x, "one-of")
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("empty one-of list never matches")
		}
		return []cond{{e: e, op: opOneOf, vals: vals}}, nil
	case map[string]any:
		if len(x) == 0 {
			return nil, fmt.Errorf("empty condition table")
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]cond, 0, len(keys))
		for _, k := range keys {
			test, ok := condTests[k]
			if !ok {
				return nil, fmt.Errorf("unknown test %q (want exists, matches, not, not_one_of, same, differs, in or not_in)", k)
			}
			c, err := test(e, x[k], sc)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	default:
		l, ok := toLit(v)
		if !ok {
			return nil, fmt.Errorf("a condition must be a value, an array or a table")
		}
		return []cond{{e: e, op: opEq, vals: []litVal{l}}}, nil
	}
}

// toLits converts the values of a one-of list; what names the list in errors.
func toLits(list []any, what string) ([]litVal, error) {
	var vals []litVal
	for _, el := range list {
		l, ok := toLit(el)
		if !ok {
			return nil, fmt.Errorf("%s values must be strings, numbers or booleans", what)
		}
		vals = append(vals, l)
	}
	return vals, nil
}

// condTests compiles each named test of a condition table from its value.
var condTests = map[string]func(e expr, v any, sc *scope) (cond, error){
	"exists":     existsTest,
	"matches":    matchesTest,
	"not":        notTest,
	"not_one_of": notOneOfTest,
	"same":       compareTest("same", opSame),
	"differs":    compareTest("differs", opDiffers),
	"in":         compareTest("in", opIn),
	"not_in":     compareTest("not_in", opNotIn),
}

// existsTest compiles exists = true or false.
func existsTest(e expr, v any, _ *scope) (cond, error) {
	b, ok := v.(bool)
	if !ok {
		return cond{}, fmt.Errorf("exists must be true or false")
	}
	return cond{e: e, op: opExists, exists: b}, nil
}

// matchesTest compiles matches = "regular expression" (RE2).
func matchesTest(e expr, v any, _ *scope) (cond, error) {
	s, ok := v.(string)
	if !ok {
		return cond{}, fmt.Errorf("matches must be a regular expression string")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return cond{}, fmt.Errorf("bad regular expression %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return cond{e: e, op: opMatches, re: re}, nil
}

// notTest compiles not = value.
func notTest(e expr, v any, _ *scope) (cond, error) {
	l, ok := toLit(v)
	if !ok {
		return cond{}, fmt.Errorf("not must be a string, number or boolean")
	}
	return cond{e: e, op: opNot, vals: []litVal{l}}, nil
}

// notOneOfTest compiles not_one_of = [values]; an empty list always holds.
func notOneOfTest(e expr, v any, _ *scope) (cond, error) {
	list, ok := v.([]any)
	if !ok {
		return cond{}, fmt.Errorf("not_one_of must be an array")
	}
	vals, err := toLits(list, "not_one_of")
	if err != nil {
		return cond{}, err
	}
	return cond{e: e, op: opNotOneOf, vals: vals}, nil
}

// compareTest returns the compiler of a test named name that compares e with another
// expression (same, differs, in, not_in) by op.
func compareTest(name string, o op) func(e expr, v any, sc *scope) (cond, error) {
	return func(e expr, v any, sc *scope) (cond, error) {
		src, ok := v.(string)
		if !ok {
			return cond{}, fmt.Errorf("%s must be an expression string", name)
		}
		other, err := parseExpr(src, sc)
		if err != nil {
			return cond{}, fmt.Errorf("%s: %v", name, err)
		}
		return cond{e: e, op: o, other: &other}, nil
	}
}

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
	if e.src != srcLookup && e.src != srcLookupStatus && e.src != srcLookupBody || e.global {
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
