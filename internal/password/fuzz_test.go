package password_test

import (
	"errors"
	"strings"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// FuzzVerify feeds arbitrary stored hashes and passwords to the parsers: no
// panic, and Verify fails with ErrInvalidHash exactly when CheckHash refuses
// the hash. Only cheap hashes are computed, so the fuzzer is not stalled by a
// valid m=256 MiB string.
func FuzzVerify(f *testing.F) {
	h := password.NewTestHasher()
	good, err := h.Hash("correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "correct horse battery staple")
	f.Add(good, "wrong")
	for _, ka := range knownAnswers {
		f.Add(ka.encoded, ka.password)
	}
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$", "")
	f.Add("$argon2id$v=19$m=,t=,p=$c29tZXNhbHQ$", "x")
	f.Add("$2b$04$i0QFpz3TWCgsQHoE/bok4e1NWf31youo2mXT/LRE69YvHtmLSq3fK", "x")
	f.Add("$2y$99$", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		checkErr := password.CheckHash(encoded)
		if checkErr != nil && latch.ErrorCode(checkErr) != latch.EINVALID {
			t.Fatalf("CheckHash(%q) = %v, want nil or EINVALID", encoded, checkErr)
		}
		if checkErr == nil && !cheap(encoded) {
			return
		}
		ok, rehash, err := h.Verify(encoded, pw)
		if len(pw) > password.MaxPasswordBytes {
			if ok || rehash || err != nil {
				t.Fatalf("Verify(over-long) = %v, %v, %v", ok, rehash, err)
			}
			return
		}
		if (err != nil) != (checkErr != nil) {
			t.Fatalf("Verify(%q) error %v but CheckHash %v", encoded, err, checkErr)
		}
		if err != nil && (ok || rehash || !errors.Is(err, password.ErrInvalidHash)) {
			t.Fatalf("Verify(%q) = %v, %v, %v", encoded, ok, rehash, err)
		}
		if !ok && rehash {
			t.Fatalf("Verify(%q) asks to rehash a hash that did not match", encoded)
		}
	})
}

// cheap reports whether verifying a valid hash costs at most about a
// millisecond: small Argon2id parameters, never bcrypt (cost 10 or more).
func cheap(encoded string) bool {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		return false
	}
	ps := strings.Split(encoded, "$")[3]
	var m, t, p int
	for _, kv := range strings.Split(ps, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n := 0
		for _, c := range v {
			n = n*10 + int(c-'0')
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		}
	}
	return m <= 1024 && t <= 4 && p <= 4
}

// FuzzVerifyClientSecret: no panic; a hash that ValidClientSecretHash refuses
// never verifies; a hash made by HashClientSecret always does.
func FuzzVerifyClientSecret(f *testing.F) {
	hash, err := password.HashClientSecret("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hash, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")
	f.Add(hash, "")
	f.Add("hmac-sha256$AAAAAAAAAAAAAAAAAAAAAA$0PUJ3KY5lKARx-YAUEQxSNGNyGk7Hnbd6kY8Yg0FCLc", "correct horse battery staple, 32+")
	f.Add("hmac-sha256$$", "x")
	f.Add("hmac-sha256$AAAAAAAAAAAAAAAAAAAAA=$", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, secret string) {
		got := password.VerifyClientSecret(hash, secret)
		if got && !password.ValidClientSecretHash(hash) {
			t.Fatalf("VerifyClientSecret(%q) = true for a malformed hash", hash)
		}
		password.DummyVerifyClientSecret(secret)
		_ = password.CheckConfigSecret(secret)
		h, err := password.HashClientSecret(secret)
		if err != nil {
			return
		}
		if !password.VerifyClientSecret(h, secret) || !password.ValidClientSecretHash(h) {
			t.Fatalf("HashClientSecret(%q) = %q does not verify", secret, h)
		}
	})
}

// FuzzCanonical: no panic, errors are EINVALID, and a canonical form is a
// fixed point with the documented bounds.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"alice", "Alice@Example.com", "İnfo", "ſam", "\u212Aevin", "ａlice", "jose\u0301", "a＠b@c.d", "x@xn--bcher-kva.example", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := password.CanonicalUsername(s); err != nil {
			if latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CanonicalUsername(%q): %v, want EINVALID", s, err)
			}
		} else if again, err := password.CanonicalUsername(u); err != nil || again != u || strings.Contains(u, "@") {
			t.Fatalf("CanonicalUsername(%q) = %q, then %q, %v", s, u, again, err)
		}
		if e, err := password.CanonicalEmail(s); err != nil {
			if latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CanonicalEmail(%q): %v, want EINVALID", s, err)
			}
		} else if again, err := password.CanonicalEmail(e); err != nil || again != e || len(e) > password.MaxEmailBytes || strings.Count(e, "@") != 1 {
			t.Fatalf("CanonicalEmail(%q) = %q, then %q, %v", s, e, again, err)
		}
	})
}
