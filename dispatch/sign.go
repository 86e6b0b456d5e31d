package dispatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"

	"hooktap/rules"
)

// signer computes a delivery's signatures with reused HMAC-SHA256 states, one per key. It is
// owned by one worker and is not safe for concurrent use.
//
// Keys: X-Hub-Signature and X-Hub-Signature-256 are keyed with the raw bytes of the secret
// string, as GitHub-style receivers (and Confluence's) compute them; webhook-signature with
// the Standard Webhooks key of the secret ([rules.StandardKey]: the base64 after whsec_,
// decoded, or the raw bytes of any other secret). For a secret that is not whsec_ both keys
// are the same and share one state.
type signer struct {
	hub  hash.Hash // nil: no secret, nothing is signed
	std  hash.Hash // == hub unless the secret is whsec_
	prev hash.Hash // the previous secret's Standard Webhooks key (rotation); nil when none
	sum  [sha256.Size]byte
}

// newSigner returns a signer for secret ("" = unsigned) with no previous secret.
func newSigner(secret string) signer { return newRotatingSigner(secret, "") }

// newRotatingSigner returns a signer for secret ("" = unsigned) and, while a rotation lasts,
// previous ("" = none). Both were checked by [rules.StandardKey] when the configuration was
// resolved.
func newRotatingSigner(secret, previous string) signer {
	if secret == "" {
		return signer{}
	}
	s := signer{hub: hmac.New(sha256.New, []byte(secret))}
	s.std = s.hub
	if key, _ := rules.StandardKey(secret); string(key) != secret {
		s.std = hmac.New(sha256.New, key)
	}
	if previous != "" {
		key, _ := rules.StandardKey(previous)
		s.prev = hmac.New(sha256.New, key)
	}
	return s
}

// hasSecret reports whether the signer signs.
func (s *signer) hasSecret() bool { return s.hub != nil }

var dot = []byte{'.'}

// appendHub appends the X-Hub-Signature(-256) value for body: "sha256=" and the lowercase hex
// HMAC-SHA256(secret, body), keyed with the current secret only.
func (s *signer) appendHub(dst, body []byte) []byte {
	s.hub.Reset()
	s.hub.Write(body)
	sum := s.hub.Sum(s.sum[:0])
	dst = append(dst, "sha256="...)
	return hex.AppendEncode(dst, sum)
}

// appendStandard appends the Standard Webhooks webhook-signature value: "v1," and the base64
// HMAC-SHA256(key, id "." timestamp "." body); during a rotation a space and the same with the
// previous key follow (the spec's space-separated list, newest first).
func (s *signer) appendStandard(dst, id, timestamp, body []byte) []byte {
	dst = appendV1(dst, s.std, &s.sum, id, timestamp, body)
	if s.prev != nil {
		dst = append(dst, ' ')
		dst = appendV1(dst, s.prev, &s.sum, id, timestamp, body)
	}
	return dst
}

func appendV1(dst []byte, mac hash.Hash, buf *[sha256.Size]byte, id, timestamp, body []byte) []byte {
	mac.Reset()
	mac.Write(id)
	mac.Write(dot)
	mac.Write(timestamp)
	mac.Write(dot)
	mac.Write(body)
	sum := mac.Sum(buf[:0])
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, sum)
}
