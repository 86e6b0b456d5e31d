package rules

import "fmt"

// "a ?? b ?? c" is the first of its operands that has a value: missing only when all are.
// It reads one thing that may be sent in several places, as MediaWiki's page title (the
// path after index.php/, else a title form field, else the title query parameter):
//
//	"path.title ?? form.title ?? query.title"
//
// ?? binds more loosely than +: "a + b ?? c" is "(a + b) ?? c". Each operand has its own
// filters; its stage (when the value is known) is the latest of its operands'.

// splitFirst splits s at each "??" standing alone (white space or the end on each side)
// outside quotes and brackets; nil when there is none.
func splitFirst(s string) []string { return splitTop(s, "??", true) }

// parseFirst compiles "a ?? b ...", whose operands ops are, into an srcFirst expression.
func parseFirst(s string, ops []string, sc *scope) (expr, error) {
	e := expr{text: s, src: srcFirst}
	for _, op := range ops {
		if op == "" {
			return e, fmt.Errorf("%q: ?? needs an expression on each side", s)
		}
	}
	for _, op := range ops {
		p, err := parseExpr(op, sc)
		if err != nil {
			return e, err
		}
		e.parts = append(e.parts, p)
	}
	return e, nil
}

// first evaluates an srcFirst expression.
func (s *state) first(e *expr, x *Exchange) value {
	for i := range e.parts {
		if v := s.eval(&e.parts[i], x); v.kind != vMissing {
			return v
		}
	}
	return value{}
}
