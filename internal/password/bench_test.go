package password_test

import (
	"testing"

	"latch.dev/latch/internal/password"
)

// BenchmarkHash is one Argon2id hash with the default parameters: the cost of
// a sign-in, a registration, and (through DummyVerify) an unknown user.
func BenchmarkHash(b *testing.B) {
	h := password.NewHasher()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify and BenchmarkDummyVerify should report the same time: an
// unknown user must cost what a wrong password costs.
func BenchmarkVerify(b *testing.B) {
	h := password.NewHasher()
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		h.Verify(enc, "wrong password")
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	h := password.NewHasher()
	for b.Loop() {
		h.DummyVerify("wrong password")
	}
}

// BenchmarkVerifyClientSecret is the secret check on every confidential
// client's token request.
func BenchmarkVerifyClientSecret(b *testing.B) {
	secret, hash, err := password.NewClientSecret()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !password.VerifyClientSecret(hash, secret) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkDummyVerifyClientSecret(b *testing.B) {
	secret, _, err := password.NewClientSecret()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		password.DummyVerifyClientSecret(secret)
	}
}

func BenchmarkCanonicalEmail(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := password.CanonicalEmail("Alice.Smith+tag@Example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
