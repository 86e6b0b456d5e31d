package rules

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// applyFilter applies f to v (see "Payloads" in doc.go for what each filter does).
func (s *state) applyFilter(f filter, v value) value {
	switch f {
	case fNum:
		if v.kind == vJSON && (v.res.Type == gjson.JSON) {
			return v // arrays and objects are converted when written
		}
		t := v.asText()
		i := 0
		for i < len(t) && (t[i] < '0' || t[i] > '9') {
			i++
		}
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if i == j {
			return value{}
		}
		for i < j-1 && t[i] == '0' { // "att007" -> 7: a JSON number has no leading zeros
			i++
		}
		return value{kind: vNum, text: t[i:j]}
	case fStr:
		return value{kind: vText, text: v.asText()}
	case fBool:
		t := v.asText()
		if string(t) == "true" || string(t) == "1" {
			return value{kind: vBool, text: s2b("true")}
		}
		return value{kind: vBool, text: s2b("false")}
	case fLower:
		t := v.asText()
		s.scratch2 = s.scratch2[:0]
		for _, c := range t {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			s.scratch2 = append(s.scratch2, c)
		}
		return value{kind: vText, text: s.scratch2}
	case fMs:
		if v.kind == vNum || v.kind == vJSON && v.res.Type == gjson.Number {
			return value{kind: vNum, text: v.asText()}
		}
		ms, ok := parseISOMillis(v.asText())
		if !ok {
			return value{}
		}
		s.scratch2 = strconv.AppendInt(s.scratch2[:0], ms, 10)
		return value{kind: vNum, text: s.scratch2}
	case fTitleList:
		return s.titleList(v)
	case fSplit:
		return s.splitList(v)
	}
	return v
}

// titleList reads v as TiddlyWiki reads a title list (a tags or list field,
// $tw.utils.parseStringArray): a JSON array is kept as it is; a string is split into titles
// separated by white space, a title with spaces written in double square brackets, repeats
// dropped, as a JSON array of strings; other JSON (objects, numbers, booleans, null) is
// missing.
//
// The array is appended to s.lists, which only grows during an exchange: the array may be
// iterated (each) while other titleList values are made.
func (s *state) titleList(v value) value {
	if v.kind == vJSON {
		switch {
		case v.res.IsArray():
			return v
		case v.res.Type != gjson.String:
			return value{}
		}
	}
	start := len(s.lists)
	s.lists = append(s.lists, '[')
	s.listIdx = s.listIdx[:0]
	t := v.asText()
	for i := 0; i < len(t); {
		var title []byte
		if open, end, ok := bracketedTitle(t, i); ok {
			title, i = t[open:end], end+2
		} else if n := jsSpaceAt(t, i); n > 0 {
			i += n
			continue
		} else {
			j := i
			for j < len(t) {
				if n := jsSpaceAt(t, j); n > 0 {
					break
				}
				_, size := utf8.DecodeRune(t[j:])
				j += size
			}
			title, i = t[i:j], j
		}
		if len(title) == 0 {
			continue
		}
		mark := len(s.lists)
		if len(s.listIdx) > 0 {
			s.lists = append(s.lists, ',')
		}
		el := len(s.lists)
		s.lists = appendJSONString(s.lists, title)
		if s.repeated(start, el) {
			s.lists = s.lists[:mark]
			continue
		}
		s.listIdx = append(s.listIdx, int32(el-start), int32(len(s.lists)-start))
	}
	s.lists = append(s.lists, ']')
	return value{kind: vJSON, res: gjson.Result{Type: gjson.JSON, Raw: b2s(s.lists[start:])}}
}

// repeated reports whether the JSON string written at s.lists[el:] equals one written
// before it in the array that starts at s.lists[start] (whose elements s.listIdx holds).
func (s *state) repeated(start, el int) bool {
	cur := s.lists[el:]
	for k := 0; k < len(s.listIdx); k += 2 {
		if bytes.Equal(s.lists[start+int(s.listIdx[k]):start+int(s.listIdx[k+1])], cur) {
			return true
		}
	}
	return false
}

