package rules

import (
	"bytes"
	"strings"
	"testing"
)

var canonCases = []struct{ in, want string }{
	{"/", "/"},
	{"//", "/"},
	{"/;x", "/"},
	{"/rest/api/content", "/rest/api/content"},
	{"/rest/api/content/", "/rest/api/content"},
	{"/rest/api/content//", "/rest/api/content"},
	{"/rest//api/content", "/rest/api/content"},
	{"/rest/api/content;jsessionid=x", "/rest/api/content"},
	{"/rest;a/api;b=c;d/content;", "/rest/api/content"},
	{"/rest/api/%63ontent", "/rest/api/content"},
	{"/rest/api/%63%6F%6e%74ent", "/rest/api/content"},
	{"/%7e%2D%2e%5F%41%7A%30", "/~-._Az0"},
	{"/a%2fb/c%3bd/e%20f/%c3%a9", "/a%2Fb/c%3Bd/e%20f/%C3%A9"},
	{"/a%2Fb", "/a%2Fb"},
	{"/a%zz/%4/%", "/a%25zz/%254/%25"},
	{"/%0%61", "/%250a"},
	{"/a%25b", "/a%25b"},
	{"/rest/api/./content", "/rest/api/content"},
	{"/rest/api/x/../content", "/rest/api/content"},
	{"/../../rest/api/content", "/rest/api/content"},
	{"/rest/api/content/..", "/rest/api"},
	{"/rest/api/%2e%2E/x", "/rest/x"},
	{"/rest/..;x/api", "/api"},
	{"/a/.../b", "/a/.../b"},
	{"/a/.b/..c", "/a/.b/..c"},
	{"/a/b/../../..", "/"},
	{"/rest.php/v1/page/Caf%C3%A9%2FSub", "/rest.php/v1/page/Caf%C3%A9%2FSub"},
	{"/api.php", "/api.php"},
	{"/REST/api", "/REST/api"},
}

func TestCanonPath(t *testing.T) {
	for _, c := range canonCases {
		got := string(appendCanonPath([]byte("x"), []byte(c.in)))
		if got != "x"+c.want {
			t.Errorf("appendCanonPath(%q) = %q, want %q", c.in, got[1:], c.want)
		}
		if want := c.in == c.want; isCanonPath([]byte(c.in)) != want {
			t.Errorf("isCanonPath(%q) = %v, want %v", c.in, !want, want)
		}
	}
}

// refCanon is appendCanonPath written plainly, with strings and a stack of segments.
func refCanon(p string) string {
	var out []string
	for _, seg := range strings.Split(p[1:], "/") {
		seg, _, _ = strings.Cut(seg, ";")
		var b strings.Builder
		for i := 0; i < len(seg); i++ {
			if seg[i] == '%' && i+2 < len(seg) && unhex(seg[i+1]) >= 0 && unhex(seg[i+2]) >= 0 {
				d := byte(unhex(seg[i+1])<<4 | unhex(seg[i+2]))
				if unreserved(d) {
					b.WriteByte(d)
				} else {
					b.WriteString("%" + strings.ToUpper(seg[i+1:i+3]))
				}
				i += 2
				continue
			}
			if seg[i] == '%' {
				b.WriteString("%25")
				continue
			}
			b.WriteByte(seg[i])
		}
		switch s := b.String(); s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// FuzzCanonPath checks the canonical form against refCanon, that it is a fixed point, and
// that isCanonPath recognises exactly the paths that are their own canonical form.
func FuzzCanonPath(f *testing.F) {
	for _, c := range canonCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" || p[0] != '/' {
			return
		}
		got := appendCanonPath(nil, []byte(p))
		if want := refCanon(p); string(got) != want {
			t.Fatalf("appendCanonPath(%q) = %q, want %q", p, got, want)
		}
		if len(got) > canonLen([]byte(p)) {
			t.Fatalf("appendCanonPath(%q) = %q is longer than canonLen", p, got)
		}
		if again := appendCanonPath(nil, got); !bytes.Equal(again, got) {
			t.Fatalf("not a fixed point: %q -> %q -> %q", p, got, again)
		}
		if !isCanonPath(got) {
			t.Fatalf("isCanonPath(%q) = false for a canonical path", got)
		}
		if isCanonPath([]byte(p)) != (string(got) == p) {
			t.Fatalf("isCanonPath(%q) = %v, canonical form %q", p, !(string(got) == p), got)
		}
	})
}
