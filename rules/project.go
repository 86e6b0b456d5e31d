package rules

import (
	"strings"

	"github.com/tidwall/gjson"
)

// projection is a JSON path of the form P.#.R: the array at P, each element's R, as a JSON
// array ("results.#.name", "results.#.{name,prefix}"). gjson builds such an answer in fresh
// memory (about five allocations per query); the state builds it in s.lists instead, which
// lives until the next exchange, so the shipped pack's "#.name" conditions and payloads
// allocate nothing. Paths with anything else in them (queries #(...), modifiers, pipes,
// wildcards, escapes, nested #) are left to gjson.
type projection struct {
	path string   // the whole path, for gjson when the array is not one
	arr  string   // P; "" when the document itself is the array ("#.name")
	key  string   // R when it is a plain path
	keys []string // R = {k1,k2,...}: an object of these plain keys per element
}

// parseProjection returns the projection p spells, or nil when p is not one this file
// evaluates (gjson then does).
func parseProjection(p string) *projection {
	var arr, rest string
	switch {
	case strings.HasPrefix(p, "#."):
		rest = p[2:]
	default:
		i := strings.Index(p, ".#.")
		if i <= 0 {
			return nil
		}
		arr, rest = p[:i], p[i+3:]
		if !plainPath(arr) {
			return nil
		}
	}
	if strings.HasPrefix(rest, "{") && strings.HasSuffix(rest, "}") {
		ks := strings.Split(rest[1:len(rest)-1], ",")
		for _, k := range ks {
			if !plainKey(k) {
				return nil
			}
		}
		return &projection{path: p, arr: arr, keys: ks}
	}
	if !plainPath(rest) {
		return nil
	}
	return &projection{path: p, arr: arr, key: rest}
}

// plainPath reports whether p is dot-separated plain keys (letters, digits, _ and -).
func plainPath(p string) bool {
	if p == "" {
		return false
	}
	for _, k := range strings.Split(p, ".") {
		if !plainKey(k) {
			return false
		}
	}
	return true
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// jsonAt is jsonValue(doc, e.gpath), with projections built in s.lists.
func (s *state) jsonAt(doc []byte, e *expr) value {
	if e.proj == nil || len(doc) == 0 {
		return jsonValue(doc, e.gpath)
	}
	return s.project(gjson.Parse(b2s(doc)), e.proj)
}

// itemAt is the element's e.gpath, with projections built in s.lists.
func (s *state) itemAt(e *expr) value {
	if e.proj != nil {
		return s.project(s.item, e.proj)
	}
	r := s.item.Get(e.gpath)
	if !r.Exists() {
		return value{}
	}
	return value{kind: vJSON, res: r}
}

// project evaluates pr on root as gjson does: an array of every element's value (elements
// without it skipped), or with keys, one object per element holding the keys it has. When P
// is not an array gjson answers (it has its own ideas there, such as "{}" for an object).
func (s *state) project(root gjson.Result, pr *projection) value {
	arr := root
	if pr.arr != "" {
		arr = root.Get(pr.arr)
	}
	if !arr.IsArray() {
		r := root.Get(pr.path)
		if !r.Exists() {
			return value{}
		}
		return value{kind: vJSON, res: r}
	}
	start := len(s.lists)
	s.lists = append(s.lists, '[')
	n := 0
	arr.ForEach(func(_, el gjson.Result) bool {
		if pr.keys == nil {
			r := el.Get(pr.key)
			if !r.Exists() {
				return true
			}
			if n > 0 {
				s.lists = append(s.lists, ',')
			}
			s.lists = append(s.lists, r.Raw...)
			n++
			return true
		}
		if n > 0 {
			s.lists = append(s.lists, ',')
		}
		s.lists = append(s.lists, '{')
		k := 0
		for _, key := range pr.keys {
			r := el.Get(key)
			if !r.Exists() {
				continue
			}
			if k > 0 {
				s.lists = append(s.lists, ',')
			}
			s.lists = appendJSONString(s.lists, s2b(key))
			s.lists = append(s.lists, ':')
			s.lists = append(s.lists, r.Raw...)
			k++
		}
		s.lists = append(s.lists, '}')
		n++
		return true
	})
	s.lists = append(s.lists, ']')
	return value{kind: vJSON, res: gjson.Result{Type: gjson.JSON, Raw: b2s(s.lists[start:])}}
}
