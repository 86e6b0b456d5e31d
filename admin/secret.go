package admin

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"unicode/utf8"

	"hooktap/rules"
)

// generatedKeyLen is the key length, in bytes, of a generated secret: 32, within the 24 to
// 64 that Standard Webhooks asks for.
const generatedKeyLen = 32

// newSecret returns a Standard Webhooks secret, "whsec_" and the standard padded base64 of
// generatedKeyLen random bytes.
func newSecret() string {
	key := make([]byte, generatedKeyLen)
	rand.Read(key) // never fails (crypto/rand)
	return rules.StandardPrefix + base64.StdEncoding.EncodeToString(key)
}

// generateSecret answers POST /rest/api/webhooks/secret with {"secret":"whsec_…"}: a new
// secret, shown this once (the answer is not cached, and it is never logged). It changes
// nothing: the caller puts it in a webhook's configuration.secret.
func (s *Server) generateSecret(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"secret": newSecret()})
}

// checkSecret checks a secret or previous secret given in a webhook's configuration: its
// length, and that a whsec_ one decodes to a key the way the signer decodes it
// ([rules.StandardKey]). The messages never hold the secret.
func checkSecret(field, name, v string) []fieldError {
	if utf8.RuneCountInString(v) > maxSecretRunes {
		return []fieldError{{Field: field, Message: name + " is longer than 255 characters"}}
	}
	if _, err := rules.StandardKey(v); err != nil {
		return []fieldError{{Field: field, Message: name + ": " + err.Error()}}
	}
	return nil
}

// checkRotation refuses a previous secret without a secret to rotate to, as the rules file
// does.
func checkRotation(sh *storedHook) *fieldError {
	if sh.PreviousSecret != "" && sh.Secret == "" {
		return &fieldError{Field: "configuration.previousSecret", Message: "previousSecret needs a secret (the new one) to rotate to"}
	}
	return nil
}
