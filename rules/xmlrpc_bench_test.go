package rules_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// The XML-RPC exchanges of the WordPress pack: a wp.editPost (two xmlrpc lookups, the terms
// before and after compared per element) and a wp.newPost (one lookup after).

const xrEditCall = `<?xml version="1.0"?>
<methodCall><methodName>wp.editPost</methodName><params>
<param><value><int>1</int></value></param>
<param><value><string>admin</string></value></param>
<param><value><string>AdminPass-12345</string></value></param>
<param><value><int>5</int></value></param>
<param><value><struct>
<member><name>post_content</name><value><string>A new body, with &lt;b&gt;markup&lt;/b&gt; &amp; entities.</string></value></member>
<member><name>terms</name><value><struct><member><name>post_tag</name><value><array><data><value><int>4</int></value></data></array></value></member></struct></value></member>
</struct></value></param>
</params></methodCall>`

const xrTrue = `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse>
  <params>
    <param>
      <value>
      <boolean>1</boolean>
      </value>
    </param>
  </params>
</methodResponse>
`

const xrNewCall = `<?xml version="1.0"?>
<methodCall><methodName>wp.newPost</methodName><params>
<param><value><int>1</int></value></param>
<param><value><string>admin</string></value></param>
<param><value><string>AdminPass-12345</string></value></param>
<param><value><struct>
<member><name>post_title</name><value><string>Fish &amp; chips</string></value></member>
<member><name>post_status</name><value><string>publish</string></value></member>
<member><name>terms_names</name><value><struct><member><name>post_tag</name><value><array><data><value><string>alpha</string></value></data></array></value></member></struct></value></member>
</struct></value></param>
</params></methodCall>`

const xrNewID = `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><params><param><value><string>17</string></value></param></params></methodResponse>`

// xrPost is a wp.getPost answer as WordPress sends it, with one tag and one category.
func xrPost(status, tag, tagID string) string {
	term := func(id, name, tax string) string {
		return `<value><struct>
  <member><name>term_id</name><value><string>` + id + `</string></value></member>
  <member><name>name</name><value><string>` + name + `</string></value></member>
  <member><name>slug</name><value><string>` + name + `</string></value></member>
  <member><name>term_group</name><value><string>0</string></value></member>
  <member><name>term_taxonomy_id</name><value><string>` + id + `</string></value></member>
  <member><name>taxonomy</name><value><string>` + tax + `</string></value></member>
  <member><name>description</name><value><string></string></value></member>
  <member><name>parent</name><value><string>0</string></value></member>
  <member><name>count</name><value><int>1</int></value></member>
  <member><name>filter</name><value><string>raw</string></value></member>
</struct></value>`
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><params><param><value><struct>
  <member><name>post_id</name><value><string>5</string></value></member>
  <member><name>post_status</name><value><string>` + status + `</string></value></member>
  <member><name>post_type</name><value><string>post</string></value></member>
  <member><name>post_parent</name><value><string>0</string></value></member>
  <member><name>post_title</name><value><string>Fish &amp; chips</string></value></member>
  <member><name>link</name><value><string>http://127.0.0.1:18482/fish-chips/</string></value></member>
  <member><name>terms</name><value><array><data>` + term(tagID, tag, "post_tag") + term("1", "Uncategorized", "category") + `</data></array></value></member>
</struct></value></param></params></methodResponse>`
}

var (
	xrBefore = xrPost("publish", "alpha", "3")
	xrAfter  = xrPost("publish", "beta", "4")
)

// xrUpstream answers the pack's xmlrpc lookups without allocating: wp.getPost asked with
// post_title (the lookup after) gets the post as it is after the edit, else as before.
type xrUpstream struct{ posts int }

func (*xrUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	return 404, dst, nil
}

func (u *xrUpstream) Post(dst, pq, contentType, body []byte) (int, []byte, error) {
	u.posts++
	if bytes.Contains(body, []byte("post_title")) {
		return 200, append(dst, xrAfter...), nil
	}
	return 200, append(dst, xrBefore...), nil
}

// xrSink counts the events of each name.
type xrSink map[string]int

func (s xrSink) Enqueue(ev *rules.Event) error {
	s[ev.Name]++
	return nil
}

func wordpressClassifier(tb testing.TB) (*rules.Classifier, xrSink) {
	tb.Helper()
	src, err := os.ReadFile("../packs/wordpress.toml")
	if err != nil {
		tb.Fatal(err)
	}
	f, err := config.Parse("wordpress.toml", src)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		tb.Fatal(err)
	}
	sink := xrSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return fixedNow }
	return c, sink
}

func xrExchange(call, answer string, up *xrUpstream) *rules.Exchange {
	return &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/xmlrpc.php"),
		Header:     headers{"Content-Type": "text/xml", "User-Agent": "wp-android/23.0"},
		Body:       []byte(call),
		Status:     200,
		RespHeader: headers{"Content-Type": "text/xml; charset=UTF-8"},
		RespBody:   []byte(answer),
		Upstream:   up,
	}
}

// TestXMLRPCEvents checks the exchanges the benchmark and the allocation test use: the edit
// gives blog_updated, label_added beta, label_removed alpha; the new post blog_created and a
// label_added per term.
func TestXMLRPCEvents(t *testing.T) {
	c, sink := wordpressClassifier(t)
	up := &xrUpstream{}
	if err := classifyWrite(c, xrExchange(xrEditCall, xrTrue, up)); err != nil {
		t.Fatal(err)
	}
	if sink["blog_updated"] != 1 || sink["label_added"] != 1 || sink["label_removed"] != 1 || len(sink) != 3 || up.posts != 2 {
		t.Fatalf("wp.editPost: got %v after %d posts, want blog_updated, label_added, label_removed once each after 2", sink, up.posts)
	}
	clear(sink)
	if err := classifyWrite(c, xrExchange(xrNewCall, xrNewID, up)); err != nil {
		t.Fatal(err)
	}
	if sink["blog_created"] != 1 || sink["label_added"] != 2 || len(sink) != 2 {
		t.Fatalf("wp.newPost: got %v, want blog_created once, label_added twice", sink)
	}
}

// BenchmarkWriteXMLRPC is the classification of a wp.editPost through the WordPress pack:
// the request and answer read as XML-RPC, two xmlrpc lookups made and their answers read.
func BenchmarkWriteXMLRPC(b *testing.B) {
	c, _ := wordpressClassifier(b)
	x := xrExchange(xrEditCall, xrTrue, &xrUpstream{})
	b.ReportAllocs()
	b.SetBytes(int64(len(xrEditCall) + len(xrTrue) + len(xrBefore) + len(xrAfter)))
	for b.Loop() {
		if err := classifyWrite(c, x); err != nil {
			b.Fatal(err)
		}
	}
}
