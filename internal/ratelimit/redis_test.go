package ratelimit

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/metrics"
	"latch.dev/latch/internal/redistest"
	"latch.dev/latch/internal/sharedcache"
)

// client is the client of a shared cache on s (as `latch serve --cache`
// makes it: its bounds, its retries) whose calls time out after timeout
// (0: the default, 50 ms), closed at the end of the test.
func client(t *testing.T, s *redistest.Server, timeout time.Duration) *redis.Client {
	t.Helper()
	c, err := sharedcache.NewRedis(t.Context(), s.URL(), sharedcache.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.Client()
}

// admin is a plain client on s, to look at what the counters keep.
func admin(t *testing.T, s *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// generous is the timeout of counters that must not fall back: the tests
// run under the race detector on busy machines.
const generous = time.Second

func TestRedis(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	admin := admin(t, s)
	runSuite(t, func(t *testing.T, clock *clocktest.Clock) Counter {
		if err := admin.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		r := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		t.Cleanup(func() {
			// Every answer came from Redis.
			if logs.Len() > 0 {
				t.Errorf("the counter fell back:\n%s", logs.String())
			}
			if n := r.local.len(); n != 0 {
				t.Errorf("%d keys counted in the process", n)
			}
		})
		return r
	})
}

// TestRedisFleet: two counters on one Redis, as two servers (or Lambda
// sandboxes), count together: failures on one lock the key on the other,
// and a success on either forgets them for both.
func TestRedisFleet(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	clock := clocktest.New(epoch)
	a := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock})
	b := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock})
	const free = 5
	for i := range free {
		[]Counter{a, b}[i%2].Fail(ctx, free, "acct\x00acme\x00alice")
	}
	if w := b.Wait(ctx, "acct\x00acme\x00alice"); w != 0 {
		t.Fatalf("locked after the free failures: %v", w)
	}
	a.Fail(ctx, free, "acct\x00acme\x00alice")
	if w := b.Wait(ctx, "acct\x00acme\x00alice"); w != time.Second {
		t.Fatalf("b after 3 failures on a and 3 on b: lock %v, want 1s", w)
	}
	b.Succeed(ctx, "acct\x00acme\x00alice")
	if w := a.Wait(ctx, "acct\x00acme\x00alice"); w != 0 {
		t.Fatalf("a after a success on b: %v", w)
	}

	// Concurrent failures from both are each counted once: 2×40 failures
	// with 79 free lock the key for 1 s.
	var wg sync.WaitGroup
	for _, c := range []Counter{a, b} {
		for range 4 {
			wg.Go(func() {
				for range 10 {
					c.Fail(ctx, 79, "k")
				}
			})
		}
	}
	wg.Wait()
	if w := a.Wait(ctx, "k"); w != time.Second {
		t.Fatalf("after 80 concurrent failures with 79 free: lock %v, want 1s", w)
	}
}

// TestRedisKeys: Redis holds neither the usernames nor the addresses, and
// forgets a key ForgetAfter after its last failure.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	admin := admin(t, s)
	ctx := t.Context()
	r := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous})
	secrets := []string{"acct\x00acme\x00alice@example.com", "addr\x00203.0.113.9", "signup\x002001:db8::1"}
	r.Fail(ctx, 5, secrets...)
	keys, err := admin.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(secrets) {
		t.Fatalf("keys %q, want %d", keys, len(secrets))
	}
	for _, k := range keys {
		hashed, ok := strings.CutPrefix(k, "latch:limit:")
		if !ok || len(hashed) != 43 || strings.ContainsAny(hashed, "+/=:@.") {
			t.Errorf("key %q is not latch:limit: and a base64url SHA-256", k)
		}
		for _, s := range []string{"alice", "acme", "example", "203.0.113", "2001:db8", "acct", "addr", "signup"} {
			if strings.Contains(k, s) {
				t.Errorf("key %q shows %q", k, s)
			}
		}
		fields, err := admin.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range fields {
			if strings.Contains(v, "alice") || strings.Contains(v, "203.0.113") {
				t.Errorf("field %s of %s is %q", f, k, v)
			}
		}
		ttl, err := admin.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > ForgetAfter || ttl < ForgetAfter-time.Minute {
			t.Errorf("key %s expires in %v, want ForgetAfter (%v)", k, ttl, ForgetAfter)
		}
	}
	// Each failure moves the expiry: ForgetAfter after the last one.
	if err := admin.PExpire(ctx, keys[0], time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	r.Fail(ctx, 5, secrets...)
	if ttl := admin.PTTL(ctx, keys[0]).Val(); ttl < ForgetAfter-time.Minute {
		t.Errorf("after another failure the key expires in %v, want ForgetAfter", ttl)
	}
	// A success deletes the key.
	r.Succeed(ctx, secrets[0])
	if n := admin.Exists(ctx, r.redisKey(secrets[0])).Val(); n != 0 {
		t.Error("the key is still in Redis after a success")
	}
}

