package ratelimit

import (
	"context"
	"sync"
	"time"

	"latch.dev/latch"
)

// Memory is a Counter in the process. It holds at most maxMemoryEntries
// keys: when full, it drops the keys whose failures are forgotten, and
// while still full a new key is counted all the same (the map grows) — a
// bound on memory, not on what is counted.
type Memory struct {
	mu         sync.Mutex
	clock      latch.Clock
	entries    map[string]*entry
	maxEntries int
}

type entry struct {
	failures    int
	lockedUntil time.Time
	lastFailure time.Time
}

const maxMemoryEntries = 200_000

var _ Counter = (*Memory)(nil)

// NewMemory returns a Counter in the process on clock (the system clock
// when nil).
func NewMemory(clock latch.Clock) *Memory {
	if clock == nil {
		clock = latch.SystemClock{}
	}
	return &Memory{clock: clock, entries: map[string]*entry{}, maxEntries: maxMemoryEntries}
}

// Wait returns the longest lock among keys.
func (m *Memory) Wait(_ context.Context, keys ...string) time.Duration {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var longest time.Duration
	for _, k := range keys {
		if e := m.entries[k]; e != nil && e.lockedUntil.After(now) {
			longest = max(longest, e.lockedUntil.Sub(now))
		}
	}
	return longest
}

// Fail records a failure for each key.
func (m *Memory) Fail(_ context.Context, free int, keys ...string) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.maxEntries {
		m.sweep(now)
	}
	for _, k := range keys {
		e := m.entries[k]
		if e == nil || now.Sub(e.lastFailure) > ForgetAfter {
			e = &entry{}
			m.entries[k] = e
		}
		e.failures++
		e.lastFailure = now
		if over := e.failures - free; over > 0 {
			e.lockedUntil = now.Add(lockFor(over))
		}
	}
}

// Succeed forgets the failures of key.
func (m *Memory) Succeed(_ context.Context, key string) {
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
}

func (m *Memory) sweep(now time.Time) {
	for k, e := range m.entries {
		if now.Sub(e.lastFailure) > ForgetAfter {
			delete(m.entries, k)
		}
	}
}

// len is the number of keys held, for tests.
func (m *Memory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
