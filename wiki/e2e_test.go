package wiki_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"hooktap/dispatch"
	"hooktap/proxy"
	"hooktap/rules"

	"github.com/tidwall/gjson"
)

// delivery is one webhook request a receiver got.
type delivery struct {
	hook   string
	header http.Header
	body   string
}

// receiver records webhook deliveries and hands each to a channel.
type receiver struct {
	srv *httptest.Server
	got chan delivery
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan delivery, 256)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got <- delivery{hook: strings.TrimPrefix(req.URL.Path, "/"), header: req.Header.Clone(), body: string(b)}
		w.WriteHeader(204)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns n deliveries, failing the test if they do not all come within a generous bound
// (a hang guard, not a timing assertion).
func (r *receiver) wait(t *testing.T, n int) []delivery {
	t.Helper()
	var out []delivery
	deadline := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case d := <-r.got:
			out = append(out, d)
		case <-deadline:
			t.Fatalf("got %d deliveries, want %d: %v", len(out), n, out)
		}
	}
	return out
}

// TestPackThroughProxyAndDispatcher runs event sequences through the real proxy (with the
// shipped rules.toml) and the real dispatcher (memory queue) to a recording receiver, and
// checks the delivered bodies and headers: X-Event-Key, the signature, the full shape.
func TestPackThroughProxyAndDispatcher(t *testing.T) {
	f := loadPack(t)
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	upstream := serveUpstream(t, newWiki())
	recv := newReceiver(t)
	const secret = "s3cret"

	dcfg := f.Dispatch
	dcfg.Queue = "memory"
	dcfg.AllowTargets = []string{"127.0.0.1", "::1"} // the receiver is on loopback
	hooks := []dispatch.Webhook{
		{Name: "signed", URL: recv.srv.URL + "/signed", Secret: secret, Events: []string{"*"}},
		{Name: "full", URL: recv.srv.URL + "/full", Events: []string{"page_created", "label_created"}, Payload: "full"},
	}
	d, err := dispatch.New(dcfg, hooks, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()

	cls := rules.NewClassifier(m, f.Classify, d, nil)
	cls.Clock = func() time.Time { return fixedNow }
	pcfg := f.Proxy
	pcfg.Upstream = upstream
	p, err := proxy.New(pcfg, cls, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- p.Serve(ln) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := p.Shutdown(sctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
		if err := <-serveDone; err != nil {
			t.Errorf("proxy serve: %v", err)
		}
	}()

	c := &client{t: t, base: "http://" + ln.Addr().String(), user: "admin", pass: "admin"}
	// The client sees the wiki's answers, untouched.
	r := c.json("POST", "/rest/api/content", pageJSON("Plan", "1001"))
	if r.status != 200 || r.get("id") != "1002" || r.header.Get("X-AUSERNAME") != "admin" {
		t.Fatalf("create through the proxy: %d %s %v", r.status, r.body, r.header)
	}
	if r := c.json("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"}]`); r.status != 200 {
		t.Fatalf("label: %d %s", r.status, r.body)
	}
	if r := c.do("DELETE", "/rest/api/content/1002", "", nil); r.status != 204 {
		t.Fatalf("trash: %d %s", r.status, r.body)
	}
	// A read and a failed write deliver nothing (checked by the exact count below).
	if r := c.do("GET", "/rest/api/content/1002?status=any", "", nil); r.status != 200 {
		t.Fatalf("read: %d", r.status)
	}
	if r := c.json("POST", "/rest/api/content", pageJSON("Plan", "1001")); r.status != 200 {
		// the title is free again once the page is in the trash: this one succeeds (1003)
		t.Fatalf("second create: %d %s", r.status, r.body)
	}
	if r := c.json("POST", "/rest/api/content", pageJSON("Plan", "1001")); r.status != 400 {
		t.Fatalf("duplicate create: %d %s", r.status, r.body)
	}

	// A multipart upload (streamed by the proxy), a move decided by a lookup, and an admin
	// write answered 201 with no body.
	up := uploadReq("/rest/api/content/1001/child/attachment", "notes.txt", "text/plain", "hello")
	if r := c.do(up.method, up.path, up.ctype, up.body, "X-Atlassian-Token", "nocheck"); r.status != 200 || r.get("results.0.id") != "att1004" {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	c.json("POST", "/rest/api/content", pageJSON("Other", "1001")) // 1005, raises page_created + content_created
	if r := c.json("PUT", "/rest/api/content/1003", `{"type":"page","title":"Plan","version":{"number":2},"ancestors":[{"id":"1005"}]}`); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	if r := c.json("POST", "/rest/api/admin/user", aliceJSON); r.status != 201 {
		t.Fatalf("user: %d %s", r.status, r.body)
	}

	wantSigned := []string{
		ev("attachment_created", admin, `,"attachedTo":{"id":1001},"attachments":[{"id":1004}]`),
		ev("content_created", admin, `,"content":{"id":1004}`),
		ev("page_created", admin, `,"page":{"id":1005}`), ev("content_created", admin, `,"content":{"id":1005}`),
		ev("page_moved", admin, `,"page":{"id":1003},"oldParent":{"id":1001},"newParent":{"id":1005}`),
		ev("content_updated", admin, `,"content":{"id":1003}`),
		ev("user_created", admin, `,"userProfile":{"userKey":"`+aliceKey+`"}`),
		ev("page_created", admin, `,"page":{"id":1002}`), ev("content_created", admin, `,"content":{"id":1002}`),
		ev("label_added", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[{"name":"alpha"}],"id":1002}`),
		ev("label_created", admin, `,"label":{"name":"alpha"}`),
		ev("page_removed", admin, `,"page":{"id":1002}`),
		ev("page_created", admin, `,"page":{"id":1003}`), ev("content_created", admin, `,"content":{"id":1003}`),
	}
	fullPage := func(id string) string {
		return ev("page_created", admin, `,"page":{"id":`+id+`,"title":"Plan","contentType":"page","creatorKey":"`+admin+
			`","lastModifierKey":"`+admin+`","creationDate":1767225000123,"modificationDate":1767225000123,"version":1,"self":"`+c.base+`/pages/viewpage.action?pageId=`+id+`","spaceKey":"DS"}`)
	}
	fullOther := ev("page_created", admin, `,"page":{"id":1005,"title":"Other","contentType":"page","creatorKey":"`+admin+
		`","lastModifierKey":"`+admin+`","creationDate":1767225000123,"modificationDate":1767225000123,"version":1,"self":"`+c.base+`/pages/viewpage.action?pageId=1005","spaceKey":"DS"}`)
	wantFull := []string{fullPage("1002"), ev("label_created", admin, `,"label":{"name":"alpha"}`), fullPage("1003"), fullOther}

	got := recv.wait(t, len(wantSigned)+len(wantFull))
	var signed, full []string
	for _, dl := range got {
		name := gjson.Get(dl.body, "event").String()
		if k := dl.header.Get("X-Event-Key"); k != name {
			t.Errorf("%s: X-Event-Key %q for a %s body", dl.hook, k, name)
		}
		if ct := dl.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", dl.hook, ct)
		}
		if !strings.HasPrefix(dl.header.Get("User-Agent"), "hooktap/") || dl.header.Get("webhook-id") == "" || dl.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: headers %v", dl.hook, dl.header)
		}
		switch dl.hook {
		case "signed":
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(dl.body))
			if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); dl.header.Get("X-Hub-Signature") != want {
				t.Errorf("signed %s: X-Hub-Signature %q, want %q", name, dl.header.Get("X-Hub-Signature"), want)
			}
			if !strings.HasPrefix(dl.header.Get("webhook-signature"), "v1,") {
				t.Errorf("signed %s: webhook-signature %q", name, dl.header.Get("webhook-signature"))
			}
			signed = append(signed, dl.body)
		case "full":
			if s := dl.header.Get("X-Hub-Signature"); s != "" {
				t.Errorf("unsigned hook got X-Hub-Signature %q", s)
			}
			full = append(full, dl.body)
		default:
			t.Errorf("delivery to unknown path %q", dl.hook)
		}
	}
	sameSet(t, "signed webhook", signed, wantSigned)
	sameSet(t, "full webhook", full, wantFull)
	select {
	case dl := <-recv.got:
		t.Errorf("unexpected extra delivery to %s: %s", dl.hook, dl.body)
	default:
	}
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s:\ngot  %s\nwant %s", what, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}