// TestRedisDown: with Redis stopped, every call answers at once from the
// process: failures are still counted, and locks still lock. A warning is
// logged at most every 10 s, and each failed call is counted in the
// metrics.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	clock := clocktest.New(epoch)
	var logs syncBuffer
	// Generous timeouts: a stopped Redis refuses at once, and one that
	// answers must not fall back on a busy machine.
	c := client(t, s, generous)
	r := NewRedis(c, RedisOptions{Timeout: generous, Clock: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	reg := metrics.NewRegistry()
	r.RegisterMetrics(reg)
	// Two failures while Redis answers, then it goes down (everything it
	// held is lost).
	r.Fail(ctx, 5, "k")
	r.Fail(ctx, 5, "k")
	s.Stop()
	start := time.Now()
	for range 4 {
		r.Fail(ctx, 5, "k")
	}
	if w := r.Wait(ctx, "k"); w != 0 {
		t.Fatalf("locked after 4 failures counted in the process: %v", w)
	}
	r.Fail(ctx, 5, "k", "j")
	r.Fail(ctx, 5, "k")
	// The two failures Redis counted are lost with it: 6 in the process.
	if w := r.Wait(ctx, "k"); w != time.Second {
		t.Fatalf("6 failures counted in the process: lock %v, want 1s", w)
	}
	r.Succeed(ctx, "k")
	if w := r.Wait(ctx, "k"); w != 0 {
		t.Fatalf("after a success: %v", w)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("13 calls with Redis down took %v", d)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Errorf("%d warnings within 10 s, want 1:\n%s", n, logs.String())
	}
	clock.Advance(10 * time.Second)
	r.Wait(ctx, "k")
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 2 {
		t.Errorf("%d warnings after 10 s, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "\x00") || strings.Contains(logs.String(), `k"`) {
		t.Errorf("a warning shows a key:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var got []string
	for l := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(l, "latch_ratelimit") {
			got = append(got, l)
		}
	}
	for _, want := range []string{
		`latch_ratelimit_redis_errors_total{op="fail"} 6`,
		`latch_ratelimit_redis_errors_total{op="wait"} 4`,
		`latch_ratelimit_redis_errors_total{op="succeed"} 1`,
	} {
		if !slices.Contains(got, want+"\n") {
			t.Errorf("metrics lack %s: %q", want, got)
		}
	}

	// Redis comes back empty: the lock counted in the process holds (the
	// longer answer wins), and counting is shared again.
	for range 5 {
		r.Fail(ctx, 0, "held") // locked 16 s in the process
	}
	s.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(ctx).Err() != nil { // until the pool's dead connections are gone
		if time.Now().After(deadline) {
			t.Fatal("Redis does not answer after its restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.Advance(10 * time.Second) // a fallback from now on logs again
	warned := strings.Count(logs.String(), "Redis unavailable")
	other := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock})
	if w := other.Wait(ctx, "held"); w != 0 {
		t.Fatalf("Redis, empty after its restart, knows of held: %v", w)
	}
	if w := r.Wait(ctx, "held"); w != 6*time.Second {
		t.Fatalf("a lock counted in the process, Redis back: %v, want 6s", w)
	}
	for range 6 {
		r.Fail(ctx, 5, "shared")
	}
	if w := other.Wait(ctx, "shared"); w != time.Second {
		t.Fatalf("6 failures on r, Redis back: other sees %v, want 1s", w)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != warned {
		t.Fatalf("r fell back with Redis back:\n%s", logs.String())
	}
}

// TestRedisHung: a Redis that answers nothing costs a call its timeout,
// no more, and the process counts meanwhile.
func TestRedisHung(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	clock := clocktest.New(epoch)
	r := NewRedis(client(t, s, 0), RedisOptions{Timeout: 50 * time.Millisecond, Clock: clock})
	r.Wait(ctx, "warm") // a pooled connection
	s.Pause(3 * time.Second)
	start := time.Now()
	r.Fail(ctx, 0, "k")
	w := r.Wait(ctx, "k")
	if d := time.Since(start); d > time.Second {
		t.Errorf("two calls on a hung Redis took %v", d)
	}
	if w != time.Second {
		t.Fatalf("lock %v, want 1s counted in the process", w)
	}
}

// TestRedisLockedWhileRedisAnswers: what Redis says is locked is locked,
// whatever the process's own counts say.
func TestRedisLockedWhileRedisAnswers(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	clock := clocktest.New(epoch)
	a := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock})
	b := NewRedis(client(t, s, generous), RedisOptions{Timeout: generous, Clock: clock})
	a.Fail(ctx, 0, "k") // in Redis: locked 1 s
	b.local.Fail(ctx, 0, "x")
	if w := b.Wait(ctx, "k"); w != time.Second {
		t.Fatalf("b: %v, want Redis's 1s", w)
	}
	if w := b.Wait(ctx, "x", "k"); w != time.Second {
		t.Fatalf("b, with a key of its own: %v, want 1s", w)
	}
}

// TestRedisFailSentAgain: a Fail call that reaches Redis twice (go-redis
// sends it again when its reply is lost or late) counts once.
func TestRedisFailSentAgain(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	c := admin(t, s)
	r := NewRedis(c, RedisOptions{Timeout: generous})
	key := r.redisKey("k")
	for _, id := range []string{"a", "a", "b", "a"} {
		if err := failScript.Run(ctx, c, []string{key}, r.millis(), 5, ForgetAfter.Milliseconds(), MaxLock.Milliseconds(), id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.HGet(ctx, key, "n").Val(); n != "3" {
		t.Fatalf("calls a, a again, b, a: %s failures, want 3", n)
	}
	// Each call of the counter has its own id.
	r.Fail(ctx, 5, "k")
	r.Fail(ctx, 5, "k")
	if n := c.HGet(ctx, key, "n").Val(); n != "5" {
		t.Fatalf("two more calls: %s failures, want 5", n)
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
