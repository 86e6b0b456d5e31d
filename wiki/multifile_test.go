package wiki_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/proxy"
	"hooktap/rules"
)

// uploadManyReq is a multipart upload of several "file" parts (name, data pairs), each with
// its own "comment" field, as Confluence's REST API takes them.
func uploadManyReq(path string, files ...string) packReq {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		part, err := mw.CreatePart(map[string][]string{
			"Content-Disposition": {`form-data; name="file"; filename="` + files[i] + `"`},
			"Content-Type":        {"text/plain"},
		})
		if err != nil {
			panic(err)
		}
		io.WriteString(part, files[i+1])
	}
	for i := 0; i+1 < len(files); i += 2 {
		mw.WriteField("comment", "about "+files[i])
	}
	mw.Close()
	return packReq{method: "POST", path: path, body: buf.Bytes(), ctype: mw.FormDataContentType(),
		header: map[string]string{"X-Atlassian-Token": "nocheck"}}
}

// Two files in one upload: one attachment_created and one content_created per file, each
// naming its own attachment (classifier harness, with the full shape).
func TestPackTwoFilesInOneUpload(t *testing.T) {
	h := newPackHarness(t)
	h.rec.take()
	if st, body := h.send(uploadManyReq("/rest/api/content/1001/child/attachment", "a.txt", "hello", "b.txt", "bye!")); st != 200 {
		t.Fatalf("upload: %d %s", st, body)
	}
	got := h.rec.take()
	sameEvents(t, "events", got, []string{
		ev("attachment_created", admin, `,"attachedTo":{"id":1001},"attachments":[{"id":1002}]`),
		ev("attachment_created", admin, `,"attachedTo":{"id":1001},"attachments":[{"id":1003}]`),
		ev("content_created", admin, `,"content":{"id":1002}`),
		ev("content_created", admin, `,"content":{"id":1003}`),
	})
	var fulls []string
	for _, e := range got {
		if e.name == "attachment_created" {
			fulls = append(fulls, e.full)
		}
	}
	file := func(id, name, comment string, size int) string {
		return ev("attachment_created", admin, `,"attachedTo":{"id":1001,"title":"Demonstration Space Home","contentType":"page"},"attachments":[{"id":`+id+
			`,"fileName":"`+name+`","version":1,"comment":"`+comment+`","fileSize":`+strconv.Itoa(size)+`,"creatorKey":"`+admin+`","lastModifierKey":"`+admin+`"}]`)
	}
	sameSet(t, "full attachment_created", fulls, []string{file("1002", "a.txt", "about a.txt", 5), file("1003", "b.txt", "about b.txt", 4)})
}

// The same upload through the real proxy (which streams the multipart body to the wiki and
// taps a bounded copy) and the classifier: the client gets both files' results, and the sink
// gets one attachment_created per file with both ids.
func TestTwoFileUploadThroughProxy(t *testing.T) {
	f := loadPack(t)
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cls := rules.NewClassifier(m, f.Classify, rec, nil)
	cls.Clock = func() time.Time { return fixedNow }
	base := startWikiProxy(t, f, serveUpstream(t, newWiki()), cls)

	up := uploadManyReq("/rest/api/content/1001/child/attachment", "a.txt", "hello", "b.txt", "bye!")
	req, err := http.NewRequest(up.method, base+up.path, bytes.NewReader(up.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", up.ctype)
	req.Header.Set("X-Atlassian-Token", "nocheck")
	req.SetBasicAuth("admin", "admin")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"id":"att1002"`) || !strings.Contains(string(body), `"id":"att1003"`) || !strings.Contains(string(body), `"size":2`) {
		t.Fatalf("upload through the proxy: %d %s", res.StatusCode, body)
	}
	var got []string
	for _, e := range rec.take() {
		if e.name == "attachment_created" {
			got = append(got, e.payload)
		}
	}
	sameSet(t, "attachment_created", got, []string{
		ev("attachment_created", admin, `,"attachedTo":{"id":1001},"attachments":[{"id":1002}]`),
		ev("attachment_created", admin, `,"attachedTo":{"id":1001},"attachments":[{"id":1003}]`),
	})
}

// startWikiProxy serves the real proxy in front of upstream with tap cls and returns its
// base URL; it is shut down when the test ends.
func startWikiProxy(t *testing.T, f *config.File, upstream string, cls *rules.Classifier) string {
	t.Helper()
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
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("proxy serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
