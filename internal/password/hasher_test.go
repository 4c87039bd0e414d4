package password_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// Known answers from other implementations, so that hashes imported from
// elsewhere verify: the Argon2id reference library (libargon2,
// argon2id_hash_encoded) and libxcrypt's bcrypt (crypt(3) with $2b$).
var knownAnswers = []struct {
	name, encoded, password string
}{
	{"libargon2 default params", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM", "correct horse battery staple"},
	{"libargon2 small", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70", "password"},
	{"libargon2 two lanes, UTF-8", "$argon2id$v=19$m=4096,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZg$drvBSv2JDul/BnZzZOS6ctz1R/FeGSXc/0No5GcsK1k", "pässwörd-ünïcode"},
	{"libxcrypt bcrypt", "$2b$10$i0QFpz3TWCgsQHoE/bok4e1NWf31youo2mXT/LRE69YvHtmLSq3fK", "correct horse battery staple"},
	{"libxcrypt bcrypt 72 bytes", "$2b$10$Ah.4mgtZ5FHKasMZMpyuKu/J69XqLUy2sReiV.xDp4eoM.ejlmtGC", strings.Repeat("A", 72)},
}

func TestVerifyKnownAnswers(t *testing.T) {
	t.Parallel() // slow under -race; the Hasher is safe for concurrent use
	h := password.NewHasher()
	for _, tc := range knownAnswers {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, err := h.Verify(tc.encoded, tc.password)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			if err := password.CheckHash(tc.encoded); err != nil {
				t.Fatalf("CheckHash: %v", err)
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	t.Parallel()
	h := password.NewHasher()
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("hash %q does not start with %q", enc, prefix)
	}
	parts := strings.Split(strings.TrimPrefix(enc, prefix), "$")
	if len(parts) != 2 {
		t.Fatalf("hash %q: want <salt>$<key> after the parameters", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[0])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %d bytes, %v; want 16 bytes of unpadded base64", parts[0], len(salt), err)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[1])
	if err != nil || len(key) != 32 {
		t.Fatalf("key %q: %d bytes, %v; want 32 bytes of unpadded base64", parts[1], len(key), err)
	}
	ok, rehash, err := h.Verify(enc, "correct horse battery staple")
	if !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestZeroHasherUsesDefaultParams(t *testing.T) {
	t.Parallel()
	var h password.Hasher
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("zero Hasher made %q, want the default parameters", enc)
	}
}

func TestHashVerify(t *testing.T) {
	h := password.NewTestHasher()
	pw := "correct horse battery staple"
	a, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("test hash %q: want m=64,t=1,p=1", a)
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right", pw, true},
		{"wrong", "correct horse battery stapler", false},
		{"prefix", pw[:len(pw)-1], false},
		{"other case", strings.ToUpper(pw), false},
		{"empty", "", false},
		{"NUL suffix", pw + "\x00", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(a, tc.password)
			if err != nil || ok != tc.want || rehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tc.want)
			}
		})
	}
	// Test-parameter hashes are valid Argon2id for the production hasher too,
	// and are below its parameters.
	ok, rehash, err := password.NewHasher().Verify(a, pw)
	if !ok || !rehash || err != nil {
		t.Fatalf("default Hasher Verify(test hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	const pw = "correct horse battery staple"
	base := password.Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	with := func(f func(*password.Params)) password.Params {
		p := base
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		stored password.Params
		want   bool
	}{
		{"same", base, false},
		{"less memory", with(func(p *password.Params) { p.Memory = 64 }), true},
		{"fewer passes", with(func(p *password.Params) { p.Time = 1 }), true},
		{"shorter salt", with(func(p *password.Params) { p.SaltLen = 8 }), true},
		{"shorter key", with(func(p *password.Params) { p.KeyLen = 16 }), true},
		{"more memory", with(func(p *password.Params) { p.Memory = 256 }), false},
		{"more passes", with(func(p *password.Params) { p.Time = 3 }), false},
		{"more lanes", with(func(p *password.Params) { p.Threads = 2 }), false},
		{"longer key", with(func(p *password.Params) { p.KeyLen = 64 }), false},
	}
	current := &password.Hasher{Params: base}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := (&password.Hasher{Params: tc.stored}).Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := current.Verify(enc, pw)
			if !ok || err != nil || rehash != tc.want {
				t.Fatalf("Verify(%s) = %v, %v, %v; want true, %v, nil", enc, ok, rehash, err, tc.want)
			}
			// A wrong password never asks for a rehash.
			if ok, rehash, _ := current.Verify(enc, "wrong"); ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v; want false, false", ok, rehash)
			}
		})
	}
}

