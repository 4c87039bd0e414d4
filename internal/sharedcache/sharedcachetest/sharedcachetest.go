// Package sharedcachetest is the conformance suite of sharedcache.Cache:
// Memory runs it always, Redis against a redis-server its test starts. It
// must never be imported by non-test code.
package sharedcachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/sharedcache"
)

// Open returns a new, empty cache configured with opts, whose EntryTTL,
// TombstoneTTL and Clock the suite chooses (Open may set the rest, such as
// Timeout). Caches it returns are not used at once: the suite runs one test
// at a time. Open should close the cache at t's cleanup; the suite may
// have closed it already.
type Open func(t *testing.T, opts sharedcache.Options) sharedcache.Cache

// Option changes how the suite runs.
type Option func(*config)

type config struct{ realTime bool }

// RealTime tells the suite that the cache ignores Options.Clock (Redis
// expires keys itself): it waits for expiries in real time, with TTLs of a
// few hundred milliseconds, instead of advancing the clock.
func RealTime() Option { return func(c *config) { c.realTime = true } }

// short is the TTL of the expiry tests: long enough for a few calls under
// the race detector, short enough to wait out in real time.
const short = 200 * time.Millisecond

// long is the TTL of every other test, which must not see anything expire.
const long = time.Minute

// Run checks open's caches against the contract of sharedcache.Cache.
func Run(t *testing.T, open Open, options ...Option) {
	var cfg config
	for _, o := range options {
		o(&cfg)
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"GetMissing", testGetMissing},
		{"FillThenGet", testFillThenGet},
		{"FillOlderOrSameRefused", testFillOlderOrSameRefused},
		{"InvalidateLeavesTombstone", testInvalidateLeavesTombstone},
		{"InvalidateKeepsNewer", testInvalidateKeepsNewer},
		{"MaxVersion", testMaxVersion},
		{"VersionsOutOfRange", testVersionsOutOfRange},
		{"StaleRefillRace", testStaleRefillRace},
		{"StaleRefillRaceConcurrent", testStaleRefillRaceConcurrent},
		{"Expiry", testExpiry},
		{"FillFor", testFillFor},
		{"EntryOverTombstoneKeepsBlocking", testEntryOverTombstone},
		{"Reset", testReset},
		{"PublishTwoSubscribers", testPublishTwoSubscribers},
		{"SubscriberContextEnds", testSubscriberContextEnds},
		{"ConcurrentFills", testConcurrentFills},
		{"Keys", testKeys},
		{"Values", testValues},
		{"PingAndClose", testPingAndClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &env{t: t, open: open, realTime: cfg.realTime})
		})
	}
}

// env opens caches for one test and moves its time.
type env struct {
	t        *testing.T
	open     Open
	realTime bool
	clock    *clocktest.Clock
	started  time.Time // real time of the last open
}

// cache opens a cache with the given TTLs.
func (e *env) cache(entryTTL, tombstoneTTL time.Duration) sharedcache.Cache {
	e.t.Helper()
	e.clock = clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := e.open(e.t, sharedcache.Options{EntryTTL: entryTTL, TombstoneTTL: tombstoneTTL, Clock: e.clock})
	e.started = time.Now()
	return c
}

// wait lets d pass for the cache.
func (e *env) wait(d time.Duration) {
	if e.realTime {
		time.Sleep(d)
	} else {
		e.clock.Advance(d)
	}
}