// bracketedTitle reports whether a "[[title]]" starts at t[i:], as TiddlyWiki's list regular
// expression /(?:^|[^\S\xA0])(?:\[\[(.*?)\]\])(?=[^\S\xA0]|$)/ matches it there: at the start, or
// after one white-space character at i; the title ends at the first "]]" that is followed by
// white space or the end, and holds no line break. It returns the title's bounds.
func bracketedTitle(t []byte, i int) (open, end int, ok bool) {
	open = i
	if i > 0 || len(t) == 0 || t[0] != '[' {
		n := jsSpaceAt(t, i)
		if n == 0 {
			return 0, 0, false
		}
		open = i + n
	}
	if !bytes.HasPrefix(t[open:], []byte("[[")) {
		return 0, 0, false
	}
	open += 2
	for k := open; k+1 < len(t); {
		if t[k] == ']' && t[k+1] == ']' {
			if n := jsSpaceAt(t, k+2); n > 0 || k+2 == len(t) {
				return open, k, true
			}
		}
		r, size := utf8.DecodeRune(t[k:])
		if r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' {
			return 0, 0, false // JavaScript's . matches no line terminator
		}
		k += size
	}
	return 0, 0, false
}

// jsSpaceAt returns the length in bytes of the character at t[i:] when it is one of
// JavaScript's \s other than the no-break space U+00A0 (TiddlyWiki's [^\S\xA0]), else 0.
func jsSpaceAt(t []byte, i int) int {
	if i >= len(t) {
		return 0
	}
	if c := t[i]; c < utf8.RuneSelf {
		if c == ' ' || c >= '\t' && c <= '\r' {
			return 1
		}
		return 0
	}
	r, size := utf8.DecodeRune(t[i:])
	switch {
	case r == 0x1680, r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f,
		r == 0x205f, r == 0x3000, r == 0xfeff:
		return size
	}
	return 0
}

// parseISOMillis reads an ISO-8601 date-time, "2026-01-01T10:00:00.123Z" or with an offset
// ("+01:00", "+0100") or none (UTC), seconds and fraction optional, or a date alone, as Unix
// milliseconds. It does not allocate.
func parseISOMillis(t []byte) (int64, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(b) > 0
	}
	if len(t) < 10 || t[4] != '-' || t[7] != '-' {
		return 0, false
	}
	y, ok1 := num(t[0:4])
	mo, ok2 := num(t[5:7])
	d, ok3 := num(t[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	var h, mi, sec, ms, off int
	rest := t[10:]
	if len(rest) > 0 {
		if rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ' || len(rest) < 6 || rest[3] != ':' {
			return 0, false
		}
		var ok4, ok5 bool
		h, ok4 = num(rest[1:3])
		mi, ok5 = num(rest[4:6])
		if !ok4 || !ok5 || h > 23 || mi > 59 {
			return 0, false
		}
		rest = rest[6:]
		if len(rest) >= 3 && rest[0] == ':' {
			var ok bool
			if sec, ok = num(rest[1:3]); !ok || sec > 60 {
				return 0, false
			}
			rest = rest[3:]
			if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
				i := 1
				for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
					if i <= 3 {
						ms = ms*10 + int(rest[i]-'0')
					}
					i++
				}
				if i == 1 {
					return 0, false
				}
				for k := i; k <= 3; k++ {
					ms *= 10
				}
				rest = rest[i:]
			}
		}
		switch {
		case len(rest) == 0:
		case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		case rest[0] == '+' || rest[0] == '-':
			z := rest[1:]
			if len(z) == 5 && z[2] == ':' {
				z = []byte{z[0], z[1], z[3], z[4]}[:4:4]
			}
			oh, okh := num(z[:min(2, len(z))])
			om, okm := num(z[min(2, len(z)):])
			if len(z) != 4 || !okh || !okm || oh > 23 || om > 59 {
				return 0, false
			}
			off = (oh*60 + om) * 60
			if rest[0] == '-' {
				off = -off
			}
		default:
			return 0, false
		}
	}
	secs := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC).Unix() - int64(off)
	return secs*1000 + int64(ms), true
}
