package password_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

func TestNewClientSecret(t *testing.T) {
	secret, hash, err := password.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 {
		t.Fatalf("secret %q is %d characters, want 43", secret, len(secret))
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		t.Fatalf("secret %q: %d bytes, %v; want 32 bytes of unpadded base64url", secret, len(b), err)
	}
	if !password.VerifyClientSecret(hash, secret) {
		t.Fatal("generated secret does not verify against its hash")
	}
	if err := password.CheckConfigSecret(secret); err != nil {
		t.Fatalf("generated secret fails CheckConfigSecret: %v", err)
	}
	other, _, err := password.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if other == secret {
		t.Fatal("two generated secrets are equal")
	}
}

func TestHashClientSecret(t *testing.T) {
	const secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
	a, err := password.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := password.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of one secret are equal: the key is not random")
	}
	parts := strings.Split(a, "$")
	if len(parts) != 3 || parts[0] != "hmac-sha256" || len(parts[1]) != 22 || len(parts[2]) != 43 {
		t.Fatalf("hash %q: want hmac-sha256$<22 chars>$<43 chars>", a)
	}
	if !password.ValidClientSecretHash(a) {
		t.Fatalf("ValidClientSecretHash(%q) = false", a)
	}
	for _, s := range []string{"", strings.Repeat("x", password.MaxClientSecretBytes+1)} {
		if _, err := password.HashClientSecret(s); latch.ErrorCode(err) != latch.EINVALID {
			t.Fatalf("HashClientSecret(%d bytes) = %v, want EINVALID", len(s), err)
		}
	}
}

// A hash written by hand, as it would appear in a config file: it must verify
// on any server (the key travels with it).
func TestVerifyClientSecretKnownAnswer(t *testing.T) {
	// key = 16 zero bytes; mac = HMAC-SHA256(key, "correct horse battery staple, 32+")
	const hash = "hmac-sha256$AAAAAAAAAAAAAAAAAAAAAA$"
	const secret = "correct horse battery staple, 32+"
	// Computed with: printf %s "$secret" | openssl dgst -sha256 -mac HMAC -macopt hexkey:00000000000000000000000000000000 -binary | basenc --base64url, padding removed
	const mac = "0PUJ3KY5lKARx-YAUEQxSNGNyGk7Hnbd6kY8Yg0FCLc"
	if !password.VerifyClientSecret(hash+mac, secret) {
		t.Fatal("known-answer hash does not verify")
	}
}

func TestVerifyClientSecret(t *testing.T) {
	const secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
	hash, err := password.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(hash, '$')
	tests := []struct {
		name, hash, secret string
		want               bool
	}{
		{"right", hash, secret, true},
		{"wrong", hash, secret + "x", false},
		{"prefix", hash, secret[:len(secret)-1], false},
		{"empty secret", hash, "", false},
		{"other case", hash, strings.ToUpper(secret), false},
		{"secret too long", hash, strings.Repeat("x", 513), false},
		{"empty hash", "", secret, false},
		{"hash as secret", hash, hash, false},
		{"no prefix", strings.TrimPrefix(hash, "hmac-sha256"), secret, false},
		{"other algorithm", strings.Replace(hash, "hmac-sha256", "hmac-sha512", 1), secret, false},
		{"upper-case prefix", strings.Replace(hash, "hmac-sha256", "HMAC-SHA256", 1), secret, false},
		{"truncated mac", hash[:len(hash)-1], secret, false},
		{"extra byte", hash + "A", secret, false},
		{"padded mac", hash + "=", secret, false},
		{"extra field", hash + "$", secret, false},
		{"mac in std alphabet", hash[:i+1] + strings.Repeat("+", 43), secret, false},
		{"swapped fields", "hmac-sha256$" + hash[i+1:] + "$" + hash[12:i], secret, false},
		{"bcrypt", "$2b$10$i0QFpz3TWCgsQHoE/bok4e1NWf31youo2mXT/LRE69YvHtmLSq3fK", secret, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := password.VerifyClientSecret(tc.hash, tc.secret); got != tc.want {
				t.Fatalf("VerifyClientSecret = %v, want %v", got, tc.want)
			}
			if !tc.want && tc.hash != hash && password.ValidClientSecretHash(tc.hash) {
				t.Fatalf("ValidClientSecretHash(%q) = true", tc.hash)
			}
		})
	}
	password.DummyVerifyClientSecret(secret)
	password.DummyVerifyClientSecret("")
}

func TestCheckConfigSecret(t *testing.T) {
	tests := []struct {
		name, secret string
		ok           bool
	}{
		{"32 characters", strings.Repeat("k", 32), true},
		{"31 characters", strings.Repeat("k", 31), false},
		{"empty", "", false},
		{"32 runes of 2 bytes", strings.Repeat("é", 32), true},
		{"512 bytes", strings.Repeat("k", 512), true},
		{"513 bytes", strings.Repeat("k", 513), false},
		{"newline", strings.Repeat("k", 32) + "\n", false},
		{"NUL", strings.Repeat("k", 32) + "\x00", false},
		{"invalid UTF-8", strings.Repeat("k", 32) + "\xff", false},
		{"spaces allowed", "a passphrase that is long enough!", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := password.CheckConfigSecret(tc.secret)
			if tc.ok && err != nil {
				t.Fatalf("CheckConfigSecret = %v, want nil", err)
			}
			if !tc.ok && latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CheckConfigSecret = %v, want EINVALID", err)
			}
		})
	}
	err := password.CheckConfigSecret("short")
	if want := "client secret must be at least 32 characters; generate one with `latch client create`"; latch.ErrorMessage(err) != want {
		t.Fatalf("message %q, want %q", latch.ErrorMessage(err), want)
	}
}
