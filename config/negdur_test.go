package config_test

import (
	"testing"

	"hooktap/config"
)

// TestNegativeIntegerDurations: a duration written as an integer of nanoseconds is refused
// when negative, as a negative duration string is, in every section, once and on its line
// ([proxy] and [classify] have no check of their own: read_timeout = -5 passed before).
func TestNegativeIntegerDurations(t *testing.T) {
	src := `[proxy]
upstream = "http://127.0.0.1:8090"
read_timeout = -5

[dispatch]
timeout = -5

[classify]
lookup_timeout = -1

[[webhook]]
name   = "w"
url    = "https://hooks.example.com/"
events = ["*"]
timeout = -1
`
	_, err := config.Parse("n.toml", []byte(src))
	want := `n.toml:3: [proxy]: read_timeout must not be negative
n.toml:6: [dispatch]: timeout must not be negative
n.toml:9: [classify]: lookup_timeout must not be negative
n.toml:15: webhook "w": timeout must not be negative`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