// before reports whether less than d has passed since the cache was opened
// (always, on the test clock): in real time, a slow machine may have let a
// TTL run out before the test could look at what it should still see.
func (e *env) before(d time.Duration) bool {
	if !e.realTime {
		return true
	}
	if time.Since(e.started) < d {
		return true
	}
	e.t.Logf("the machine is too slow to check what must hold before %v", d)
	return false
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustFill(t *testing.T, c sharedcache.Cache, key string, version uint64, value string, want bool) {
	t.Helper()
	stored, err := c.Fill(ctx(t), key, version, []byte(value))
	if err != nil {
		t.Fatalf("Fill(%q, %d): %v", key, version, err)
	}
	if stored != want {
		t.Fatalf("Fill(%q, %d) stored = %v, want %v", key, version, stored, want)
	}
}

func mustInvalidate(t *testing.T, c sharedcache.Cache, key string, version uint64) {
	t.Helper()
	if err := c.Invalidate(ctx(t), key, version); err != nil {
		t.Fatalf("Invalidate(%q, %d): %v", key, version, err)
	}
}

// wantEntry checks that key holds value at version.
func wantEntry(t *testing.T, c sharedcache.Cache, key string, version uint64, value string) {
	t.Helper()
	e, ok, err := c.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !ok {
		t.Fatalf("Get(%q) missed, want version %d", key, version)
	}
	if e.Version != version || string(e.Value) != value {
		t.Fatalf("Get(%q) = version %d %q, want version %d %q", key, e.Version, e.Value, version, value)
	}
}

func wantMiss(t *testing.T, c sharedcache.Cache, key string) {
	t.Helper()
	e, ok, err := c.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok {
		t.Fatalf("Get(%q) = version %d %q, want a miss", key, e.Version, e.Value)
	}
}

// receive returns the next change on ch, failing after a few seconds.
func receive(t *testing.T, ch <-chan latch.Change) latch.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5 s")
	}
	panic("not reached")
}

// wantClosed waits for ch to be closed, ignoring what it still holds.
func wantClosed(t *testing.T, ch <-chan latch.Change) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("subscription not closed within 5 s")
		}
	}
}

func testGetMissing(t *testing.T, e *env) {
	c := e.cache(long, long)
	wantMiss(t, c, "never-written")
}

func testFillThenGet(t *testing.T, e *env) {
	c := e.cache(long, long)
	mustFill(t, c, "k", 3, "three", true)
	wantEntry(t, c, "k", 3, "three")
	// Version 0 is a version (a live family, a jti not revoked).
	mustFill(t, c, "zero", 0, "live", true)
	wantEntry(t, c, "zero", 0, "live")
}

func testFillOlderOrSameRefused(t *testing.T, e *env) {
	c := e.cache(long, long)
	mustFill(t, c, "k", 5, "five", true)
	mustFill(t, c, "k", 5, "five again", false)
	mustFill(t, c, "k", 4, "four", false)
	mustFill(t, c, "k", 0, "zero", false)
	wantEntry(t, c, "k", 5, "five")
	mustFill(t, c, "k", 6, "six", true)
	wantEntry(t, c, "k", 6, "six")
}

func testInvalidateLeavesTombstone(t *testing.T, e *env) {
	c := e.cache(long, long)
	mustFill(t, c, "k", 1, "one", true)
	mustInvalidate(t, c, "k", 2)
	wantMiss(t, c, "k")
	mustFill(t, c, "k", 1, "one", false)
	wantMiss(t, c, "k")
	// The writer's own version, read back by a fresh reader, is admitted.
	mustFill(t, c, "k", 2, "two", true)
	wantEntry(t, c, "k", 2, "two")

	// A key never filled gets a tombstone all the same.
	mustInvalidate(t, c, "fresh", 3)
	wantMiss(t, c, "fresh")
	mustFill(t, c, "fresh", 2, "two", false)
	mustFill(t, c, "fresh", 4, "four", true)
	wantEntry(t, c, "fresh", 4, "four")

	// An invalidation below a tombstone leaves it where it is.
	mustInvalidate(t, c, "t", 5)
	mustInvalidate(t, c, "t", 3)
	mustFill(t, c, "t", 4, "four", false)
	// A newer one raises it.
	mustInvalidate(t, c, "t", 7)
	mustFill(t, c, "t", 6, "six", false)
	mustFill(t, c, "t", 7, "seven", true)
	wantEntry(t, c, "t", 7, "seven")
}

func testInvalidateKeepsNewer(t *testing.T, e *env) {
	c := e.cache(long, long)
	mustFill(t, c, "k", 5, "five", true)
	mustInvalidate(t, c, "k", 3)
	wantEntry(t, c, "k", 5, "five")
	mustInvalidate(t, c, "k", 5)
	wantEntry(t, c, "k", 5, "five")
	mustInvalidate(t, c, "k", 6)
	wantMiss(t, c, "k")
}