// bcryptKA is a cost-10 bcrypt hash of 72 bytes made by libxcrypt: the
// bcrypt tests reuse it instead of generating hashes, because bcrypt is slow
// under the race detector.
var bcryptKA = knownAnswers[len(knownAnswers)-1]

func TestVerifyBcrypt(t *testing.T) {
	t.Parallel()
	h := password.NewTestHasher()
	enc, pw72 := bcryptKA.encoded, bcryptKA.password
	if len(pw72) != 72 {
		t.Fatalf("want a 72-byte known answer, have %d bytes", len(pw72))
	}
	// The trap this package avoids: the library alone accepts any suffix.
	if err := bcrypt.CompareHashAndPassword([]byte(enc), []byte(pw72+"!")); err != nil {
		t.Fatalf("x/crypto/bcrypt no longer truncates (%v): the 73-byte case below tests nothing new", err)
	}
	tests := []struct {
		name       string
		encoded    string
		password   string
		ok, rehash bool
	}{
		{"2a right, needs rehash", "$2a$" + enc[4:], pw72, true, true},
		{"2y right, needs rehash", "$2y$" + enc[4:], pw72, true, true},
		{"73 bytes, first 72 match", enc, pw72 + "!", false, false},
		{"wrong", enc, pw72[:71] + "B", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tc.encoded, tc.password)
			if err != nil || ok != tc.ok || rehash != tc.rehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tc.ok, tc.rehash)
			}
		})
	}
	// Over MaxPasswordBytes nothing is computed at all.
	if ok, rehash, err := h.Verify(enc, pw72+strings.Repeat("x", 1000)); ok || rehash || err != nil {
		t.Fatalf("Verify(1072 bytes) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

func TestVerifyBcryptCostBounds(t *testing.T) {
	h := password.NewTestHasher()
	low, err := bcrypt.GenerateFromPassword([]byte("correct horse"), 4)
	if err != nil {
		t.Fatal(err)
	}
	ten := bcryptKA.encoded
	// The cost field rewritten: refused before any work.
	for name, enc := range map[string]string{"cost 4": string(low), "cost 9": ten[:4] + "09" + ten[6:], "cost 15": ten[:4] + "15" + ten[6:], "cost 31": ten[:4] + "31" + ten[6:]} {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(enc, bcryptKA.password)
			if ok || rehash || !errors.Is(err, password.ErrInvalidHash) || latch.ErrorCode(err) != latch.EINTERNAL {
				t.Fatalf("Verify = %v, %v, %v; want false, false, internal error wrapping ErrInvalidHash", ok, rehash, err)
			}
			if err := password.CheckHash(enc); latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CheckHash = %v; want EINVALID", err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := password.NewTestHasher()
	good, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(good, '$')
	salt, key := strings.Split(good, "$")[4], good[i+1:]
	const bc = "$2b$10$i0QFpz3TWCgsQHoE/bok4e1NWf31youo2mXT/LRE69YvHtmLSq3fK"
	tests := map[string]string{
		"empty":                 "",
		"plain text":            "correct horse battery staple",
		"dollar":                "$",
		"argon2i":               strings.Replace(good, "argon2id", "argon2i", 1),
		"argon2d":               strings.Replace(good, "argon2id", "argon2d", 1),
		"upper-case algorithm":  strings.Replace(good, "argon2id", "ARGON2ID", 1),
		"version 16":            strings.Replace(good, "v=19", "v=16", 1),
		"no version":            strings.Replace(good, "$v=19", "", 1),
		"only prefix":           "$argon2id$",
		"missing key":           good[:i],
		"empty key":             good[:i+1],
		"extra field":           good + "$x",
		"params reordered":      strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		"params missing":        strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1", 1),
		"params extra":          strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1,p=1,k=2", 1),
		"m=0":                   strings.Replace(good, "m=64", "m=0", 1),
		"m below 8p":            strings.Replace(good, "m=64", "m=7", 1),
		"m leading zero":        strings.Replace(good, "m=64", "m=064", 1),
		"m plus sign":           strings.Replace(good, "m=64", "m=+64", 1),
		"m negative":            strings.Replace(good, "m=64", "m=-64", 1),
		"m empty":               strings.Replace(good, "m=64", "m=", 1),
		"m over 256 MiB":        strings.Replace(good, "m=64", "m=262145", 1),
		"m overflows uint32":    strings.Replace(good, "m=64", "m=4294967360", 1),
		"m huge":                strings.Replace(good, "m=64", "m=99999999999999999999", 1),
		"t=0":                   strings.Replace(good, "t=1", "t=0", 1),
		"t huge":                strings.Replace(good, "t=1", "t=33", 1),
		"p=0":                   strings.Replace(good, "p=1", "p=0", 1),
		"p=256":                 strings.Replace(good, "p=1", "p=256", 1),
		"spaces in params":      strings.Replace(good, "m=64,t=1", "m=64, t=1", 1),
		"salt padded":           strings.Replace(good, salt, salt+"==", 1),
		"salt not base64":       strings.Replace(good, salt, "!!!!!!!!!!!!!!!!!!!!!!", 1),
		"salt url alphabet":     strings.Replace(good, salt, strings.Repeat("_", 22), 1),
		"salt too short":        strings.Replace(good, salt, "c2FsdA", 1),
		"key too short":         good[:i+1] + "AAAAAAAAAAAAAAAAAAAA",
		"key too long":          good[:i+1] + strings.Repeat("A", 100),
		"key non-canonical b64": good[:i+1] + key[:len(key)-1] + "B",
		"bcrypt 2x":             "$2x$" + bc[4:],
		"bcrypt 2":              "$2$" + bc[4:],
		"bcrypt 3a":             "$3a$" + bc[4:],
		"bcrypt short":          bc[:59],
		"bcrypt long":           bc + "A",
		"bcrypt cost letters":   "$2b$1a$" + bc[7:],
		"bcrypt no dollar":      "$2b$10x" + bc[7:],
		"bcrypt bad character":  bc[:20] + "+" + bc[21:],
		"bcrypt NUL":            bc[:20] + "\x00" + bc[21:],
		"2b prefix only":        "$2b$",
		"scrypt":                "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
		"pbkdf2":                "$pbkdf2-sha256$29000$N2bMWYsxBmAMQcjZ.z.n1A$Exnn8lWfvuAe6zSY2ZG0zYjt5F6PVvgJcBO3U3V5z3o",
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(enc, "correct horse battery staple")
			if ok || rehash || !errors.Is(err, password.ErrInvalidHash) || latch.ErrorCode(err) != latch.EINTERNAL {
				t.Fatalf("Verify(%q) = %v, %v, %v; want false, false, internal error wrapping ErrInvalidHash", enc, ok, rehash, err)
			}
			if err := password.CheckHash(enc); latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CheckHash(%q) = %v; want EINVALID", enc, err)
			}
		})
	}
}

