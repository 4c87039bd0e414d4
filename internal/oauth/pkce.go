package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// authCodePrefix makes leaked authorization codes recognisable.
const authCodePrefix = "lac_"

// validVerifier: 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// pkceMatches reports whether verifier hashes to challenge (S256), in
// constant time.
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return challenge != "" && subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
