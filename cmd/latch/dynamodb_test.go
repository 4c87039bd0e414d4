package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latch.dev/latch/internal/e2etest"
)

// TestDynamoDBTwoServersOneTable runs two `latch serve` processes on one
// DynamoDB table (DynamoDB Local, started by
// internal/store/dynamodb/testdata/run-local.sh, which the test command
// runs): each sees the other's writes and revocations.
func TestDynamoDBTwoServersOneTable(t *testing.T) {
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("LATCH_REQUIRE_DYNAMODB") != "" {
			t.Fatal("LATCH_REQUIRE_DYNAMODB is set but LATCH_TEST_DYNAMODB_ENDPOINT is not")
		}
		t.Skip("needs DynamoDB Local: internal/store/dynamodb/testdata/run-local.sh runs this test")
	}
	ctx := context.Background()
	table := "latch-e2e-" + randomHex(6)
	env := e2eEnv("AWS_ENDPOINT_URL_DYNAMODB="+endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy")
	if out, errOut, code := e2etest.RunLatch(t, env, "", "dynamodb", "create-table", table); code != 0 {
		t.Fatalf("create-table: %d %s %s", code, out, errOut)
	}
	// A fleet sits behind one URL: every server has the same issuer.
	store := []string{"--store", "dynamodb://" + table, "--issuer", "https://auth.latch.test"}
	s1 := e2etest.StartLatch(t, e2etest.Options{Config: "testdata/e2e.yaml", Env: env, Args: store, CleanExit: true})
	s2 := e2etest.StartLatch(t, e2etest.Options{Env: env, Args: store, CleanExit: true})

	introspect := func(on *e2etest.Latch, tok string) bool {
		_, b := e2etest.PostForm(t, on.URL+"/oauth2/introspect", url.Values{"token": {tok}}, "premium-reader", e2eClientSecret)
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatalf("introspect: %s", b)
		}
		return in["active"] == true
	}
	// The config applied by s1 is s2's too: a client and an opaque token
	// issued by s1 work on s2, and both servers share the signing keys.
	opaque, err := (&clientcredentials.Config{ClientID: "opaque-reader", ClientSecret: e2eClientSecret, TokenURL: s1.URL + "/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := (&clientcredentials.Config{ClientID: "premium-reader", ClientSecret: e2eClientSecret, TokenURL: s2.URL + "/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatalf("a client created by the other server: %v", err)
	}
	if !introspect(s2, opaque.AccessToken) || !introspect(s1, jwt.AccessToken) {
		t.Fatal("a token issued by one server is not active on the other")
	}
	// A revocation on one server is seen by the other at once.
	if st, _ := e2etest.PostForm(t, s2.URL+"/oauth2/revoke", url.Values{"token": {opaque.AccessToken}}, "opaque-reader", e2eClientSecret); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := e2etest.PostForm(t, s1.URL+"/oauth2/revoke", url.Values{"token": {jwt.AccessToken}}, "premium-reader", e2eClientSecret); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if introspect(s1, opaque.AccessToken) || introspect(s2, jwt.AccessToken) {
		t.Fatal("a revocation made on one server is not seen by the other")
	}
	// A key rotated on s1 signs s1's next tokens; s2 learns the new key when
	// it first meets it.
	if out, errOut, code := e2etest.RunLatch(t, append(env, "LATCH_ENDPOINT="+s1.URL, "LATCH_DATA="+s1.Data), "", "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	fresh, err := (&clientcredentials.Config{ClientID: "premium-reader", ClientSecret: e2eClientSecret, TokenURL: s1.URL + "/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !introspect(s2, fresh.AccessToken) {
		t.Fatal("a token signed with a key rotated on the other server is refused")
	}
	// Refresh rotation across servers: log in on s1, refresh on s2, revoke
	// the family on s1; s2 refuses the newest token.
	conf := func(s *e2etest.Latch) oauth2.Config {
		return oauth2.Config{ClientID: "payroll-app", ClientSecret: e2eClientSecret, Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	}
	c1, c2 := conf(s1), conf(s2)
	login, err := c1.PasswordCredentialsToken(ctx, "employee5", e2eUserPassword)
	if err != nil {
		t.Fatal(err)
	}
	next, err := c2.TokenSource(ctx, &oauth2.Token{RefreshToken: login.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on the other server: %v", err)
	}
	if st, _ := e2etest.PostForm(t, s1.URL+"/oauth2/revoke", url.Values{"token": {next.RefreshToken}}, "payroll-app", e2eClientSecret); st != 200 {
		t.Fatalf("revoke refresh: %d", st)
	}
	if _, err := c2.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err == nil {
		t.Fatal("a family revoked on one server still refreshes on the other")
	}
}
