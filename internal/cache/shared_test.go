package cache_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/bolt"
)

// deaf hides the store's own change feed from a replica, so that what it
// learns of other replicas' writes comes through the shared cache alone,
// as it would from a server on another machine. It also counts and can
// hold GetUser loads.
type deaf struct {
	latch.Store
	userLoads atomic.Int64

	mu      sync.Mutex
	hold    chan struct{}
	started chan struct{}
}

func (d *deaf) Watch(ctx context.Context) <-chan latch.Change {
	ch := make(chan latch.Change)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (d *deaf) Close() error { return nil } // the test closes the shared store

func (d *deaf) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	d.userLoads.Add(1)
	u, err := d.Store.GetUser(ctx, org, id)
	d.mu.Lock()
	hold, started := d.hold, d.started
	d.hold = nil
	d.mu.Unlock()
	if hold != nil {
		close(started)
		<-hold
	}
	return u, err
}

// fleet is n replicas (cache.Stores) on one bolt store and one shared cache.
type fleet struct {
	store    latch.Store
	shared   sharedcache.Cache
	replicas []*cache.Store
	sources  []*deaf
}

func newFleet(t *testing.T, n int, shared sharedcache.Cache) *fleet {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{NoSync: true, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateOrg(ctx, latch.Org{ID: "acme", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateUser(ctx, latch.User{Org: "acme", ID: "5", Username: "alice", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateClient(ctx, latch.Client{ID: "app", Org: "acme", SecretHash: "hmac-sha256$k$m", Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}))
	f := &fleet{store: s, shared: shared}
	for range n {
		d := &deaf{Store: s}
		c := cache.New(d, cache.Options{TTL: time.Hour, Shared: shared})
		t.Cleanup(func() { c.Close() })
		f.replicas = append(f.replicas, c)
		f.sources = append(f.sources, d)
	}
	return f
}

// eventually polls cond for up to bound, the staleness the README states.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func memoryShared(t *testing.T) sharedcache.Cache {
	m := sharedcache.NewMemory(sharedcache.Options{})
	t.Cleanup(func() { m.Close() })
	return m
}

func TestSharedChangeReachesEveryReplica(t *testing.T) {
	f := newFleet(t, 3, memoryShared(t))
	ctx := context.Background()
	a, b, c := f.replicas[0], f.replicas[1], f.replicas[2]
	for _, r := range f.replicas {
		if u, err := r.GetUser(ctx, "acme", "5"); err != nil || u.Disabled {
			t.Fatal(u, err)
		}
	}
	// The first replica read the store and filled the shared cache; the
	// others were answered by it.
	if loads := f.sources[0].userLoads.Load() + f.sources[1].userLoads.Load() + f.sources[2].userLoads.Load(); loads != 1 {
		t.Fatalf("%d store reads for three replicas' first read", loads)
	}
	if _, err := a.UpdateUser(ctx, "acme", "5", func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*cache.Store{b, c} {
		eventually(t, time.Second, "another replica sees the disabled user", func() bool {
			u, err := r.GetUser(ctx, "acme", "5")
			return err == nil && u.Disabled
		})
	}
}

func TestSharedKeepsTheDigests(t *testing.T) {
	f := newFleet(t, 2, memoryShared(t))
	ctx := context.Background()
	f.replicas[0].GetClient(ctx, "app")
	f.replicas[0].GetUser(ctx, "acme", "5")
	cl, err := f.replicas[1].GetClient(ctx, "app")
	if err != nil || cl.SecretHash != "hmac-sha256$k$m" || cl.Public() {
		t.Fatalf("a client read from the shared cache lost its secret digest (it would be public): %+v %v", cl, err)
	}
	u, err := f.replicas[1].GetUser(ctx, "acme", "5")
	if err != nil || u.PasswordHash == "" {
		t.Fatalf("a user read from the shared cache lost its password digest: %+v %v", u, err)
	}
	if f.sources[1].userLoads.Load() != 0 {
		t.Fatal("the second replica read the store, not the shared cache")
	}
}

// TestSharedStaleRefillLoses: replica B loads version 1 from the store and
// is held before it fills the shared cache; replica A writes version 2 and
// invalidates; B then fills with version 1. The fill must lose: a third
// replica reads version 2.
func TestSharedStaleRefillLoses(t *testing.T) {
	f := newFleet(t, 3, memoryShared(t))
	ctx := context.Background()
	a, b, c := f.replicas[0], f.replicas[1], f.replicas[2]
	hold, started := make(chan struct{}), make(chan struct{})
	f.sources[1].mu.Lock()
	f.sources[1].hold, f.sources[1].started = hold, started
	f.sources[1].mu.Unlock()
	done := make(chan latch.User)
	go func() {
		u, _ := b.GetUser(ctx, "acme", "5")
		done <- u
	}()
	<-started
	if _, err := a.UpdateUser(ctx, "acme", "5", func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	close(hold)
	if stale := <-done; stale.Disabled {
		t.Fatal("the held reader should have loaded the old version")
	}
	u, err := c.GetUser(ctx, "acme", "5")
	if err != nil || !u.Disabled {
		t.Fatalf("the stale refill won: a third replica reads %+v", u)
	}
	e, ok, err := f.shared.Get(ctx, "u\x00acme\x005")
	if err == nil && ok && e.Version < 2 {
		t.Fatalf("the shared cache holds version %d", e.Version)
	}
}

func TestSharedRevocationsAreCachedAndReachReplicas(t *testing.T) {
	f := newFleet(t, 2, memoryShared(t))
	ctx := context.Background()
	a, b := f.replicas[0], f.replicas[1]
	if revoked, err := b.JTIRevoked(ctx, "j1"); err != nil || revoked {
		t.Fatal(revoked, err)
	}
	if err := a.RevokeJTI(ctx, latch.Revocation{JTI: "j1", Org: "acme", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the revocation reaches the other replica", func() bool {
		revoked, err := b.JTIRevoked(ctx, "j1")
		return err == nil && revoked
	})
	// Family revocations too, made on the store directly (as the token
	// endpoint does) and so reaching the shared cache through the feed of
	// the replica that made them.
	now := time.Now()
	if err := f.store.CreateFamily(ctx, latch.Family{ID: "f1", Org: "acme", ClientID: "app", Subject: "5", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if fam, err := b.GetFamily(ctx, "f1"); err != nil || fam.Revoked() {
		t.Fatal(fam, err)
	}
	if err := a.RevokeFamily(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the family revocation reaches the other replica", func() bool {
		fam, err := b.GetFamily(ctx, "f1")
		return err == nil && fam.Revoked()
	})
}

// brokenShared fails every call, as a Redis that is down would.
type brokenShared struct {
	sharedcache.Cache
	resets atomic.Int64
	down   atomic.Bool
}

var errDown = errors.New("connection refused")

func (b *brokenShared) Get(ctx context.Context, key string) (sharedcache.Entry, bool, error) {
	if b.down.Load() {
		return sharedcache.Entry{}, false, errDown
	}
	return b.Cache.Get(ctx, key)
}

func (b *brokenShared) Fill(ctx context.Context, key string, v uint64, value []byte) (bool, error) {
	if b.down.Load() {
		return false, errDown
	}
	return b.Cache.Fill(ctx, key, v, value)
}

func (b *brokenShared) FillFor(ctx context.Context, key string, v uint64, value []byte, ttl time.Duration) (bool, error) {
	if b.down.Load() {
		return false, errDown
	}
	return b.Cache.FillFor(ctx, key, v, value, ttl)
}

func (b *brokenShared) Invalidate(ctx context.Context, key string, v uint64) error {
	if b.down.Load() {
		return errDown
	}
	return b.Cache.Invalidate(ctx, key, v)
}

func (b *brokenShared) Publish(ctx context.Context, ch []latch.Change) error {
	if b.down.Load() {
		return errDown
	}
	return b.Cache.Publish(ctx, ch)
}

func (b *brokenShared) Reset(ctx context.Context) error {
	if b.down.Load() {
		return errDown
	}
	b.resets.Add(1)
	return b.Cache.Reset(ctx)
}

// TestSharedDownReadsThroughAndResetsAfter: with the shared cache down,
// reads go to the store and stay right; a write made meanwhile could not be
// invalidated, so the shared cache is reset before it is used again, and
// nobody reads the entry that write made stale.
func TestSharedDownReadsThroughAndResetsAfter(t *testing.T) {
	broken := &brokenShared{Cache: memoryShared(t)}
	f := newFleet(t, 2, broken)
	ctx := context.Background()
	a, b := f.replicas[0], f.replicas[1]
	if _, err := b.GetUser(ctx, "acme", "5"); err != nil { // fills the shared cache
		t.Fatal(err)
	}
	broken.down.Store(true)
	if _, err := a.UpdateUser(ctx, "acme", "5", func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	u, err := a.GetUser(ctx, "acme", "5")
	if err != nil || !u.Disabled {
		t.Fatalf("with the shared cache down: %+v %v", u, err)
	}
	broken.down.Store(false)
	// The shared cache still holds version 1; replica A lost its
	// invalidation and resets it as soon as it answers again; replica C,
	// which never saw anything, must not read version 1 after that.
	eventually(t, 2*time.Second, "the shared cache is reset after a lost invalidation", func() bool { return broken.resets.Load() > 0 })
	c := cache.New(&deaf{Store: f.store}, cache.Options{TTL: time.Hour, Shared: broken})
	defer c.Close()
	if u, err := c.GetUser(ctx, "acme", "5"); err != nil || !u.Disabled {
		t.Fatalf("a replica read the entry a lost invalidation left stale: %+v %v", u, err)
	}
}

func TestSharedKeysCoverEveryCachedKind(t *testing.T) {
	for _, ch := range []latch.Change{
		{Kind: latch.ChangeOrg, ID: "o"}, {Kind: latch.ChangeUser, Org: "o", ID: "u"}, {Kind: latch.ChangeRole, Org: "o", ID: "r"},
		{Kind: latch.ChangeClient, ID: "c"}, {Kind: latch.ChangeAudience, ID: "a"}, {Kind: latch.ChangeFamily, ID: "f"},
		{Kind: latch.ChangeToken, ID: "t"},
	} {
		keys, versions := cache.SharedKeys(ch)
		if len(keys) == 0 || len(keys) != len(versions) {
			t.Errorf("%+v: keys %v versions %v", ch, keys, versions)
		}
	}
	if _, v := cache.SharedKeys(latch.Change{Kind: latch.ChangeUser, Org: "o", ID: "u", Version: 7, Deleted: true}); v[0] != sharedcache.MaxVersion {
		t.Errorf("a deletion invalidates at %d", v[0])
	}
}
