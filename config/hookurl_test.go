package config_test

import (
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/dispatch"
)

// TestBadWebhookURLHidesCredentials: a webhook URL that is refused is shown in the error
// with its password and its query values hidden, as the target policy's errors show it
// (receivers' URLs carry tokens there), by the loader (-check, and the reload's log line)
// and by dispatch.New alike.
func TestBadWebhookURLHidesCredentials(t *testing.T) {
	const url = "ftp://bot:pw-s3cr3t@hooks.example.com/h?token=tok-s3cr3t"
	src := "[proxy]\nupstream = \"http://127.0.0.1:8090\"\n\n[[webhook]]\nname = \"w\"\nurl = \"" + url + "\"\nevents = [\"*\"]\n"
	_, err := config.Parse("u.toml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), `u.toml:6: webhook "w": url "ftp://`) || !strings.Contains(err.Error(), "must be http or https") {
		t.Fatalf("got %v, want the url refused on line 6", err)
	}
	_, derr := dispatch.New(dispatch.Config{Queue: "memory"}, []dispatch.Webhook{{Name: "w", URL: url, Events: []string{"*"}}}, nil)
	if derr == nil {
		t.Fatal("dispatch.New accepted an ftp webhook")
	}
	for _, e := range []error{err, derr} {
		if strings.Contains(e.Error(), "s3cr3t") {
			t.Errorf("the error shows a credential: %v", e)
		}
	}
}
