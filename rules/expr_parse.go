package rules

import (
	"fmt"
	"strings"
)

// splitConcat splits s at each " + " outside quotes and brackets; nil when there is none.
func splitConcat(s string) []string { return splitTop(s, "+", false) }

// splitTop splits s at each op outside quotes and brackets with a space on each side (or,
// with atEdges, the start or the end of s there: "?? b" has an empty first operand); the
// operands are trimmed; nil when there is no such op.
func splitTop(s, op string, atEdges bool) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], op) && spaceOrEdge(s, i-1, atEdges) && spaceOrEdge(s, i+len(op), atEdges):
			out = append(out, strings.TrimSpace(s[start:i]))
			i += len(op) - 1
			start = i + 1
		}
	}
	if out == nil {
		return nil
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// spaceOrEdge reports whether s[i] is a space, or i is outside s and atEdges allows that.
func spaceOrEdge(s string, i int, atEdges bool) bool {
	if i < 0 || i >= len(s) {
		return atEdges
	}
	return s[i] == ' '
}

// parseExpr compiles an expression string.
func parseExpr(s string, sc *scope) (expr, error) {
	if ops := splitFirst(s); ops != nil {
		return parseFirst(s, ops, sc)
	}
	if ops := splitConcat(s); ops != nil {
		return parseConcat(s, ops, sc)
	}
	e := expr{text: s}
	s, err := e.parseFilters(s)
	if err != nil {
		return e, err
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		e.src, e.name = srcLit, s[1:len(s)-1]
		return e, nil
	}
	head, tail, dotted := strings.Cut(s, ".")
	if ns, ok := namedSources[head]; ok {
		if err := e.needName(head, tail, dotted, ns.what); err != nil {
			return e, err
		}
		e.src, e.name = ns.src, tail
		return e, nil
	}
	switch head {
	case "path":
		err = e.parsePath(tail, dotted, sc)
	case "req", "resp", "item", "xmlrpc", "xmlresp":
		err = e.parseJSON(head, tail, dotted, sc)
	case "lookup":
		err = e.parseLookup(tail, sc)
	case "respcookie":
		if err := e.needName(head, tail, dotted, "name"); err != nil {
			return e, err
		}
		err = parseCookieExpr(&e, tail)
	case "queryall", "formall", "location", "location#fragment", "respbody":
		err = parseListExpr(&e, head, tail, dotted)
	case "status", "method", "user", "now":
		if dotted {
			return e, fmt.Errorf("%q: %s takes no path", e.text, head)
		}
		e.src = plainSources[head]
	case "basic":
		if s != "basic.user" {
			return e, fmt.Errorf("%q: unknown expression (basic.user?)", e.text)
		}
		e.src = srcBasicUser
	default:
		return e, fmt.Errorf("unknown expression %q (want path., query., header., form., req, status, respheader., resp, lookup., item, method, user, basic.user, now or 'text')", e.text)
	}
	return e, err
}

// namedSources are the sources read by name, head.<name>, with what the name is called in
// errors.
var namedSources = map[string]struct {
	src  source
	what string
}{
	"query":      {srcQuery, "parameter"},
	"header":     {srcHeader, "Name"},
	"respheader": {srcRespHeader, "Name"},
	"form":       {srcForm, "field"},
}

// jsonSources are the JSON documents an expression may read, whole or at a gjson path.
var jsonSources = map[string]source{"req": srcReq, "resp": srcResp, "item": srcItem, "xmlrpc": srcReq, "xmlresp": srcResp}

// plainSources are the values that take no name or path.
var plainSources = map[string]source{"status": srcStatus, "method": srcMethod, "user": srcUser, "now": srcNow}

// filterNames are the filters, by the name written after a '|'.
var filterNames = map[string]filter{
	"num": fNum, "str": fStr, "bool": fBool, "lower": fLower, "ms": fMs, "titlelist": fTitleList,
	"split": fSplit,
}

// parseConcat compiles "a + b + ...", the operands ops, each an expression with its own
// filters.
func parseConcat(s string, ops []string, sc *scope) (expr, error) {
	e := expr{text: s, src: srcConcat}
	for _, op := range ops {
		if op == "" {
			return e, fmt.Errorf("%q: + needs an expression on each side", s)
		}
		p, err := parseExpr(op, sc)
		if err != nil {
			return e, err
		}
		e.parts = append(e.parts, p)
	}
	return e, nil
}

// parseFilters moves the filters at the end of s ("req.kind|lower|str") into e.filters, in
// the order written, and returns what is before them. A gjson path may itself hold '|': a
// last "|word" that names no filter is part of the path, unless it is all lower-case letters,
// a filter misspelt.
func (e *expr) parseFilters(s string) (string, error) {
	for {
		i := strings.LastIndexByte(s, '|')
		if i < 0 {
			return s, nil
		}
		f, ok := filterNames[s[i+1:]]
		if !ok {
			if isLower(s[i+1:]) {
				return s, fmt.Errorf("unknown filter %q in %q (want num, str, bool, lower, ms or titlelist)", "|"+s[i+1:], e.text)
			}
			return s, nil
		}
		e.filters = append([]filter{f}, e.filters...)
		s = s[:i]
	}
}

// needName reports an error unless the expression head.tail has a name after its dot; what
// names it in the message.
func (e *expr) needName(head, tail string, dotted bool, what string) error {
	if !dotted || tail == "" {
		return fmt.Errorf("%q: %s.<%s> needs a name", e.text, head, what)
	}
	return nil
}

// parsePath compiles path.<name>: the index of the segment the rule's template binds to
// name, or its catch-all.
func (e *expr) parsePath(tail string, dotted bool, sc *scope) error {
	if err := e.needName("path", tail, dotted, "segment"); err != nil {
		return err
	}
	e.src, e.name = srcPath, tail
	if sc == nil {
		return nil
	}
	if tail == sc.rest && tail != "" {
		e.rest, e.idx = true, sc.restIdx
		return nil
	}
	for i, p := range sc.params {
		if p == tail {
			e.idx = i
			return nil
		}
	}
	return fmt.Errorf("%q: the path has no segment {%s}", e.text, tail)
}

// parseJSON compiles req, resp or item, whole or at a gjson path (checked); req and resp
// paths get a memo slot.
func (e *expr) parseJSON(head, tail string, dotted bool, sc *scope) error {
	e.src = jsonSources[head]
	e.xml = head == "xmlrpc" || head == "xmlresp"
	if err := checkXMLRPCExpr(e, head, tail, sc); err != nil {
		return err
	}
	if head == "item" && sc != nil && !sc.item {
		return fmt.Errorf("%q: item is only known inside an emit with each", e.text)
	}
	if dotted {
		if err := checkGJSON(tail); err != nil {
			return fmt.Errorf("%q: bad JSON path: %v", e.text, err)
		}
		e.gpath = tail
		e.proj = parseProjection(tail)
	}
	if sc != nil && sc.memo != nil && e.src != srcItem {
		e.slot = sc.memo.slot(e.memoSource(), e.gpath)
	}
	return nil
}

// parseLookup compiles lookup.<name>, lookup.<name>.<gjson path>, lookup.<name>#status and
// lookup.<name>#body.
func (e *expr) parseLookup(tail string, sc *scope) error {
	name := tail
	e.src = srcLookup
	if i := strings.IndexByte(tail, '.'); i >= 0 {
		name, e.gpath = tail[:i], tail[i+1:]
		if err := checkGJSON(e.gpath); err != nil {
			return fmt.Errorf("%q: bad JSON path: %v", e.text, err)
		}
		e.proj = parseProjection(e.gpath)
	} else if j := strings.IndexByte(tail, '#'); j >= 0 {
		switch tail[j:] {
		case "#status":
			name, e.src = tail[:j], srcLookupStatus
		case "#body":
			name, e.src = tail[:j], srcLookupBody
		default:
			return fmt.Errorf("%q: after lookup.<name> only #status, #body or a JSON path may follow", e.text)
		}
	}
	if name == "" {
		return fmt.Errorf("%q: lookup.<name> needs a name", e.text)
	}
	e.name = name
	if sc == nil {
		return nil
	}
	return e.bindLookup(name, sc)
}

// bindLookup sets e.idx to the lookup name in sc: one of the rule's, or of [classify]'s in
// [classify] user. A per-element lookup is read only inside an emit over the same array.
func (e *expr) bindLookup(name string, sc *scope) error {
	e.idx = -1
	for i, l := range sc.lookups {
		if l == name {
			e.idx = i
		}
	}
	if e.idx < 0 {
		if sc.user {
			return fmt.Errorf("%q: [classify] has no lookup %q", e.text, name)
		}
		return fmt.Errorf("%q: the rule has no lookup %q", e.text, name)
	}
	e.global = sc.user
	if e.idx < len(sc.lookupEach) && sc.lookupEach[e.idx] != "" && (!sc.item || sc.each != sc.lookupEach[e.idx]) {
		return fmt.Errorf("%q: lookup %q is made per element of %q: only an emit with each = %q reads it", e.text, name, sc.lookupEach[e.idx], sc.lookupEach[e.idx])
	}
	return nil
}

var gjsonModifiers = map[string]bool{
	"reverse": true, "ugly": true, "pretty": true, "this": true, "valid": true, "flatten": true,
	"join": true, "keys": true, "values": true, "tostr": true, "fromstr": true, "group": true, "dig": true,
}

// checkGJSON reports why p is not a usable gjson path. gjson itself accepts anything, and
// answers nothing for a path it cannot follow; this catches the mistakes that would make a
// rule silently never match.
func checkGJSON(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	depth := 0
	inStr := false
	comp := 0 // length of the current component
	for i := 0; i < len(p); i++ {
		c := p[i]
		if inStr {
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '\\':
			i++
			comp++
		case '"':
			if depth > 0 {
				inStr = true
			}
			comp++
		case '(', '[', '{':
			depth++
			comp++
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced %q", c)
			}
			comp++
		case '.', '|':
			if depth == 0 {
				if comp == 0 {
					return fmt.Errorf("empty component")
				}
				comp = 0
				continue
			}
			comp++
		case '@':
			if depth == 0 && comp == 0 {
				j := i + 1
				for j < len(p) && (p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z') {
					j++
				}
				if !gjsonModifiers[p[i+1:j]] {
					return fmt.Errorf("unknown modifier %q", p[i:j])
				}
			}
			comp++
		default:
			comp++
		}
	}
	if inStr {
		return fmt.Errorf("unterminated string")
	}
	if depth != 0 {
		return fmt.Errorf("unbalanced brackets")
	}
	if comp == 0 {
		return fmt.Errorf("empty component")
	}
	return nil
}

// isLower reports whether s is a non-empty run of lower-case letters.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}
