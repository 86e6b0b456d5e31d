package rules_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// setCookies is a MultiPeeker over response headers kept as bytes, so that reading them
// allocates nothing (CaseHeaders converts each value).
type setCookies [][2][]byte

func (h setCookies) Peek(name string) []byte { return h.PeekN(name, 0) }

func (h setCookies) PeekN(name string, n int) []byte {
	for _, kv := range h {
		if bytes.EqualFold(kv[0], []byte(name)) {
			if n == 0 {
				return kv[1]
			}
			n--
		}
	}
	return nil
}

// formPack classifies a MediaWiki edit-form save by its post-edit cookie, with the title
// from path info or the query and a lookup by the revision id the cookie names.
const formPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "form save"
method = "POST"
path   = "/index.php/{title*}"
status = ["3xx"]
when   = { "form.action ?? query.action" = "submit", "respcookie.*PostEditRevision*" = ["created", "saved"] }

[[rule.lookup]]
name  = "rev"
path  = "/api.php?action=query&format=json&formatversion=2&revids={respcookie.*PostEditRevision*#2}"
stage = "after"
cache = false

[[rule.emit]]
event   = "page_updated"
when    = { "respcookie.*PostEditRevision*" = "saved" }
payload = { "page.id" = "lookup.rev.query.pages.0.pageid|num" }
full    = { "page.title" = "path.title ?? query.title", "page.version" = "respcookie.*PostEditRevision*#2|num" }
`

// revUpstream answers the revision lookup, and records what it was asked.
type revUpstream struct{ asked []byte }

func (u *revUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	u.asked = append(u.asked[:0], pq...)
	return 200, append(dst, `{"batchcomplete":true,"query":{"pages":[{"pageid":12,"ns":0,"title":"Main Page"}]}}`...), nil
}

type lastSink struct {
	n          int
	payload    []byte
	full       []byte
	keepBodies bool
}

func (s *lastSink) Enqueue(ev *rules.Event) error {
	s.n++
	if s.keepBodies {
		s.payload = append(s.payload[:0], ev.Payload...)
		s.full = append(s.full[:0], ev.Full...)
	}
	return nil
}

func formClassifier(tb testing.TB) (*rules.Classifier, *lastSink) {
	tb.Helper()
	f, err := config.Parse("form.toml", []byte(formPack))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		tb.Fatal(err)
	}
	sink := &lastSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return fixedNow }
	return c, sink
}

// formSave is a save's exchange: a 302 with four Set-Cookie headers, the post-edit one third.
func formSave(u rules.Fetcher) *rules.Exchange {
	return &rules.Exchange{
		Method: []byte("POST"),
		Path:   []byte("/index.php"),
		Query:  []byte("title=Main_Page&action=submit"),
		Header: headers{"Content-Type": "multipart/form-data; boundary=xx"},
		Body:   []byte("--xx\r\nContent-Disposition: form-data; name=\"wpTextbox1\"\r\n\r\nHello\r\n--xx--\r\n"),
		Status: 302,
		RespHeader: setCookies{
			{[]byte("Content-Type"), []byte("text/html; charset=UTF-8")},
			{[]byte("Set-Cookie"), []byte("wiki_session=abc; path=/; HttpOnly")},
			{[]byte("Set-Cookie"), []byte("wikiUserID=1; path=/")},
			{[]byte("Set-Cookie"), []byte("wikiPostEditRevision345=saved; expires=Fri, 04-Dec-2026 18:20:00 GMT; Max-Age=1200; path=/")},
			{[]byte("Set-Cookie"), []byte("wikiUserName=Admin; path=/")},
			{[]byte("Location"), []byte("http://wiki/index.php/Main_Page")},
		},
		Upstream: u,
	}
}

// TestRespCookie checks that the post-edit cookie is found among several Set-Cookie headers
// (not the first), that its revision id reaches the lookup and the payload, and that the
// same answer with only a plain Peeker (the first Set-Cookie alone) emits nothing.
func TestRespCookie(t *testing.T) {
	c, sink := formClassifier(t)
	sink.keepBodies = true
	u := &revUpstream{}
	x := formSave(u)
	if err := classifyWrite(c, x); err != nil {
		t.Fatal(err)
	}
	if sink.n != 1 {
		t.Fatalf("got %d events, want 1", sink.n)
	}
	if got, want := string(u.asked), "/api.php?action=query&format=json&formatversion=2&revids=345"; got != want {
		t.Errorf("lookup: got %s, want %s", got, want)
	}
	if got, want := string(sink.payload), `{"timestamp":1700000000000,"event":"page_updated","userKey":"","page":{"id":12}}`; got != want {
		t.Errorf("payload: got %s, want %s", got, want)
	}
	if got, want := string(sink.full), `{"timestamp":1700000000000,"event":"page_updated","userKey":"","page":{"id":12,"title":"Main_Page","version":345}}`; got != want {
		t.Errorf("full: got %s, want %s", got, want)
	}

	sink.n = 0
	x = formSave(u)
	x.RespHeader = headers{"Set-Cookie": "wiki_session=abc; path=/"} // a Peeker only
	if err := classifyWrite(c, x); err != nil {
		t.Fatal(err)
	}
	if sink.n != 0 {
		t.Errorf("a save without the post-edit cookie: got %d events, want 0", sink.n)
	}
}

// BenchmarkRespCookie is the classification of an edit-form save read by its post-edit
// cookie (four Set-Cookie headers, a lookup by the revision id, a payload).
func BenchmarkRespCookie(b *testing.B) {
	c, sink := formClassifier(b)
	x := formSave(&revUpstream{})
	b.ReportAllocs()
	for b.Loop() {
		if err := classifyWrite(c, x); err != nil {
			b.Fatal(err)
		}
	}
	if sink.n == 0 {
		b.Fatal("no event")
	}
}

// TestRespCookieExplainRedacts checks that explain shows a failed respcookie condition's value
// as a credential (a cookie may be a session), but the text a * matched as it is.
func TestRespCookieExplainRedacts(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "session"
method = "POST"
path   = "/index.php/{title*}"
status = ["3xx"]
when   = { "respcookie.wiki_session" = "nope" }
[[rule.emit]]
event = "page_updated"

[[rule]]
name   = "revision"
method = "POST"
path   = "/index.php/{title*}"
status = ["3xx"]
when   = { "respcookie.*PostEditRevision*#2" = "1" }
[[rule.emit]]
event = "page_updated"
`
	f, err := config.Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	x := formSave(&revUpstream{})
	ex := m.Explain(x)
	if len(ex.Rules) != 2 {
		t.Fatalf("got %d candidate rules, want 2", len(ex.Rules))
	}
	if why := ex.Rules[0].Failed; !strings.Contains(why, rules.Redacted) || strings.Contains(why, "abc") {
		t.Errorf("session cookie: got %q, want its value redacted", why)
	}
	if why := ex.Rules[1].Failed; !strings.Contains(why, `"345"`) {
		t.Errorf("revision: got %q, want the revision seen, 345", why)
	}
}
