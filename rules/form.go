package rules

import "bytes"

// formField returns a field of a form-urlencoded or multipart request body.
func (s *state) formField(x *Exchange, name string) ([]byte, bool) {
	if x.Header == nil || len(x.Body) == 0 {
		return nil, false
	}
	ct := x.Header.Peek("Content-Type")
	switch {
	case hasPrefixFold(ct, "application/x-www-form-urlencoded"):
		return findParam(formPairs(x), name, &s.scratch, s.lastParam())
	case hasPrefixFold(ct, "multipart/form-data"):
		i := bytes.Index(ct, []byte("boundary="))
		if i < 0 {
			return nil, false
		}
		b := ct[i+len("boundary="):]
		if j := bytes.IndexByte(b, ';'); j >= 0 {
			b = b[:j]
		}
		b = bytes.Trim(bytes.TrimSpace(b), `"`)
		if len(b) == 0 {
			return nil, false
		}
		return multipartField(x.Body, b, name, s.lastParam())
	}
	return nil, false
}

// hasPrefixFold reports whether b starts with prefix, ignoring case.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], s2b(prefix))
}

// multipartField finds the part named name in a multipart body and returns its content.
func multipartField(body, boundary []byte, name string, last bool) ([]byte, bool) {
	var found []byte
	ok := false
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return found, ok
		}
		if i < 2 || body[i-1] != '-' || body[i-2] != '-' {
			body = body[i+len(boundary):]
			continue
		}
		body = body[i+len(boundary):]
		if bytes.HasPrefix(body, []byte("--")) {
			return found, ok
		}
		hdrEnd := bytes.Index(body, []byte("\r\n\r\n"))
		if hdrEnd < 0 {
			return found, ok
		}
		hdr := body[:hdrEnd]
		content := body[hdrEnd+4:]
		end := -1
		for k := 0; ; {
			j := bytes.Index(content[k:], boundary)
			if j < 0 {
				break
			}
			j += k
			if j >= 4 && string(content[j-4:j]) == "\r\n--" {
				end = j - 4
				break
			}
			k = j + 1
		}
		if end < 0 {
			return found, ok // the part does not end: the body was cut
		}
		if partNamed(hdr, name) {
			found, ok = content[:end], true
			if !last {
				return found, ok
			}
		}
		body = content[end:]
	}
}

// partNamed reports whether a part's headers carry name="<name>" (not filename=).
func partNamed(hdr []byte, name string) bool {
	for off := 0; ; {
		i := bytes.Index(hdr[off:], []byte(`name="`))
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		if i > 0 && hdr[i-1] != ' ' && hdr[i-1] != ';' {
			continue
		}
		v := hdr[i+len(`name="`):]
		if len(v) > len(name) && b2s(v[:len(name)]) == name && v[len(name)] == '"' {
			return true
		}
	}
}

// appendUnescape percent-decodes s (and '+' as space when plus) onto dst.
func appendUnescape(dst, s []byte, plus bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0:
			dst = append(dst, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		case c == '+' && plus:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// unhex returns the value of the hex digit c, -1 if it is none.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// appendEscape percent-encodes s for a URL path segment or query value.
func appendEscape(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
	}
	return dst
}

// findParam finds the first name=value pair of a form-urlencoded string whose decoded name
// is name, and returns its decoded value (in *buf).
func findParam(q []byte, name string, buf *[]byte, last bool) ([]byte, bool) {
	var found []byte
	ok := false
	for len(q) > 0 {
		var k, v []byte
		k, v, q = nextPair(q)
		if !keyEqual(k, name) {
			continue
		}
		found, ok = v, true
		if !last {
			break
		}
	}
	if !ok {
		return nil, false
	}
	*buf = appendUnescape((*buf)[:0], found, true)
	return *buf, true
}

// nextPair splits the first name=value pair off a form-urlencoded string: its raw name and
// value (nil without '=') and the rest after '&'.
func nextPair(q []byte) (k, v, rest []byte) {
	pair := q
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		pair, rest = q[:i], q[i+1:]
	}
	k = pair
	if i := bytes.IndexByte(pair, '='); i >= 0 {
		k, v = pair[:i], pair[i+1:]
	}
	return k, v, rest
}

// keyEqual reports whether the form-encoded key k decodes to name.
func keyEqual(k []byte, name string) bool {
	if bytes.IndexByte(k, '%') < 0 && bytes.IndexByte(k, '+') < 0 {
		return b2s(k) == name
	}
	j := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '+' {
			c = ' '
		} else if c == '%' && i+2 < len(k) && unhex(k[i+1]) >= 0 && unhex(k[i+2]) >= 0 {
			c = byte(unhex(k[i+1])<<4 | unhex(k[i+2]))
			i += 2
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

// formPairs is the part of a form-urlencoded body whose pairs are whole: all of it, or, when
// the proxy cut the body at its tap limit, up to the last '&', since the last pair may be cut
// inside its value (wpTextbox1=Hel of Hello) and a cut value must not pass for the value.
func formPairs(x *Exchange) []byte {
	if !x.BodyTrunc {
		return x.Body
	}
	return x.Body[:max(bytes.LastIndexByte(x.Body, '&'), 0)]
}

// lastParam reports whether a repeated parameter reads its last value ([classify]
// repeated_params = "last").
func (s *state) lastParam() bool { return s.m != nil && s.m.lastParam }
