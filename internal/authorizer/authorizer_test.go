package authorizer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/store/bolt"
)

// tokens maps a bearer string to its principal: a fake verifier for unit
// tests (the real one is tested with the server).
type tokens map[string]oauth.TokenInfo

func (t tokens) VerifyAccessToken(_ context.Context, raw string) (oauth.TokenInfo, error) {
	if ti, ok := t[raw]; ok {
		return ti, nil
	}
	return oauth.TokenInfo{}, latch.Errorf(latch.EUNAUTHORIZED, "invalid token")
}

// slowStore can hold GetUser after it has read, to build the stale-refill race.
type slowStore struct {
	latch.Store
	mu      sync.Mutex
	hold    chan struct{}
	started chan struct{}
}

func (s *slowStore) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	u, err := s.Store.GetUser(ctx, org, id)
	s.mu.Lock()
	hold, started := s.hold, s.started
	s.hold = nil
	s.mu.Unlock()
	if hold != nil {
		close(started)
		<-hold
	}
	return u, err
}

func setup(t *testing.T, users int) (*slowStore, tokens) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.CreateOrg(ctx, latch.Org{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	tk := tokens{}
	for i := range users {
		id := fmt.Sprint(i)
		if err := st.CreateUser(ctx, latch.User{Org: "acme", ID: id, Username: "u" + id, Allow: []string{"GET /api/employee/{sub}/**"}}); err != nil {
			t.Fatal(err)
		}
		tk["t"+id] = oauth.TokenInfo{Org: "acme", Subject: id, ClientID: "app", SubjectType: latch.SubjectUser}
	}
	return &slowStore{Store: st}, tk
}

func TestStalePolicyIsNotCached(t *testing.T) {
	st, tk := setup(t, 1)
	a := authorizer.New(tk, st, authorizer.Options{})
	defer a.Close()
	ctx := context.Background()
	hold, started := make(chan struct{}), make(chan struct{})
	st.mu.Lock()
	st.hold, st.started = hold, started
	st.mu.Unlock()
	done := make(chan bool)
	go func() {
		res, err := a.Authorize(ctx, "t0", "GET", "/api/employee/0")
		done <- err == nil && res.Decision.Allowed
	}()
	<-started // the slow reader has the old user (allowed)
	if _, err := st.UpdateUser(ctx, "acme", "0", func(u *latch.User) error { u.Allow = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	// Wait until the change has reached the authorizer through the feed.
	time.Sleep(50 * time.Millisecond)
	close(hold)
	if !<-done {
		t.Fatal("the slow request should have decided with the old policy")
	}
	res, err := a.Authorize(ctx, "t0", "GET", "/api/employee/0")
	if err != nil || res.Decision.Allowed {
		t.Fatalf("a stale policy was cached: allowed=%v err=%v", res.Decision.Allowed, err)
	}
}

func TestPolicyCacheIsBounded(t *testing.T) {
	st, tk := setup(t, 50)
	a := authorizer.New(tk, st, authorizer.Options{MaxPolicies: 10})
	defer a.Close()
	for i := range 50 {
		res, err := a.Authorize(context.Background(), fmt.Sprint("t", i), "GET", fmt.Sprintf("/api/employee/%d/x", i))
		if err != nil || !res.Decision.Allowed {
			t.Fatalf("user %d: %v %v", i, res.Decision.Allowed, err)
		}
	}
	if n := a.Len(); n > 10 {
		t.Fatalf("%d policies cached, bound 10", n)
	}
}

func TestUnknownTokenAndDeletedUser(t *testing.T) {
	st, tk := setup(t, 1)
	a := authorizer.New(tk, st, authorizer.Options{})
	defer a.Close()
	ctx := context.Background()
	if _, err := a.Authorize(ctx, "nope", "GET", "/"); !latch.IsCode(err, latch.EUNAUTHORIZED) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := st.DeleteUser(ctx, "acme", "0"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(ctx, "t0", "GET", "/api/employee/0"); !latch.IsCode(err, latch.EUNAUTHORIZED) {
		t.Fatalf("deleted user: %v", err)
	}
}

func BenchmarkAuthorizeCached(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "latch.db"), bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	_ = st.CreateOrg(ctx, latch.Org{ID: "acme"})
	_ = st.CreateUser(ctx, latch.User{Org: "acme", ID: "5", Username: "u5", Allow: []string{"GET /api/employee/{sub}/**"}})
	tk := tokens{"t": {Org: "acme", Subject: "5", ClientID: "app", SubjectType: latch.SubjectUser}}
	// As in the server: principals are read through the in-process cache.
	cached := cache.New(st, cache.Options{})
	a := authorizer.New(tk, cached, authorizer.Options{})
	defer a.Close()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := a.Authorize(ctx, "t", "GET", "/api/employee/5/paystubs/3"); err != nil || !res.Decision.Allowed {
			b.Fatal(err)
		}
	}
}

// hungStore answers GetUser only when the request's context ends, like a
// table that does not answer.
type hungStore struct{ latch.Store }

func (hungStore) GetUser(ctx context.Context, _, _ string) (latch.User, error) {
	<-ctx.Done()
	return latch.User{}, latch.Wrap(latch.EUNAVAILABLE, "test", ctx.Err())
}

// A decision that waits on a hung store fails closed at the handler's
// timeout: an error status, never a 200, and not after every retry.
func TestDecisionTimeoutFailsClosed(t *testing.T) {
	st, tk := setup(t, 1)
	a := authorizer.New(tk, hungStore{st}, authorizer.Options{})
	defer a.Close()
	mux := http.NewServeMux()
	(&authorizer.Handlers{Authorizer: a, Timeout: 50 * time.Millisecond}).Register(mux)
	req := httptest.NewRequest("GET", "/forward-auth", nil)
	req.Header.Set("Authorization", "Bearer t0")
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-URI", "/api/employee/0/paystubs")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { mux.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the decision did not end with its timeout")
	}
	if rec.Code < 500 {
		t.Fatalf("a decision on a hung store answered %d %s, want an error status", rec.Code, rec.Body)
	}
}
