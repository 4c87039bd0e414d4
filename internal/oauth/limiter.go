package oauth

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/ratelimit"
)

// limiter slows down password guessing and sign-ups: it counts failures
// per account and per client address in a ratelimit.Counter (see package
// ratelimit: a few free failures, then locks that double, capped at
// ratelimit.MaxLock, forgotten ratelimit.ForgetAfter after the last
// failure). The counter is the fleet's when Deps.Limiter is one on Redis,
// this process's otherwise.
type limiter struct {
	counter ratelimit.Counter
	trusted []netip.Prefix
}

const (
	freeAccountFailures = 5
	freeAddressFailures = 20
)

// newLimiter counts in counter, or in the process (on clock) when it is nil.
func newLimiter(counter ratelimit.Counter, clock latch.Clock, trustedProxies []string) *limiter {
	if counter == nil {
		counter = ratelimit.NewMemory(clock)
	}
	l := &limiter{counter: counter}
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
func (l *limiter) wait(ctx context.Context, keys ...string) time.Duration {
	return l.counter.Wait(ctx, keys...)
}

// fail records a failure for each key; free is the number of failures a key
// may have before it is locked.
func (l *limiter) fail(ctx context.Context, free int, keys ...string) {
	l.counter.Fail(ctx, free, keys...)
}

// succeed forgets the failures of key (an account that signed in).
func (l *limiter) succeed(ctx context.Context, key string) {
	l.counter.Succeed(ctx, key)
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
