package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"latch.dev/latch"
)

// Limits on passwords.
const (
	// MaxPasswordBytes bounds every password before any hashing, so that a
	// huge input cannot buy CPU time.
	MaxPasswordBytes = 1024
	// MinPasswordChars is the shortest password CheckNew accepts, in
	// characters (runes).
	MinPasswordChars = 8
	// MaxBcryptPasswordBytes is the most bcrypt reads; Verify refuses longer
	// passwords for bcrypt hashes rather than truncating them.
	MaxBcryptPasswordBytes = 72
)

// Bounds on the parameters of hashes Verify accepts (and Hash produces), so
// that an imported hash cannot make one sign-in take gigabytes or seconds.
const (
	MinBcryptCost  = 10
	MaxBcryptCost  = 14
	maxMemoryKiB   = 256 * 1024 // 256 MiB, libsodium's "moderate"
	maxTime        = 32
	maxThreads     = 16
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	argon2idPrefix = "$argon2id$"
)

// ErrInvalidHash is the cause of every error about a stored hash that cannot
// be parsed or is refused (an unknown algorithm, a bcrypt cost below 10,
// parameters out of bounds).
var ErrInvalidHash = errors.New("invalid password hash")

// PasswordHasher is what the rest of Latch needs from a password hasher.
// Production code uses *Hasher; tests inject a cheap or counting one.
type PasswordHasher interface {
	// Hash returns a new encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded and, if it does,
	// whether the hash should be replaced by a fresh one. An error means the
	// stored hash is unusable, never that the password is wrong.
	Verify(encoded, password string) (ok, needsRehash bool, err error)
	// DummyVerify costs what Verify costs for a wrong password; it is run
	// when there is no user to verify against.
	DummyVerify(password string)
}

var _ PasswordHasher = (*Hasher)(nil)