func TestPasswordLengthBound(t *testing.T) {
	h := password.NewTestHasher()
	max := strings.Repeat("a", password.MaxPasswordBytes)
	enc, err := h.Hash(max)
	if err != nil {
		t.Fatalf("Hash(1024 bytes) = %v", err)
	}
	if ok, _, err := h.Verify(enc, max); !ok || err != nil {
		t.Fatalf("Verify(1024 bytes) = %v, %v; want true, nil", ok, err)
	}
	over := max + "a"
	if _, err := h.Hash(over); latch.ErrorCode(err) != latch.EINVALID {
		t.Fatalf("Hash(1025 bytes) = %v; want EINVALID", err)
	}
	if _, err := h.Hash(""); latch.ErrorCode(err) != latch.EINVALID {
		t.Fatalf("Hash(empty) = %v; want EINVALID", err)
	}
	// Refused before hashing, so even a malformed hash gives no error.
	for _, e := range []string{enc, "garbage"} {
		if ok, rehash, err := h.Verify(e, over); ok || rehash || err != nil {
			t.Fatalf("Verify(%q, 1025 bytes) = %v, %v, %v; want false, false, nil", e, ok, rehash, err)
		}
	}
	h.DummyVerify(over)
}

func TestDummyVerify(t *testing.T) {
	t.Parallel()
	// It must not panic, whatever the Hasher's parameters.
	for name, h := range map[string]*password.Hasher{
		"test":           password.NewTestHasher(),
		"zero":           {},
		"nil":            nil,
		"invalid params": {Params: password.Params{Memory: 1, Time: 0, Threads: 0}},
	} {
		t.Run(name, func(t *testing.T) {
			h.DummyVerify("correct horse battery staple")
		})
	}
}

