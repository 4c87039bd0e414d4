package sharedcache

import (
	"container/list"
	"context"
	"sync"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/feed"
)

const (
	defaultEntryTTL     = 60 * time.Second
	defaultTombstoneTTL = 60 * time.Second
	defaultMaxEntries   = 100_000
	// subscriberBuffer is how many changes a subscriber may fall behind
	// before it gets a ChangeReset instead: the store's change feed keeps
	// about as many, and a reset costs a replica its whole in-process cache.
	subscriberBuffer = 1024
)

// withDefaults fills in what opts leaves out; timeout is the
// implementation's default Timeout.
func (opts Options) withDefaults(timeout time.Duration) Options {
	if opts.EntryTTL <= 0 {
		opts.EntryTTL = defaultEntryTTL
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = defaultTombstoneTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = timeout
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = defaultMaxEntries
	}
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	return opts
}

// checkFill rejects versions the rules cannot order: a fill at MaxVersion
// would pass a MaxVersion tombstone (a tombstone admits its own version).
func checkFill(version uint64) error {
	if version >= MaxVersion {
		return latch.Errorf(latch.EINVALID, "sharedcache: fill version %d is not below MaxVersion", version)
	}
	return nil
}

func checkInvalidate(version uint64) error {
	if version > MaxVersion {
		return latch.Errorf(latch.EINVALID, "sharedcache: invalidate version %d is above MaxVersion", version)
	}
	return nil
}

var errClosed = latch.Errorf(latch.EUNAVAILABLE, "sharedcache: closed")

// Memory is the shared cache of a single server (and of tests): the same
// rules as Redis, in process. It holds at most MaxEntries keys, evicting
// the least recently used entry first; a tombstone is evicted only when no
// entry is left, and then every Fill is refused until that tombstone would
// have expired, since forgetting it silently would let the stale fill it
// blocks through.
type Memory struct {
	opts Options
	feed *feed.Feed

	mu     sync.Mutex
	items  map[string]*list.Element // of *memItem, in live or dead
	live   *list.List               // entries, most recently used first
	dead   *list.List               // tombstones, oldest first
	fence  time.Time                // fills are refused before this
	closed bool
}

type memItem struct {
	key     string
	version uint64
	value   []byte
	tomb    bool
	expires time.Time
}

var _ Cache = (*Memory)(nil)

// NewMemory returns an empty in-process cache. Options.Timeout is unused:
// no call waits for anything but a mutex.
func NewMemory(opts Options) *Memory {
	return &Memory{
		opts:  opts.withDefaults(0),
		feed:  feed.New(subscriberBuffer),
		items: make(map[string]*list.Element),
		live:  list.New(),
		dead:  list.New(),
	}
}

// lookup returns the unexpired item under key, dropping an expired one.
// m.mu is held.
func (m *Memory) lookup(key string, now time.Time) *memItem {
	el := m.items[key]
	if el == nil {
		return nil
	}
	it := el.Value.(*memItem)
	if !now.Before(it.expires) {
		m.remove(el)
		return nil
	}
	return it
}

func (m *Memory) remove(el *list.Element) {
	it := el.Value.(*memItem)
	delete(m.items, it.key)
	if it.tomb {
		m.dead.Remove(el)
	} else {
		m.live.Remove(el)
	}
}

// insert adds it (whose key is absent), making room first. m.mu is held.
func (m *Memory) insert(it *memItem, now time.Time) {
	for len(m.items) >= m.opts.MaxEntries {
		m.evict(now)
	}
	if it.tomb {
		m.items[it.key] = m.dead.PushBack(it)
	} else {
		m.items[it.key] = m.live.PushFront(it)
	}
}

// evict drops one item: an expired tombstone if the oldest is one, else
// the least recently used entry, else the oldest tombstone, raising the
// fence to its expiry.
func (m *Memory) evict(now time.Time) {
	if el := m.dead.Front(); el != nil && !now.Before(el.Value.(*memItem).expires) {
		m.remove(el)
		return
	}
	if el := m.live.Back(); el != nil {
		m.remove(el)
		return
	}
	el := m.dead.Front()
	if exp := el.Value.(*memItem).expires; exp.After(m.fence) {
		m.fence = exp
	}
	m.remove(el)
}

// Get returns the live entry under key.
func (m *Memory) Get(ctx context.Context, key string) (Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Entry{}, false, errClosed
	}
	it := m.lookup(key, now)
	if it == nil || it.tomb {
		return Entry{}, false, nil
	}
	m.live.MoveToFront(m.items[key])
	return Entry{Value: clone(it.value), Version: it.version}, true, nil
}

// Fill stores value at version under key as the package rules allow. An
// entry that replaces a tombstone lives at least as long as the tombstone
// would have, so that it keeps refusing the fills the tombstone refused.
func (m *Memory) Fill(ctx context.Context, key string, version uint64, value []byte) (bool, error) {
	return m.FillFor(ctx, key, version, value, 0)
}

// FillFor is Fill with the entry's own lifetime (EntryTTL when ttl <= 0).
func (m *Memory) FillFor(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		ttl = m.opts.EntryTTL
	}
	if err := checkFill(version); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	if now.Before(m.fence) {
		return false, nil
	}
	expires := now.Add(ttl)
	if it := m.lookup(key, now); it != nil {
		switch {
		case it.tomb && it.version > version, !it.tomb && it.version >= version:
			return false, nil
		case it.tomb && it.expires.After(expires):
			expires = it.expires
		}
		m.remove(m.items[key])
	}
	m.insert(&memItem{key: key, version: version, value: clone(value), expires: expires}, now)
	return true, nil
}

// Invalidate leaves a tombstone at version unless key holds something at
// version or newer.
func (m *Memory) Invalidate(ctx context.Context, key string, version uint64) error {
	if err := checkInvalidate(version); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	if it := m.lookup(key, now); it != nil {
		if it.version >= version {
			return nil
		}
		m.remove(m.items[key])
	}
	m.insert(&memItem{key: key, version: version, tomb: true, expires: now.Add(m.opts.TombstoneTTL)}, now)
	return nil
}

// Reset drops every entry and tombstone and sends ChangeReset to every
// subscriber.
func (m *Memory) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	clear(m.items)
	m.live.Init()
	m.dead.Init()
	m.fence = time.Time{}
	m.mu.Unlock()
	m.feed.Publish([]latch.Change{{Kind: latch.ChangeReset}})
	return nil
}

// Publish sends changes to every subscriber, in order; it never blocks on
// a slow one.
func (m *Memory) Publish(ctx context.Context, changes []latch.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.isClosed() {
		return errClosed
	}
	m.feed.Publish(changes)
	return nil
}

// Subscribe returns the changes published from now on; the channel is
// closed when ctx is done or the cache is closed.
func (m *Memory) Subscribe(ctx context.Context) <-chan latch.Change {
	return m.feed.Subscribe(ctx)
}

// Ping fails only once the cache is closed.
func (m *Memory) Ping(ctx context.Context) error {
	if m.isClosed() {
		return errClosed
	}
	return ctx.Err()
}

// Close closes every subscriber's channel; later calls fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.feed.Close()
	return nil
}

func (m *Memory) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// clone copies b so that neither the caller nor the cache sees the other's
// later writes. An empty value comes back empty and non-nil, as from Redis.
func clone(b []byte) []byte {
	return append([]byte{}, b...)
}
