package rules

import (
	"strings"

	"github.com/tidwall/gjson"
)

// appendInt writes n in decimal.
func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// appendValue writes v as JSON.
func appendValue(dst []byte, v *value, num bool) []byte {
	switch v.kind {
	case vText:
		return appendJSONString(dst, v.text)
	case vNum, vBool:
		return append(dst, v.text...)
	case vJSON:
		if num && v.res.Type == gjson.JSON {
			return appendNumified(dst, v.res)
		}
		return append(dst, v.res.Raw...)
	}
	return append(dst, "null"...)
}

// appendNumified copies a JSON array or object, applying |num to the ids inside it: each
// string element of an array, and each string value of an object key that names an id ("id",
// "...Id", "..._id"), that holds digits after an optional non-digit prefix (as "att123")
// becomes a number. Other values keep their type, so a user key such as "ff8080810001" next
// to an id stays a string.
func appendNumified(dst []byte, r gjson.Result) []byte {
	switch r.Type {
	case gjson.String:
		t := r.Str
		i := 0
		for i < len(t) && (t[i] < '0' || t[i] > '9') {
			i++
		}
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if i == j || j != len(t) {
			return append(dst, r.Raw...)
		}
		for i < j-1 && t[i] == '0' {
			i++
		}
		return append(dst, t[i:j]...)
	case gjson.JSON:
		obj := r.IsObject()
		if obj {
			dst = append(dst, '{')
		} else {
			dst = append(dst, '[')
		}
		first := true
		r.ForEach(func(k, v gjson.Result) bool {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if obj {
				dst = append(dst, k.Raw...)
				dst = append(dst, ':')
				if v.Type == gjson.String && !isIDKey(k.Str) {
					dst = append(dst, v.Raw...)
					return true
				}
			}
			dst = appendNumified(dst, v)
			return true
		})
		if obj {
			return append(dst, '}')
		}
		return append(dst, ']')
	}
	return append(dst, r.Raw...)
}

// isIDKey reports whether an object key names an id: "id", or ending in "Id" or "_id".
func isIDKey(k string) bool {
	return k == "id" || strings.HasSuffix(k, "Id") || strings.HasSuffix(k, "_id")
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendJSONInner(dst, s)
	return append(dst, '"')
}

// appendJSONInner writes s escaped as inside a JSON string, without the quotes.
func appendJSONInner(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}
