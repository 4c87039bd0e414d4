package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/redistest"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/bolt"
)

const limiterConfig = `
orgs:
  - id: acme
    name: Acme
users:
  - id: alice
    org: acme
    username: alice
    password: ${PASSWORD}
clients:
  - id: app
    org: acme
    secret: ${SECRET}
    grants: [password]
`

const limiterPassword = "alice's long and correct password"

// TestLambdaTokenFunctionsShareTheLimiter: two token functions (two
// sandboxes) with LATCH_CACHE on one Redis count failed logins together:
// failures on one lock the account on the other.
func TestLambdaTokenFunctionsShareTheLimiter(t *testing.T) {
	ctx := t.Context()
	rs := redistest.Start(t)
	store, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	vars := map[string]string{"SECRET": testSecret, "PASSWORD": limiterPassword}
	f, err := config.Load([]byte(limiterConfig), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(ctx, store, f, config.ApplyOptions{Hasher: password.NewTestHasher()}); err != nil {
		t.Fatal(err)
	}
	s := settings{Handler: "token", Store: "dynamodb://t", Issuer: testIssuer, Alg: "ES256", AccessTTL: time.Hour, CacheTTL: time.Second, Cache: rs.URL()}
	var fns []func(context.Context, json.RawMessage) (any, error)
	for range 2 {
		shared, err := sharedcache.NewRedis(ctx, rs.URL(), sharedcache.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = shared.Close() })
		a, err := newApp(ctx, store, shared, s, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		fns = append(fns, a.tokenHandler())
	}
	login := func(fn int, pw string) events.APIGatewayProxyResponse {
		t.Helper()
		body := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "client_id": {"app"}, "client_secret": {testSecret}}.Encode()
		b, _ := json.Marshal(events.APIGatewayProxyRequest{
			Resource: "/oauth2/token", Path: "/oauth2/token", HTTPMethod: "POST",
			Headers:        map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Host": "auth.latch.test"},
			Body:           body,
			RequestContext: events.APIGatewayProxyRequestContext{Stage: "prod", Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.7"}},
		})
		out, err := invoke(t, fns[fn], string(b))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := login(1, limiterPassword); r.StatusCode != 200 {
		t.Fatalf("the right password: %d %s", r.StatusCode, r.Body)
	}
	for range 6 {
		if r := login(0, "a wrong guess"); r.StatusCode != 400 {
			t.Fatalf("a wrong password: %d %s", r.StatusCode, r.Body)
		}
	}
	if r := login(1, limiterPassword); r.StatusCode != 400 || len(r.MultiValueHeaders["Retry-After"]) == 0 {
		t.Fatalf("the right password on the other function after 6 failures: %d %v %s, want throttled", r.StatusCode, r.MultiValueHeaders, r.Body)
	}
}
