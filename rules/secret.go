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
