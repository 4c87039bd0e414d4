// Package ratelimit slows down guessing: it counts failures (of a password,
// of a sign-up) per key, and after a few free failures locks the key for a
// time that doubles with each further failure, capped at MaxLock. The cap
// keeps the lockout soft: an attacker can slow a real user down, not lock
// them out for long. A key's failures are forgotten ForgetAfter after its
// last one, and when it succeeds.
//
// Memory counts in the process: a fleet of N servers (or N Lambda
// sandboxes) gives an attacker N times the attempts. Redis counts on a Redis
// the fleet shares, and falls back to counting in the process while Redis
// does not answer: the limiter slows attackers down, and must never make a
// login fail.
package ratelimit

import (
	"context"
	"time"
)

const (
	// MaxLock caps a key's lock.
	MaxLock = 15 * time.Minute
	// ForgetAfter is how long a key's failures are remembered after its
	// last failure.
	ForgetAfter = 30 * time.Minute
)

// Counter counts failures per key. Its methods never fail: an
// implementation that cannot reach what it shares answers from what the
// process knows. Each takes the caller's context for its values only: a
// caller that is cancelled (a client that hung up) is counted all the same,
// so that hanging up after each guess does not dodge a shared count.
type Counter interface {
	// Wait returns how long the caller must wait before keys may try again:
	// the longest lock among them, 0 when none is locked.
	Wait(ctx context.Context, keys ...string) time.Duration
	// Fail records a failure for each key. A key may have free failures;
	// each further failure (within ForgetAfter of the previous one) locks
	// it for 1 s, 2 s, 4 s, … up to MaxLock from now.
	Fail(ctx context.Context, free int, keys ...string)
	// Succeed forgets the failures of key (an account that signed in).
	Succeed(ctx context.Context, key string)
}

// lockFor is the lock of a key that has failed over times more than it may:
// 1 s for the first, doubling, capped at MaxLock.
func lockFor(over int) time.Duration {
	return min(time.Second<<min(over-1, 20), MaxLock)
}
