package proxy

import (
	"net"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"hooktap/rules"
)

const cookieRules = `
[[rule]]
name   = "form save"
method = "POST"
path   = "/index.php/{title*}"
status = ["3xx"]
when   = { "respcookie.*PostEditRevision*" = { exists = true } }

[[rule.emit]]
event   = "page_updated"
payload = { "rev" = "respcookie.*PostEditRevision*#2|num", "how" = "respcookie.*PostEditRevision*", "title" = "path.title ?? query.title" }
`

type keepSink struct {
	mu       sync.Mutex
	payloads []string
}

func (s *keepSink) Enqueue(ev *rules.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payloads = append(s.payloads, string(ev.Payload))
	return nil
}

// Through the real proxy and classifier: an upstream answer with several Set-Cookie headers,
// the post-edit one not first, is read by respcookie (the proxy's response Peeker is a
// rules.MultiPeeker); an answer without it emits nothing. The client gets every cookie.
func TestRespCookieThroughProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Add("Set-Cookie", "wiki_session=abc; path=/; HttpOnly")
		h.Add("Set-Cookie", "wikiUserID=1; path=/")
		if string(ctx.QueryArgs().Peek("title")) == "Saved" || len(ctx.Path()) > len("/index.php") {
			h.Add("Set-Cookie", "wikiPostEditRevision77=saved; Max-Age=1200; path=/")
		}
		h.Add("Set-Cookie", "wikiUserName=Admin; path=/")
		ctx.Redirect("/index.php/X", 302)
	}}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Shutdown() })

	f, err := rules.Parse("cookie.toml", []byte(cookieRules))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	sink := &keepSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	_, addr, _ := startProxy(t, cfgFor("http://"+ln.Addr().String()), c)

	for _, target := range []string{"/index.php?title=Saved&action=submit", "/index.php?title=Null&action=submit", "/index.php/Path_Info?action=submit"} {
		resp, _ := rawDo(t, addr, "POST "+target+" HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\nwpSave=1")
		if resp.StatusCode != 302 {
			t.Fatalf("%s: got %d, want 302", target, resp.StatusCode)
		}
		if n := len(resp.Header.Values("Set-Cookie")); n < 3 {
			t.Errorf("%s: the client got %d Set-Cookie headers, want all of them", target, n)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	want := []string{
		`{"timestamp":`, `"rev":77,"how":"saved","title":"Saved"}`,
		`{"timestamp":`, `"rev":77,"how":"saved","title":"Path_Info"}`,
	}
	if len(sink.payloads) != 2 {
		t.Fatalf("got %d events %q, want 2", len(sink.payloads), sink.payloads)
	}
	for i, p := range sink.payloads {
		if p[:len(want[2*i])] != want[2*i] || p[len(p)-len(want[2*i+1]):] != want[2*i+1] {
			t.Errorf("event %d: got %s, want ...%s", i, p, want[2*i+1])
		}
	}
}
