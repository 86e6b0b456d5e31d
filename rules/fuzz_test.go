package rules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// FuzzCompile feeds random rules files: each must give a Matcher or an error, never a panic,
// and a file that Parse accepts must compile and match.
func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("testdata/cases/*.txt")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		src, _, _ := strings.Cut(string(data), sepExchanges)
		f.Add([]byte(src))
	}
	if data, err := os.ReadFile("testdata/confluence.toml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("[[rule]]\nname='a'\nmethod='PUT'\npath='/{x...}'\n[[rule.emit]]\nevent='page_updated'\npayload={'a.b'='path.x|num|lower'}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.Parse("fuzz.toml", data)
		if err != nil {
			if file != nil {
				t.Fatal("Parse returned a File with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		m, err := rules.Compile(&file.File)
		if err != nil {
			t.Fatalf("Parse accepted the file but Compile did not: %v", err)
		}
		_ = file.Summary()
		x := &rules.Exchange{Method: []byte("POST"), Path: []byte("/rest/api/content/1/label"), Header: headers{}, Body: []byte(`[{"name":"a"}]`), Status: 200, RespHeader: headers{}, RespBody: []byte(`{"id":"1"}`), Upstream: &fetcher{}}
		m.Wants(x.Method, x.Path)
		m.Match(x, nil, nil)
	})
}

// FuzzMatch feeds random requests and responses to the Confluence pack and to the golden
// cases' features: never a panic, and with JSON bodies every payload is valid JSON.
func FuzzMatch(f *testing.F) {
	f.Add("POST", "/rest/api/content", "", "application/json", []byte(`{"type":"page"}`), 200, []byte(`{"id":"123","space":{"key":"DS"}}`))
	f.Add("PUT", "/rest/api/content/1", "status=trashed", "application/json", []byte(`{"type":"page","status":"current","ancestors":[{"id":"2"}]}`), 200, []byte(`{}`))
	f.Add("DELETE", "/rest/api/content/1/label/a%2", "name=%zz", "", []byte(nil), 204, []byte(nil))
	f.Add("POST", "/rest/api/content/1/label", "", "application/json", []byte(`[{"name":"x"},{"name":"y"}]`), 200, []byte(`{"results":[{"name":"x"}]}`))
	f.Add("POST", "/rest/api/content/1/child/attachment", "", "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhi\r\n--b--"), 200, []byte(`{"results":[{"id":"att1"}]}`))
	f.Add("POST", "/rest/api/content/7", "_method=DELETE", "application/x-www-form-urlencoded", []byte("_method=put&a=%"), 204, []byte(nil))
	f.Add("PATCH", "//", "", "", []byte(nil), 0, []byte(nil))
	data, err := os.ReadFile("testdata/confluence.toml")
	if err != nil {
		f.Fatal(err)
	}
	file, err := config.Parse("confluence.toml", data)
	if err != nil {
		f.Fatal(err)
	}
	m, err := rules.Compile(&file.File)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, ctype string, body []byte, status int, resp []byte) {
		sk := &sink{}
		c := rules.NewClassifier(m, file.Classify, sk, nil)
		up := &fetcher{answers: map[string]answer{}}
		x := &rules.Exchange{Method: []byte(method), Path: []byte(path), Query: []byte(query),
			Header: headers{"Content-Type": ctype, "Authorization": "Basic " + string(body)}, Body: body, Upstream: up}
		if !c.Wants(x.Method, x.Path) && method != "POST" {
			return
		}
		c.Before(x)
		x.Status, x.RespHeader, x.RespBody = status, headers{"X-AUSERNAME": ctype}, resp
		_ = c.After(x)
		evs, _ := m.Match(x, nil, nil)
		if !json.Valid(body) && len(body) > 0 || !json.Valid(resp) && len(resp) > 0 {
			return
		}
		for _, ev := range evs {
			if !json.Valid(ev.Payload) {
				t.Fatalf("%s: invalid payload %s", ev.Name, ev.Payload)
			}
			if ev.Full != nil && !json.Valid(ev.Full) {
				t.Fatalf("%s: invalid full payload %s", ev.Name, ev.Full)
			}
		}
	})
}
