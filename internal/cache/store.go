// Package cache keeps the store's hot items (orgs, clients, users, roles,
// audiences and refresh families) in process memory, behind the latch.Store
// interface, so that issuing and checking a token does not decode the same
// client and org from the store on every request.
//
// It is invalidated by the store's change feed, which every backend publishes
// after each durable write, and, for writes made through it, at once after
// the write returns (so a server reads its own writes). Entries also expire
// after a TTL, which bounds staleness should a change ever be missed. A
// reader that loaded an item while a change to it was published never puts
// its (possibly older) copy in the cache: each shard counts invalidations, and
// a load is cached only if the count did not move during it.
//
// What it must never do: serve an item after the write that changed it has
// returned on this server, cache an error or an absence, or grow without
// bound.
package cache

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"latch.dev/latch"
)

// Options configure a Store.
type Options struct {
	// TTL bounds how long an entry is served (default 5s).
	TTL time.Duration
	// MaxEntries bounds the number of entries (default 100,000).
	MaxEntries int
	Clock      latch.Clock
}

const shardCount = 64

// Store is a latch.Store with an in-process read cache. Methods it does not
// define are the underlying store's: writes are safe to pass through because
// invalidation comes from the change feed; the writes of cached kinds are
// also wrapped below so that they invalidate synchronously.
type Store struct {
	latch.Store
	ttl    time.Duration
	max    int
	clock  latch.Clock
	seed   maphash.Seed
	shards [shardCount]shard
	stop   context.CancelFunc
	done   chan struct{}
}

type shard struct {
	mu sync.RWMutex
	// epoch counts invalidations in this shard; see the package comment.
	epoch   uint64
	entries map[string]entry
}

type entry struct {
	value   any
	expires time.Time
}

var _ latch.Store = (*Store)(nil)

// New wraps store and starts following its change feed until Close.
func New(store latch.Store, opts Options) *Store {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Store{Store: store, ttl: opts.TTL, max: opts.MaxEntries, clock: opts.Clock, seed: maphash.MakeSeed(), stop: cancel, done: make(chan struct{})}
	for i := range c.shards {
		c.shards[i].entries = map[string]entry{}
	}
	feed := store.Watch(ctx)
	go func() {
		defer close(c.done)
		for ch := range feed {
			c.apply(ch)
		}
	}()
	return c
}

// Close stops following the feed and closes the underlying store.
func (c *Store) Close() error {
	c.stop()
	<-c.done
	return c.Store.Close()
}

func (c *Store) shard(key string) *shard {
	return &c.shards[maphash.String(c.seed, key)%shardCount]
}

func (c *Store) get(key string) (any, uint64, bool) {
	sh := c.shard(key)
	sh.mu.RLock()
	e, ok := sh.entries[key]
	epoch := sh.epoch
	sh.mu.RUnlock()
	if ok && c.clock.Now().Before(e.expires) {
		return e.value, epoch, true
	}
	return nil, epoch, false
}

// put caches v unless key's shard saw an invalidation since epoch was read.
func (c *Store) put(key string, epoch uint64, v any) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epoch != epoch {
		return
	}
	if len(sh.entries) >= c.max/shardCount {
		for k := range sh.entries { // evict an arbitrary entry
			delete(sh.entries, k)
			break
		}
	}
	sh.entries[key] = entry{value: v, expires: c.clock.Now().Add(c.ttl)}
}

func (c *Store) drop(key string) {
	sh := c.shard(key)
	sh.mu.Lock()
	sh.epoch++
	delete(sh.entries, key)
	sh.mu.Unlock()
}

func (c *Store) dropAll() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.epoch++
		clear(sh.entries)
		sh.mu.Unlock()
	}
}

func (c *Store) apply(ch latch.Change) {
	switch ch.Kind {
	case latch.ChangeOrg:
		c.drop(orgKey(ch.ID))
	case latch.ChangeUser:
		c.drop(userKey(ch.Org, ch.ID))
	case latch.ChangeRole:
		c.drop(roleKey(ch.Org, ch.ID))
	case latch.ChangeClient:
		c.drop(clientKey(ch.ID))
	case latch.ChangeAudience:
		c.drop(audienceKey(ch.ID))
	case latch.ChangeFamily:
		c.drop(familyKey(ch.ID))
	case latch.ChangeReset:
		c.dropAll()
	}
}

