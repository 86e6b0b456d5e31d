//go:build !race

package rules_test

import (
	"bytes"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// listPack reads repeated query parameters and form fields, a redirect's query and
// fragment, a comma-separated list, and chains lookups through a nonce read as text (rule
// lookups and [classify] lookups alike): what the WordPress admin rules do.
const listPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[classify]
user = ["basic.user", "lookup.me.username"]

[[classify.lookup]]
name  = "nonce"
path  = "/ajax?action=nonce"
cache = false

[[classify.lookup]]
name  = "me"
path  = "/api/users/me?nonce={lookup.nonce#body}"
cache = false

[[rule]]
name   = "bulk trash"
method = "GET"
path   = "/admin/edit.php"
status = [302]
when   = { "location.trashed" = { exists = true }, "location#fragment" = { exists = false } }
[[rule.lookup]]
name  = "nonce"
path  = "/ajax?action=nonce"
cache = false
[[rule.lookup]]
name  = "type"
path  = "/api/posts/{query.post[]}?nonce={lookup.nonce#body}"
cache = false
[[rule.emit]]
event   = "blog_removed"
each    = "location.ids|split"
when    = { "item" = { in = "queryall.post[]" }, "lookup.type#status" = 200 }
payload = { "blog.id" = "item|num" }

[[rule]]
name   = "form"
method = "POST"
path   = "/admin/edit.php"
status = [302]
when   = { "respbody" = { matches = "^<tr id=" } }
[[rule.emit]]
event   = "label_added"
each    = "formall.cat[]"
payload = { "label.name" = "item", "labeled.id" = "form.post|num" }
`

// listUpstream answers the nonce as text and every other lookup with JSON.
type listUpstream struct{}

func (listUpstream) Fetch(dst, pq []byte) (int, []byte, error) {
	if bytes.HasPrefix(pq, []byte("/ajax")) {
		return 200, append(dst, "ab12cd34ef\n"...), nil
	}
	return 200, append(dst, `{"id":4,"username":"admin"}`...), nil
}

// listSink counts events by name.
type listSink struct{ removed, added int }

func (s *listSink) Enqueue(ev *rules.Event) error {
	switch ev.Name {
	case "blog_removed":
		s.removed++
	case "label_added":
		s.added++
	}
	return nil
}

// TestAllocsLists asserts that queryall, formall, location., location#fragment, |split and
// chained lookups with #body, and a respbody condition, allocate nothing in steady state, and give the right events.
func TestAllocsLists(t *testing.T) {
	f, err := config.Parse("lists.toml", []byte(listPack))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sink := &listSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return fixedNow }
	bulk := &rules.Exchange{
		Method:     []byte("GET"),
		Path:       []byte("/admin/edit.php"),
		Query:      []byte("action=trash&post%5B%5D=4&post[]=5&post[]=6"),
		Header:     headers{},
		Status:     302,
		RespHeader: headers{"Location": "http://wp.example/admin/edit.php?paged=1&trashed=3&ids=4%2C5,6"},
		Upstream:   listUpstream{},
	}
	form := &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/admin/edit.php"),
		Header:     headers{"Content-Type": "application/x-www-form-urlencoded"},
		Body:       []byte("post=4&cat[]=a&cat%5B%5D=b+c&cat[]=d"),
		Status:     302,
		RespHeader: headers{"Location": "/admin/edit.php#done"},
		RespBody:   []byte(`<tr id="post-4"></tr>`),
		Upstream:   listUpstream{},
	}
	for _, x := range []*rules.Exchange{bulk, form} {
		if err := classifyWrite(c, x); err != nil {
			t.Fatal(err)
		}
	}
	if sink.removed != 3 || sink.added != 3 {
		t.Fatalf("got %d blog_removed, %d label_added; want 3, 3", sink.removed, sink.added)
	}
	for name, x := range map[string]*rules.Exchange{"bulk": bulk, "form": form} {
		if n := testing.AllocsPerRun(200, func() {
			if err := classifyWrite(c, x); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, n)
		}
	}
}
