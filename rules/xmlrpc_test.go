package rules

import (
	"encoding/xml"
	"testing"

	"github.com/tidwall/gjson"
)

func TestXMLRPCJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		resp bool
		want string // "" = not XML-RPC
	}{
		{`<?xml version="1.0"?>
<methodCall>
  <methodName>wp.newPost</methodName>
  <params>
    <param><value><int>1</int></value></param>
    <param><value><string>admin</string></value></param>
    <param><value>pa&amp;ss</value></param>
    <param><value><struct>
      <member><name>post_title</name><value><string>A &lt;b&gt; &#233;&#x263A; "q"</string></value></member>
      <member><name>terms_names</name><value><struct><member><name>post_tag</name><value><array><data><value>x</value><value><string/></value></data></array></value></member></struct></value></member>
      <member><name>n</name><value><i4>-007</i4></value></member>
      <member><name>d</name><value><double>1.50</double></value></member>
      <member><name>b</name><value><boolean>1</boolean></value></member>
      <member><name>z</name><value><nil/></value></member>
      <member><name>t</name><value><dateTime.iso8601>20261204T10:00:00</dateTime.iso8601></value></member>
      <member><name>c</name><value><string><![CDATA[<raw>]]></string></value></member>
    </struct></value></param>
  </params>
</methodCall>`, false,
			`{"method":"wp.newPost","params":[1,"admin","***",{"post_title":"A <b> é☺ \"q\"","terms_names":{"post_tag":["x",""]},"n":-7,"d":1.5,"b":true,"z":null,"t":"20261204T10:00:00","c":"<raw>"}],"user":"admin","password":"pa&ss"}`},
		{`<methodCall><methodName>blogger.deletePost</methodName><params><param><value>k</value></param><param><value>5</value></param><param><value>bob</value></param><param><value>pw</value></param><param><value><boolean>0</boolean></value></param></params></methodCall>`, false,
			`{"method":"blogger.deletePost","params":["k","5","bob","***",false],"user":"bob","password":"pw"}`},
		{`<methodCall><methodName>system.listMethods</methodName><params/></methodCall>`, false, `{"method":"system.listMethods","params":[]}`},
		{`<methodCall><methodName>x</methodName></methodCall>`, false, `{"method":"x","params":[]}`},
		{`<?xml version="1.0" encoding="UTF-8"?>
<methodResponse>
  <params>
    <param>
      <value>
      <string>42</string>
      </value>
    </param>
  </params>
</methodResponse>
`, true, `{"value":"42"}`},
		{`<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>403</int></value></member><member><name>faultString</name><value><string>Incorrect username or password.</string></value></member></struct></value></fault></methodResponse>`, true,
			`{"fault":{"faultCode":403,"faultString":"Incorrect username or password."}}`},
		{`<methodResponse><params><param><value><array><data/></array></value></param></params></methodResponse>`, true, `{"value":[]}`},
		{`{"id":1}`, false, ""},
		{`<methodCall><methodName>x</methodName><params><param><value><int>1.5</int></value></param></params></methodCall>`, false, ""},
		{`<methodCall><methodName>x</methodName><params><param><value>a &bogus; b</value></param></params></methodCall>`, false, ""},
		{`<methodCall><methodName>x</methodName><params><param><value>a</value></param></params></methodCall>trailing`, false, ""},
		{`<methodCall><methodName>x</methodName><params><param><value>a</value></param>`, false, ""},
		{`<methodResponse><params><param><value>1</value></param></params></methodResponse>`, false, ""},
	} {
		got, ok := appendXMLRPCJSON(nil, []byte(c.in), c.resp)
		if !ok {
			got = nil
		}
		if string(got) != c.want {
			t.Errorf("%.60q:\ngot  %s\nwant %s", c.in, got, c.want)
		}
		if ok && !gjson.ValidBytes(got) {
			t.Errorf("%.60q: invalid JSON %s", c.in, got)
		}
	}
}

func TestXMLRPCDeepNesting(t *testing.T) {
	in := "<methodCall><methodName>x</methodName><params><param>"
	for range 100 {
		in += "<value><array><data>"
	}
	if _, ok := appendXMLRPCJSON(nil, []byte(in), false); ok {
		t.Fatal("got ok for 100 nested arrays, want refused")
	}
}

