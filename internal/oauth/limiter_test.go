package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/metrics"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/ratelimit"
	"latch.dev/latch/internal/redistest"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/bolt"
	"latch.dev/latch/internal/token"
)

func TestClientAddr(t *testing.T) {
	l := newLimiter(nil, clocktest.New(time.Unix(0, 0)), []string{"10.0.0.0/8", "192.0.2.1"})
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

const (
	fleetPassword = "alice's correct horse battery"
	fleetSecret   = "app-secret-0123456789abcdefghijklmnop"
)

// fleet is servers on one store, as a fleet on one table: each with the
// Counter it was given (nil: its own in process).
type fleet struct {
	t       *testing.T
	clock   *clocktest.Clock
	servers []http.Handler
}

func newFleet(t *testing.T, clock *clocktest.Clock, regs []*metrics.Registry, counters ...ratelimit.Counter) *fleet {
	t.Helper()
	ctx := t.Context()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher := password.NewTestHasher()
	pw, err := hasher.Hash(fleetPassword)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := password.HashClientSecret(fleetSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	for _, err := range []error{
		st.CreateOrg(ctx, latch.Org{ID: "acme", Name: "Acme", CreatedAt: now, UpdatedAt: now, Version: 1}),
		st.CreateUser(ctx, latch.User{Org: "acme", ID: "alice", Username: "alice", PasswordHash: pw, CreatedAt: now, UpdatedAt: now, Version: 1}),
		st.CreateClient(ctx, latch.Client{ID: "app", Org: "acme", SecretHash: secret, Grants: []string{latch.GrantPassword},
			AccessTokenFormat: latch.TokenFormatJWT, CreatedAt: now, UpdatedAt: now, Version: 1}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	keys, err := token.NewKeys(st, clock, "ES256", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, clock: clock}
	for i, c := range counters {
		var reg *metrics.Registry
		if i < len(regs) {
			reg = regs[i]
		}
		s := New(Deps{Store: st, Keys: keys, Hasher: hasher, Clock: clock, Limiter: c, Registry: reg}, Options{Issuer: "https://auth.latch.test"})
		mux := http.NewServeMux()
		s.Register(mux)
		f.servers = append(f.servers, mux)
	}
	return f
}

// login asks server i for a token for alice with pw, from addr; it returns
// the status and Retry-After.
func (f *fleet) login(i int, pw, addr string) (int, string) {
	f.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", fleetSecret)
	r.RemoteAddr = addr + ":4321"
	w := httptest.NewRecorder()
	f.servers[i].ServeHTTP(w, r)
	if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
		f.t.Fatalf("server %d: %d %s", i, w.Code, w.Body)
	}
	return w.Code, w.Header().Get("Retry-After")
}

func (f *fleet) wantOK(i int, addr, what string) {
	f.t.Helper()
	if code, retry := f.login(i, fleetPassword, addr); code != http.StatusOK {
		f.t.Fatalf("%s: the right password on server %d: %d (Retry-After %q), want 200", what, i, code, retry)
	}
}

func (f *fleet) wantLocked(i int, addr, what string) {
	f.t.Helper()
	if code, retry := f.login(i, fleetPassword, addr); code != http.StatusBadRequest || retry == "" {
		f.t.Fatalf("%s: the right password on server %d: %d (Retry-After %q), want throttled", what, i, code, retry)
	}
}

func (f *fleet) wrong(i int, addr string) {
	f.t.Helper()
	if code, retry := f.login(i, "a wrong guess", addr); code != http.StatusBadRequest || retry != "" {
		f.t.Fatalf("a wrong password on server %d: %d (Retry-After %q), want refused, not throttled", i, code, retry)
	}
}

// TestLimiterPerProcess: without a shared counter, each server counts its
// own failures.
func TestLimiterPerProcess(t *testing.T) {
	f := newFleet(t, clocktest.New(time.Now()), nil, nil, nil)
	for range freeAccountFailures + 1 {
		f.wrong(0, "203.0.113.9")
	}
	f.wantLocked(0, "203.0.113.9", "6 failures on server 0")
	f.wantOK(1, "203.0.113.9", "6 failures on server 0 only")
}

// TestLimiterFleetOnRedis: servers whose Counters share a Redis count
// together: failures on one lock the account on the other, a success on
// either forgets them, and Redis holds no username or address. With Redis
// down, logins work and each server counts its own failures.
func TestLimiterFleetOnRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	clock := clocktest.New(time.Now())
	// Generous timeouts while Redis answers: under the race detector on a
	// busy machine, a fallback would count apart.
	counter := func() *ratelimit.Redis {
		c, err := sharedcache.NewRedis(t.Context(), rs.URL(), sharedcache.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return ratelimit.NewRedis(c.Client(), ratelimit.RedisOptions{Timeout: c.Timeout(), Clock: clock})
	}
	reg := metrics.NewRegistry()
	f := newFleet(t, clock, []*metrics.Registry{reg}, counter(), counter())

	for i := range freeAccountFailures {
		f.wrong(i%2, "203.0.113.9")
	}
	f.wantOK(1, "198.51.100.1", "5 failures, 3 on server 0 and 2 on server 1")
	for i := range freeAccountFailures + 1 {
		f.wrong(i%2, "203.0.113.9")
	}
	f.wantLocked(0, "198.51.100.1", "6 failures, 3 on each server")
	f.wantLocked(1, "198.51.100.1", "6 failures, 3 on each server")
	f.clock.Advance(time.Second)
	f.wantOK(1, "198.51.100.1", "after the lock")
	// The success on server 1 forgot the failures for server 0 too.
	for range freeAccountFailures {
		f.wrong(0, "203.0.113.9")
	}
	f.wantOK(0, "198.51.100.1", "5 failures after a success")

	admin := redis.NewClient(&redis.Options{Addr: rs.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	keys, err := admin.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("nothing in Redis")
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "latch:limit:") || strings.Contains(k, "alice") || strings.Contains(k, "acme") || strings.Contains(k, "203.0.113") {
			t.Errorf("Redis key %q", k)
		}
	}

	// Redis down: the right password works, and failures are counted in
	// each process.
	rs.Stop()
	f.wantOK(0, "198.51.100.1", "Redis down")
	for range freeAccountFailures + 1 {
		f.wrong(0, "203.0.113.9")
	}
	f.wantLocked(0, "198.51.100.1", "Redis down, 6 failures on server 0")
	f.wantOK(1, "198.51.100.1", "Redis down, 6 failures on server 0 only")
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `latch_ratelimit_redis_errors_total{op="fail"}`) {
		t.Error("server 0's metrics do not count the limiter's Redis errors")
	}
}
