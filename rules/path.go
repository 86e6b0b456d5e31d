package rules

import (
	"bytes"
	"sync"
)

// Request paths are matched in a canonical form, so that a write cannot slip past the rules
// by spelling its path in a way the wiki's server reads as the same path (see "Path
// templates" in doc.go). The proxy still forwards the path as sent; only matching and the
// bound values use the canonical form.
//
// The canonical form of a path starting with '/' is built segment by segment:
//
//  1. a segment's path parameters (from its first ';' on) are dropped;
//  2. percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded, and any
//     other escape (%2F, %3B, %C3, ...) is kept, its hex digits in upper case; a '%' that
//     starts no escape is written %25;
//  3. empty segments, and "." segments, are dropped; a ".." segment drops the segment
//     before it (none at the root).
//
// What is left is joined by '/' after a leading '/'; "/" when nothing is left. A trailing
// slash therefore disappears with the empty segment after it.

// unreserved reports whether c is an unreserved URI character (RFC 3986 section 2.3).
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// upperHex returns the hex digit c in upper case.
func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - ('a' - 'A')
	}
	return c
}

// appendCanonSeg appends the canonical form of one raw segment (without '/'): its path
// parameters dropped, its unreserved escapes decoded, its other escapes in upper case.
func appendCanonSeg(dst, seg []byte) []byte {
	if i := bytes.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '%' && i+2 < len(seg) && unhex(seg[i+1]) >= 0 && unhex(seg[i+2]) >= 0 {
			if d := byte(unhex(seg[i+1])<<4 | unhex(seg[i+2])); unreserved(d) {
				dst = append(dst, d)
			} else {
				dst = append(dst, '%', upperHex(seg[i+1]), upperHex(seg[i+2]))
			}
			i += 2
			continue
		}
		if c == '%' {
			// A '%' that starts no escape stands for itself: written as one, it cannot
			// join the characters after it into an escape ("%0%61" is "%250a", not "%0a").
			dst = append(dst, "%25"...)
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// appendCanonPath appends the canonical form of the raw path p (which starts with '/').
// The result is never longer than canonLen(p).
func appendCanonPath(dst, p []byte) []byte {
	start := len(dst)
	for len(p) > 0 {
		p = p[1:] // the '/'
		raw := p
		if i := bytes.IndexByte(p, '/'); i >= 0 {
			raw, p = p[:i], p[i:]
		} else {
			p = nil
		}
		mark := len(dst)
		dst = append(dst, '/')
		dst = appendCanonSeg(dst, raw)
		switch seg := dst[mark+1:]; {
		case len(seg) == 0 || len(seg) == 1 && seg[0] == '.':
			dst = dst[:mark]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			dst = dst[:mark]
			if i := bytes.LastIndexByte(dst[start:], '/'); i >= 0 {
				dst = dst[:start+i]
			}
		}
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

// isCanonPath reports whether the path p (starting with '/') is its own canonical form, so
// that matching can read it as it is: no ';', no empty, "." or ".." segment, no trailing
// slash (but "/" itself), and every '%' an escape of a reserved character, in upper case.
func isCanonPath(p []byte) bool {
	if len(p) == 1 {
		return true
	}
	if p[len(p)-1] == '/' {
		return false
	}
	// Most paths hold none of the bytes to look at: the vectorised searches clear them.
	if bytes.IndexByte(p, '%') < 0 && bytes.IndexByte(p, ';') < 0 &&
		!bytes.Contains(p, doubleSlash) && (bytes.IndexByte(p, '.') < 0 || !bytes.Contains(p, slashDot)) {
		return true
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			switch n := i - segStart; {
			case n == 0:
				return false
			case n == 1 && p[segStart] == '.', n == 2 && p[segStart] == '.' && p[segStart+1] == '.':
				return false
			}
			segStart = i + 1
			continue
		}
		switch p[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
				return false
			}
			hi, lo := p[i+1], p[i+2]
			if hi >= 'a' || lo >= 'a' || unreserved(byte(unhex(hi)<<4|unhex(lo))) {
				return false
			}
			i += 2
		}
	}
	return true
}

// canonLen bounds the length of p's canonical form: a '%' may become "%25".
func canonLen(p []byte) int {
	return len(p) + 2*bytes.Count(p, percent)
}

var (
	percent     = []byte{'%'}
	doubleSlash = []byte("//")
	slashDot    = []byte("/.")
)

// canonBufMax is the longest canonical form Wants builds on its stack; longer ones (rare)
// are built in a pooled buffer.
const canonBufMax = 512

var canonBufs = sync.Pool{New: func() any { return new([]byte) }}
