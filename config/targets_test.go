package config_test

import (
	"errors"
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/rules"
)

const targetsSrc = `[proxy]
upstream = "http://127.0.0.1:8090"

[dispatch]
allow_targets = [%s]

[[webhook]]
name   = "local"
url    = "http://127.0.0.1:9000/hook"
events = ["*"]

[[webhook]]
name   = "metadata"
url    = "http://169.254.169.254/latest"
events = ["*"]
`

// TestCheckTargets: the target policy refuses the loopback and metadata webhooks with their
// file and line, allow_targets lets the loopback one through, and a bad allow_targets entry
// is Parse's error on its line.
func TestCheckTargets(t *testing.T) {
	parse := func(allow string) (*config.File, error) {
		return config.Parse("t.toml", []byte(strings.Replace(targetsSrc, "%s", allow, 1)))
	}
	f, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	err = f.CheckTargets()
	var es rules.Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("got %v, want two rules.Errors", err)
	}
	if es[0].Line != 9 || es[0].Where != `webhook "local"` || es[1].Line != 14 || es[1].Where != `webhook "metadata"` {
		t.Errorf("got %q, want the two url lines (9, 14) and their webhooks", err)
	}
	if f, err = parse(`"127.0.0.1"`); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckTargets(); err == nil || strings.Contains(err.Error(), "local") || !strings.Contains(err.Error(), "t.toml:14:") {
		t.Errorf("with 127.0.0.1 allowed: got %v, want the metadata webhook only", err)
	}
	if _, err := parse(`"10.0.0.0/99"`); err == nil || !strings.HasPrefix(err.Error(), "t.toml:5: [dispatch]: allow_targets[0]: ") {
		t.Errorf("bad allow_targets: got %v, want its line", err)
	}
	// dispatch.New refuses the same webhooks (without lines): one check of a webhook.
	if _, err := dispatch.New(dispatch.Config{Queue: "memory"}, f.Webhooks, nil); err == nil || !strings.Contains(err.Error(), `webhook "metadata"`) {
		t.Errorf("dispatch.New: got %v, want the metadata webhook refused", err)
	}
}

// TestMistypedOnce: a value of the wrong type is reported once, by the decoder, not again by
// its section's Validate (as "is required"), and several mistakes at one key all show.
func TestMistypedOnce(t *testing.T) {
	src := `[proxy]
upstream = 8090

[[webhook]]
name   = "w"
url    = ["http://127.0.0.1:9/"]
events = ["page_made", "page_made", "*"]
`
	_, err := config.Parse("m.toml", []byte(src))
	want := `m.toml:2: [proxy]: upstream must be a string, not an integer
m.toml:6: webhook "w": url must be a string, not an array
m.toml:7: webhook "w": unknown event "page_made"
m.toml:7: webhook "w": unknown event "page_made"
m.toml:7: webhook "w": "*" (every event) must be the only name in events`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// TestSectionsOwnDefaults: a File's sections hold their packages' defaults after Parse, the
// same ones each package's SetDefaults fills (one place per package).
func TestSectionsOwnDefaults(t *testing.T) {
	f, err := config.Parse("d.toml", []byte("[proxy]\nupstream = \"http://127.0.0.1:8090\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var want config.File
	want.Proxy.Upstream = "http://127.0.0.1:8090"
	want.Proxy.SetDefaults()
	want.Admin.SetDefaults()
	want.Dispatch.SetDefaults()
	if f.Proxy != want.Proxy || f.Admin != want.Admin || f.Dispatch.Queue != want.Dispatch.Queue ||
		f.Dispatch.MaxInFlight != dispatch.DefaultMaxInFlight || len(f.Dispatch.Retry) != 6 {
		t.Errorf("got %+v %+v %+v, want the packages' defaults", f.Proxy, f.Admin, f.Dispatch)
	}
}
