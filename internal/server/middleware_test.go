package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"latch.dev/latch/middleware"
)

// TestMiddleware runs a small resource server behind the Go middleware, once
// asking the decision API over HTTP and once in process.
func TestMiddleware(t *testing.T) {
	e := newEnv(t, envOptions{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": p.Sub, "org": p.Org})
	})
	deciders := map[string]middleware.Decider{
		"remote": middleware.Remote(middleware.RemoteConfig{Endpoint: e.url, ClientID: "decider", ClientSecret: machineSecret}),
		"local":  e.srv.Authorizer().Decider(),
	}
	alice, mgr := e.userToken("alice"), e.userToken("mgr")
	forged := alice[:strings.LastIndex(alice, ".")+1] + strings.Repeat("A", 86)
	for name, d := range deciders {
		t.Run(name, func(t *testing.T) {
			api := httptest.NewServer(middleware.New(d, middleware.Options{OnError: func(_ *http.Request, err error) { t.Logf("middleware: %v", err) }})(app))
			defer api.Close()
			get := func(tok, path string) (int, string) {
				req, _ := http.NewRequestWithContext(context.Background(), "GET", api.URL+path, nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			for _, c := range []struct {
				tok, path string
				status    int
			}{
				{alice, "/api/employee/alice/paystubs", 200},
				{alice, "/api/employee/bob/paystubs", 403},
				{mgr, "/api/employee/alice", 200},
				{mgr, "/api/employee/%62ob", 403},
				{mgr, "/api/employee/alice/..%2Fbob", 403},
				{"", "/api/employee/alice", 401},
				{forged, "/api/employee/alice", 401},
			} {
				if got, body := get(c.tok, c.path); got != c.status {
					t.Errorf("%s: %d %s, want %d", c.path, got, body, c.status)
				} else if got == 200 && !strings.Contains(body, `"org":"acme"`) {
					t.Errorf("principal not passed on: %s", body)
				}
			}
		})
	}
	// An API that names its audience refuses tokens for another.
	pinned := httptest.NewServer(middleware.New(middleware.Remote(middleware.RemoteConfig{Endpoint: e.url, ClientID: "decider", ClientSecret: machineSecret, Audience: "payroll-api"}), middleware.Options{})(app))
	defer pinned.Close()
	preq, _ := http.NewRequest("GET", pinned.URL+"/api/employee/alice", nil)
	preq.Header.Set("Authorization", "Bearer "+alice)
	presp, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token without the API's audience: %d", presp.StatusCode)
	}

	// Latch unreachable: 503, never a pass.
	down := middleware.Remote(middleware.RemoteConfig{Endpoint: "http://127.0.0.1:1", ClientID: "decider", ClientSecret: machineSecret})
	api := httptest.NewServer(middleware.New(down, middleware.Options{})(app))
	defer api.Close()
	req, _ := http.NewRequest("GET", api.URL+"/api/employee/alice", nil)
	req.Header.Set("Authorization", "Bearer lat_opaque")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Latch down: %d", resp.StatusCode)
	}
}