func TestParamsCheck(t *testing.T) {
	for name, p := range map[string]password.Params{
		"default": password.DefaultParams(),
		"test":    password.TestParams(),
	} {
		if err := p.Check(); err != nil {
			t.Errorf("%s params: %v", name, err)
		}
	}
	d := password.DefaultParams()
	if d.Memory < 19*1024 || d.Time < 2 || d.Threads < 1 || d.SaltLen < 16 || d.KeyLen < 32 {
		t.Errorf("default params %+v are below the OWASP minimum", d)
	}
	for name, p := range map[string]password.Params{
		"zero":       {},
		"no threads": {Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		"no passes":  {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"tiny salt":  {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		"tiny key":   {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 4},
		"1 GiB":      {Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		if err := p.Check(); latch.ErrorCode(err) != latch.EINVALID {
			t.Errorf("%s: Check = %v, want EINVALID", name, err)
		}
		if _, err := (&password.Hasher{Params: p}).Hash("x"); p != (password.Params{}) && latch.ErrorCode(err) != latch.EINTERNAL {
			t.Errorf("%s: Hash = %v, want EINTERNAL", name, err)
		}
	}
}

func TestCheckNew(t *testing.T) {
	tests := []struct {
		name     string
		password string
		ok       bool
	}{
		{"passphrase", "correct horse battery staple", true},
		{"8 characters", "x7#kQ!pz", true},
		{"7 characters", "x7#kQ!p", false},
		{"empty", "", false},
		{"8 two-byte runes", "äöüßäöüß", true},
		{"7 three-byte runes (21 bytes)", "日本語日本語日", false},
		{"8 emoji", "🔑🔒🔓🗝🔐🔏🛡🚪", true},
		{"1024 bytes", strings.Repeat("ab", 512), true},
		{"1025 bytes", strings.Repeat("ab", 512) + "c", false},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"common", "password1", false},
		{"common, other case", "PassWord1", false},
		{"common, upper case", "QWERTYUIOP", false},
		{"common 8-digit", "12345678", false},
		{"common default", "changeme", false},
		{"common with space is not on the list", "password 1", true},
		{"no composition rules", "aaaaaaaabbbbbbbb", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := password.CheckNew(tc.password)
			if tc.ok && err != nil {
				t.Fatalf("CheckNew = %v, want nil", err)
			}
			if !tc.ok && latch.ErrorCode(err) != latch.EINVALID {
				t.Fatalf("CheckNew = %v, want EINVALID", err)
			}
		})
	}
}

func TestCommonPasswordsList(t *testing.T) {
	for _, pw := range []string{"123456789", "password", "password1", "iloveyou", "qwertyuiop", "1q2w3e4r", "football", "p@ssw0rd"} {
		if !password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false", pw)
		}
	}
	if password.IsCommon("correct horse battery staple") || password.IsCommon("") || password.IsCommon("# the most common") {
		t.Error("IsCommon is true for a password not on the list, or for a comment line")
	}
}
