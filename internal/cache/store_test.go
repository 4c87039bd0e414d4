package cache_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/store/bolt"
	"latch.dev/latch/internal/store/storetest"
)

// The cache is a Store: it passes the whole conformance suite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock latch.Clock) latch.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		c := cache.New(s, cache.Options{Clock: clock})
		t.Cleanup(func() { c.Close() })
		return c
	})
}

// countingStore counts GetClient calls and can hold one load in the middle.
type countingStore struct {
	latch.Store
	gets    atomic.Int64
	holdMu  sync.Mutex
	hold    chan struct{} // when set, the next GetClient waits on it after loading
	started chan struct{}
}

func (s *countingStore) GetClient(ctx context.Context, id string) (latch.Client, error) {
	s.gets.Add(1)
	c, err := s.Store.GetClient(ctx, id)
	s.holdMu.Lock()
	hold, started := s.hold, s.started
	s.hold = nil
	s.holdMu.Unlock()
	if hold != nil {
		close(started)
		<-hold
	}
	return c, err
}

func setup(t *testing.T, ttl time.Duration) (*countingStore, *cache.Store, *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateOrg(ctx, latch.Org{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, latch.Client{ID: "app", Org: "acme", Grants: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: s}
	c := cache.New(cs, cache.Options{Clock: clock, TTL: ttl})
	t.Cleanup(func() { c.Close() })
	return cs, c, clock
}

func TestReadsAreCachedUntilTTL(t *testing.T) {
	cs, c, clock := setup(t, 5*time.Second)
	ctx := context.Background()
	for range 10 {
		if _, err := c.GetClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.gets.Load(); n != 1 {
		t.Fatalf("%d store reads for 10 cached reads", n)
	}
	clock.Advance(5 * time.Second)
	c.GetClient(ctx, "app")
	if n := cs.gets.Load(); n != 2 {
		t.Fatalf("entry served past its TTL (%d reads)", n)
	}
	// Absence is never cached.
	for range 3 {
		if _, err := c.GetClient(ctx, "nope"); !latch.IsCode(err, latch.ENOTFOUND) {
			t.Fatalf("got %v", err)
		}
	}
	if n := cs.gets.Load(); n != 5 {
		t.Fatalf("absence cached: %d reads", n)
	}
}

func TestOwnWriteIsSeenAtOnce(t *testing.T) {
	_, c, _ := setup(t, time.Hour)
	ctx := context.Background()
	c.GetClient(ctx, "app")
	if _, err := c.UpdateClient(ctx, "app", func(cl *latch.Client) error { cl.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetClient(ctx, "app")
	if err != nil || !got.Disabled {
		t.Fatalf("after disabling through the cache: %+v %v", got, err)
	}
}

func TestChangeFeedInvalidates(t *testing.T) {
	cs, c, _ := setup(t, time.Hour)
	ctx := context.Background()
	c.GetClient(ctx, "app")
	// A write that bypasses the cache (another replica, say) reaches it through the feed.
	if _, err := cs.Store.UpdateClient(ctx, "app", func(cl *latch.Client) error { cl.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := c.GetClient(ctx, "app")
		if got.Disabled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the feed did not invalidate the cached client")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStaleFillIsRefused: a reader loads v1, a writer commits v2 and
// invalidates, then the reader tries to cache v1. The cache must end at v2.
func TestStaleFillIsRefused(t *testing.T) {
	cs, c, _ := setup(t, time.Hour)
	ctx := context.Background()
	hold, started := make(chan struct{}), make(chan struct{})
	cs.holdMu.Lock()
	cs.hold, cs.started = hold, started
	cs.holdMu.Unlock()
	done := make(chan latch.Client)
	go func() {
		cl, _ := c.GetClient(ctx, "app") // loads v1, then waits
		done <- cl
	}()
	<-started
	if _, err := c.UpdateClient(ctx, "app", func(cl *latch.Client) error { cl.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	close(hold)
	if stale := <-done; stale.Disabled {
		t.Fatal("the slow reader should have loaded the old version")
	}
	got, err := c.GetClient(ctx, "app")
	if err != nil || !got.Disabled {
		t.Fatalf("stale fill won: cached %+v", got)
	}
}

// deafStore hears none of its store's changes, as a cache hears a write
// made elsewhere before the change reaches it.
type deafStore struct{ latch.Store }

func (deafStore) Watch(ctx context.Context) <-chan latch.Change {
	ch := make(chan latch.Change)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

// TestListFamiliesReadsTheStore: a family revoked elsewhere is listed
// revoked at once, while the cached copy of it still says live.
func TestListFamiliesReadsTheStore(t *testing.T) {
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c := cache.New(deafStore{s}, cache.Options{Clock: clock, TTL: time.Hour})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	f := latch.Family{ID: "f1", Org: "acme", ClientID: "app", Subject: "u1", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}
	if err := c.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFamily(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetFamily(ctx, "f1"); got.Revoked() {
		t.Fatal("the cached family heard of the revocation: the test proves nothing")
	}
	list, err := c.ListFamilies(ctx, "acme", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Revoked() {
		t.Fatalf("ListFamilies through the cache = %+v, want f1 revoked", list)
	}
}