func TestXMLRPCCallRoundTrip(t *testing.T) {
	s := &state{}
	c := &xcall{method: "wp.getPost"}
	for _, v := range []any{int64(1), "'a<b&c'", true, []any{"'post_status'", "'terms'"}, map[string]any{"number": int64(100), "post_type": "'post'"}} {
		p, err := compileXParam(v, &scope{xparams: true})
		if err != nil {
			t.Fatal(err)
		}
		c.params = append(c.params, p)
	}
	body, ok := s.appendCall(nil, c, &Exchange{})
	if !ok {
		t.Fatal("appendCall: not made")
	}
	got, ok := appendXMLRPCJSON(nil, body, false)
	want := `{"method":"wp.getPost","params":[1,"a<b&c","***",["post_status","terms"],{"number":100,"post_type":"post"}],"user":"a<b&c"}`
	if !ok || string(got) != want {
		t.Fatalf("round trip of %s:\ngot  %s\nwant %s", body, got, want)
	}
}

// benchCall is a wp.newPost as a client sends it (about 1 KiB).
const benchCall = `<?xml version="1.0"?>
<methodCall><methodName>wp.newPost</methodName><params>
<param><value><int>1</int></value></param>
<param><value><string>admin</string></value></param>
<param><value><string>AdminPass-12345</string></value></param>
<param><value><struct>
<member><name>post_type</name><value><string>post</string></value></member>
<member><name>post_status</name><value><string>publish</string></value></member>
<member><name>post_title</name><value><string>Fish &amp; chips</string></value></member>
<member><name>post_content</name><value><string>&lt;p&gt;A body with some markup, an entity &#233; and enough text to look like a short post written in a desktop client.&lt;/p&gt;</string></value></member>
<member><name>terms_names</name><value><struct><member><name>post_tag</name><value><array><data><value><string>alpha</string></value><value><string>beta</string></value></data></array></value></member></struct></value></member>
<member><name>terms</name><value><struct><member><name>category</name><value><array><data><value><int>1</int></value><value><int>7</int></value></data></array></value></member></struct></value></member>
<member><name>comment_status</name><value><string>open</string></value></member>
</struct></value></param>
</params></methodCall>`

// BenchmarkXMLRPCJSON converts a methodCall to JSON once, as an exchange does, and reads
// one member with gjson.
func BenchmarkXMLRPCJSON(b *testing.B) {
	body := []byte(benchCall)
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var ok bool
		dst, ok = appendXMLRPCJSON(dst[:0], body, false)
		if !ok || gjson.Get(b2s(dst), "params.3.post_title").Str != "Fish & chips" {
			b.Fatal("bad conversion")
		}
	}
}

// xmlNode is a generic encoding/xml tree, for BenchmarkXMLRPCEncodingXML.
type xmlNode struct {
	XMLName xml.Name
	Text    string    `xml:",chardata"`
	Kids    []xmlNode `xml:",any"`
}

// BenchmarkXMLRPCEncodingXML decodes the same methodCall with encoding/xml into a generic
// tree: what the hand-rolled scanner is measured against.
func BenchmarkXMLRPCEncodingXML(b *testing.B) {
	body := []byte(benchCall)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var n xmlNode
		if err := xml.Unmarshal(body, &n); err != nil || len(n.Kids) != 2 {
			b.Fatal("bad decode", err)
		}
	}
}

// FuzzXMLRPC feeds random bodies to the converter, as a request and as a response: it must
// never panic, and what it accepts must be valid JSON.
func FuzzXMLRPC(f *testing.F) {
	f.Add([]byte(benchCall))
	f.Add([]byte(`<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>403</int></value></member></struct></value></fault></methodResponse>`))
	f.Add([]byte(`<methodResponse><params><param><value><array><data><value>&#x263A;<![CDATA[x]]></value></data></array></value></param></params></methodResponse>`))
	f.Add([]byte(`<methodCall><methodName>blogger.deletePost</methodName><params><param><value/></param></params></methodCall>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, resp := range []bool{false, true} {
			if out, ok := appendXMLRPCJSON(nil, body, resp); ok && !gjson.ValidBytes(out) {
				t.Fatalf("%q (resp %v): invalid JSON %s", body, resp, out)
			}
		}
	})
}
