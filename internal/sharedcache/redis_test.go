package sharedcache_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"latch.dev/latch"
	"latch.dev/latch/internal/redistest"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/sharedcache/sharedcachetest"
)

// openRedis returns a cache on url, closed at the end of the test.
func openRedis(t *testing.T, url string, opts sharedcache.Options) *sharedcache.Redis {
	t.Helper()
	c, err := sharedcache.NewRedis(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// admin is a plain client on s, to look at and poke what the cache keeps.
func admin(t *testing.T, s *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedis(t *testing.T) {
	t.Parallel() // each has its own redis-server; most of the time is waiting
	s := redistest.Start(t)
	a := admin(t, s)
	sharedcachetest.Run(t, func(t *testing.T, opts sharedcache.Options) sharedcache.Cache {
		if err := a.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		// Generous: the suite runs under the race detector on busy
		// machines; the fault tests below keep the default.
		opts.Timeout = time.Second
		return openRedis(t, s.URL(), opts)
	}, sharedcachetest.RealTime())
}

// next returns the next change on ch within d, or fails.
func next(t *testing.T, ch <-chan latch.Change, d time.Duration, what string) latch.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		return c
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
	}
	panic("not reached")
}

func wantReset(t *testing.T, ch <-chan latch.Change, d time.Duration, what string) {
	t.Helper()
	if c := next(t, ch, d, what); c.Kind != latch.ChangeReset {
		t.Fatalf("%s: got %+v, want a reset", what, c)
	}
}

// eventually retries f every 20 ms until it returns nil, for up to d.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failsFast checks that a call to a Redis that cannot answer fails, and
// does not hang: the bound is loose, the timeout is 50 ms.
func failsFast(t *testing.T, what string, call func(context.Context) error) {
	t.Helper()
	start := time.Now()
	err := call(t.Context())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("%s took %v", what, took)
	}
	if err == nil {
		t.Errorf("%s: no error", what)
	} else if latch.ErrorCode(err) != latch.EUNAVAILABLE {
		t.Errorf("%s: %v, want code %s", what, err, latch.EUNAVAILABLE)
	}
}

// allCallsFailFast runs every call against a Redis that cannot answer.
func allCallsFailFast(t *testing.T, c sharedcache.Cache, key string) {
	t.Helper()
	failsFast(t, "Get", func(ctx context.Context) error {
		e, ok, err := c.Get(ctx, key)
		if ok {
			t.Errorf("Get returned %+v from a Redis that cannot answer", e)
		}
		return err
	})
	failsFast(t, "Fill", func(ctx context.Context) error {
		_, err := c.Fill(ctx, key, 9, []byte("v9"))
		return err
	})
	failsFast(t, "Invalidate", func(ctx context.Context) error { return c.Invalidate(ctx, key, 9) })
	failsFast(t, "Publish", func(ctx context.Context) error {
		return c.Publish(ctx, []latch.Change{{Kind: latch.ChangeUser, ID: "u"}})
	})
	failsFast(t, "Reset", c.Reset)
	failsFast(t, "Ping", c.Ping)
}

func TestRedisURL(t *testing.T) {
	const secret = "pa55-s3cret"
	for _, tc := range []struct{ name, url, want string }{
		{"not a URL", "redis://:" + secret + "@host:port/0", "not a URL"},
		{"not a URL either", "redis://:" + secret + "/x@127.0.0.1:6379/0", "not a URL"},
		{"scheme", "http://:" + secret + "@127.0.0.1:6379/0", "scheme must be redis or rediss"},
		{"unix", "unix:///tmp/redis.sock", "scheme must be redis or rediss"},
		{"no host", "redis://:" + secret + "@:6379/0", "no host"},
		{"empty", "", "scheme"},
		{"db not a number", "redis://:" + secret + "@127.0.0.1:6379/zero", "database number"},
		{"db negative", "redis://:" + secret + "@127.0.0.1:6379/-1", "database number"},
		{"path too long", "redis://:" + secret + "@127.0.0.1:6379/0/1", "database number"},
		{"query", "redis://:" + secret + "@127.0.0.1:6379/0?dial_timeout=10s", "no query"},
		{"password in query", "redis://127.0.0.1:6379/0?password=" + secret, "no query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sharedcache.NewRedis(t.Context(), tc.url, sharedcache.Options{})
			if err == nil {
				_ = c.Close()
				t.Fatalf("NewRedis(%q): no error", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password", err)
			}
			if latch.ErrorCode(err) != latch.EINVALID {
				t.Errorf("error %q has code %s, want %s", err, latch.ErrorCode(err), latch.EINVALID)
			}
		})
	}
}

