package sharedcache_test

import (
	"strconv"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/sharedcache/sharedcachetest"
)

func TestMemory(t *testing.T) {
	sharedcachetest.Run(t, func(t *testing.T, opts sharedcache.Options) sharedcache.Cache {
		m := sharedcache.NewMemory(opts)
		t.Cleanup(func() { _ = m.Close() })
		return m
	})
}

// TestMemoryEvictsLeastRecentlyUsed: a full cache drops the entry read
// least recently.
func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := t.Context()
	m := sharedcache.NewMemory(sharedcache.Options{MaxEntries: 3})
	for i := range 3 {
		if _, err := m.Fill(ctx, "k"+strconv.Itoa(i), 1, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := m.Get(ctx, "k0"); !ok { // k1 is now the least recently used
		t.Fatal("k0 missing before any eviction")
	}
	if stored, _ := m.Fill(ctx, "k3", 1, []byte("v")); !stored {
		t.Fatal("k3 not stored")
	}
	for key, want := range map[string]bool{"k0": true, "k1": false, "k2": true, "k3": true} {
		if _, ok, _ := m.Get(ctx, key); ok != want {
			t.Errorf("after eviction, %s present = %v, want %v", key, ok, want)
		}
	}
}

// TestMemoryTombstonesOutliveEntries: eviction takes entries before
// tombstones, and a tombstone evicted before it expires blocks every fill
// until it would have expired, so that no stale fill gets through.
func TestMemoryTombstonesOutliveEntries(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m := sharedcache.NewMemory(sharedcache.Options{MaxEntries: 2, TombstoneTTL: time.Minute, Clock: clock})
	if err := m.Invalidate(ctx, "t1", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fill(ctx, "e1", 1, []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Full: the entry goes, not the tombstone.
	clock.Advance(time.Second)
	if err := m.Invalidate(ctx, "t2", 5); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "e1"); ok {
		t.Fatal("the entry survived; a tombstone was evicted instead")
	}
	if stored, _ := m.Fill(ctx, "t1", 4, []byte("stale")); stored {
		t.Fatal("a stale fill passed t1's tombstone")
	}
	// Only tombstones left: t1 goes, and with it every fill for the rest
	// of its life.
	if err := m.Invalidate(ctx, "t3", 5); err != nil {
		t.Fatal(err)
	}
	if stored, _ := m.Fill(ctx, "t1", 4, []byte("stale")); stored {
		t.Fatal("a stale fill passed t1's evicted tombstone")
	}
	if stored, _ := m.Fill(ctx, "other", 1, []byte("v")); stored {
		t.Fatal("a fill passed while an evicted tombstone could still matter")
	}
	clock.Advance(time.Minute)
	if stored, _ := m.Fill(ctx, "other", 1, []byte("v")); !stored {
		t.Fatal("fills still refused after the evicted tombstone's expiry")
	}
}

// TestMemorySlowSubscriber: a subscriber that does not read gets a reset in
// place of what it missed, and the publisher never blocks.
func TestMemorySlowSubscriber(t *testing.T) {
	ctx := t.Context()
	m := sharedcache.NewMemory(sharedcache.Options{})
	defer m.Close()
	ch := m.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5000 {
			_ = m.Publish(ctx, []latch.Change{{Kind: latch.ChangeUser, ID: strconv.Itoa(i)}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	var last latch.Change
	for len(ch) > 0 {
		last = <-ch
	}
	if last.Kind != latch.ChangeReset {
		t.Fatalf("the full buffer ends with %+v, want a reset", last)
	}
}
