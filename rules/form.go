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
		return findParam(x.Body, name, &s.scratch)
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
		return multipartField(x.Body, b, name)
	}
	return nil, false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], s2b(prefix))
}

// multipartField finds the part named name in a multipart body and returns its content.
func multipartField(body, boundary []byte, name string) ([]byte, bool) {
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return nil, false
		}
		if i < 2 || body[i-1] != '-' || body[i-2] != '-' {
			body = body[i+len(boundary):]
			continue
		}
		body = body[i+len(boundary):]
		if bytes.HasPrefix(body, []byte("--")) {
			return nil, false
		}
		hdrEnd := bytes.Index(body, []byte("\r\n\r\n"))
		if hdrEnd < 0 {
			return nil, false
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
			return nil, false // the part does not end: the body was cut
		}
		if partNamed(hdr, name) {
			return content[:end], true
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