// TestRedisTLS: rediss:// is accepted, and means TLS: a plain Redis cannot
// be talked to through it.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, "rediss://"+s.Addr()+"/0", sharedcache.Options{})
	if err := c.Ping(t.Context()); err == nil {
		t.Fatal("rediss:// reached a plain-text Redis: no TLS")
	}
	if err := openRedis(t, s.URL(), sharedcache.Options{}).Ping(t.Context()); err != nil {
		t.Fatalf("redis:// to the same server: %v", err)
	}
}

func TestRedisAuth(t *testing.T) {
	t.Parallel()
	const password, alicePassword = "default-Pw-1", "alice-Pw-2"
	s := redistest.Start(t, "--requirepass", password, "--user", "alice", "on", ">"+alicePassword, "~*", "&*", "+@all")
	for i, url := range []string{
		"redis://:" + password + "@" + s.Addr() + "/0",
		"redis://default:" + password + "@" + s.Addr(),
		"redis://alice:" + alicePassword + "@" + s.Addr() + "/1",
	} {
		c := openRedis(t, url, sharedcache.Options{})
		if stored, err := c.Fill(t.Context(), "k"+strconv.Itoa(i), 1, []byte("v")); err != nil || !stored {
			t.Fatalf("Fill through an authenticated URL = %v, %v", stored, err)
		}
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping through an authenticated URL: %v", err)
		}
	}
	for _, tc := range []struct{ name, url, hidden string }{
		{"wrong password", "redis://:wrong-Pw-3@" + s.Addr() + "/0", "wrong-Pw-3"},
		{"wrong user password", "redis://alice:" + password + "@" + s.Addr() + "/0", password},
		{"unknown user", "redis://mallory:" + alicePassword + "@" + s.Addr() + "/0", alicePassword},
		{"no password", s.URL(), ""},
		{"no such database", "redis://:" + password + "@" + s.Addr() + "/4096", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sharedcache.NewRedis(t.Context(), tc.url, sharedcache.Options{})
			if err == nil {
				_ = c.Close()
				t.Fatal("NewRedis: no error")
			}
			if tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("error %q shows the password", err)
			}
			if !strings.Contains(err.Error(), s.Addr()) {
				t.Errorf("error %q does not say which Redis", err)
			}
			t.Log(err)
		})
	}
}

// TestRedisDown: calls to a Redis that was killed fail fast; the
// subscriber hears of the outage once; when Redis is back the same cache
// works again, and the subscriber hears of the reconnection (it missed
// what was published meanwhile) before new messages.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, s.URL(), sharedcache.Options{})
	other := openRedis(t, s.URL(), sharedcache.Options{})
	sub := c.Subscribe(t.Context())
	ctx := t.Context()
	if stored, err := c.Fill(ctx, "k", 1, []byte("v1")); err != nil || !stored {
		t.Fatalf("Fill = %v, %v", stored, err)
	}

	s.Stop()
	stopped := time.Now()
	wantReset(t, sub, 2*time.Second, "Redis killed")
	allCallsFailFast(t, c, "k")
	// One reset per outage, not one per failed reconnection.
	time.Sleep(time.Until(stopped.Add(1200 * time.Millisecond)))
	if n := len(sub); n != 0 {
		t.Fatalf("%d more changes during the outage, want none: %+v", n, <-sub)
	}

	s.Restart()
	wantReset(t, sub, 5*time.Second, "Redis back")
	eventually(t, 5*time.Second, "Get after the restart", func() error {
		_, _, err := c.Get(ctx, "k")
		return err
	})
	// Redis came back empty.
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatal("an entry survived a restart without persistence")
	}
	if stored, err := c.Fill(ctx, "k", 2, []byte("v2")); err != nil || !stored {
		t.Fatalf("Fill after the restart = %v, %v", stored, err)
	}
	if e, ok, err := other.Get(ctx, "k"); err != nil || !ok || string(e.Value) != "v2" {
		t.Fatalf("the other replica's Get after the restart = %+v, %v, %v", e, ok, err)
	}
	change := latch.Change{Kind: latch.ChangeAudience, ID: "a1", Version: 4}
	eventually(t, 5*time.Second, "Publish after the restart", func() error {
		return other.Publish(ctx, []latch.Change{change})
	})
	if got := next(t, sub, 5*time.Second, "after the reconnection"); got != change {
		t.Fatalf("after the reconnection got %+v, want %+v", got, change)
	}
}

