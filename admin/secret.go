package admin

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

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
