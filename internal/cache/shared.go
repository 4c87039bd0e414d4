package cache

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"latch.dev/latch"
	metric "latch.dev/latch/internal/metrics"
	"latch.dev/latch/internal/sharedcache"
)

// kind says how one kind of cached item is stored in the shared cache: its
// version (see sharedcache) and its encoding, which keeps the digests the
// domain types hide from JSON (User.PasswordHash, Client.SecretHash): the
// shared cache holds the records the store holds, since the cached store
// serves paths that verify them (see the README on securing Redis).
type kind[T any] struct {
	version func(*T) uint64
	encode  func(*T) ([]byte, error)
	decode  func([]byte) (T, error)
	// revocation marks revocation states (a family, a jti, an opaque
	// token): they live in the shared cache only as long as in process, so
	// that a revocation whose invalidation was lost (a writer cut off from
	// Redis) is honoured by every replica within twice the in-process TTL.
	revocation bool
}

func jsonKind[T any](version func(*T) uint64) kind[T] {
	return kind[T]{
		version: version,
		encode:  func(v *T) ([]byte, error) { return json.Marshal(v) },
		decode: func(b []byte) (T, error) {
			var v T
			err := json.Unmarshal(b, &v)
			return v, err
		},
	}
}

type userRecord struct {
	latch.User
	PasswordHash string `json:"password_hash,omitempty"`
}

type clientRecord struct {
	latch.Client
	SecretHash string `json:"secret_hash,omitempty"`
}

var (
	orgKind      = jsonKind(func(o *latch.Org) uint64 { return o.Version })
	roleKind     = jsonKind(func(r *latch.Role) uint64 { return r.Version })
	audienceKind = jsonKind(func(a *latch.Audience) uint64 { return a.Version })
	userKind     = kind[latch.User]{
		version: func(u *latch.User) uint64 { return u.Version },
		encode:  func(u *latch.User) ([]byte, error) { return json.Marshal(userRecord{*u, u.PasswordHash}) },
		decode: func(b []byte) (latch.User, error) {
			var r userRecord
			err := json.Unmarshal(b, &r)
			r.User.PasswordHash = r.PasswordHash
			return r.User, err
		},
	}
	clientKind = kind[latch.Client]{
		version: func(c *latch.Client) uint64 { return c.Version },
		encode:  func(c *latch.Client) ([]byte, error) { return json.Marshal(clientRecord{*c, c.SecretHash}) },
		decode: func(b []byte) (latch.Client, error) {
			var r clientRecord
			err := json.Unmarshal(b, &r)
			r.Client.SecretHash = r.SecretHash
			return r.Client, err
		},
	}
	// A family only changes once: live (0), then revoked (1).
	familyKind = revocationKind(func(f *latch.Family) uint64 {
		if f.Revoked() {
			return 1
		}
		return 0
	})
	// A jti is not revoked (0), then revoked (1).
	revokedKind = revocationKind(func(r *bool) uint64 {
		if *r {
			return 1
		}
		return 0
	})
	// An opaque token exists until it is revoked (deleted).
	accessKind = revocationKind(func(*latch.AccessToken) uint64 { return 0 })
)

func revocationKind[T any](version func(*T) uint64) kind[T] {
	k := jsonKind(version)
	k.revocation = true
	return k
}

// SharedKeys are the shared-cache keys a change makes stale, with the
// version to invalidate them at. The stream Lambda uses it for the changes
// it reads from Latch's table, so it must agree with the kinds above.
func SharedKeys(ch latch.Change) (keys []string, versions []uint64) {
	v := ch.Version
	if ch.Deleted {
		v = sharedcache.MaxVersion
	}
	switch ch.Kind {
	case latch.ChangeOrg:
		return []string{orgKey(ch.ID)}, []uint64{v}
	case latch.ChangeUser:
		return []string{userKey(ch.Org, ch.ID)}, []uint64{v}
	case latch.ChangeRole:
		return []string{roleKey(ch.Org, ch.ID)}, []uint64{v}
	case latch.ChangeClient:
		return []string{clientKey(ch.ID)}, []uint64{v}
	case latch.ChangeAudience:
		return []string{audienceKey(ch.ID)}, []uint64{v}
	case latch.ChangeFamily:
		// Published on revocation; a deleted family is absent for good.
		if !ch.Deleted {
			v = 1
		}
		return []string{familyKey(ch.ID)}, []uint64{v}
	case latch.ChangeToken:
		// The id is a jti (now revoked) or an opaque token's digest (now
		// deleted): both keys, as the in-process cache drops both.
		return []string{jtiKey(ch.ID), accessKey(ch.ID)}, []uint64{1, sharedcache.MaxVersion}
	}
	return nil, nil
}

// sharedLevel is the shared cache as this process uses it: failures are
// counted and logged at most every 10 s, and an invalidation that could not
// be made stops this process from using the shared cache until it has reset
// it, which a background loop retries every 200 ms: the writes whose
// invalidation was lost are unknown, and other replicas would read what
// they made stale.
type sharedLevel struct {
	cache sharedcache.Cache
	log   *slog.Logger
	m     *metrics
	ctx   context.Context // the cache's life
	ttl   time.Duration   // the in-process TTL: the shared life of revocation states

	mu        sync.Mutex
	mustReset bool
	lastLog   time.Time
}

