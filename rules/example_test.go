package rules_test

import (
	"fmt"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// Example compiles a one-rule file and classifies a page creation.
func Example() {
	src := `
[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "page created"
method = "POST"
path   = "/rest/api/content"
when   = { "req.type" = "page" }

[[rule.emit]]
event   = "page_created"
payload = { "page.id" = "resp.id|num" }
full    = { "page.title" = "resp.title" }
`
	f, err := config.Parse("rules.toml", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Summary())
	x := &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/rest/api/content"),
		Body:       []byte(`{"type":"page","title":"Hello","space":{"key":"DS"}}`),
		Status:     200,
		RespHeader: headers{"X-AUSERNAME": "admin"},
		RespBody:   []byte(`{"id":"123456","type":"page","title":"Hello"}`),
	}
	events, _ := m.Match(x, nil, nil)
	for _, ev := range events {
		ev.Time = 0 // the clock
		fmt.Println(ev.Name, len(ev.Payload) > 0, ev.Full != nil)
	}
	_, err = config.Parse("bad.toml", []byte("[proxy]\nupstream = \"ftp://wiki\"\n\n[[rule]]\nname = \"x\"\nmethod = \"POST\"\npath = \"/a\"\n[[rule.emit]]\nevent = \"page_made\"\n"))
	fmt.Println(err)
	// Output:
	// rules.toml: 1 rule, 1 event, 0 webhooks
	// page_created true true
	// bad.toml:2: [proxy]: upstream "ftp://wiki": must be http://host[:port]: the proxy reaches the upstream over plain HTTP
	// bad.toml:9: rule "x": unknown event "page_made"
}

// ExampleClassifier shows the proxy's side: Wants, Before, After, and the events the sink
// receives.
func ExampleClassifier() {
	f, _ := config.Parse("rules.toml", []byte(`
[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "label removed"
method = "DELETE"
path   = "/rest/api/content/{id}/label/{name}"
status = [204]

[[rule.emit]]
event   = "label_removed"
payload = { "label.name" = "path.name", "labeled.id" = "path.id|num" }
`))
	m, _ := rules.Compile(&f.File)
	sink := &printSink{}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return time.UnixMilli(1700000000000) }

	fmt.Println(c.Wants([]byte("GET"), []byte("/rest/api/content/42/label/draft")))
	x := &rules.Exchange{Method: []byte("DELETE"), Path: []byte("/rest/api/content/42/label/draft"), Header: headers{"Authorization": "Basic YWRtaW46YWRtaW4="}}
	fmt.Println(c.Wants(x.Method, x.Path))
	c.Before(x)
	x.Status, x.RespHeader = 204, headers{}
	fmt.Println(c.After(x))
	// Output:
	// false
	// true
	// label_removed {"timestamp":1700000000000,"event":"label_removed","userKey":"admin","label":{"name":"draft"},"labeled":{"id":42}}
	// <nil>
}

type printSink struct{}

func (printSink) Enqueue(ev *rules.Event) error {
	fmt.Println(ev.Name, string(ev.Payload))
	return nil
}
