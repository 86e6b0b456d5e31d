package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"hooktap/rules"
)

// postTap is a Tap whose Before makes an xmlrpc lookup: a POST through x.Upstream.
type postTap struct {
	mu     sync.Mutex
	status int
	body   string
	err    error
}

func (*postTap) Wants(method, path []byte) bool { return string(method) == "POST" }

func (p *postTap) Before(x *rules.Exchange) {
	poster, ok := x.Upstream.(rules.Poster)
	if !ok {
		p.mu.Lock()
		p.err = io.ErrUnexpectedEOF
		p.mu.Unlock()
		return
	}
	st, body, err := poster.Post([]byte("kept:"), []byte("/xmlrpc.php?x=1"), []byte("text/xml"), []byte("<methodCall><methodName>wp.getPost</methodName></methodCall>"))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.body, p.err = st, string(body), err
}

func (*postTap) After(x *rules.Exchange) error { return nil }

// TestFetcherPost checks the lookup POST an xmlrpc lookup makes: method, path and query,
// content type, body, the client's Host, and the answer appended to dst.
func TestFetcherPost(t *testing.T) {
	type seen struct{ method, uri, ctype, host, body string }
	var mu sync.Mutex
	var got []seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Header.Get("Content-Type"), r.Host, string(b)})
		mu.Unlock()
		_, _ = io.WriteString(w, "<methodResponse/>")
	}))
	defer up.Close()
	tap := &postTap{}
	_, addr, _ := startProxy(t, cfgFor(up.URL), tap)
	resp, _ := rawDo(t, addr, "POST /xmlrpc.php HTTP/1.1\r\nHost: blog.example\r\nContent-Type: text/xml\r\nContent-Length: 2\r\n\r\nhi")
	if resp.StatusCode != 200 {
		t.Fatalf("client got %d", resp.StatusCode)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.err != nil || tap.status != 200 || tap.body != "kept:<methodResponse/>" {
		t.Errorf("Post: got %d %q %v, want 200 %q <nil>", tap.status, tap.body, tap.err, "kept:<methodResponse/>")
	}
	mu.Lock()
	defer mu.Unlock()
	want := seen{"POST", "/xmlrpc.php?x=1", "text/xml", "blog.example", "<methodCall><methodName>wp.getPost</methodName></methodCall>"}
	if len(got) != 2 || got[0] != want {
		t.Errorf("upstream saw %+v, want the lookup %+v first, then the client's POST", got, want)
	}
}
