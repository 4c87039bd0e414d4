package dynamodb

import (
	"context"
	"sync"

	"latch.dev/latch"
)

// feed fans acknowledged writes out to the subscribers of Watch. Publishing
// never blocks: a subscriber whose buffer is full gets one ChangeReset, which
// always has a slot kept for it, in place of the changes it misses.
type feed struct {
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

func newFeed(size int) *feed {
	return &feed{size: size, subs: make(map[*subscriber]struct{})}
}

func (f *feed) subscribe(ctx context.Context) <-chan latch.Change {
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

func (f *feed) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[sub]; ok {
		delete(f.subs, sub)
		close(sub.ch)
	}
}

func (f *feed) publish(changes []latch.Change) {
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

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for sub := range f.subs {
		delete(f.subs, sub)
		sub.stop()
		close(sub.ch)
	}
}
