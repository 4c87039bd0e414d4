package feed_test

import (
	"slices"
	"strconv"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/feed"
)

// TestFeedOverflow checks the reset slot directly: a full buffer ends with a
// reset, later changes are dropped until the subscriber reads, and then flow
// again behind the reset.
func TestFeedOverflow(t *testing.T) {
	f := feed.New(4)
	ch := f.Subscribe(t.Context())
	for i := range 10 {
		f.Publish([]latch.Change{{Kind: latch.ChangeOrg, ID: strconv.Itoa(i)}})
	}
	var got []string
	for range 4 {
		c := <-ch
		got = append(got, c.Kind+":"+c.ID)
	}
	if want := []string{"org:0", "org:1", "org:2", "reset:"}; !slices.Equal(got, want) {
		t.Fatalf("buffer = %v, want %v", got, want)
	}
	f.Publish([]latch.Change{{Kind: latch.ChangeOrg, ID: "after"}})
	if c := <-ch; c.ID != "after" {
		t.Fatalf("after draining got %+v, want the next change", c)
	}
	f.Close()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after close")
	}
}