const (
	failureLogEvery = 10 * time.Second
	resetRetryEvery = 200 * time.Millisecond
)

func (s *sharedLevel) failed(op string, err error, needsReset bool) {
	s.m.sharedErrors.WithLabelValues(op).Inc()
	s.mu.Lock()
	startLoop := needsReset && !s.mustReset
	if needsReset {
		s.mustReset = true
	}
	logNow := time.Since(s.lastLog) >= failureLogEvery
	if logNow {
		s.lastLog = time.Now()
	}
	s.mu.Unlock()
	if logNow {
		s.log.Warn("shared cache unavailable: reading through to the store", "op", op, "err", err.Error(), "reset_pending", needsReset)
	}
	if startLoop {
		go s.resetLoop()
	}
}

func (s *sharedLevel) resetLoop() {
	t := time.NewTicker(resetRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if err := s.cache.Reset(s.ctx); err != nil {
			s.m.sharedErrors.WithLabelValues("reset").Inc()
			continue
		}
		s.mu.Lock()
		s.mustReset = false
		s.mu.Unlock()
		s.log.Info("shared cache reset after a lost invalidation")
		return
	}
}

// ready reports whether the shared cache may be used now.
func (s *sharedLevel) ready() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.mustReset
}

func sharedGet[T any](s *sharedLevel, ctx context.Context, key string, k kind[T]) (T, bool) {
	var zero T
	if !s.ready() {
		return zero, false
	}
	e, ok, err := s.cache.Get(ctx, key)
	if err != nil {
		s.failed("get", err, false)
		return zero, false
	}
	if !ok {
		s.m.sharedMisses.Inc()
		return zero, false
	}
	v, err := k.decode(e.Value)
	if err != nil {
		s.failed("decode", err, false)
		return zero, false
	}
	s.m.sharedHits.Inc()
	return v, true
}

func sharedFill[T any](s *sharedLevel, ctx context.Context, key string, k kind[T], v T) {
	if !s.ready() {
		return
	}
	b, err := k.encode(&v)
	if err != nil {
		s.failed("encode", err, false)
		return
	}
	var life time.Duration // the shared cache's own
	if k.revocation {
		life = s.ttl
	}
	if _, err := s.cache.FillFor(ctx, key, k.version(&v), b, life); err != nil {
		s.failed("fill", err, false)
	}
}

// forward makes what changes touched stale in the shared cache and tells
// the other replicas. A lost step makes the next use reset the cache.
func (s *sharedLevel) forward(ctx context.Context, changes []latch.Change) {
	if s == nil {
		return
	}
	// The caller's request may end now; the invalidation must not. While a
	// reset is pending, the reset covers these changes too.
	if !s.ready() {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if err := Forward(ctx, s.cache, changes); err != nil {
		s.failed("invalidate", err, true)
	}
}

// Forward invalidates in shared what changes made stale and publishes them:
// what a writer does after its store write (the stream Lambda too). A
// ChangeReset (changes were missed) resets the shared cache.
func Forward(ctx context.Context, shared sharedcache.Cache, changes []latch.Change) error {
	var publish []latch.Change
	for _, ch := range changes {
		if ch.Kind == latch.ChangeReset {
			if err := shared.Reset(ctx); err != nil {
				return err
			}
			continue
		}
		keys, versions := SharedKeys(ch)
		for i, k := range keys {
			if err := shared.Invalidate(ctx, k, versions[i]); err != nil {
				return err
			}
		}
		publish = append(publish, ch)
	}
	if len(publish) == 0 {
		return nil
	}
	return shared.Publish(ctx, publish)
}

// Invalidator adapts Forward to the stream handler's Invalidator.
type Invalidator struct{ Shared sharedcache.Cache }

// Invalidate forwards changes read from Latch's table's stream.
func (i Invalidator) Invalidate(ctx context.Context, changes []latch.Change) error {
	return Forward(ctx, i.Shared, changes)
}

type metrics struct {
	hits, sharedHits, sharedMisses, storeReads metric.Counter
	sharedErrors                               metric.CounterVec
}

// RegisterMetrics adds the cache's metrics to the server's registry.
func (c *Store) RegisterMetrics(r *metric.Registry) {
	r.Register(c.m.hits, c.m.sharedHits, c.m.sharedMisses, c.m.storeReads, c.m.sharedErrors)
}

func newMetrics() metrics {
	return metrics{
		hits:         metric.NewCounter("latch_cache_hits_total", "Reads answered by the in-process cache."),
		sharedHits:   metric.NewCounter("latch_cache_shared_hits_total", "Reads answered by the shared cache (Redis)."),
		sharedMisses: metric.NewCounter("latch_cache_shared_misses_total", "Reads the shared cache did not have."),
		storeReads:   metric.NewCounter("latch_cache_store_reads_total", "Cached kinds read from the store."),
		sharedErrors: metric.NewCounterVec("latch_cache_shared_errors_total", "Shared cache calls that failed (the read went to the store).", "op"),
	}
}
