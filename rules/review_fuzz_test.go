package rules

import (
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzFormLists feeds random query strings, cookie patterns and Set-Cookie headers to the
// list sources and respcookie's matcher: never a panic, every list valid JSON, and a matched
// star's bounds inside the name.
func FuzzFormLists(f *testing.F) {
	f.Add([]byte("post%5B%5D=1&post[]=2&ids=1,%202,,3"), "post[]", "*PostEditRevision*", []byte("wikiPostEditRevision345=saved; path=/"))
	f.Add([]byte("a=%zz&a&=&a=%E2%98"), "a", "**", []byte("=\"\""))
	f.Fuzz(func(t *testing.T, q []byte, name, pat string, h []byte) {
		s := &state{}
		if v := s.allParams(q, name); v.kind != vMissing && !gjson.Valid(v.res.Raw) {
			t.Fatalf("allParams(%q, %q): %s", q, name, v.res.Raw)
		}
		if v := s.splitList(value{kind: vText, text: q}); !gjson.Valid(v.res.Raw) {
			t.Fatalf("splitList(%q): %s", q, v.res.Raw)
		}
		e := &expr{text: "respcookie." + pat}
		if parseCookieExpr(e, pat) != nil {
			return
		}
		n, _, ok := splitSetCookie(h)
		if !ok {
			return
		}
		for part := -1; part <= len(e.cookie.pieces)-1; part++ {
			e.cookie.part = part
			if lo, hi, ok := e.cookie.match(n); ok && (lo < 0 || hi > len(n) || lo > hi) {
				t.Fatalf("%q on %q part %d: [%d:%d]", pat, n, part, lo, hi)
			}
		}
	})
}

// TestFormAllTruncated checks that formall leaves out the last pair of a form body cut at the
// tap limit, whose value may be cut short (12 of 123).
func TestFormAllTruncated(t *testing.T) {
	e, err := parseExpr("formall.delete_tags[]", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		want string
	}{
		{"delete_tags[]=1&delete_tags[]=12", `["1"]`},
		{"delete_tags[]=12", ""},
	} {
		s := &state{}
		x := &Exchange{Header: headerMap{"Content-Type": "application/x-www-form-urlencoded"}, Body: []byte(c.body), BodyTrunc: true}
		v := s.evalList(&e, x)
		if got := v.res.Raw; v.kind == vMissing && c.want != "" || v.kind != vMissing && got != c.want {
			t.Errorf("%s (cut): got %v %s, want %s", c.body, v.kind, got, c.want)
		}
	}
}

type headerMap map[string]string

func (h headerMap) Peek(name string) []byte {
	if v, ok := h[name]; ok {
		return []byte(v)
	}
	return nil
}

// TestFormFieldTruncated checks that form.<field> has no value when its pair is the last one
// of a form body cut at the tap limit (its value may be cut short), and keeps its value
// when the body is whole or the pair ends before the cut.
func TestFormFieldTruncated(t *testing.T) {
	for _, c := range []struct {
		body  string
		trunc bool
		want  string // "" = no value
	}{
		{"wpSummary=s&wpTextbox1=Hel", true, ""},
		{"wpTextbox1=Hel", true, ""},
		{"wpTextbox1=Hello&wpSummary=s", true, "Hello"},
		{"wpSummary=s&wpTextbox1=Hello", false, "Hello"},
	} {
		s := &state{}
		x := &Exchange{Header: headerMap{"Content-Type": "application/x-www-form-urlencoded"}, Body: []byte(c.body), BodyTrunc: c.trunc}
		got, ok := s.formField(x, "wpTextbox1")
		if c.want == "" && ok || c.want != "" && string(got) != c.want {
			t.Errorf("%s (cut %v): got %q %v, want %q", c.body, c.trunc, got, ok, c.want)
		}
	}
}

// TestRepeatedParams checks that a parameter or field sent twice reads its first value by
// default and its last with repeated_params = "last" (PHP's way), in a query, a
// form-urlencoded body and a multipart body.
func TestRepeatedParams(t *testing.T) {
	const mp = "--b\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nquery\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nedit\r\n--b--\r\n"
	for _, last := range []bool{false, true} {
		want := "query"
		if last {
			want = "edit"
		}
		s := &state{m: &Matcher{lastParam: last}}
		x := &Exchange{Query: []byte("action=query&t=1&action=edit"), Header: headerMap{"Content-Type": "application/x-www-form-urlencoded"}, Body: []byte("action=query&action=edit")}
		if v, ok := findParam(x.Query, "action", &s.scratch, last); !ok || string(v) != want {
			t.Errorf("last=%v: query: got %q %v, want %q", last, v, ok, want)
		}
		if v, ok := s.formField(x, "action"); !ok || string(v) != want {
			t.Errorf("last=%v: form: got %q %v, want %q", last, v, ok, want)
		}
		x = &Exchange{Header: headerMap{"Content-Type": "multipart/form-data; boundary=b"}, Body: []byte(mp)}
		if v, ok := s.formField(x, "action"); !ok || string(v) != want {
			t.Errorf("last=%v: multipart: got %q %v, want %q", last, v, ok, want)
		}
	}
}