// Params are Argon2id parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the OWASP minimum for Argon2id: m=19 MiB, t=2, p=1,
// with a 16-byte salt and a 32-byte key. On two cores one hash takes about
// 50 ms and each concurrent hash needs its 19 MiB.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// TestParams returns parameters cheap enough for unit tests (64 KiB, one
// pass). They still produce valid Argon2id hashes; never use them in
// production.
func TestParams() Params {
	return Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Check reports whether p is within the bounds Verify accepts, so that every
// hash made with p can be verified again.
func (p Params) Check() error {
	if err := p.check(); err != nil {
		return latch.Errorf(latch.EINVALID, "argon2id parameters: %s", err.Error())
	}
	return nil
}

func (p Params) check() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("p must be 1 to %d", maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("t must be 1 to %d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("m must be 8*p to %d KiB", maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt must be %d to %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key must be %d to %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes new passwords with Argon2id and Params, and verifies Argon2id
// and imported bcrypt hashes. The zero Hasher uses DefaultParams. A Hasher is
// safe for concurrent use.
type Hasher struct {
	Params
}

// NewHasher returns a Hasher with DefaultParams.
func NewHasher() *Hasher { return &Hasher{Params: DefaultParams()} }

// NewTestHasher returns a Hasher with TestParams, for unit tests.
func NewTestHasher() *Hasher { return &Hasher{Params: TestParams()} }

func (h *Hasher) params() Params {
	if h == nil || h.Params == (Params{}) {
		return DefaultParams()
	}
	return h.Params
}

// Hash returns the PHC-encoded Argon2id hash of password with a fresh random
// salt. It refuses an empty password or one over MaxPasswordBytes (EINVALID)
// but applies no other policy: see CheckNew.
func (h *Hasher) Hash(password string) (string, error) {
	if password == "" {
		return "", latch.Errorf(latch.EINVALID, "password must not be empty")
	}
	if len(password) > MaxPasswordBytes {
		return "", latch.Errorf(latch.EINVALID, "password must be at most %d bytes", MaxPasswordBytes)
	}
	p := h.params()
	if err := p.check(); err != nil {
		return "", latch.Wrap(latch.EINTERNAL, "password.Hash", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", latch.Wrap(latch.EINTERNAL, "password.Hash", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodeArgon2id(p, salt, key), nil
}

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches the Argon2id or bcrypt hash
// encoded, and whether a matching hash should be replaced by Hash(password):
// always for bcrypt, and for Argon2id when its memory, passes, salt or key
// length are below the Hasher's. A wrong password, a password over
// MaxPasswordBytes, and a password over 72 bytes for a bcrypt hash all give
// (false, false, nil). An unusable hash gives an EINTERNAL error whose cause
// is ErrInvalidHash; the comparison itself is constant-time.
func (h *Hasher) Verify(encoded, password string) (ok, needsRehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		return false, false, nil
	}
	switch {
	case strings.HasPrefix(encoded, argon2idPrefix):
		a, err := parseArgon2id(encoded)
		if err != nil {
			return false, false, invalidHash("password.Verify", err)
		}
		key := argon2.IDKey([]byte(password), a.salt, a.Time, a.Memory, a.Threads, uint32(len(a.key)))
		if subtle.ConstantTimeCompare(key, a.key) != 1 {
			return false, false, nil
		}
		cur := h.params()
		return true, a.Memory < cur.Memory || a.Time < cur.Time ||
			uint32(len(a.salt)) < cur.SaltLen || uint32(len(a.key)) < cur.KeyLen, nil
	case isBcrypt(encoded):
		if _, err := parseBcrypt(encoded); err != nil {
			return false, false, invalidHash("password.Verify", err)
		}
		if len(password) > MaxBcryptPasswordBytes {
			// bcrypt would compare only the first 72 bytes. Refuse, but spend
			// the same time as a wrong password so that the answer does not
			// tell which users still have bcrypt hashes. The result is
			// discarded: this input can never match.
			_ = bcrypt.CompareHashAndPassword([]byte(encoded), []byte("latch: password over 72 bytes"))
			return false, false, nil
		}
		switch err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)); {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, invalidHash("password.Verify", err)
		}
	}
	return false, false, invalidHash("password.Verify", errors.New("unknown algorithm"))
}

// dummySalt is the salt of the fixed hash DummyVerify compares against; its
// key is all zeros.
const dummySalt = "latch-dummy-salt"

// DummyVerify computes one Argon2id hash of password with the Hasher's
// parameters and compares it with a fixed key, discarding the result: the
// work Verify does for a wrong password. Like Verify it does no work for a
// password over MaxPasswordBytes.
func (h *Hasher) DummyVerify(password string) {
	if len(password) > MaxPasswordBytes {
		return
	}
	p := h.params()
	if p.check() != nil {
		p = DefaultParams()
	}
	key := argon2.IDKey([]byte(password), []byte(dummySalt), p.Time, p.Memory, p.Threads, p.KeyLen)
	subtle.ConstantTimeCompare(key, make([]byte, len(key)))
}

// CheckHash reports whether encoded is a hash Verify accepts, without
// computing anything: for validating imported users (EINVALID).
func CheckHash(encoded string) error {
	var err error
	switch {
	case strings.HasPrefix(encoded, argon2idPrefix):
		_, err = parseArgon2id(encoded)
	case isBcrypt(encoded):
		_, err = parseBcrypt(encoded)
	default:
		err = errors.New("unknown algorithm: want $argon2id$ or bcrypt ($2a$, $2b$, $2y$)")
	}
	if err != nil {
		return latch.Errorf(latch.EINVALID, "password hash: %s", err.Error())
	}
	return nil
}

func invalidHash(op string, err error) error {
	return latch.Wrap(latch.EINTERNAL, op, fmt.Errorf("%w: %w", ErrInvalidHash, err))
}

type argon2idHash struct {
	Params
	salt, key []byte
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key strictly: one
// spelling per hash (no leading zeros, no padding, canonical base64), version
// 19 only, every number within the bounds of Params.check.
func parseArgon2id(s string) (argon2idHash, error) {
	var a argon2idHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return a, errors.New("argon2id: want $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return a, errors.New("argon2id: only version 19 is supported")
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return a, errors.New("argon2id: want parameters m=<KiB>,t=<passes>,p=<lanes>")
	}
	m, err1 := parseParam(ps[0], "m=", maxMemoryKiB)
	t, err2 := parseParam(ps[1], "t=", maxTime)
	p, err3 := parseParam(ps[2], "p=", maxThreads)
	if err := errors.Join(err1, err2, err3); err != nil {
		return a, err
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return a, errors.New("argon2id: salt is not unpadded base64")
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil {
		return a, errors.New("argon2id: key is not unpadded base64")
	}
	a = argon2idHash{
		Params: Params{Memory: m, Time: t, Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		salt:   salt,
		key:    key,
	}
	if err := a.Params.check(); err != nil {
		return argon2idHash{}, fmt.Errorf("argon2id: %w", err)
	}
	return a, nil
}

// parseParam parses "<name><decimal>" with no sign, no leading zero and a
// value of at most max.
func parseParam(s, name string, max uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || len(v) > 10 || (v[0] == '0' && len(v) > 1) {
		return 0, fmt.Errorf("argon2id: bad parameter %q", truncate(s, 16))
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(max) {
		return 0, fmt.Errorf("argon2id: %s must be at most %d", strings.TrimSuffix(name, "="), max)
	}
	return uint32(n), nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// parseBcrypt checks $2x$NN$<22 salt><31 hash> strictly (the library itself is
// lenient) and returns the cost, refusing costs outside MinBcryptCost to
// MaxBcryptCost.
func parseBcrypt(s string) (int, error) {
	if len(s) != 60 || !isBcrypt(s) || s[6] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return 0, errors.New("bcrypt: want $2b$<cost>$<53 characters>")
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return 0, errors.New("bcrypt: bad character in salt or hash")
		}
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return 0, fmt.Errorf("bcrypt: cost %d is outside %d to %d", cost, MinBcryptCost, MaxBcryptCost)
	}
	return cost, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
