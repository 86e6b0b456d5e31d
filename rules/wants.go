package rules

import "bytes"

// Wants reports whether a request with this method and raw path could match a rule. It is
// conservative: a POST may carry a method override, so it is checked against every method.
// The path is matched in its canonical form (see "Path templates"). It does not allocate.
func (m *Matcher) Wants(method, path []byte) bool {
	mi := methodIndex(method)
	if mi == 0 || len(path) == 0 || path[0] != '/' {
		return false
	}
	want := uint8(1) << mi
	if mi == mPOST {
		want = 0xff
	}
	if m.root.mask&want == 0 {
		return false
	}
	if isCanonPath(path) {
		return m.route != nil && m.route.applies(path) || m.root.wants(path[1:], want, m.rules)
	}
	if canonLen(path) <= canonBufMax {
		var buf [canonBufMax]byte
		c := appendCanonPath(buf[:0], path)
		return m.route != nil && m.route.applies(c) || m.root.wants(c[1:], want, m.rules)
	}
	bp := canonBufs.Get().(*[]byte)
	c := appendCanonPath((*bp)[:0], path)
	ok := m.route != nil && m.route.applies(c) || m.root.wants(c[1:], want, m.rules)
	if cap(c) <= maxKeep {
		*bp = c[:0]
		canonBufs.Put(bp)
	}
	return ok
}

// anyMethod reports whether one of the rules listed has one of the methods in want.
func anyMethod(list []int32, want uint8, rules []*crule) bool {
	for _, i := range list {
		if rules[i].methods&want != 0 {
			return true
		}
	}
	return false
}

// cutSlash splits p at its first '/': the segment, the rest after the '/', and whether there
// was one.
func cutSlash(p []byte) (seg, rest []byte, more bool) {
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:], true
	}
	return p, nil, false
}

// wants reports whether the path p below n (without its leading '/') could match a rule with
// one of the methods in want.
func (n *tnode) wants(p []byte, want uint8, rules []*crule) bool {
	if n.mask&want == 0 {
		return false
	}
	if len(n.rest) > 0 && len(p) > 0 && anyMethod(n.rest, want, rules) {
		return true
	}
	seg, tail, more := cutSlash(p)
	if c := n.lit[string(seg)]; c != nil {
		if more && c.wants(tail, want, rules) || !more && anyMethod(c.end, want, rules) {
			return true
		}
	}
	if c := n.param; c != nil && len(seg) > 0 {
		if more && c.wants(tail, want, rules) || !more && anyMethod(c.end, want, rules) {
			return true
		}
	}
	return false
}

// collect appends the rules whose templates match the path p below n (without its leading
// '/') to out.
func (n *tnode) collect(p []byte, out []int32) []int32 {
	if len(n.rest) > 0 && len(p) > 0 {
		out = append(out, n.rest...)
	}
	seg, tail, more := cutSlash(p)
	if c := n.lit[string(seg)]; c != nil {
		if more {
			out = c.collect(tail, out)
		} else {
			out = append(out, c.end...)
		}
	}
	if c := n.param; c != nil && len(seg) > 0 {
		if more {
			out = c.collect(tail, out)
		} else {
			out = append(out, c.end...)
		}
	}
	return out
}
