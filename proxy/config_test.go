package proxy

import (
	"errors"
	"testing"

	"hooktap/internal/conf"
)

// TestConfigValidateNamesKeys: each mistake of a [proxy] section names its TOML key, for the
// loader to find its line, and New refuses what Validate refuses.
func TestConfigValidateNamesKeys(t *testing.T) {
	c := Config{Upstream: "https://wiki", Listen: "nowhere", MaxConns: -1, MaxHeaderBytes: 100}
	c.SetDefaults()
	var es conf.Errors
	if err := c.Validate(); !errors.As(err, &es) {
		t.Fatalf("got %v, want conf.Errors", err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	want := []string{"upstream", "listen", "max_conns", "max_header_bytes"}
	if len(keys) != len(want) {
		t.Fatalf("got keys %q, want %q", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("got keys %q, want %q", keys, want)
		}
	}
	if _, err := New(c, nil, nil); err == nil {
		t.Error("New accepted what Validate refuses")
	}
	var d Config
	d.SetDefaults()
	if d.Listen != DefaultListen || d.MaxHeaderBytes != DefaultMaxHeaderBytes || d.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("SetDefaults: got %+v", d)
	}
	if err := (&Config{Upstream: "http://127.0.0.1:8090"}).Validate(); err == nil {
		t.Error("Validate of a Config without defaults filled: got nil, want listen refused") // "" is no host:port
	}
}
