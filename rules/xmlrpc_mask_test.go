package rules_test

import (
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// maskPack emits the whole params of a wp.newPost, and its third param (the password).
const maskPack = `[proxy]
upstream = "http://127.0.0.1:8090"

[[rule]]
name   = "xmlrpc post created"
method = "POST"
path   = "/xmlrpc.php"
when   = { "xmlrpc.method" = "wp.newPost" }
[[rule.emit]]
event   = "blog_created"
payload = { "all" = "xmlrpc.params", "third" = "xmlrpc.params.2", "user" = "xmlrpc.user" }
`

// TestXMLRPCParamsHidePassword checks that xmlrpc.params and xmlrpc.params.N, which any
// payload may read, show the password as "***".
func TestXMLRPCParamsHidePassword(t *testing.T) {
	f, err := config.Parse("mask.toml", []byte(maskPack))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sink := &lastSink{keepBodies: true}
	c := rules.NewClassifier(m, f.Classify, sink, nil)
	c.Clock = func() time.Time { return fixedNow }
	x := &rules.Exchange{
		Method:     []byte("POST"),
		Path:       []byte("/xmlrpc.php"),
		Header:     headers{"Content-Type": "text/xml"},
		Body:       []byte(`<methodCall><methodName>wp.newPost</methodName><params><param><value><int>1</int></value></param><param><value>admin</value></param><param><value><string>s3cr3t-pw</string></value></param><param><value><struct><member><name>post_title</name><value>T</value></member></struct></value></param></params></methodCall>`),
		Status:     200,
		RespHeader: headers{"Content-Type": "text/xml"},
		RespBody:   []byte(`<methodResponse><params><param><value><string>42</string></value></param></params></methodResponse>`),
	}
	if err := classifyWrite(c, x); err != nil {
		t.Fatal(err)
	}
	if sink.n != 1 {
		t.Fatalf("got %d events, want 1", sink.n)
	}
	if p := string(sink.payload); strings.Contains(p, "s3cr3t") || !strings.Contains(p, `"third":"***"`) || !strings.Contains(p, `"all":[1,"admin","***",{"post_title":"T"}]`) || !strings.Contains(p, `"user":"admin"`) {
		t.Errorf("payload: %s", p)
	}
}

// TestXMLRPCPasswordPaths checks that the gjson paths that reach the password member other
// than by its name (a wildcard, an escape, a modifier, a multipath) are refused outside an
// xmlrpc lookup's params.
func TestXMLRPCPasswordPaths(t *testing.T) {
	for _, path := range []string{`xmlrpc.pass*`, `xmlrpc.p?ssword`, `xmlrpc.p\\assword`, `xmlrpc.@this`, `xmlrpc.{password}`, `xmlrpc.*`, `xmlrpc.@values`} {
		src := strings.Replace(maskPack, `"xmlrpc.params.2"`, `"`+path+`"`, 1)
		f, err := config.Parse("mask.toml", []byte(src))
		if err == nil {
			_, err = rules.Compile(&f.File)
		}
		if err == nil {
			t.Errorf("%s: compiled", path)
		}
	}
}