func testMaxVersion(t *testing.T, e *env) {
	c := e.cache(long, long)
	mustFill(t, c, "k", 9, "nine", true)
	mustInvalidate(t, c, "k", sharedcache.MaxVersion)
	wantMiss(t, c, "k")
	for _, v := range []uint64{0, 10, 1 << 40, sharedcache.MaxVersion - 1} {
		mustFill(t, c, "k", v, "any", false)
	}
	wantMiss(t, c, "k")
}

func testVersionsOutOfRange(t *testing.T, e *env) {
	c := e.cache(long, long)
	if _, err := c.Fill(ctx(t), "k", sharedcache.MaxVersion, []byte("x")); err == nil {
		t.Error("Fill at MaxVersion: no error (it would pass a MaxVersion tombstone)")
	}
	if _, err := c.Fill(ctx(t), "k", ^uint64(0), []byte("x")); err == nil {
		t.Error("Fill at 2^64-1: no error")
	}
	if err := c.Invalidate(ctx(t), "k", sharedcache.MaxVersion+1); err == nil {
		t.Error("Invalidate above MaxVersion: no error")
	}
	wantMiss(t, c, "k")
}

// testStaleRefillRace plays the race the tombstones exist for, step by step.
func testStaleRefillRace(t *testing.T, e *env) {
	c := e.cache(long, long)
	store := struct {
		version uint64
		value   string
	}{1, "v1"}

	// A reader misses and reads the store.
	wantMiss(t, c, "user")
	readVersion, readValue := store.version, store.value
	// A writer writes, then invalidates at the version it wrote.
	store.version, store.value = 2, "v2"
	mustInvalidate(t, c, "user", 2)
	// The slow reader fills what it read: refused.
	mustFill(t, c, "user", readVersion, readValue, false)
	wantMiss(t, c, "user")
	// A fresh reader fills what the store holds now.
	mustFill(t, c, "user", store.version, store.value, true)
	wantEntry(t, c, "user", 2, "v2")
	// An even slower reader of v1 comes last: still refused.
	mustFill(t, c, "user", readVersion, readValue, false)
	wantEntry(t, c, "user", 2, "v2")

	// The same with the cache holding v1 and a fresh reader filling v2
	// before the writer's invalidation arrives.
	mustFill(t, c, "role", 1, "v1", true)
	mustFill(t, c, "role", 2, "v2", true)
	mustInvalidate(t, c, "role", 2)
	mustFill(t, c, "role", 1, "v1", false)
	wantEntry(t, c, "role", 2, "v2")
}

