package server_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/oauth"
)

// hungStore stops answering (every call waits for its context) once hung is
// set, like a table or a network that does not answer.
type hungStore struct {
	latch.Store
	hung    atomic.Bool
	release chan struct{} // closed at the end of the test, so that no handler outlives it
}

func (h *hungStore) wait(ctx context.Context, op string) error {
	if !h.hung.Load() {
		return nil
	}
	select {
	case <-ctx.Done():
		return latch.Wrap(latch.EUNAVAILABLE, op, ctx.Err())
	case <-h.release:
		return latch.Errorf(latch.EUNAVAILABLE, "%s: released at the end of the test", op)
	}
}

func (h *hungStore) GetClient(ctx context.Context, id string) (latch.Client, error) {
	if err := h.wait(ctx, "GetClient"); err != nil {
		return latch.Client{}, err
	}
	return h.Store.GetClient(ctx, id)
}

func (h *hungStore) FindUser(ctx context.Context, org, login string) (latch.User, error) {
	if err := h.wait(ctx, "FindUser"); err != nil {
		return latch.User{}, err
	}
	return h.Store.FindUser(ctx, org, login)
}

// A token request that waits on a store that does not answer ends at the
// endpoint's deadline with a 5xx and no token, for every grant and for
// introspection: fail closed, and not after every retry of the store.
func TestTokenEndpointDeadline(t *testing.T) {
	hs := &hungStore{release: make(chan struct{})}
	e := newEnv(t, envOptions{
		store: func(s latch.Store) latch.Store { hs.Store = s; return hs },
		oauth: oauth.Options{RequestTimeout: 200 * time.Millisecond},
	})
	t.Cleanup(func() { close(hs.release) })
	tok := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret).str("access_token")
	if tok == "" {
		t.Fatal("no token before the store hung")
	}
	hs.hung.Store(true)
	for name, call := range map[string]func() response{
		"client_credentials": func() response {
			return e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret)
		},
		"password": func() response {
			return e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {userPassword}}, "app", appSecret)
		},
		"introspect": func() response {
			return e.post("/oauth2/introspect", url.Values{"token": {tok}}, "machine", machineSecret)
		},
	} {
		done := make(chan response, 1)
		start := time.Now()
		go func() { done <- call() }()
		select {
		case r := <-done:
			if r.status < 500 || r.str("access_token") != "" || r.str("active") != "" {
				t.Errorf("%s on a hung store: %d %s", name, r.status, r.body)
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Errorf("%s answered after %s, before the deadline: the store was not waited on", name, d)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s on a hung store did not end with the endpoint's deadline", name)
		}
	}
}
