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
// With a shared cache (package sharedcache: Redis for a fleet), it is the
// first of two levels: a miss here asks the shared cache before the store,
// a store read fills the shared cache at the version it read, this
// process's writes invalidate the shared cache at the version they wrote
// and publish the change, and the changes other replicas publish drop
// entries here. Entries carry versions, so a slow reader never writes an
// older item over a newer one (see sharedcache). When the shared cache fails
// (down, slow past its timeout), reads go to the store and the failure is
// counted and logged, at most every 10 s; when an invalidation could not be
// made, the shared cache is reset (a new generation) before it is used
// again, since the writes it missed are unknown.
//
// Revocation states (a JWT's jti, an opaque access token) are cached only
// with Options.Revocations: safe when every revocation reaches this cache
// at once (a single server, whose own writes drop the entries before they
// return, or a fleet sharing a cache whose messages carry them), and not
// for a fleet without one, where another server's revocation would wait
// for the TTL.
//
// What it must never do: serve an item after the write that changed it has
// returned on this server, cache an error or an absence, or grow without
// bound.
package cache

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/feed"
)

// Options configure a Store.
type Options struct {
	// TTL bounds how long an entry is served (default 5s).
	TTL time.Duration
	// MaxEntries bounds the number of entries (default 100,000).
	MaxEntries int
	Clock      latch.Clock
	// Shared is the second level, shared by the replicas (nil: none).
	Shared sharedcache.Cache
	// Revocations caches revocation states too (see the package comment);
	// always on with Shared.
	Revocations bool
	// Log receives the shared cache's failures (rate-limited).
	Log *slog.Logger
}

const shardCount = 64

// Store is a latch.Store with an in-process read cache. Methods it does not
// define are the underlying store's: writes are safe to pass through because
// invalidation comes from the change feed; the writes of cached kinds are
// also wrapped below so that they invalidate synchronously.
type Store struct {
	latch.Store
	ttl         time.Duration
	max         int
	clock       latch.Clock
	seed        maphash.Seed
	shards      [shardCount]shard
	revocations bool
	shared      *sharedLevel // nil without a shared cache
	m           metrics
	// remote carries the changes other replicas publish to Watch.
	remote *feed.Feed
	stop   context.CancelFunc
	done   sync.WaitGroup
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
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Store{
		Store: store, ttl: opts.TTL, max: opts.MaxEntries, clock: opts.Clock, seed: maphash.MakeSeed(),
		revocations: opts.Revocations || opts.Shared != nil, m: newMetrics(),
		remote: feed.New(256), stop: cancel,
	}
	for i := range c.shards {
		c.shards[i].entries = map[string]entry{}
	}
	if opts.Shared != nil {
		c.shared = &sharedLevel{cache: opts.Shared, log: opts.Log, m: &c.m, ctx: ctx, ttl: opts.TTL}
		remote := opts.Shared.Subscribe(ctx)
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for ch := range remote {
				c.apply(ch)
				c.remote.Publish([]latch.Change{ch})
			}
		}()
	}
	local := store.Watch(ctx)
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		for ch := range local {
			c.apply(ch)
			// Writes that did not go through this cache's methods (the
			// token endpoint writes to the store itself) reach the other
			// replicas from here.
			c.shared.forward(ctx, []latch.Change{ch})
		}
	}()
	return c
}

