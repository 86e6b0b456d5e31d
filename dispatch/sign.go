package dispatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
)

// signer computes both signatures of a delivery with one reused HMAC-SHA256 state. It is
// owned by one worker and is not safe for concurrent use.
type signer struct {
	mac hash.Hash // nil: no secret, nothing is signed
	sum [sha256.Size]byte
}

// newSigner returns a signer for secret ("" = unsigned).
func newSigner(secret string) signer {
	if secret == "" {
		return signer{}
	}
	return signer{mac: hmac.New(sha256.New, []byte(secret))}
}

// hasSecret reports whether the signer signs.
func (s *signer) hasSecret() bool { return s.mac != nil }

var dot = []byte{'.'}

// appendHub appends the X-Hub-Signature value for body: "sha256=" and the lowercase hex
// HMAC-SHA256(secret, body).
func (s *signer) appendHub(dst, body []byte) []byte {
	s.mac.Reset()
	s.mac.Write(body)
	sum := s.mac.Sum(s.sum[:0])
	dst = append(dst, "sha256="...)
	return hex.AppendEncode(dst, sum)
}

// appendStandard appends the Standard Webhooks webhook-signature value: "v1," and the base64
// HMAC-SHA256(secret, id "." timestamp "." body).
func (s *signer) appendStandard(dst, id, timestamp, body []byte) []byte {
	s.mac.Reset()
	s.mac.Write(id)
	s.mac.Write(dot)
	s.mac.Write(timestamp)
	s.mac.Write(dot)
	s.mac.Write(body)
	sum := s.mac.Sum(s.sum[:0])
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, sum)
}
