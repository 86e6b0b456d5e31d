package rules

import (
	"bytes"
	"fmt"
	"strings"
)

// The respcookie source reads the cookies that the upstream's answer sets: every Set-Cookie
// header, not only the first (a MediaWiki save's 302 carries several).
//
//	respcookie.wiki_session           the value of the cookie named wiki_session
//	respcookie.*PostEditRevision*     the value of a cookie whose name matches the pattern
//	respcookie.*PostEditRevision*#2   the text that the pattern's second * matched
//	respcookie.*PostEditRevision*#name  the cookie's whole name
//
// A '*' in the name matches any run of characters (each but the last as few as it can). When
// several Set-Cookie headers match, the last one counts, as a browser keeps it.

// MultiPeeker is a Peeker that also reads a header sent several times (Set-Cookie). The
// proxy's response headers and case files' headers are ones; with a plain Peeker respcookie
// sees only the first Set-Cookie.
type MultiPeeker interface {
	Peeker
	// PeekN returns the value of the n-th header named name (counted from 0, in the order
	// received), or nil when there are no more. It must not allocate.
	PeekN(name string, n int) []byte
}

// cookiePart is what a respcookie expression gives of the matching cookie.
const (
	cookieValue = 0  // its value
	cookieName  = -1 // its whole name
	// 1..9: the text the n-th '*' matched
)

// cookiePattern is a compiled respcookie name: the literal pieces between its '*'s.
type cookiePattern struct {
	pieces []string // len = stars+1
	part   int      // cookieValue, cookieName or a star's number
}

// parseCookieExpr compiles the tail of "respcookie.<tail>" into e.
func parseCookieExpr(e *expr, tail string) error {
	pat, part, hasPart := strings.Cut(tail, "#")
	if pat == "" {
		return fmt.Errorf("%q: respcookie.<name> needs a name", e.text)
	}
	for i := 0; i < len(pat); i++ {
		if c := pat[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("=;,\"\\", c) >= 0 {
			return fmt.Errorf("%q: %q cannot be in a cookie name", e.text, c)
		}
	}
	p := &cookiePattern{pieces: strings.Split(pat, "*")}
	stars := len(p.pieces) - 1
	if stars > 9 {
		return fmt.Errorf("%q: a cookie name pattern has at most 9 *", e.text)
	}
	if hasPart {
		switch {
		case part == "name":
			p.part = cookieName
		case len(part) == 1 && part[0] >= '1' && part[0] <= '9':
			p.part = int(part[0] - '0')
			if p.part > stars {
				return fmt.Errorf("%q: #%s: the pattern has %d *", e.text, part, stars)
			}
		default:
			return fmt.Errorf("%q: after respcookie.<name> only #name or #1..#9 (the text a * matched) may follow", e.text)
		}
	}
	e.src, e.name, e.cookie = srcRespCookie, pat, p
	return nil
}

// match reports whether name matches the pattern, and the bounds in name of the text the
// wanted star matched (the whole name unless part is a star).
func (p *cookiePattern) match(name []byte) (lo, hi int, ok bool) {
	n := len(p.pieces)
	first, last := p.pieces[0], p.pieces[n-1]
	if n == 1 {
		return 0, len(name), string(name) == first
	}
	if len(name) < len(first)+len(last) || string(name[:len(first)]) != first || string(name[len(name)-len(last):]) != last {
		return 0, 0, false
	}
	pos, end := len(first), len(name)-len(last)
	lo, hi = 0, len(name)
	for i := 1; i < n; i++ { // star i stands before piece i
		start := pos
		if i < n-1 {
			j := bytes.Index(name[pos:end], s2b(p.pieces[i]))
			if j < 0 {
				return 0, 0, false
			}
			pos += j
		} else {
			pos = end // the last star takes what is left before the suffix
		}
		if i == p.part {
			lo, hi = start, pos
		}
		pos += len(p.pieces[i])
	}
	return lo, hi, true
}

// respCookie evaluates a respcookie expression: the last Set-Cookie header whose cookie
// matches.
func (s *state) respCookie(e *expr, x *Exchange) value {
	if x.RespHeader == nil {
		return value{}
	}
	mp, multi := x.RespHeader.(MultiPeeker)
	var name, val []byte
	var lo, hi int
	found := false
	for i := 0; ; i++ {
		var h []byte
		if multi {
			h = mp.PeekN("Set-Cookie", i)
		} else if i == 0 {
			h = x.RespHeader.Peek("Set-Cookie")
		}
		if h == nil {
			break
		}
		n, v, ok := splitSetCookie(h)
		if !ok {
			continue
		}
		if l, r, ok := e.cookie.match(n); ok {
			name, val, lo, hi, found = n, v, l, r, true
		}
	}
	if !found {
		return value{}
	}
	switch e.cookie.part {
	case cookieValue:
		return value{kind: vText, text: val}
	case cookieName:
		return value{kind: vText, text: name}
	}
	return value{kind: vText, text: name[lo:hi]}
}

// splitSetCookie reads a Set-Cookie header's cookie name and value ("name=value; Path=/"):
// white space around both trimmed, a value's surrounding double quotes dropped. It reports
// false for a header with no '=' or an empty name, which browsers ignore.
func splitSetCookie(h []byte) (name, val []byte, ok bool) {
	if i := bytes.IndexByte(h, ';'); i >= 0 {
		h = h[:i]
	}
	i := bytes.IndexByte(h, '=')
	if i < 0 {
		return nil, nil, false
	}
	name, val = bytes.TrimSpace(h[:i]), bytes.TrimSpace(h[i+1:])
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	}
	return name, val, len(name) > 0
}
