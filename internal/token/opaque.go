package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Prefixes make Latch's opaque tokens recognisable (to people, log
// scrubbers and secret scanners) and tell the kinds apart.
const (
	PrefixAccess  = "lat_" // opaque access token
	PrefixRefresh = "lrt_" // refresh token
)

// NewOpaque returns a new opaque token, prefix followed by 256 random bits in
// base64url without padding, and its Digest, the only form that may be
// stored.
func NewOpaque(prefix string) (token, digest string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil { // never fails since Go 1.24; kept for the contract
		return "", "", err
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Digest(token), nil
}

// Digest returns hex(SHA-256(token)), the key a token is stored under. A
// plain hash suffices: the tokens are 256-bit random, so there is nothing to
// guess.
func Digest(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewID returns 128 random bits in base64url without padding (22
// characters), for jti, refresh token family ids and kids. It never starts
// with '-', so that it is always a valid latch id (latch.ValidID).
func NewID() string {
	var b [16]byte
	for {
		rand.Read(b[:])
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if id[0] != '-' {
			return id
		}
	}
}
