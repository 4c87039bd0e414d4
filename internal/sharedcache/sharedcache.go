// Package sharedcache is the cache that the replicas of a fleet share (Redis),
// and an in-process implementation of the same contract (Memory) for a single
// server and for tests. It holds versioned entries and carries change
// messages between replicas; package cache builds the two-level cache of a
// server on it (its own in-process entries in front, this behind).
//
// # Versions
//
// Every entry carries the version of the item it was read at (the store's
// Version of an org, user, role, client or audience; 0 or 1 for a family or
// a token's revocation state: live, then revoked). A reader that read the
// store fills the cache with what it read (Fill); a writer, after its write
// is durable, invalidates the key at the version it wrote (Invalidate),
// which leaves a tombstone. Fill never replaces a newer entry, nor a
// tombstone of a newer version: a slow reader that read the store before a
// write and fills after the writer's Invalidate loses (the "delete, then
// stale refill" race). Tombstones expire after TombstoneTTL, which must be
// longer than any read of the store takes. A tombstone at version v admits
// a fill at v (the writer's own version, read back by a fresh reader), and
// an entry that replaces a tombstone lives at least as long as the
// tombstone would have, so that it goes on refusing what the tombstone
// refused even when EntryTTL is the shorter. Versions are below MaxVersion
// (2^53, exact in Lua's numbers); a fill at MaxVersion or an invalidation
// above it is an error.
//
// # Generations
//
// Reset starts a new generation: every entry written before it is gone for
// every replica. A replica that could not invalidate (the shared cache was
// down when it wrote) must Reset before it uses the cache again, since it
// cannot know which entries its writes made stale.
//
// A Reset drops the tombstones with the entries: a read of the store that
// began before it and missed the write the Reset stands for can still fill
// what it read, and so can one that began before a Redis without
// persistence restarted empty. The window is that of one read of the store;
// closing it would take refusing every fill for TombstoneTTL after either.
//
// # Messages
//
// Publish sends changes to every replica's Subscribe channel (its own
// included). A subscriber that may have missed messages (a reconnection, a
// full buffer) receives latch.ChangeReset and must drop everything it holds
// in process.
//
// # Redis
//
// Redis holds the generation in latch:gen, each entry in the hash
// latch:<generation>:<key> ({v: version, d: value}, or {v: version, t: "1"}
// for a tombstone) with a TTL, and carries messages on the channel
// latch:changes as the JSON of []latch.Change (a Reset publishes
// [{"kind":"reset"}]). Get, Fill and Invalidate are each one Lua script,
// one round trip, which also checks the generation, so that a replica that
// has not heard of a Reset yet neither reads nor fills the old one. Redis
// must not evict these keys before they expire (maxmemory-policy
// noeviction, or memory to spare): an evicted tombstone lets the stale fill
// it was there to refuse through. Memory, which must evict, refuses every
// fill until an evicted tombstone would have expired.
package sharedcache

import (
	"context"
	"time"

	"latch.dev/latch"
)

// MaxVersion invalidates every version: for deletions, whose next version
// is unknown. A key so invalidated is not filled again until its tombstone
// expires.
const MaxVersion = uint64(1) << 53

// Entry is what Get found.
type Entry struct {
	Value   []byte
	Version uint64
}

// Cache is the contract both implementations keep; sharedcachetest checks it.
// Every method is bounded by the implementation's timeout and returns an
// error (never a stale or invented entry) when the cache cannot answer.
type Cache interface {
	// Get returns the live entry under key; ok is false when there is none
	// (never written, expired, or a tombstone).
	Get(ctx context.Context, key string) (e Entry, ok bool, err error)
	// Fill stores value at version under key unless the key holds a live
	// entry of the same or a newer version, or a tombstone of a newer
	// version. It reports whether it stored.
	Fill(ctx context.Context, key string, version uint64, value []byte) (stored bool, err error)
	// FillFor is Fill with the entry's lifetime ttl instead of EntryTTL
	// (ttl <= 0: EntryTTL). Short lives bound what a lost invalidation can
	// leave behind: a writer cut off from the cache cannot invalidate, and
	// what it changed is then honoured when the entry expires.
	FillFor(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (stored bool, err error)
	// Invalidate replaces whatever key holds below version with a tombstone
	// at version; a live entry at version or newer is kept.
	Invalidate(ctx context.Context, key string, version uint64) error
	// Reset starts a new generation (see the package comment) and tells
	// every subscriber (latch.ChangeReset).
	Reset(ctx context.Context) error
	// Publish sends changes to every subscriber.
	Publish(ctx context.Context, changes []latch.Change) error
	// Subscribe returns the changes published from now on, and
	// latch.ChangeReset whenever some may have been missed; the channel is
	// closed when ctx is done.
	Subscribe(ctx context.Context) <-chan latch.Change
	// Ping reports whether the cache answers.
	Ping(ctx context.Context) error
	Close() error
}

// Options configure an implementation.
type Options struct {
	// EntryTTL bounds how long an entry lives (default 60 s): the bound on
	// staleness should a writer die between its store write and its
	// Invalidate.
	EntryTTL time.Duration
	// TombstoneTTL is how long an invalidation blocks older fills
	// (default 60 s).
	TombstoneTTL time.Duration
	// Timeout bounds every call (default 50 ms for Redis).
	Timeout time.Duration
	// MaxEntries bounds Memory (default 100,000).
	MaxEntries int
	Clock      latch.Clock
}
