package rules

import (
	"encoding/base64"
	"errors"
	"strings"
)

// StandardPrefix starts a secret in the Standard Webhooks form, "whsec_<base64 key>", which
// Standard Webhooks and Svix receivers are given.
const StandardPrefix = "whsec_"

// MaxSecretLen is the longest secret (or previous_secret) accepted, in bytes, whsec_ prefix
// included: Confluence's limit.
const MaxSecretLen = 255

// StandardKey returns the HMAC key that signs webhook-signature for secret: for a
// "whsec_<base64>" secret the base64 (standard alphabet, padded, as the Standard Webhooks
// libraries decode it) after the prefix, decoded; for any other secret its raw bytes. The
// X-Hub-Signature headers are always keyed with the raw bytes of the whole string, as GitHub's
// libraries key them. The error never holds the secret.
func StandardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, StandardPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("a whsec_ secret must be whsec_ followed by standard, padded base64 (the key)")
	}
	if len(key) == 0 {
		return nil, errors.New("a whsec_ secret must hold a key after whsec_")
	}
	return key, nil
}

// checkSecrets checks a webhook's secret, secret_env, previous_secret and
// previous_secret_env: length, exclusivity, the whsec_ form of a value given in the file, and
// that a named variable is set. A variable's value is checked for its form by the dispatcher
// when it reads it. No value is ever shown.
func (d *decoder) checkSecrets(w *Webhook, p, where string) {
	for _, s := range []struct{ key, envKey, v, env string }{
		{"secret", "secret_env", w.Secret, w.SecretEnv},
		{"previous_secret", "previous_secret_env", w.PreviousSecret, w.PreviousSecretEnv},
	} {
		if len(s.v) > MaxSecretLen {
			d.errorf(p+sep+s.key, where, "%s is %d characters, at most %d allowed", s.key, len(s.v), MaxSecretLen)
		} else if _, err := StandardKey(s.v); err != nil {
			d.errorf(p+sep+s.key, where, "%s: %v", s.key, err)
		}
		if s.v != "" && s.env != "" {
			d.errorf(p+sep+s.envKey, where, "%s and %s are exclusive", s.key, s.envKey)
		} else {
			d.checkEnv(p+sep+s.envKey, where, s.envKey, s.env)
		}
	}
	if (w.PreviousSecret != "" || w.PreviousSecretEnv != "") && w.Secret == "" && w.SecretEnv == "" {
		key := "previous_secret"
		if w.PreviousSecret == "" {
			key = "previous_secret_env"
		}
		d.errorf(p+sep+key, where, "%s needs a secret (the new one) to rotate to", key)
	}
}
