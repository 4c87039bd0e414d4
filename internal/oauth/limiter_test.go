package oauth

import (
	"net/http/httptest"
	"testing"
	"time"

	"latch.dev/latch/internal/clocktest"
)

func TestClientAddr(t *testing.T) {
	l := newLimiter(clocktest.New(time.Unix(0, 0)), []string{"10.0.0.0/8", "192.0.2.1"})
	cases := []struct {
		peer, xff, want string
	}{
		{"203.0.113.9:1234", "198.51.100.1", "203.0.113.9"}, // untrusted peer: header ignored
		{"10.1.2.3:80", "198.51.100.1", "198.51.100.1"},     // trusted proxy
		{"10.1.2.3:80", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"10.1.2.3:80", "spoofed, 198.51.100.7", "198.51.100.7"}, // nearest untrusted hop wins
		{"192.0.2.1:80", "junk", "192.0.2.1"},                    // unparsable: the peer
		{"10.1.2.3:80", "", "10.1.2.3"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := l.clientAddr(r); got != c.want {
			t.Errorf("peer %s XFF %q: got %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestLimiterBackoffIsBounded(t *testing.T) {
	clock := clocktest.New(time.Unix(0, 0))
	l := newLimiter(clock, nil)
	for range freeAccountFailures {
		l.fail(freeAccountFailures, "k")
	}
	if w := l.wait("k"); w != 0 {
		t.Fatalf("locked after only the free failures: %v", w)
	}
	l.fail(freeAccountFailures, "k")
	if w := l.wait("k"); w != time.Second {
		t.Fatalf("first lock %v, want 1s", w)
	}
	for range 40 {
		l.fail(freeAccountFailures, "k")
	}
	if w := l.wait("k"); w != maxLock {
		t.Fatalf("lock %v, want the cap %v", w, maxLock)
	}
	clock.Advance(maxLock)
	if w := l.wait("k"); w != 0 {
		t.Fatalf("still locked after the cap: %v", w)
	}
	l.succeed("k")
	l.fail(freeAccountFailures, "k")
	if w := l.wait("k"); w != 0 {
		t.Fatal("a success did not reset the count")
	}
}