func orgKey(id string) string       { return "o\x00" + id }
func userKey(org, id string) string { return "u\x00" + org + "\x00" + id }
func roleKey(org, id string) string { return "r\x00" + org + "\x00" + id }
func clientKey(id string) string    { return "c\x00" + id }
func audienceKey(id string) string  { return "a\x00" + id }
func familyKey(id string) string    { return "f\x00" + id }

// cached reads key through the cache. Slices and maps inside cached items
// are shared between callers, who must treat results as read-only (the
// store's Update* hands fn its own copy).
func cached[T any](c *Store, key string, load func() (T, error)) (T, error) {
	hit, epoch, ok := c.get(key)
	if ok {
		return hit.(T), nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.put(key, epoch, v)
	return v, nil
}

// GetOrg is cached.
func (c *Store) GetOrg(ctx context.Context, id string) (latch.Org, error) {
	return cached(c, orgKey(id), func() (latch.Org, error) { return c.Store.GetOrg(ctx, id) })
}

// GetClient is cached.
func (c *Store) GetClient(ctx context.Context, id string) (latch.Client, error) {
	return cached(c, clientKey(id), func() (latch.Client, error) { return c.Store.GetClient(ctx, id) })
}

// GetUser is cached.
func (c *Store) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	return cached(c, userKey(org, id), func() (latch.User, error) { return c.Store.GetUser(ctx, org, id) })
}

// GetRole is cached.
func (c *Store) GetRole(ctx context.Context, org, id string) (latch.Role, error) {
	return cached(c, roleKey(org, id), func() (latch.Role, error) { return c.Store.GetRole(ctx, org, id) })
}

// GetAudience is cached.
func (c *Store) GetAudience(ctx context.Context, id string) (latch.Audience, error) {
	return cached(c, audienceKey(id), func() (latch.Audience, error) { return c.Store.GetAudience(ctx, id) })
}

// GetFamily is cached; a family that expires while cached is absent, as the
// store would say.
func (c *Store) GetFamily(ctx context.Context, id string) (latch.Family, error) {
	f, err := cached(c, familyKey(id), func() (latch.Family, error) { return c.Store.GetFamily(ctx, id) })
	if err == nil && !c.clock.Now().Before(f.ExpiresAt) {
		return latch.Family{}, latch.Errorf(latch.ENOTFOUND, "family not found")
	}
	return f, err
}

// The writes of cached kinds invalidate before returning, so that this
// server reads its own writes without waiting for the feed.

func (c *Store) UpdateOrg(ctx context.Context, id string, fn func(*latch.Org) error) (latch.Org, error) {
	defer c.drop(orgKey(id))
	return c.Store.UpdateOrg(ctx, id, fn)
}

func (c *Store) DeleteOrg(ctx context.Context, id string) error {
	defer c.drop(orgKey(id))
	return c.Store.DeleteOrg(ctx, id)
}

func (c *Store) UpdateUser(ctx context.Context, org, id string, fn func(*latch.User) error) (latch.User, error) {
	defer c.drop(userKey(org, id))
	return c.Store.UpdateUser(ctx, org, id, fn)
}

func (c *Store) DeleteUser(ctx context.Context, org, id string) error {
	defer c.drop(userKey(org, id))
	return c.Store.DeleteUser(ctx, org, id)
}

func (c *Store) UpdateRole(ctx context.Context, org, id string, fn func(*latch.Role) error) (latch.Role, error) {
	defer c.drop(roleKey(org, id))
	return c.Store.UpdateRole(ctx, org, id, fn)
}

func (c *Store) DeleteRole(ctx context.Context, org, id string) error {
	defer c.drop(roleKey(org, id))
	return c.Store.DeleteRole(ctx, org, id)
}

func (c *Store) UpdateClient(ctx context.Context, id string, fn func(*latch.Client) error) (latch.Client, error) {
	defer c.drop(clientKey(id))
	return c.Store.UpdateClient(ctx, id, fn)
}

func (c *Store) DeleteClient(ctx context.Context, id string) error {
	defer c.drop(clientKey(id))
	return c.Store.DeleteClient(ctx, id)
}

func (c *Store) UpdateAudience(ctx context.Context, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
	defer c.drop(audienceKey(id))
	return c.Store.UpdateAudience(ctx, id, fn)
}

func (c *Store) DeleteAudience(ctx context.Context, id string) error {
	defer c.drop(audienceKey(id))
	return c.Store.DeleteAudience(ctx, id)
}

func (c *Store) RevokeFamily(ctx context.Context, id string) error {
	defer c.drop(familyKey(id))
	return c.Store.RevokeFamily(ctx, id)
}
