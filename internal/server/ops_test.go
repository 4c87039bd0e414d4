package server_test

import (
	"latch.dev/latch"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHealthAndMetrics(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, envOptions{store: func(s latch.Store) latch.Store { fs.Store = s; return fs }})
	get := func(p string) response {
		req, _ := http.NewRequest("GET", e.url+p, nil)
		return e.do(req)
	}
	if r := get("/healthz"); r.status != 200 || r.str("status") != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	fs.mu.Lock()
	fs.down = true
	fs.mu.Unlock()
	if r := get("/healthz"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the store down: %d %s", r.status, r.body)
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()

	e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret)
	e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "machine", "wrong-secret-wrong-secret-wrong-secret")
	m := string(get("/metrics").body)
	for _, want := range []string{
		`latch_token_requests_total{grant="client_credentials",result="ok"} 1`,
		`latch_token_requests_total{grant="client_credentials",result="invalid_client"} 1`,
		`latch_client_auth_failures_total 1`,
		`latch_http_request_duration_seconds_bucket{route="/oauth2/token",status="200"`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, machineSecret) {
		t.Fatal("a secret in the metrics")
	}
}
