package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// sep joins the components of a key path with array indices: "rule\x1f3\x1femit\x1f0".
const sep = "\x1f"

// decoder turns the generic TOML tree into a File, collecting every error with its line.
type decoder struct {
	name  string
	src   string
	lines map[string]int      // key path -> line
	order map[string][]string // table key path -> child keys in file order
	errs  Errors
	bad   map[string]bool // key paths already reported as mistyped
	memo  memoTable       // the Matcher being compiled's req and resp paths
	// ruleWhere names each rule in errors.
	ruleWhere []string
}

// errorf records an error for where at key path (on its line, or its nearest table's), and
// marks path as reported (bad).
func (d *decoder) errorf(path, where, format string, args ...any) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[path] = true
	d.errs = append(d.errs, &Error{File: d.name, Line: d.line(path), Where: where, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of path, or of its nearest ancestor whose line is known.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndex(path, sep)
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// keysOf returns the keys of the table at path in file order, or sorted when unknown.
func (d *decoder) keysOf(path string, m map[string]any) []string {
	if ks, ok := d.order[path]; ok && len(ks) == len(m) {
		return ks
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// index recovers each key's line and each table's key order from the metadata: Keys lists
// keys in file order, an array-of-tables header once per element, and the keys inside an
// inline array of tables without their element, which raw's element sizes tell.
func (d *decoder) index(md *toml.MetaData, raw map[string]any) {
	d.lines = map[string]int{}
	d.order = map[string][]string{}
	lines := strings.Split(d.src, "\n")
	counters := map[string]int{}
	type arrState struct{ elem, seen int }
	arrays := map[string]*arrState{}
	cur := 0
	for _, k := range md.Keys() {
		// Build the indexed path, component by component.
		comps := make([]string, 0, 2*len(k))
		parentLen := 0 // components of the parent table's path
		for i := range k {
			if i == len(k)-1 {
				parentLen = len(comps)
			}
			comps = append(comps, k[i])
			p := strings.Join(comps, sep)
			switch md.Type(k[:i+1]...) {
			case "ArrayHash":
				if i == len(k)-1 {
					counters[p]++
				}
				comps = append(comps, strconv.Itoa(counters[p]-1))
			case "Array":
				st := arrays[p]
				if i == len(k)-1 || st == nil {
					arrays[p] = &arrState{elem: -1}
					continue
				}
				if i == len(k)-2 { // k's last part is a key of an element
					if st.elem < 0 || st.seen >= len(tableAt(raw, comps, st.elem)) {
						st.elem++
						st.seen = 0
					}
					st.seen++
				}
				comps = append(comps, strconv.Itoa(max(st.elem, 0)))
			}
		}
		path := strings.Join(comps, sep)
		leaf := k[len(k)-1]
		if md.Type(k...) != "ArrayHash" {
			parent := strings.Join(comps[:parentLen], sep)
			d.order[parent] = append(d.order[parent], leaf)
		}
		for l := cur; l < len(lines); l++ {
			if keyOnLine(stripComment(lines[l]), leaf) {
				cur = l
				break
			}
		}
		d.lines[path] = cur + 1
	}
}

// tableAt returns element elem of the array at the indexed path comps in raw, if it is a
// table.
func tableAt(raw map[string]any, comps []string, elem int) map[string]any {
	var v any = raw
	for _, c := range comps {
		switch x := v.(type) {
		case map[string]any:
			v = x[c]
		case []map[string]any:
			i, err := strconv.Atoi(c)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		case []any:
			i, err := strconv.Atoi(c)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	list, _ := asTables(v)
	if elem < 0 || elem >= len(list) {
		return nil
	}
	return list[elem]
}

// stripComment cuts a TOML comment off line (a '#' outside quotes).
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return line[:i]
		}
	}
	return line
}

// keyOnLine reports whether line defines key (bare or quoted) or names it in a table header.
func keyOnLine(line, key string) bool {
	for off := 0; off <= len(line); {
		i := strings.Index(line[off:], key)
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		before := byte(' ')
		if i > 0 {
			before = line[i-1]
		}
		if !strings.ContainsRune(" \t[{,.\"'", rune(before)) {
			continue
		}
		rest := line[i+len(key):]
		if len(rest) > 0 && (rest[0] == '"' || rest[0] == '\'') {
			rest = rest[1:]
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && (rest[0] == '=' || rest[0] == '.' || rest[0] == ']') {
			return true
		}
	}
	return false
}
