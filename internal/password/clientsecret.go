package password

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"

	"latch.dev/latch"
)

// Client secret limits and format.
const (
	// ClientSecretBytes is the entropy of a generated secret: 256 bits.
	ClientSecretBytes = 32
	// MinConfigSecretChars and MaxClientSecretBytes bound secrets written by
	// people (CheckConfigSecret); VerifyClientSecret refuses anything longer
	// than MaxClientSecretBytes before doing any work.
	MinConfigSecretChars = 32
	MaxClientSecretBytes = 512

	clientHashPrefix = "hmac-sha256$"
	clientKeyBytes   = 16
	clientMACBytes   = sha256.Size
)

var b64url = base64.RawURLEncoding.Strict()

// NewClientSecret returns a new random client secret (32 bytes from
// crypto/rand as 43 characters of unpadded base64url) and its hash for
// storage. The secret is shown once and never stored.
func NewClientSecret() (secret, hash string, err error) {
	b := make([]byte, ClientSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", latch.Wrap(latch.EINTERNAL, "password.NewClientSecret", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	hash, err = HashClientSecret(secret)
	if err != nil {
		return "", "", err
	}
	return secret, hash, nil
}

// HashClientSecret returns the storable digest of secret,
// "hmac-sha256$<key>$<mac>": a fresh 16-byte random key and
// HMAC-SHA256(key, secret), both unpadded base64url. The digest carries its
// key, so it verifies on any server. It refuses an empty secret or one over
// MaxClientSecretBytes (EINVALID) but does not judge strength: secrets that
// people chose go through CheckConfigSecret first.
func HashClientSecret(secret string) (string, error) {
	if secret == "" || len(secret) > MaxClientSecretBytes {
		return "", latch.Errorf(latch.EINVALID, "client secret must be 1 to %d bytes", MaxClientSecretBytes)
	}
	key := make([]byte, clientKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return "", latch.Wrap(latch.EINTERNAL, "password.HashClientSecret", err)
	}
	return clientHashPrefix + b64url.EncodeToString(key) + "$" + b64url.EncodeToString(clientMAC(key, secret)), nil
}

// VerifyClientSecret reports whether secret matches hash, comparing the
// fixed-length digests in constant time. A malformed hash, an empty secret or
// a secret over MaxClientSecretBytes gives false; a malformed hash still costs
// one digest.
func VerifyClientSecret(hash, secret string) bool {
	if len(secret) > MaxClientSecretBytes {
		return false
	}
	key, want, valid := parseClientSecretHash(hash)
	if !valid {
		key, want, _ = parseClientSecretHash(dummyClientHash)
	}
	match := subtle.ConstantTimeCompare(clientMAC(key, secret), want) == 1
	return match && valid && secret != ""
}

// dummyClientHash is the fixed hash that unknown clients and malformed hashes
// are compared against, parsed like a real one so that the work is the same:
// key "latch-dummy-key!", digest "latch-dummy-mac-latch-dummy-mac!" (not the
// HMAC of any known secret; the result is discarded anyway).
const dummyClientHash = "hmac-sha256$bGF0Y2gtZHVtbXkta2V5IQ$bGF0Y2gtZHVtbXktbWFjLWxhdGNoLWR1bW15LW1hYyE"

// DummyVerifyClientSecret does the work of VerifyClientSecret for a client id
// that does not exist, so that an unknown client costs what a wrong secret
// costs.
func DummyVerifyClientSecret(secret string) {
	VerifyClientSecret(dummyClientHash, secret)
}

// ValidClientSecretHash reports whether hash is a well-formed client secret
// hash, for validating configuration.
func ValidClientSecretHash(hash string) bool {
	_, _, ok := parseClientSecretHash(hash)
	return ok
}

// CheckConfigSecret reports whether a client secret written by a person (in a
// config file) may be used: at least 32 characters, at most 512 bytes, valid
// UTF-8 without control characters. Errors are EINVALID.
func CheckConfigSecret(secret string) error {
	if len(secret) > MaxClientSecretBytes {
		return latch.Errorf(latch.EINVALID, "client secret must be at most %d bytes", MaxClientSecretBytes)
	}
	if !utf8.ValidString(secret) || strings.IndexFunc(secret, unicode.IsControl) >= 0 {
		return latch.Errorf(latch.EINVALID, "client secret must be printable UTF-8 text")
	}
	if utf8.RuneCountInString(secret) < MinConfigSecretChars {
		return latch.Errorf(latch.EINVALID, "client secret must be at least %d characters; generate one with `latch client create`", MinConfigSecretChars)
	}
	return nil
}

func clientMAC(key []byte, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// parseClientSecretHash splits "hmac-sha256$<key>$<mac>" and checks the
// exact lengths, so that the comparison is always between 32-byte digests.
func parseClientSecretHash(hash string) (key, mac []byte, ok bool) {
	rest, found := strings.CutPrefix(hash, clientHashPrefix)
	if !found {
		return nil, nil, false
	}
	k, m, found := strings.Cut(rest, "$")
	if !found || len(k) != b64url.EncodedLen(clientKeyBytes) || len(m) != b64url.EncodedLen(clientMACBytes) {
		return nil, nil, false
	}
	key, err1 := b64url.DecodeString(k)
	mac, err2 := b64url.DecodeString(m)
	if err1 != nil || err2 != nil || len(key) != clientKeyBytes || len(mac) != clientMACBytes {
		return nil, nil, false
	}
	return key, mac, true
}
