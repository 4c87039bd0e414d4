package token

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"latch.dev/latch"
)

func TestNewOpaque(t *testing.T) {
	seen := make(map[string]bool)
	for _, prefix := range []string{PrefixAccess, PrefixRefresh} {
		for range 100 {
			tok, digest, err := NewOpaque(prefix)
			if err != nil {
				t.Fatal(err)
			}
			rest, ok := strings.CutPrefix(tok, prefix)
			if !ok || len(rest) != 43 || strings.ContainsAny(rest, "+/=") {
				t.Fatalf("token %q: want %s and 43 base64url characters", tok, prefix)
			}
			sum := sha256.Sum256([]byte(tok))
			if digest != hex.EncodeToString(sum[:]) || Digest(tok) != digest {
				t.Fatalf("digest %s of %q is not hex SHA-256", digest, tok)
			}
			if seen[tok] {
				t.Fatal("repeated token")
			}
			seen[tok] = true
		}
	}
}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := NewID()
		if len(id) != 22 || !latch.ValidID(id) {
			t.Fatalf("id %q: want 22 characters, a valid latch id", id)
		}
		if seen[id] {
			t.Fatal("repeated id")
		}
		seen[id] = true
	}
}