// testStaleRefillRaceConcurrent runs a stale fill against the writer's
// invalidation in both orders: whichever lands first, the stale value must
// not be left in the cache.
func testStaleRefillRaceConcurrent(t *testing.T, e *env) {
	c := e.cache(long, long)
	const rounds = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i := range rounds {
		key := "race-" + strconv.Itoa(i)
		wg.Go(func() {
			if _, err := c.Fill(ctx(t), key, 1, []byte("stale")); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if err := c.Invalidate(ctx(t), key, 2); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range rounds {
		wantMiss(t, c, "race-"+strconv.Itoa(i))
	}
}

func testExpiry(t *testing.T, e *env) {
	c := e.cache(short, short)
	mustFill(t, c, "entry", 1, "one", true)
	mustInvalidate(t, c, "tomb", 5)
	mustInvalidate(t, c, "deleted", sharedcache.MaxVersion)
	if e.before(short) {
		wantEntry(t, c, "entry", 1, "one")
		mustFill(t, c, "tomb", 4, "four", false)
		mustFill(t, c, "deleted", 100, "back", false)
	}
	e.wait(short + short/2)
	wantMiss(t, c, "entry")
	// Nothing is left of the entry, nor of the tombstones.
	mustFill(t, c, "entry", 1, "one", true)
	mustFill(t, c, "tomb", 4, "four", true)
	mustFill(t, c, "deleted", 100, "back", true)
	wantEntry(t, c, "tomb", 4, "four")
	wantEntry(t, c, "deleted", 100, "back")
}

// testFillFor: an entry filled with its own lifetime expires then, not at
// EntryTTL.
func testFillFor(t *testing.T, e *env) {
	c := e.cache(long, long)
	if ok, err := c.FillFor(ctx(t), "short", 1, []byte("one"), short); err != nil || !ok {
		t.Fatalf("FillFor: %v %v", ok, err)
	}
	mustFill(t, c, "long", 1, "one", true)
	if e.before(short) {
		wantEntry(t, c, "short", 1, "one")
	}
	e.wait(short + short/2)
	wantMiss(t, c, "short")
	wantEntry(t, c, "long", 1, "one")
}

// testEntryOverTombstone: an entry that replaces a tombstone goes on
// refusing what the tombstone refused until the tombstone would have
// expired, even when entries live shorter than tombstones.
func testEntryOverTombstone(t *testing.T, e *env) {
	tombstoneTTL := 3 * short
	c := e.cache(short, tombstoneTTL)
	mustInvalidate(t, c, "k", 5)
	mustFill(t, c, "k", 6, "six", true)
	e.wait(short + short/2) // past the entry's own TTL
	if e.before(tombstoneTTL - short/2) {
		mustFill(t, c, "k", 4, "stale", false)
		wantEntry(t, c, "k", 6, "six")
	}
	e.wait(2 * short) // past the tombstone's
	wantMiss(t, c, "k")
	mustFill(t, c, "k", 4, "four", true)
}

func testReset(t *testing.T, e *env) {
	c := e.cache(long, long)
	sub := c.Subscribe(ctx(t))
	mustFill(t, c, "a", 1, "one", true)
	mustFill(t, c, "b", 7, "seven", true)
	if err := c.Reset(ctx(t)); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	wantMiss(t, c, "a")
	wantMiss(t, c, "b")
	if got := receive(t, sub); got.Kind != latch.ChangeReset {
		t.Fatalf("after Reset the subscriber got %+v, want a reset", got)
	}
	// The new generation works like the old one.
	mustFill(t, c, "a", 1, "one", true)
	wantEntry(t, c, "a", 1, "one")
	mustFill(t, c, "a", 1, "one", false)
	if err := c.Reset(ctx(t)); err != nil {
		t.Fatalf("second Reset: %v", err)
	}
	wantMiss(t, c, "a")
	if got := receive(t, sub); got.Kind != latch.ChangeReset {
		t.Fatalf("after the second Reset the subscriber got %+v, want a reset", got)
	}
}

func testPublishTwoSubscribers(t *testing.T, e *env) {
	c := e.cache(long, long)
	subs := []<-chan latch.Change{c.Subscribe(ctx(t)), c.Subscribe(ctx(t))}
	first := []latch.Change{
		{Kind: latch.ChangeUser, Org: "acme", ID: "u1", Version: 3},
		{Kind: latch.ChangeRole, Org: "acme", ID: "r1", Version: 9, Deleted: true},
		{Kind: latch.ChangeToken, ID: "digest"},
	}
	second := []latch.Change{{Kind: latch.ChangeClient, ID: "c1", Version: 1}}
	for _, batch := range [][]latch.Change{first, nil, second} {
		if err := c.Publish(ctx(t), batch); err != nil {
			t.Fatalf("Publish(%v): %v", batch, err)
		}
	}
	want := append(append([]latch.Change{}, first...), second...)
	for i, sub := range subs {
		for j, w := range want {
			if got := receive(t, sub); got != w {
				t.Fatalf("subscriber %d, change %d = %+v, want %+v", i, j, got, w)
			}
		}
	}
}

func testSubscriberContextEnds(t *testing.T, e *env) {
	c := e.cache(long, long)
	sctx, cancel := context.WithCancel(ctx(t))
	sub := c.Subscribe(sctx)
	other := c.Subscribe(ctx(t))
	cancel()
	wantClosed(t, sub)
	// Others go on.
	change := latch.Change{Kind: latch.ChangeOrg, ID: "o1", Version: 2}
	if err := c.Publish(ctx(t), []latch.Change{change}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, other); got != change {
		t.Fatalf("got %+v, want %+v", got, change)
	}
	// A subscription under a context already done is closed at once.
	wantClosed(t, c.Subscribe(sctx))
}

// testConcurrentFills fills one key from many goroutines, out of order,
// with an invalidation among them: the highest version survives.
func testConcurrentFills(t *testing.T, e *env) {
	c := e.cache(long, long)
	const goroutines, top = 8, 48
	var wg sync.WaitGroup
	errs := make(chan error, top+1)
	for g := range goroutines {
		wg.Go(func() {
			var versions []int
			for v := top - g; v > 0; v -= goroutines {
				versions = append(versions, v)
			}
			if g%2 == 1 {
				slices.Reverse(versions)
			}
			for _, v := range versions {
				if _, err := c.Fill(ctx(t), "hot", uint64(v), []byte("v"+strconv.Itoa(v))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		if err := c.Invalidate(ctx(t), "hot", top/2); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantEntry(t, c, "hot", top, "v"+strconv.Itoa(top))
}

func testKeys(t *testing.T, e *env) {
	c := e.cache(long, long)
	keys := []string{
		"", "a", "a\x00", "a\x00b", "a\x00c", "\x00", "\x00\x00",
		"latch:gen", "0:a", ":", "ключ", "\xff\xfe",
		strings.Repeat("long", 16<<10),
	}
	for i, k := range keys {
		mustFill(t, c, k, uint64(i), fmt.Sprintf("value of %d", i), true)
	}
	for i, k := range keys {
		wantEntry(t, c, k, uint64(i), fmt.Sprintf("value of %d", i))
	}
	mustInvalidate(t, c, "a\x00b", 100)
	wantMiss(t, c, "a\x00b")
	wantEntry(t, c, "a\x00c", 4, "value of 4")
	wantEntry(t, c, "a", 1, "value of 1")
}

func testValues(t *testing.T, e *env) {
	c := e.cache(long, long)
	every := make([]byte, 0, 512)
	for i := range 512 {
		every = append(every, byte(i))
	}
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	for name, v := range map[string][]byte{
		"every byte": every,
		"empty":      {},
		"big":        big,
		"json":       []byte(`{"id":"u1","password_hash":"$argon2id$v=19$..."}`),
	} {
		stored, err := c.Fill(ctx(t), name, 1, v)
		if err != nil || !stored {
			t.Fatalf("Fill(%s) = %v, %v", name, stored, err)
		}
		got, ok, err := c.Get(ctx(t), name)
		if err != nil || !ok {
			t.Fatalf("Get(%s) = %v, %v", name, ok, err)
		}
		if !bytes.Equal(got.Value, v) {
			t.Fatalf("Get(%s) returned %d bytes, not the %d filled", name, len(got.Value), len(v))
		}
	}
	// The cache keeps its own copy: changing what was filled or what was
	// returned changes nothing.
	v := []byte("original")
	mustFillBytes(t, c, "copy", v)
	copy(v, "CHANGED!")
	got, _, _ := c.Get(ctx(t), "copy")
	copy(got.Value, "SCRIBBLE")
	wantEntry(t, c, "copy", 1, "original")
}

func mustFillBytes(t *testing.T, c sharedcache.Cache, key string, v []byte) {
	t.Helper()
	if stored, err := c.Fill(ctx(t), key, 1, v); err != nil || !stored {
		t.Fatalf("Fill(%q) = %v, %v", key, stored, err)
	}
}

func testPingAndClose(t *testing.T, e *env) {
	c := e.cache(long, long)
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	sub := c.Subscribe(ctx(t))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantClosed(t, sub)
	wantClosed(t, c.Subscribe(ctx(t)))
	if err := c.Ping(ctx(t)); err == nil {
		t.Error("Ping after Close: no error")
	}
	if _, _, err := c.Get(ctx(t), "k"); err == nil {
		t.Error("Get after Close: no error")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
