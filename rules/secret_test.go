package rules_test

import (
	"bytes"
	"strings"
	"testing"

	"hooktap/config"
	"hooktap/rules"
)

// TestStandardKey: a whsec_ secret is keyed by its base64 part, decoded; any other secret by
// its bytes; a whsec_ secret that does not decode is an error that does not show it.
func TestStandardKey(t *testing.T) {
	for _, tc := range []struct {
		secret string
		key    []byte
		ok     bool
	}{
		{"s3cret", []byte("s3cret"), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", []byte{0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0}, true},
		{"whsec_aGk=", []byte("hi"), true},
		{"WHSEC_aGk=", []byte("WHSEC_aGk="), true}, // the prefix is case-sensitive, as in the libraries
		{"whsec_", nil, false},
		{"whsec_not*base64!", nil, false},
		{"whsec_aGk", nil, false}, // unpadded
	} {
		key, err := rules.StandardKey(tc.secret)
		if (err == nil) != tc.ok || !bytes.Equal(key, tc.key) {
			t.Errorf("StandardKey(%q) = %x, %v; want %x, ok=%v", tc.secret, key, err, tc.key, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "base64!") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// TestWebhookSecretErrors: secret and previous_secret are checked with file:line, naming the
// key and never showing the value.
func TestWebhookSecretErrors(t *testing.T) {
	t.Setenv("HOOKTAP_TEST_PREV", "old-one")
	const head = "[proxy]\nupstream = \"http://127.0.0.1:8090\"\n[[webhook]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nevents = [\"*\"]\n"
	for _, tc := range []struct {
		body string
		want string // "" = valid
	}{
		{"secret = \"whsec_aGk=\"\nprevious_secret = \"old\"\n", ""},
		{"secret_env = \"HOOKTAP_TEST_PREV\"\nprevious_secret = \"whsec_aGk=\"\n", ""},
		{"secret = \"new\"\nprevious_secret_env = \"HOOKTAP_TEST_PREV\"\n", ""},
		{"secret = \"whsec_zz*zz\"\n", "p.toml:7: webhook \"a\": secret: a whsec_ secret must be whsec_ followed by standard, padded base64"},
		{"secret = \"new\"\nprevious_secret = \"whsec_\"\n", "p.toml:8: webhook \"a\": previous_secret: a whsec_ secret must hold a key"},
		{"previous_secret = \"old\"\n", "p.toml:7: webhook \"a\": previous_secret needs a secret"},
		{"secret = \"new\"\nprevious_secret = \"" + strings.Repeat("x", 256) + "\"\n", "p.toml:8: webhook \"a\": previous_secret is 256 characters, at most 255 allowed"},
		{"secret = \"new\"\nprevious_secret = \"old\"\nprevious_secret_env = \"HOOKTAP_TEST_PREV\"\n", "previous_secret and previous_secret_env are exclusive"},
		{"secret = \"new\"\nprevious_secret_env = \"HOOKTAP_TEST_UNSET_PREV\"\n", "p.toml:8: webhook \"a\": previous_secret_env HOOKTAP_TEST_UNSET_PREV is not set"},
	} {
		_, err := config.Parse("p.toml", []byte(head+tc.body))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "zz*zz") || strings.Contains(err.Error(), "old-one") {
			t.Errorf("%q: the error shows a secret: %v", tc.body, err)
		}
	}
}
