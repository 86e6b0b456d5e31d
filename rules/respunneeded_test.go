package rules_test

import (
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// TestBeforeSaysWhenTheAnswerIsUnneeded checks Exchange.RespUnneeded: Before sets it when
// every candidate rule's request conditions failed (a page view under a rule for
// ?action=rollback), so that the proxy streams the answer uncopied, and clears it when some
// rule may still match; the exchange is then classified as usual.
func TestBeforeSaysWhenTheAnswerIsUnneeded(t *testing.T) {
	f, err := config.Parse("unneeded.toml", []byte(`
[proxy]
upstream = "http://127.0.0.1:1"

[[rule]]
name   = "rollback"
method = ["GET", "POST"]
path   = "/index.php"
when   = { "query.action" = "rollback", "status" = 200 }
[[rule.emit]]
event   = "page_updated"
payload = { "page.title" = "query.title" }
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	for _, tc := range []struct {
		query    string
		unneeded bool
		events   int
	}{
		{"title=Main_Page", true, 0},
		{"title=Main_Page&action=history", true, 0},
		{"title=Main_Page&action=rollback&from=Bob", false, 1},
	} {
		sk.got = sk.got[:0]
		x := &rules.Exchange{Method: []byte("GET"), Path: []byte("/index.php"), Query: []byte(tc.query)}
		if !c.Wants(x.Method, x.Path) {
			t.Fatalf("Wants(GET /index.php) = false")
		}
		c.Before(x)
		if x.RespUnneeded != tc.unneeded {
			t.Errorf("?%s: RespUnneeded = %v, want %v", tc.query, x.RespUnneeded, tc.unneeded)
		}
		x.Status = 200
		if err := c.After(x); err != nil {
			t.Fatal(err)
		}
		if len(sk.got) != tc.events {
			t.Errorf("?%s: %d events %q, want %d", tc.query, len(sk.got), sk.got, tc.events)
		}
	}
}
