package rules

import (
	"errors"
	"fmt"
	"strings"
)

// tseg is one segment of a path template.
type tseg struct {
	lit   string
	param string // {param}
	rest  bool   // {param...}
	opt   bool   // {param*}: a rest that may be empty (optional.go)
}

// tmplPart is a piece of a lookup or invalidate template: literal text or a value.
type tmplPart struct {
	lit string
	e   *expr // nil for literal
	raw bool  // a path binding: inserted raw (it is already URL-encoded)
}

// parseTemplate parses a rule's path template.
func parseTemplate(s string) ([]tseg, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, errors.New("must start with /")
	}
	if strings.ContainsAny(s, "?#") {
		return nil, errors.New("a path template has no query (use a query.<name> condition)")
	}
	if s == "/" {
		return []tseg{{lit: ""}}, nil
	}
	segs := strings.Split(s[1:], "/")
	out := make([]tseg, 0, len(segs))
	seen := map[string]bool{}
	for i, g := range segs {
		if g == "" && i == len(segs)-1 {
			return nil, errors.New("a trailing slash: request paths are matched without one")
		}
		if g == "" {
			return nil, errors.New("empty segment")
		}
		if !strings.ContainsAny(g, "{}") {
			// Request paths are matched in canonical form (path.go): a literal is written
			// in it too, and one that no canonical path holds is refused.
			if strings.IndexByte(g, ';') >= 0 {
				return nil, fmt.Errorf("segment %q: ';' starts a path parameter, which is dropped before matching", g)
			}
			lit := string(appendCanonSeg(nil, []byte(g)))
			if lit == "." || lit == ".." {
				return nil, fmt.Errorf("segment %q: a dot segment is resolved before matching, so it never matches", g)
			}
			out = append(out, tseg{lit: lit})
			continue
		}
		if g[0] != '{' || g[len(g)-1] != '}' {
			return nil, fmt.Errorf("segment %q: a {name} must be a whole segment", g)
		}
		name := g[1 : len(g)-1]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		opt := optionalRest(&name)
		rest = rest || opt
		if !isIdent(name) {
			return nil, fmt.Errorf("segment %q: a name is letters, digits and _", g)
		}
		if rest && i != len(segs)-1 {
			return nil, fmt.Errorf("segment %q: {name...} must be the last segment", g)
		}
		if seen[name] {
			return nil, fmt.Errorf("segment %q: {%s} is bound twice", g, name)
		}
		seen[name] = true
		out = append(out, tseg{param: name, rest: rest, opt: opt})
	}
	return out, nil
}

// isIdent reports whether s is a non-empty name of letters, digits and _.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// templateAsURL writes a path template back as a URL template ("{id}" placeholders).
func templateAsURL(t []tseg) string {
	var b strings.Builder
	for _, s := range t {
		b.WriteByte('/')
		if s.param != "" {
			b.WriteString("{" + s.param + "}")
		} else {
			b.WriteString(s.lit)
		}
	}
	return b.String()
}

// parseURLTemplate parses "/rest/api/content/{id}?expand={req.x}": a {name} is a path
// binding of the rule, inserted raw; anything else in braces is an expression, inserted
// percent-encoded.
func parseURLTemplate(s string, sc *scope) ([]tmplPart, error) {
	var out []tmplPart
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, tmplPart{lit: s})
			break
		}
		if i > 0 {
			if strings.IndexByte(s[:i], '}') >= 0 {
				return nil, errors.New("unbalanced }")
			}
			out = append(out, tmplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, errors.New("unclosed {")
		}
		inner := s[i+1 : i+j]
		s = s[i+j+1:]
		src := inner
		raw := false
		if isIdent(inner) {
			src, raw = "path."+inner, true
		}
		e, err := parseExpr(src, sc)
		if err != nil {
			return nil, fmt.Errorf("{%s}: %v", inner, err)
		}
		out = append(out, tmplPart{e: &e, raw: raw})
	}
	return out, nil
}
