package config_test

import (
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/proxy"
)

// TestCheckAgreesWithProxy: a [proxy] section that validation accepts is one proxy.New
// accepts, and one it refuses is refused by validation too (so that hooktap -check passes
// only files that start), with the password of a refused upstream never shown.
func TestCheckAgreesWithProxy(t *testing.T) {
	for _, tc := range []struct {
		upstream string
		header   string // max_header_bytes, "" for the default
		ok       bool
	}{
		{"http://127.0.0.1:8090", "", true},
		{"http://127.0.0.1:8090/", "", true},
		{"http://wiki.example.com", "", true},
		{"http://[::1]:8090", "", true},
		{"http://127.0.0.1:8090", "4096", true},
		{"http://127.0.0.1:8090", "4095", false},
		{"https://wiki.example.com", "", false},
		{"HTTPS://wiki.example.com:443", "", false},
		{"http://127.0.0.1:8090/wiki", "", false},
		{"http://127.0.0.1:8090?x=1", "", false},
		{"http://127.0.0.1:8090/#top", "", false},
		{"http://admin:hunter2@127.0.0.1:8090", "", false},
		{"http://admin@127.0.0.1:8090", "", false},
		{"http://:8090", "", false},
		{"http:127.0.0.1", "", false},
		{"127.0.0.1:8090", "", false},
		{"ftp://127.0.0.1", "", false},
	} {
		src := "[proxy]\nupstream = \"" + tc.upstream + "\"\n"
		if tc.header != "" {
			src += "max_header_bytes = " + tc.header + "\n"
		}
		f, err := config.Parse("p.toml", []byte(src))
		if (err == nil) != tc.ok {
			t.Errorf("%s (max_header_bytes %s): validation error %v, want ok=%v", tc.upstream, tc.header, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.upstream, err)
		}
		if err != nil && !strings.Contains(err.Error(), "p.toml:2:") && !strings.Contains(err.Error(), "p.toml:3:") {
			t.Errorf("%s: the error names no line: %v", tc.upstream, err)
		}
		if f == nil {
			continue
		}
		if _, perr := proxy.New(f.Proxy, nil, nil); perr != nil {
			t.Errorf("%s: validation accepts it, proxy.New refuses it: %v", tc.upstream, perr)
		}
	}
	// The other way: what validation refuses, proxy.New refuses too (the table is not
	// stricter than the proxy).
	for _, u := range []string{"https://wiki.example.com", "http://127.0.0.1:8090/wiki", "http://admin@127.0.0.1:8090", "http://127.0.0.1:8090?x=1"} {
		if _, err := proxy.New(proxy.Config{Upstream: u}, nil, nil); err == nil {
			t.Errorf("%s: proxy.New accepts what validation refuses", u)
		}
	}
}
