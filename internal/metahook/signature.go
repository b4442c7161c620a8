// Package metahook is Meta's side of webhooks: the X-Hub-Signature-256
// scheme (Sign and Verify, the one place the HMAC is computed, used by the
// gateway in internal/webhook too), account_update envelopes shaped like the
// ones Meta sends, and a Deliverer that POSTs them to a callback URL and
// retries with backoff while the answer is not 200, as Meta does. The Graph
// emulator uses it to send webhooks; tests use it to play Meta.
package metahook

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Meta's legacy X-Hub-Signature is HMAC-SHA1; sent for realism, never verified here.
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
)

// Headers Meta signs a delivery with. SignatureHeader (HMAC-SHA256) is the
// one to verify; LegacySignatureHeader (HMAC-SHA1) is still sent by Meta.
const (
	SignatureHeader       = "X-Hub-Signature-256"
	LegacySignatureHeader = "X-Hub-Signature"
)

const sha256Prefix = "sha256="

// Errors of Verify. A missing signature and a wrong one are told apart
// because the gateway answers 401 to the first and 403 to the second.
var (
	ErrNoSignature  = errors.New("no " + SignatureHeader + " header")
	ErrBadSignature = errors.New(SignatureHeader + " does not match the body")
)

// Sign returns the X-Hub-Signature-256 header value of body:
// "sha256=" and the lowercase hex HMAC-SHA256 of the raw bytes, keyed by the
// app secret.
func Sign(secret string, body []byte) string {
	return sha256Prefix + hex.EncodeToString(mac(sha256.New, secret, body))
}

// SignLegacy returns the X-Hub-Signature header value of body ("sha1=" and
// the hex HMAC-SHA1), which Meta sends next to X-Hub-Signature-256.
func SignLegacy(secret string, body []byte) string {
	return "sha1=" + hex.EncodeToString(mac(sha1.New, secret, body))
}

// Verify checks header, the X-Hub-Signature-256 value of a request, against
// body in constant time. It returns nil when it matches, ErrNoSignature when
// header is empty, and an error wrapping ErrBadSignature when it is
// malformed or does not match. The "sha256=" prefix is matched without
// regard to case, and so are the hex digits.
func Verify(secret string, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrNoSignature
	}
	if len(header) < len(sha256Prefix) || !strings.EqualFold(header[:len(sha256Prefix)], sha256Prefix) {
		return &signatureError{"not of the form sha256=<hex>"}
	}
	got, err := hex.DecodeString(header[len(sha256Prefix):])
	if err != nil || len(got) != sha256.Size {
		return &signatureError{"not 64 hex digits after sha256="}
	}
	if !hmac.Equal(got, mac(sha256.New, secret, body)) {
		return &signatureError{"HMAC-SHA256 of the body differs"}
	}
	return nil
}

func mac(h func() hash.Hash, secret string, body []byte) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// signatureError is a malformed or mismatching signature; it never holds the
// signature or the secret.
type signatureError struct{ why string }

func (e *signatureError) Error() string { return ErrBadSignature.Error() + ": " + e.why }
func (e *signatureError) Unwrap() error { return ErrBadSignature }
