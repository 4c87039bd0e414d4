package ratelimit

import (
	"context"
	"testing"
	"time"

	"latch.dev/latch/internal/clocktest"
)

// newFunc returns an empty Counter on clock.
type newFunc func(t *testing.T, clock *clocktest.Clock) Counter

// epoch is where the suite's clocks start: a real date (Unix milliseconds
// of thirteen digits, as in production), not Unix(0).
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// runSuite checks the Counter contract on the implementation newCounter
// returns: every implementation passes the same cases.
func runSuite(t *testing.T, newCounter newFunc) {
	const free = 5
	cases := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock)
	}{
		{"BackoffIsBounded", func(t *testing.T, ctx context.Context, l Counter, clock *clocktest.Clock) {
			for range free {
				l.Fail(ctx, free, "k")
			}
			if w := l.Wait(ctx, "k"); w != 0 {
				t.Fatalf("locked after only the free failures: %v", w)
			}
			l.Fail(ctx, free, "k")
			if w := l.Wait(ctx, "k"); w != time.Second {
				t.Fatalf("first lock %v, want 1s", w)
			}
			for range 40 {
				l.Fail(ctx, free, "k")
			}
			if w := l.Wait(ctx, "k"); w != MaxLock {
				t.Fatalf("lock %v, want the cap %v", w, MaxLock)
			}
			clock.Advance(MaxLock)
			if w := l.Wait(ctx, "k"); w != 0 {
				t.Fatalf("still locked after the cap: %v", w)
			}
			l.Succeed(ctx, "k")
			l.Fail(ctx, free, "k")
			if w := l.Wait(ctx, "k"); w != 0 {
				t.Fatal("a success did not reset the count")
			}
		}},
		{"LockDoubles", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			for range free {
				c.Fail(ctx, free, "k")
			}
			for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900} {
				c.Fail(ctx, free, "k")
				if w := c.Wait(ctx, "k"); w != want*time.Second {
					t.Fatalf("failure %d over the free ones: lock %v, want %v", i+1, w, want*time.Second)
				}
			}
		}},
		{"LockCountsFromTheLastFailure", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			for range free + 3 { // locked 4 s
				c.Fail(ctx, free, "k")
			}
			clock.Advance(1500 * time.Millisecond)
			if w := c.Wait(ctx, "k"); w != 2500*time.Millisecond {
				t.Fatalf("1.5 s into a 4 s lock: %v left, want 2.5s", w)
			}
			clock.Advance(2500 * time.Millisecond)
			if w := c.Wait(ctx, "k"); w != 0 {
				t.Fatalf("at the lock's end: %v left", w)
			}
			// The count goes on: the next failure locks for 8 s from now.
			c.Fail(ctx, free, "k")
			if w := c.Wait(ctx, "k"); w != 8*time.Second {
				t.Fatalf("next lock %v, want 8s", w)
			}
		}},
		{"ForgottenAfterForgetAfter", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			for range free + 1 {
				c.Fail(ctx, free, "k", "j")
			}
			// Exactly ForgetAfter after the last failure, it is remembered.
			clock.Advance(ForgetAfter)
			c.Fail(ctx, free, "k")
			if w := c.Wait(ctx, "k"); w != 2*time.Second {
				t.Fatalf("ForgetAfter after the last failure: lock %v, want 2s (still counted)", w)
			}
			// Past it, the count starts again: free failures before a lock.
			clock.Advance(ForgetAfter + time.Millisecond)
			for i := range free {
				c.Fail(ctx, free, "k", "j")
				if w := c.Wait(ctx, "k", "j"); w != 0 {
					t.Fatalf("failure %d after the count was forgotten: locked %v", i+1, w)
				}
			}
			c.Fail(ctx, free, "j")
			if w := c.Wait(ctx, "j"); w != time.Second {
				t.Fatalf("after the free failures again: lock %v, want 1s", w)
			}
		}},
		{"KeysAreApart", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			for range free + 2 { // locked 2 s
				c.Fail(ctx, free, "a")
			}
			if w := c.Wait(ctx, "b"); w != 0 {
				t.Fatalf("b locked by a's failures: %v", w)
			}
			if w := c.Wait(ctx); w != 0 {
				t.Fatalf("no keys: %v", w)
			}
			for range free + 4 { // locked 8 s
				c.Fail(ctx, free, "c")
			}
			// Wait answers the longest lock of its keys, in any order.
			for _, keys := range [][]string{{"a", "b", "c"}, {"c", "a"}, {"b", "c"}} {
				if w := c.Wait(ctx, keys...); w != 8*time.Second {
					t.Fatalf("Wait(%v) = %v, want 8s", keys, w)
				}
			}
			if w := c.Wait(ctx, "b", "a"); w != 2*time.Second {
				t.Fatalf("Wait(b, a) = %v, want 2s", w)
			}
			// A success forgets its key only.
			c.Succeed(ctx, "a")
			if w := c.Wait(ctx, "a"); w != 0 {
				t.Fatalf("a after its success: %v", w)
			}
			if w := c.Wait(ctx, "c"); w != 8*time.Second {
				t.Fatalf("c after a's success: %v", w)
			}
			c.Succeed(ctx, "never-failed")
		}},
		{"FreeIsPerCall", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			c.Fail(ctx, 0, "zero")
			if w := c.Wait(ctx, "zero"); w != time.Second {
				t.Fatalf("free 0: first failure locks %v, want 1s", w)
			}
			// One key may be counted with different allowances (the
			// account's and the address's are different keys in practice).
			for range 20 {
				c.Fail(ctx, 20, "addr")
			}
			if w := c.Wait(ctx, "addr"); w != 0 {
				t.Fatalf("20 failures of 20 free: locked %v", w)
			}
			c.Fail(ctx, 20, "addr")
			if w := c.Wait(ctx, "addr"); w != time.Second {
				t.Fatalf("21st failure of 20 free: lock %v, want 1s", w)
			}
		}},
		{"CancelledCallerIsCounted", func(t *testing.T, ctx context.Context, c Counter, clock *clocktest.Clock) {
			// A client that hangs up after each guess is counted all the
			// same.
			gone, cancel := context.WithCancel(ctx)
			cancel()
			for range free + 1 {
				c.Fail(gone, free, "k")
			}
			if w := c.Wait(gone, "k"); w != time.Second {
				t.Fatalf("after failures with a cancelled context: lock %v, want 1s", w)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := clocktest.New(epoch)
			tc.run(t, t.Context(), newCounter(t, clock), clock)
		})
	}
}

func TestMemory(t *testing.T) {
	runSuite(t, func(t *testing.T, clock *clocktest.Clock) Counter { return NewMemory(clock) })
}

// TestMemoryIsBounded: when full, Memory drops the keys whose failures are
// forgotten, and only those.
func TestMemoryIsBounded(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(epoch)
	m := NewMemory(clock)
	m.maxEntries = 10
	for i := range 6 {
		m.Fail(ctx, 0, string(rune('a'+i)))
	}
	clock.Advance(ForgetAfter / 2)
	for i := range 4 {
		m.Fail(ctx, 0, string(rune('A'+i)))
	}
	if n := m.len(); n != 10 {
		t.Fatalf("%d keys, want 10", n)
	}
	clock.Advance(ForgetAfter/2 + time.Millisecond) // the first six are forgotten
	m.Fail(ctx, 0, "new")
	if n := m.len(); n != 5 {
		t.Fatalf("after a sweep: %d keys, want 5 (the 4 recent ones and the new one)", n)
	}
	if w := m.Wait(ctx, "A"); w != 0 {
		t.Fatalf("A: %v", w)
	}
}
