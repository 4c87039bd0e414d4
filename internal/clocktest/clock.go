// Package clocktest provides a settable clock for tests. It must never be
// imported by non-test code.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a latch.Clock whose time moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock set to t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