// TestRedisStartsWhileDown: a Redis that does not answer yet does not keep
// the cache from being made; it works once Redis is up.
func TestRedisStartsWhileDown(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	s.Stop()
	c := openRedis(t, s.URL(), sharedcache.Options{})
	sub := c.Subscribe(t.Context())
	wantReset(t, sub, time.Second, "subscribed while Redis is down")
	allCallsFailFast(t, c, "k")
	s.Restart()
	eventually(t, 5*time.Second, "Fill once Redis is up", func() error {
		_, err := c.Fill(t.Context(), "k", 1, []byte("v"))
		return err
	})
	wantReset(t, sub, 5*time.Second, "Redis up")
	if err := c.Publish(t.Context(), []latch.Change{{Kind: latch.ChangeOrg, ID: "o"}}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, sub, 5*time.Second, "a message"); got.ID != "o" {
		t.Fatalf("got %+v, want the org change", got)
	}
}

// TestRedisPaused: a Redis that holds its connections but answers nothing
// makes calls fail within the timeout, never answer from anything else;
// when it wakes up, answers are the right ones.
func TestRedisPaused(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, s.URL(), sharedcache.Options{})
	ctx := t.Context()
	if stored, err := c.Fill(ctx, "k", 1, []byte("v1")); err != nil || !stored {
		t.Fatalf("Fill = %v, %v", stored, err)
	}
	s.Pause(time.Second)
	allCallsFailFast(t, c, "k")
	eventually(t, 5*time.Second, "Get once Redis wakes up", func() error {
		e, ok, err := c.Get(ctx, "k")
		if err == nil && (!ok || e.Version != 1 || string(e.Value) != "v1") {
			t.Fatalf("Get after the pause = %+v, %v: want version 1", e, ok)
		}
		return err
	})
}

// TestRedisHungSubscriber: a subscription whose Redis stops answering is
// found out by its pings, reported, and replaced when Redis answers again.
func TestRedisHungSubscriber(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, s.URL(), sharedcache.Options{})
	sub := c.Subscribe(t.Context())
	// Found out within 2 s: a second of silence, then a second without a
	// pong.
	s.Pause(3 * time.Second)
	wantReset(t, sub, 2900*time.Millisecond, "Redis hung")
	wantReset(t, sub, 5*time.Second, "Redis awake")
	change := latch.Change{Kind: latch.ChangeClient, ID: "c1"}
	eventually(t, 5*time.Second, "Publish", func() error { return c.Publish(t.Context(), []latch.Change{change}) })
	if got := next(t, sub, 5*time.Second, "a message"); got != change {
		t.Fatalf("got %+v, want %+v", got, change)
	}
}

