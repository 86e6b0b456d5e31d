package dispatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"hooktap/internal/conf"
)

// TestConfigValidateNamesKeys: each mistake of a [dispatch] section or a webhook names its
// TOML key, and CheckWebhooks puts a webhook's under its index.
func TestConfigValidateNamesKeys(t *testing.T) {
	c := Config{Queue: "pigeon", OnSkip: "maybe", MaxInFlight: -1, Retry: []time.Duration{time.Second, 0}, AllowTargets: []string{"10.0.0.0/99"}}
	c.SetDefaults()
	got := keysOf(t, c.Validate())
	if want := "queue on_skip max_in_flight retry allow_targets"; got != want {
		t.Errorf("got keys %q, want %q", got, want)
	}
	var d Config
	d.SetDefaults()
	if err := d.Validate(); err != nil || d.Queue != DefaultQueue || d.MaxBytes != DefaultMaxBytes || len(d.Retry) != len(defaultRetry) {
		t.Errorf("the defaults: %+v, %v", d, err)
	}
	hooks := []Webhook{
		{Name: "a", URL: "http://203.0.113.1/", Events: []string{"*"}},
		{Name: "a", URL: "gopher://x", Events: nil, Payload: "most", Secret: strings.Repeat("s", 300)},
		{Name: "b", URL: "http://127.0.0.1/", Events: []string{"page_created"}},
	}
	if got, want := keysOf(t, CheckWebhooks(hooks, nil)), "1.url 1.secret 1.events 1.payload 1.name"; got != want {
		t.Errorf("CheckWebhooks: got keys %q, want %q", got, want)
	}
	p, _ := NewTargetPolicy(nil)
	if got, want := keysOf(t, CheckWebhooks(hooks[2:], p)), "0.url"; got != want {
		t.Errorf("CheckWebhooks with the policy: got keys %q, want %q (loopback refused)", got, want)
	}
}

func keysOf(t *testing.T, err error) string {
	t.Helper()
	var es conf.Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want conf.Errors", err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	return strings.Join(keys, " ")
}
