// Package feed is the in-process change feed of the store backends: it fans
// the changes of acknowledged writes out to the subscribers of Watch without
// ever blocking a writer. A subscriber that falls behind gets one
// latch.ChangeReset in place of what it missed. It must never drop a change
// without leaving a reset in its place.
package feed

import (
	"context"
	"sync"

	"latch.dev/latch"
)

// Feed fans acknowledged changes out to the subscribers of Watch.
// Publishing never blocks: a subscriber whose buffer is full gets one
// ChangeReset, which always has a slot kept for it, in place of the changes
// it misses.
type Feed struct {
	size   int
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch        chan latch.Change
	lastReset bool // the newest item in ch is a ChangeReset
	stop      func() bool
}

// New returns a feed whose subscribers buffer size changes each (at least 2).
func New(size int) *Feed {
	return &Feed{size: max(size, 2), subs: make(map[*subscriber]struct{})}
}

// Subscribe returns a channel of the changes published from now on, closed
// when ctx is done or the feed is closed.
func (f *Feed) Subscribe(ctx context.Context) <-chan latch.Change {
	sub := &subscriber{ch: make(chan latch.Change, f.size)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || ctx.Err() != nil {
		close(sub.ch)
		return sub.ch
	}
	f.subs[sub] = struct{}{}
	sub.stop = context.AfterFunc(ctx, func() { f.unsubscribe(sub) })
	return sub.ch
}

func (f *Feed) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[sub]; ok {
		delete(f.subs, sub)
		close(sub.ch)
	}
}

// Publish sends changes to every subscriber; call it after the write is
// durable.
func (f *Feed) Publish(changes []latch.Change) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		for _, c := range changes {
			sub.send(c)
		}
	}
}

// send is called with f.mu held; only the publisher adds to ch, so a length
// below capacity guarantees the send does not block.
func (sub *subscriber) send(c latch.Change) {
	n := len(sub.ch)
	switch {
	case n < cap(sub.ch)-1:
		sub.ch <- c
		sub.lastReset = false
	case !sub.lastReset && n < cap(sub.ch):
		// The reset stays queued behind the changes the subscriber has not
		// read yet; everything dropped until it is read is covered by it,
		// since those writes committed before the subscriber acts on it.
		sub.ch <- latch.Change{Kind: latch.ChangeReset}
		sub.lastReset = true
	}
}

// Close closes every subscriber's channel; later subscriptions get a closed
// channel.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for sub := range f.subs {
		delete(f.subs, sub)
		sub.stop()
		close(sub.ch)
	}
}
