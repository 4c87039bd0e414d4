// Package passwordtest provides a counting password hasher for tests that must
// show every sign-in attempt costs exactly one hash computation (unknown user,
// wrong password and disabled account alike). It is for tests only.
package passwordtest

import (
	"sync/atomic"

	"latch.dev/latch/internal/password"
)

// Counter wraps a PasswordHasher (NewTestHasher by default) and counts calls.
// The zero Counter is ready to use and safe for concurrent use.
type Counter struct {
	Hasher password.PasswordHasher // nil means password.NewTestHasher()

	hashes, verifies, dummies atomic.Int64
}

var _ password.PasswordHasher = (*Counter)(nil)

func (c *Counter) hasher() password.PasswordHasher {
	if c.Hasher == nil {
		return password.NewTestHasher()
	}
	return c.Hasher
}

// Hash counts and delegates.
func (c *Counter) Hash(pw string) (string, error) {
	c.hashes.Add(1)
	return c.hasher().Hash(pw)
}

// Verify counts and delegates.
func (c *Counter) Verify(encoded, pw string) (bool, bool, error) {
	c.verifies.Add(1)
	return c.hasher().Verify(encoded, pw)
}

// DummyVerify counts and delegates.
func (c *Counter) DummyVerify(pw string) {
	c.dummies.Add(1)
	c.hasher().DummyVerify(pw)
}

// Hashes returns the number of Hash calls.
func (c *Counter) Hashes() int64 { return c.hashes.Load() }

// Verifies returns the number of Verify calls.
func (c *Counter) Verifies() int64 { return c.verifies.Load() }

// Dummies returns the number of DummyVerify calls.
func (c *Counter) Dummies() int64 { return c.dummies.Load() }

// Checks returns Verify plus DummyVerify calls: the password computations a
// sign-in attempt cost.
func (c *Counter) Checks() int64 { return c.verifies.Load() + c.dummies.Load() }

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.hashes.Store(0)
	c.verifies.Store(0)
	c.dummies.Store(0)
}
