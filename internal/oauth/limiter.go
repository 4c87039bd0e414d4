package oauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"latch.dev/latch"
)

// limiter slows down password guessing. It counts failures per account and
// per client address; after a few free failures each further failure locks
// the key for an exponentially growing time, capped at maxLock. The cap keeps
// the lockout soft: an attacker can slow a real user down, not lock them out
// for long. Counts are forgotten after forgetAfter without a failure. The
// counters live in this process: a fleet of servers limits per server.
type limiter struct {
	mu      sync.Mutex
	clock   latch.Clock
	entries map[string]*limitEntry
	trusted []netip.Prefix
}

type limitEntry struct {
	failures    int
	lockedUntil time.Time
	lastFailure time.Time
}

const (
	freeAccountFailures = 5
	freeAddressFailures = 20
	maxLock             = 15 * time.Minute
	forgetAfter         = 30 * time.Minute
	maxLimiterEntries   = 200_000
)

func newLimiter(clock latch.Clock, trustedProxies []string) *limiter {
	l := &limiter{clock: clock, entries: map[string]*limitEntry{}}
	for _, p := range trustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			l.trusted = append(l.trusted, pfx)
		} else if a, err := netip.ParseAddr(p); err == nil {
			l.trusted = append(l.trusted, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return l
}

// wait returns how long the caller must wait before keys may try again
// (0 when none is locked).
func (l *limiter) wait(keys ...string) time.Duration {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, k := range keys {
		if e := l.entries[k]; e != nil && e.lockedUntil.After(now) {
			longest = max(longest, e.lockedUntil.Sub(now))
		}
	}
	return longest
}

// fail records a failure for each key; free is the number of failures a key
// may have before it is locked.
func (l *limiter) fail(free int, keys ...string) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxLimiterEntries {
		l.sweep(now)
	}
	for _, k := range keys {
		e := l.entries[k]
		if e == nil || now.Sub(e.lastFailure) > forgetAfter {
			e = &limitEntry{}
			l.entries[k] = e
		}
		e.failures++
		e.lastFailure = now
		if over := e.failures - free; over > 0 {
			lock := time.Second << min(over-1, 20)
			e.lockedUntil = now.Add(min(lock, maxLock))
		}
	}
}

// succeed forgets the failures of key (an account that signed in).
func (l *limiter) succeed(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

func (l *limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.lastFailure) > forgetAfter {
			delete(l.entries, k)
		}
	}
}

// clientAddr is the address to rate-limit by: the TCP peer, or, when the peer
// is a trusted proxy, the nearest untrusted address in X-Forwarded-For.
// A client-sent X-Forwarded-For is never believed.
func (l *limiter) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !l.isTrusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host
		}
		if !l.isTrusted(a) {
			return a.String()
		}
	}
	return host
}

func (l *limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
