package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCheckRefusesTargets: a webhook URL the target policy refuses, and an allow_targets
// entry that does not parse, are load errors with the file and the line.
func TestCheckRefusesTargets(t *testing.T) {
	for _, c := range []struct {
		name, toml, want string
	}{
		{"loopback", `[proxy]
upstream = "http://127.0.0.1:8090"

[[webhook]]
name = "chat"
url = "http://127.0.0.1:9000/hook?token=abc"
events = ["*"]
`, ":6: webhook \"chat\": url http://127.0.0.1:9000/hook?token=***: webhook target \"127.0.0.1\" refused: loopback address"},
		{"metadata", `[proxy]
upstream = "http://127.0.0.1:8090"
[dispatch]
allow_targets = ["10.0.0.0/8"]
[[webhook]]
name = "m"
url = "http://169.254.169.254/latest/meta-data"
events = ["*"]
`, ":7: webhook \"m\": url http://169.254.169.254/latest/meta-data: webhook target \"169.254.169.254\" refused: cloud metadata address"},
		{"bad entry", `[proxy]
upstream = "http://127.0.0.1:8090"
[dispatch]
queue = "memory"
allow_targets = ["127.0.0.1", "10.0.0.0/33"]
`, ":5: [dispatch]: allow_targets[1]: \"10.0.0.0/33\" is not a CIDR prefix"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeFile(t, "rules.toml", c.toml)
			var out, errb bytes.Buffer
			if code := run([]string{"-check", "-config", cfg}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), cfg+c.want) {
				t.Fatalf("error %q: want %q", errb.String(), cfg+c.want)
			}
			if strings.Contains(errb.String(), "abc") {
				t.Fatalf("error %q shows the URL's token", errb.String())
			}
		})
	}
	// The same loopback webhook, allowed.
	cfg := writeFile(t, "rules.toml", `[proxy]
upstream = "http://127.0.0.1:8090"
[dispatch]
allow_targets = ["127.0.0.1"]
[[webhook]]
name = "chat"
url = "http://127.0.0.1:9000/hook"
events = ["*"]
`)
	var out, errb bytes.Buffer
	if code := run([]string{"-check", "-config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("allowed loopback: exit %d; stderr %q", code, errb.String())
	}
}