// TestRedisReplicas: two caches on one Redis are two replicas: they share
// entries, tombstones, messages and generations.
func TestRedisReplicas(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	a := openRedis(t, s.URL(), sharedcache.Options{})
	b := openRedis(t, s.URL(), sharedcache.Options{})
	subA, subB := a.Subscribe(ctx), b.Subscribe(ctx)

	change := latch.Change{Kind: latch.ChangeFamily, ID: "f1"}
	if err := a.Publish(ctx, []latch.Change{change}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []<-chan latch.Change{subA, subB} {
		if got := next(t, sub, 5*time.Second, "published"); got != change {
			t.Fatalf("got %+v, want %+v", got, change)
		}
	}

	if _, err := b.Fill(ctx, "k", 1, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := a.Get(ctx, "k"); !ok || string(e.Value) != "v1" {
		t.Fatalf("a does not see b's fill: %+v, %v", e, ok)
	}
	if err := a.Invalidate(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	if stored, _ := b.Fill(ctx, "k", 1, []byte("v1")); stored {
		t.Fatal("b's stale fill passed a's tombstone")
	}

	if _, err := a.Fill(ctx, "before", 1, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	wantReset(t, subA, 5*time.Second, "b's Reset, at a")
	wantReset(t, subB, 5*time.Second, "b's Reset, at b")
	if _, ok, _ := a.Get(ctx, "before"); ok {
		t.Fatal("a still sees an entry of the old generation")
	}
	if _, err := a.Fill(ctx, "after", 1, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := b.Get(ctx, "after"); !ok || string(e.Value) != "new" {
		t.Fatalf("a and b are in different generations: %+v, %v", e, ok)
	}
}

// TestRedisMissedReset: a replica that has not heard of a Reset (no
// subscriber, as a Lambda function that only invalidates) neither reads
// nor fills the old generation.
func TestRedisMissedReset(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	c := openRedis(t, s.URL(), sharedcache.Options{})
	if _, err := c.Fill(ctx, "k", 1, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := admin(t, s).Incr(ctx, "latch:gen").Err(); err != nil { // a Reset whose message was lost
		t.Fatal(err)
	}
	if e, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Fatalf("Get after a missed Reset = %+v, %v, %v: want a miss", e, ok, err)
	}
	if stored, err := c.Fill(ctx, "k", 1, []byte("new")); err != nil || !stored {
		t.Fatalf("Fill in the new generation = %v, %v", stored, err)
	}
	fresh := openRedis(t, s.URL(), sharedcache.Options{})
	if e, ok, _ := fresh.Get(ctx, "k"); !ok || string(e.Value) != "new" {
		t.Fatalf("a fresh replica reads %+v, %v: want the new generation's entry", e, ok)
	}
}

// TestRedisLayout pins what other tools see in Redis: the keys, the
// hashes, their TTLs, and the messages.
func TestRedisLayout(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := t.Context()
	a := admin(t, s)
	c := openRedis(t, s.URL(), sharedcache.Options{EntryTTL: 30 * time.Second, TombstoneTTL: 20 * time.Second})
	key := "user:acme\x00u1"
	if _, err := c.Fill(ctx, key, 7, []byte("value")); err != nil {
		t.Fatal(err)
	}
	h, err := a.HGetAll(ctx, "latch:0:"+key).Result()
	if err != nil || h["v"] != "7" || h["d"] != "value" || len(h) != 2 {
		t.Fatalf("entry hash = %v, %v", h, err)
	}
	if ttl := a.PTTL(ctx, "latch:0:"+key).Val(); ttl <= 25*time.Second || ttl > 30*time.Second {
		t.Errorf("entry TTL = %v, want 30 s", ttl)
	}
	if err := c.Invalidate(ctx, key, 9); err != nil {
		t.Fatal(err)
	}
	h, err = a.HGetAll(ctx, "latch:0:"+key).Result()
	if err != nil || h["v"] != "9" || h["t"] != "1" || len(h) != 2 {
		t.Fatalf("tombstone hash = %v, %v", h, err)
	}
	if ttl := a.PTTL(ctx, "latch:0:"+key).Val(); ttl <= 15*time.Second || ttl > 20*time.Second {
		t.Errorf("tombstone TTL = %v, want 20 s", ttl)
	}

	ps := a.Subscribe(ctx, "latch:changes")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	changes := []latch.Change{{Kind: latch.ChangeUser, Org: "acme", ID: "u1", Version: 8}}
	if err := c.Publish(ctx, changes); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(changes)
	if m, err := ps.ReceiveMessage(ctx); err != nil || m.Payload != string(want) {
		t.Fatalf("message = %v, %v; want %s", m, err, want)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := ps.ReceiveMessage(ctx); err != nil || m.Payload != `[{"kind":"reset"}]` {
		t.Fatalf("Reset's message = %v, %v", m, err)
	}
	if g := a.Get(ctx, "latch:gen").Val(); g != "1" {
		t.Fatalf("latch:gen = %q after one Reset", g)
	}
	if _, err := c.Fill(ctx, key, 7, []byte("value")); err != nil {
		t.Fatal(err)
	}
	if n := a.Exists(ctx, "latch:1:"+key).Val(); n != 1 {
		t.Fatal("no entry in the new generation's key")
	}
}

// TestRedisBadMessages: what a subscriber cannot read counts as missed.
func TestRedisBadMessages(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, s.URL(), sharedcache.Options{})
	sub := c.Subscribe(t.Context())
	if err := admin(t, s).Publish(t.Context(), "latch:changes", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	wantReset(t, sub, 5*time.Second, "a message that is not JSON")
}

// TestRedisSlowSubscriber: a subscriber that does not read gets a reset in
// place of what it missed, and its goroutine never blocks on it.
func TestRedisSlowSubscriber(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	c := openRedis(t, s.URL(), sharedcache.Options{})
	sub := c.Subscribe(t.Context())
	pipe := admin(t, s).Pipeline()
	for range 1500 {
		pipe.Publish(t.Context(), "latch:changes", `[{"kind":"user","id":"u"}]`)
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a full buffer", func() error {
		if len(sub) < cap(sub) {
			return context.DeadlineExceeded
		}
		return nil
	})
	// The subscription may still be passing messages on: let it finish.
	time.Sleep(300 * time.Millisecond)
	var got []latch.Change
	for len(sub) > 0 {
		got = append(got, <-sub)
	}
	if !slices.ContainsFunc(got, func(c latch.Change) bool { return c.Kind == latch.ChangeReset }) || len(got) >= 1500 {
		t.Fatalf("a full buffer of %d changes holds no reset", len(got))
	}
	// The subscription still works.
	change := latch.Change{Kind: latch.ChangeRole, ID: "r"}
	if err := c.Publish(t.Context(), []latch.Change{change}); err != nil {
		t.Fatal(err)
	}
	for {
		got := next(t, sub, 5*time.Second, "after draining")
		if got == change {
			break
		}
		if got.Kind != latch.ChangeUser && got.Kind != latch.ChangeReset {
			t.Fatalf("after draining got %+v", got)
		}
	}
}