// Watch returns the store's changes from now on and, with a shared cache,
// those other replicas publish (so that, say, a key rotated elsewhere is
// reloaded at once).
func (c *Store) Watch(ctx context.Context) <-chan latch.Change {
	local := c.Store.Watch(ctx)
	if c.shared == nil {
		return local
	}
	remote := c.remote.Subscribe(ctx)
	out := make(chan latch.Change, 64)
	go func() {
		defer close(out)
		for local != nil || remote != nil {
			var ch latch.Change
			var ok bool
			select {
			case ch, ok = <-local:
				if !ok {
					local = nil
					continue
				}
			case ch, ok = <-remote:
				if !ok {
					remote = nil
					continue
				}
			}
			select {
			case out <- ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Close stops following the feeds and closes the underlying store (not the
// shared cache, which its opener closes).
func (c *Store) Close() error {
	c.stop()
	c.done.Wait()
	c.remote.Close()
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
	case latch.ChangeToken:
		// The id is a jti or an opaque token's digest.
		c.drop(jtiKey(ch.ID))
		c.drop(accessKey(ch.ID))
	case latch.ChangeReset:
		c.dropAll()
	}
}

func orgKey(id string) string        { return "o\x00" + id }
func userKey(org, id string) string  { return "u\x00" + org + "\x00" + id }
func roleKey(org, id string) string  { return "r\x00" + org + "\x00" + id }
func clientKey(id string) string     { return "c\x00" + id }
func audienceKey(id string) string   { return "a\x00" + id }
func familyKey(id string) string     { return "f\x00" + id }
func jtiKey(jti string) string       { return "j\x00" + jti }
func accessKey(digest string) string { return "t\x00" + digest }

// cached reads key through the cache: this process's entries, then the
// shared cache, then the store (load). Slices and maps inside cached items
// are shared between callers, who must treat results as read-only (the
// store's Update* hands fn its own copy).
func cached[T any](c *Store, ctx context.Context, key string, k kind[T], load func() (T, error)) (T, error) {
	hit, epoch, ok := c.get(key)
	if ok {
		c.m.hits.Inc()
		return hit.(T), nil
	}
	if v, ok := sharedGet(c.shared, ctx, key, k); ok {
		c.put(key, epoch, v)
		return v, nil
	}
	c.m.storeReads.Inc()
	v, err := load()
	if err != nil {
		return v, err
	}
	c.put(key, epoch, v)
	sharedFill(c.shared, ctx, key, k, v)
	return v, nil
}

// GetOrg is cached.
func (c *Store) GetOrg(ctx context.Context, id string) (latch.Org, error) {
	return cached(c, ctx, orgKey(id), orgKind, func() (latch.Org, error) { return c.Store.GetOrg(ctx, id) })
}

// GetClient is cached.
func (c *Store) GetClient(ctx context.Context, id string) (latch.Client, error) {
	return cached(c, ctx, clientKey(id), clientKind, func() (latch.Client, error) { return c.Store.GetClient(ctx, id) })
}

// GetUser is cached.
func (c *Store) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	return cached(c, ctx, userKey(org, id), userKind, func() (latch.User, error) { return c.Store.GetUser(ctx, org, id) })
}

// GetRole is cached.
func (c *Store) GetRole(ctx context.Context, org, id string) (latch.Role, error) {
	return cached(c, ctx, roleKey(org, id), roleKind, func() (latch.Role, error) { return c.Store.GetRole(ctx, org, id) })
}

// GetAudience is cached.
func (c *Store) GetAudience(ctx context.Context, id string) (latch.Audience, error) {
	return cached(c, ctx, audienceKey(id), audienceKind, func() (latch.Audience, error) { return c.Store.GetAudience(ctx, id) })
}

// GetFamily is cached; a family that expires while cached is absent, as the
// store would say.
func (c *Store) GetFamily(ctx context.Context, id string) (latch.Family, error) {
	f, err := cached(c, ctx, familyKey(id), familyKind, func() (latch.Family, error) { return c.Store.GetFamily(ctx, id) })
	if err == nil && !c.clock.Now().Before(f.ExpiresAt) {
		return latch.Family{}, latch.Errorf(latch.ENOTFOUND, "family not found")
	}
	return f, err
}

// ListFamilies is never cached, nor built from cached families: a user who
// signs a session out elsewhere must see it revoked at once, and a cached
// family learns of its revocation only when the change arrives.
func (c *Store) ListFamilies(ctx context.Context, org, subject string) ([]latch.Family, error) {
	return c.Store.ListFamilies(ctx, org, subject)
}

// JTIRevoked is cached with Options.Revocations (either answer: a
// revocation drops the entry before it returns here, and reaches other
// replicas through the shared cache).
func (c *Store) JTIRevoked(ctx context.Context, jti string) (bool, error) {
	if !c.revocations {
		return c.Store.JTIRevoked(ctx, jti)
	}
	return cached(c, ctx, jtiKey(jti), revokedKind, func() (bool, error) { return c.Store.JTIRevoked(ctx, jti) })
}

// GetAccessToken is cached with Options.Revocations; a token that expires
// while cached is absent, as the store would say.
func (c *Store) GetAccessToken(ctx context.Context, digest string) (latch.AccessToken, error) {
	if !c.revocations {
		return c.Store.GetAccessToken(ctx, digest)
	}
	t, err := cached(c, ctx, accessKey(digest), accessKind, func() (latch.AccessToken, error) { return c.Store.GetAccessToken(ctx, digest) })
	if err == nil && !c.clock.Now().Before(t.ExpiresAt) {
		return latch.AccessToken{}, latch.Errorf(latch.ENOTFOUND, "access token not found")
	}
	return t, err
}

// The writes of cached kinds invalidate before returning, so that this
// server reads its own writes without waiting for the feed, and (with a
// shared cache) so that no replica reads the old item from it once the
// write has returned.

// wrote drops key here and, after a successful write, tells the shared
// cache and the other replicas.
func (c *Store) wrote(ctx context.Context, key string, err error, ch latch.Change) {
	c.drop(key)
	if err == nil {
		c.shared.forward(ctx, []latch.Change{ch})
	}
}

func (c *Store) UpdateOrg(ctx context.Context, id string, fn func(*latch.Org) error) (latch.Org, error) {
	o, err := c.Store.UpdateOrg(ctx, id, fn)
	c.wrote(ctx, orgKey(id), err, latch.Change{Kind: latch.ChangeOrg, ID: id, Version: o.Version})
	return o, err
}

func (c *Store) DeleteOrg(ctx context.Context, id string) error {
	err := c.Store.DeleteOrg(ctx, id)
	c.wrote(ctx, orgKey(id), err, latch.Change{Kind: latch.ChangeOrg, ID: id, Deleted: true})
	return err
}

func (c *Store) UpdateUser(ctx context.Context, org, id string, fn func(*latch.User) error) (latch.User, error) {
	u, err := c.Store.UpdateUser(ctx, org, id, fn)
	c.wrote(ctx, userKey(org, id), err, latch.Change{Kind: latch.ChangeUser, Org: org, ID: id, Version: u.Version})
	return u, err
}

func (c *Store) DeleteUser(ctx context.Context, org, id string) error {
	err := c.Store.DeleteUser(ctx, org, id)
	c.wrote(ctx, userKey(org, id), err, latch.Change{Kind: latch.ChangeUser, Org: org, ID: id, Deleted: true})
	return err
}

func (c *Store) UpdateRole(ctx context.Context, org, id string, fn func(*latch.Role) error) (latch.Role, error) {
	r, err := c.Store.UpdateRole(ctx, org, id, fn)
	c.wrote(ctx, roleKey(org, id), err, latch.Change{Kind: latch.ChangeRole, Org: org, ID: id, Version: r.Version})
	return r, err
}

func (c *Store) DeleteRole(ctx context.Context, org, id string) error {
	err := c.Store.DeleteRole(ctx, org, id)
	c.wrote(ctx, roleKey(org, id), err, latch.Change{Kind: latch.ChangeRole, Org: org, ID: id, Deleted: true})
	return err
}

func (c *Store) UpdateClient(ctx context.Context, id string, fn func(*latch.Client) error) (latch.Client, error) {
	cl, err := c.Store.UpdateClient(ctx, id, fn)
	c.wrote(ctx, clientKey(id), err, latch.Change{Kind: latch.ChangeClient, Org: cl.Org, ID: id, Version: cl.Version})
	return cl, err
}

func (c *Store) DeleteClient(ctx context.Context, id string) error {
	err := c.Store.DeleteClient(ctx, id)
	c.wrote(ctx, clientKey(id), err, latch.Change{Kind: latch.ChangeClient, ID: id, Deleted: true})
	return err
}

func (c *Store) UpdateAudience(ctx context.Context, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
	a, err := c.Store.UpdateAudience(ctx, id, fn)
	c.wrote(ctx, audienceKey(id), err, latch.Change{Kind: latch.ChangeAudience, ID: id, Version: a.Version})
	return a, err
}

func (c *Store) DeleteAudience(ctx context.Context, id string) error {
	err := c.Store.DeleteAudience(ctx, id)
	c.wrote(ctx, audienceKey(id), err, latch.Change{Kind: latch.ChangeAudience, ID: id, Deleted: true})
	return err
}

func (c *Store) RevokeFamily(ctx context.Context, id string) error {
	err := c.Store.RevokeFamily(ctx, id)
	c.wrote(ctx, familyKey(id), err, latch.Change{Kind: latch.ChangeFamily, ID: id})
	return err
}

func (c *Store) RevokeJTI(ctx context.Context, r latch.Revocation) error {
	err := c.Store.RevokeJTI(ctx, r)
	c.wrote(ctx, jtiKey(r.JTI), err, latch.Change{Kind: latch.ChangeToken, Org: r.Org, ID: r.JTI})
	return err
}

func (c *Store) RevokeAccessToken(ctx context.Context, digest string) error {
	err := c.Store.RevokeAccessToken(ctx, digest)
	c.wrote(ctx, accessKey(digest), err, latch.Change{Kind: latch.ChangeToken, ID: digest, Deleted: true})
	return err
}
