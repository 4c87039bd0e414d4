package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latch.dev/latch"
	"latch.dev/latch/internal/oauth"
)

func TestClientCredentialsVerifiedByIndependentLibraries(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: "machine", ClientSecret: machineSecret, TokenURL: e.url + "/oauth2/token", Scopes: []string{"premium/read"}, AuthStyle: style}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("auth style %v: %v", style, err)
		}
		if got, want := tok.Extra("scope"), "premium/read"; got != want {
			t.Errorf("scope = %v, want %v", got, want)
		}
		// go-oidc discovers the JWKS from the issuer and checks the signature, iss and exp.
		provider, err := oidc.NewProvider(ctx, e.url)
		if err != nil {
			t.Fatal(err)
		}
		v := provider.Verifier(&oidc.Config{ClientID: "premium", SupportedSigningAlgs: []string{"ES256"}})
		idt, err := v.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("go-oidc rejected the access token: %v", err)
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "org_id"} {
			if _, ok := claims[k]; !ok {
				t.Errorf("claim %s missing from %v", k, claims)
			}
		}
		if claims["sub"] != "machine" || claims["client_id"] != "machine" || claims["org_id"] != "acme" {
			t.Errorf("claims = %v", claims)
		}
		jws, err := jose.ParseSignedCompact(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if got := jws.Signatures[0].Header.ExtraHeaders["typ"]; got != "at+jwt" {
			t.Errorf("typ = %v, want at+jwt", got)
		}
	}
}

func TestTokenEndpointBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		authz       string
		status      int
		code        string
	}{
		{"GET", http.MethodGet, "", "", "", 405, "invalid_request"},
		{"JSON body", "POST", "application/json", `{"grant_type":"client_credentials"}`, basic("machine", machineSecret), 400, "invalid_request"},
		{"grant_type twice", "POST", "", "grant_type=client_credentials&grant_type=client_credentials", basic("machine", machineSecret), 400, "invalid_request"},
		{"grant_type upper case", "POST", "", "grant_type=CLIENT_CREDENTIALS", basic("machine", machineSecret), 400, "unsupported_grant_type"},
		{"unknown grant URN", "POST", "", "grant_type=urn:ietf:params:oauth:grant-type:device_code", basic("machine", machineSecret), 400, "unsupported_grant_type"},
		{"missing grant_type", "POST", "", "scope=premium/read", basic("machine", machineSecret), 400, "invalid_request"},
		{"bad percent-encoding", "POST", "", "grant_type=%zz", basic("machine", machineSecret), 400, "invalid_request"},
		{"Basic not base64", "POST", "", "grant_type=client_credentials", "Basic !!!", 400, "invalid_request"},
		{"Basic and body secret", "POST", "", "grant_type=client_credentials&client_secret=" + machineSecret, basic("machine", machineSecret), 400, "invalid_request"},
		{"body client_id differs", "POST", "", "grant_type=client_credentials&client_id=other", basic("machine", machineSecret), 400, "invalid_request"},
		{"unknown client", "POST", "", "grant_type=client_credentials", basic("nobody", machineSecret), 401, "invalid_client"},
		{"wrong secret", "POST", "", "grant_type=client_credentials", basic("machine", "wrong-secret-wrong-secret-wrong-secret"), 401, "invalid_client"},
		{"disabled client, right secret", "POST", "", "grant_type=client_credentials", basic("disabled", machineSecret), 401, "invalid_client"},
		{"secret in query string only", "POST", "", "grant_type=client_credentials&client_id=machine", "", 401, "invalid_client"},
		{"scope not allowed", "POST", "", "grant_type=client_credentials&scope=premium/admin", basic("machine", machineSecret), 400, "invalid_scope"},
		{"password grant not enabled", "POST", "", "grant_type=password&username=alice&password=x", basic("machine", machineSecret), 400, "unauthorized_client"},
		{"public client, client_credentials", "POST", "", "grant_type=client_credentials&client_id=public-app", "", 401, "invalid_client"},
		{"user without admin role asks admin", "POST", "", "grant_type=password&username=alice&password=" + url.QueryEscape(userPassword) + "&scope=latch/admin", basic("app", appSecret), 400, "invalid_scope"},
		{"access token as refresh token", "POST", "", "grant_type=refresh_token&refresh_token=lat_xyz", basic("app", appSecret), 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := e.url + "/oauth2/token"
			if tc.name == "secret in query string only" {
				target += "?client_secret=" + machineSecret
			}
			req, _ := http.NewRequest(tc.method, target, strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" && tc.method == "POST" {
				ct = "application/x-www-form-urlencoded"
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			r := e.do(req)
			if r.status != tc.status || r.str("error") != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if _, ok := r.json["access_token"]; ok {
				t.Error("an error response carried a token")
			}
			if r.status == 401 && strings.HasPrefix(tc.authz, "Basic") && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 after Basic without WWW-Authenticate")
			}
		})
	}
	t.Run("body over 64 KiB", func(t *testing.T) {
		body := "grant_type=client_credentials&pad=" + strings.Repeat("a", 70<<10)
		req, _ := http.NewRequest("POST", e.url+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic("machine", machineSecret))
		if r := e.do(req); r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d %s, want 413", r.status, r.body)
		}
	})
	t.Run("unknown client and wrong secret look alike", func(t *testing.T) {
		a := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", machineSecret)
		b := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "machine", "wrong-secret-wrong-secret-wrong-secret")
		if a.status != b.status || string(a.body) != string(b.body) {
			t.Fatalf("unknown client %d %s vs wrong secret %d %s", a.status, a.body, b.status, b.body)
		}
	})
	t.Run("server keeps serving", func(t *testing.T) {
		e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret)
	})
}

func TestPasswordGrantAndOrganizations(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "app", ClientSecret: appSecret, Endpoint: oauth2.Endpoint{TokenURL: e.url + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"premium/read"}}
	tok, err := conf.PasswordCredentialsToken(ctx, "Alice", userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for a client with the refresh grant")
	}
	in := e.introspect(tok.AccessToken)
	if in["active"] != true || in["sub"] != "alice" || in["org_id"] != "acme" {
		t.Fatalf("introspection = %v", in)
	}
	// Login by email, canonicalised.
	if _, err := conf.PasswordCredentialsToken(ctx, "ALICE@acme.test", userPassword); err != nil {
		t.Fatalf("login by email: %v", err)
	}
	// x/oauth2 refreshes with rotation.
	ts := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	next, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == tok.RefreshToken || next.RefreshToken == "" {
		t.Fatal("refresh token was not rotated")
	}

	// The organization parameter picks a login org of the client.
	r := e.login("app", appSecret, "globex", "gina")
	if got := e.introspect(r.str("access_token")); got["org_id"] != nil {
		// machine (acme) must not see a globex token
		t.Fatalf("acme client sees a globex token: %v", got)
	}
	// The same user name in an org the client does not serve fails like a wrong password.
	wrong := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"gina"}, "password": {userPassword}}, "app", appSecret)
	unknownOrg := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {userPassword}, "organization": {"nope"}}, "app", appSecret)
	badPw := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong password here"}}, "app", appSecret)
	for _, r := range []response{wrong, unknownOrg, badPw} {
		if r.status != 400 || r.str("error") != "invalid_grant" || string(r.body) != string(badPw.body) {
			t.Fatalf("got %d %s, want the same invalid_grant as a wrong password (%s)", r.status, r.body, badPw.body)
		}
	}
	// An admin user may get the admin scope; the admin API then accepts the token.
	adm := e.token(url.Values{"grant_type": {"password"}, "username": {"ann"}, "password": {userPassword}, "scope": {oauth.AdminScope}}, "app", appSecret)
	if r := e.api("GET", "/admin/v1/orgs/acme/users", adm.str("access_token"), nil); r.status != 200 {
		t.Fatalf("admin user: %d %s", r.status, r.body)
	}
}

func TestPasswordBruteForceIsThrottledPerAccount(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 10 {
		req, _ := http.NewRequest("POST", e.url+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"guess-" + string(rune('a'+i))}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		req.SetBasicAuth("app", appSecret)
		e.do(req)
	}
	// The right password is refused while the account is locked, whatever
	// X-Forwarded-For says.
	r := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {userPassword}}, "app", appSecret)
	if r.status != 400 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d %s (Retry-After %q), want throttled", r.status, r.body, r.header.Get("Retry-After"))
	}
	// Another account is not affected, and the lock is soft: it ends.
	e.login("app", appSecret, "", "alice")
	e.clock.Advance(16 * time.Minute)
	e.login("app", appSecret, "", "bob")
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

func TestRefreshRotationAndReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := e.login("app", appSecret, "", "alice")
	rt1, at1 := first.str("refresh_token"), first.str("access_token")
	second := e.token(refreshForm(rt1), "app", appSecret)
	rt2, at2 := second.str("refresh_token"), second.str("access_token")

	// Another client cannot use the token, and that does not revoke it.
	if r := e.post("/oauth2/token", refreshForm(rt2), "machine", machineSecret); r.status != 400 {
		t.Fatalf("machine used app's token? %d %s", r.status, r.body)
	}
	if r := e.post("/oauth2/token", refreshForm(rt2), "other", otherSecret); r.str("error") != "unauthorized_client" {
		t.Fatalf("got %s", r.body)
	}
	// Narrower scope allowed, broader refused.
	if r := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "scope": {"premium/write"}}, "app", appSecret); r.str("error") != "invalid_scope" {
		t.Fatalf("broader scope: %s", r.body)
	}

	// Reuse of rt1 inside the race window: refused, family kept.
	if r := e.post("/oauth2/token", refreshForm(rt1), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("reuse in race window: %s", r.body)
	}
	if in := e.introspect(at2); in["active"] != true {
		t.Fatalf("family revoked by a benign race: %v", in)
	}
	// Reuse after the window: family revoked, newest token and its access tokens die.
	e.clock.Advance(3 * time.Second)
	if r := e.post("/oauth2/token", refreshForm(rt1), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %s", r.body)
	}
	if r := e.post("/oauth2/token", refreshForm(rt2), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("newest token after reuse: %d %s", r.status, r.body)
	}
	for _, at := range []string{at1, at2} {
		if in := e.introspect(at); in["active"] != false || len(in) != 1 {
			t.Fatalf("access token of a revoked family: %v", in)
		}
	}
}

func TestRefreshGraceGivesSibling(t *testing.T) {
	e := newEnv(t, envOptions{oauth: oauth.Options{RefreshGrace: 10 * time.Second}})
	rt1 := e.login("app", appSecret, "", "alice").str("refresh_token")
	rt2 := e.token(refreshForm(rt1), "app", appSecret).str("refresh_token")
	e.clock.Advance(5 * time.Second)
	rt3 := e.token(refreshForm(rt1), "app", appSecret).str("refresh_token") // lost response, retried
	if rt3 == rt2 {
		t.Fatal("grace retry returned the same token; want a sibling")
	}
	e.token(refreshForm(rt2), "app", appSecret)
	e.token(refreshForm(rt3), "app", appSecret)
	// After the grace window the old token is reuse: the family dies.
	e.clock.Advance(10 * time.Second)
	if r := e.post("/oauth2/token", refreshForm(rt1), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("reuse after grace: %s", r.body)
	}
}

func TestRefreshExpiredNeverUsableEvenInGrace(t *testing.T) {
	e := newEnv(t, envOptions{oauth: oauth.Options{RefreshGrace: time.Minute, RefreshIdleTTL: time.Hour}})
	rt := e.login("app", appSecret, "", "alice").str("refresh_token")
	e.clock.Advance(time.Hour + time.Second)
	if r := e.post("/oauth2/token", refreshForm(rt), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("idle-expired token: %d %s", r.status, r.body)
	}
}

func TestConcurrentRefreshesOneWinner(t *testing.T) {
	e := newEnv(t, envOptions{})
	rt := e.login("app", appSecret, "", "alice").str("refresh_token")
	const n = 50
	var wg sync.WaitGroup
	results := make(chan response, n)
	for range n {
		wg.Go(func() { results <- e.post("/oauth2/token", refreshForm(rt), "app", appSecret) })
	}
	wg.Wait()
	close(results)
	var winners []string
	for r := range results {
		switch r.status {
		case 200:
			winners = append(winners, r.str("refresh_token"))
		case 400:
			if r.str("error") != "invalid_grant" {
				t.Errorf("loser got %s", r.body)
			}
		default:
			t.Errorf("unexpected %d %s", r.status, r.body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", len(winners))
	}
	// The race did not revoke the family: the winner's token works.
	e.token(refreshForm(winners[0]), "app", appSecret)
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, envOptions{})
	jwt := e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret).str("access_token")
	opaque := e.token(url.Values{"grant_type": {"client_credentials"}}, "opaque-machine", machineSecret).str("access_token")
	if !strings.HasPrefix(opaque, "lat_") {
		t.Fatalf("opaque token %q", opaque[:8])
	}
	for name, tok := range map[string]string{"jwt": jwt, "opaque": opaque} {
		in := e.introspect(tok)
		if in["active"] != true || in["client_id"] == nil || in["exp"] == nil || in["iss"] != e.url || in["token_type"] != "Bearer" {
			t.Errorf("%s: %v", name, in)
		}
	}
	for name, tok := range map[string]string{
		"garbage": "garbage", "unknown opaque": "lat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"tampered jwt": jwt[:len(jwt)-4] + "AAAA", "unknown refresh": "lrt_nope",
	} {
		if in := e.introspect(tok); in["active"] != false || len(in) != 1 {
			t.Errorf("%s: %v, want exactly {active:false}", name, in)
		}
	}
	// Another org's client sees acme's token as inactive.
	r := e.post("/oauth2/introspect", url.Values{"token": {jwt}}, "other", otherSecret)
	if r.status != 200 || r.json["active"] != false || len(r.json) != 1 {
		t.Fatalf("foreign introspection: %s", r.body)
	}
	// The system org sees everything.
	if r := e.post("/oauth2/introspect", url.Values{"token": {jwt}}, "root", adminSecret); r.json["active"] != true {
		t.Fatalf("system org: %s", r.body)
	}
	// Unauthenticated callers are refused.
	if r := e.post("/oauth2/introspect", url.Values{"token": {jwt}}, "", ""); r.status != 401 {
		t.Fatalf("anonymous introspection: %d %s", r.status, r.body)
	}
	// Expiry.
	e.clock.Advance(2 * time.Hour)
	if in := e.introspect(opaque); in["active"] != false {
		t.Fatalf("expired opaque token: %v", in)
	}
	// The verified JWT is remembered by digest, never past its exp.
	if in := e.introspect(jwt); in["active"] != false {
		t.Fatalf("expired JWT: %v", in)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t, envOptions{})
	jwt := e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret).str("access_token")
	opaque := e.token(url.Values{"grant_type": {"client_credentials"}}, "opaque-machine", machineSecret).str("access_token")
	login := e.login("app", appSecret, "", "alice")

	if r := e.post("/oauth2/revoke", url.Values{}, "machine", machineSecret); r.status != 400 || r.str("error") != "invalid_request" {
		t.Fatalf("missing token: %d %s", r.status, r.body)
	}
	if r := e.post("/oauth2/revoke", url.Values{"token": {jwt}, "token_type_hint": {"id_token"}}, "machine", machineSecret); r.str("error") != "unsupported_token_type" {
		t.Fatalf("bad hint: %s", r.body)
	}
	if r := e.post("/oauth2/revoke", url.Values{"token": {"lat_unknown"}}, "machine", machineSecret); r.status != 200 {
		t.Fatalf("unknown token: %d", r.status)
	}
	// Another client's token: 200, and nothing happens.
	if r := e.post("/oauth2/revoke", url.Values{"token": {jwt}}, "other", otherSecret); r.status != 200 {
		t.Fatalf("foreign revoke: %d", r.status)
	}
	if e.introspect(jwt)["active"] != true {
		t.Fatal("another client revoked machine's token")
	}
	for _, tok := range []string{jwt} {
		if r := e.post("/oauth2/revoke", url.Values{"token": {tok}}, "machine", machineSecret); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}
	if r := e.post("/oauth2/revoke", url.Values{"token": {opaque}}, "opaque-machine", machineSecret); r.status != 200 {
		t.Fatalf("revoke opaque: %d", r.status)
	}
	for _, tok := range []string{jwt, opaque} {
		if in := e.introspect(tok); in["active"] != false {
			t.Fatalf("revoked token still active: %v", in)
		}
	}
	// Revoking the refresh token revokes the family and its access tokens.
	if r := e.post("/oauth2/revoke", url.Values{"token": {login.str("refresh_token")}}, "app", appSecret); r.status != 200 {
		t.Fatalf("revoke refresh: %d", r.status)
	}
	if in := e.introspect(login.str("access_token")); in["active"] != false {
		t.Fatalf("access token of revoked family: %v", in)
	}
	if r := e.post("/oauth2/token", refreshForm(login.str("refresh_token")), "app", appSecret); r.str("error") != "invalid_grant" {
		t.Fatalf("revoked refresh token: %s", r.body)
	}
}

func TestSignup(t *testing.T) {
	e := newEnv(t, envOptions{})
	form := url.Values{"organization": {"acme"}, "username": {"Zoe"}, "email": {"Zoe@Example.com"}, "password": {"a perfectly fine passphrase"}}
	r := e.post("/signup", form, "app", appSecret)
	if r.status != http.StatusCreated || r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("signup: %d %s", r.status, r.body)
	}
	in := e.introspect(r.str("access_token"))
	u, err := e.store.GetUser(context.Background(), "acme", in["sub"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "zoe" || u.Email != "zoe@example.com" || len(u.Roles) != 1 || u.Roles[0] != "employee" {
		t.Fatalf("user = %+v", u)
	}
	// The new user can log in.
	e.token(url.Values{"grant_type": {"password"}, "username": {"zoe"}, "password": {"a perfectly fine passphrase"}}, "app", appSecret)
	// Duplicates (by canonical name or email) are refused clearly.
	for _, f := range []url.Values{
		{"username": {"ZOE"}, "password": {"another fine passphrase"}},
		{"username": {"zoe2"}, "email": {"zoe@EXAMPLE.com"}, "password": {"another fine passphrase"}},
	} {
		if r := e.post("/signup", f, "app", appSecret); r.status != http.StatusConflict {
			t.Fatalf("duplicate: %d %s", r.status, r.body)
		}
	}
	// Orgs that did not opt in, and weak passwords, are refused.
	if r := e.post("/signup", url.Values{"organization": {"globex"}, "username": {"x"}, "password": {"a perfectly fine passphrase"}}, "app", appSecret); r.status != 400 {
		t.Fatalf("globex signup: %d %s", r.status, r.body)
	}
	if r := e.post("/signup", url.Values{"username": {"weak"}, "password": {"short"}}, "app", appSecret); r.status != 400 {
		t.Fatalf("weak password: %d %s", r.status, r.body)
	}
}

func TestConcurrentSignupsCreateOneUser(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 8 // the per-address sign-up limit allows 10 before throttling
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			statuses <- e.post("/signup", url.Values{"username": {"dup"}, "password": {"a perfectly fine passphrase"}}, "app", appSecret).status
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d sign-ups succeeded, want 1", created)
	}
	users, _ := e.store.ListUsers(context.Background(), "acme")
	count := 0
	for _, u := range users {
		if u.Username == "dup" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d users named dup", count)
	}
}

func TestDiscoveryAndUserinfo(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		req, _ := http.NewRequest("GET", e.url+p, nil)
		r := e.do(req)
		if r.status != 200 || r.str("issuer") != e.url || r.str("token_endpoint") != e.url+"/oauth2/token" || r.str("jwks_uri") == "" {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/.well-known/jwks.json", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.do(req).body, &set); err != nil || len(set.Keys) == 0 || !set.Keys[0].IsPublic() {
		t.Fatalf("jwks: %v %+v", err, set)
	}
	at := e.login("app", appSecret, "", "alice").str("access_token")
	req, _ = http.NewRequest("GET", e.url+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if r := e.do(req); r.status != 200 || r.str("sub") != "alice" || r.str("email") != "alice@acme.test" {
		t.Fatalf("userinfo: %d %s", r.status, r.body)
	}
	for _, h := range []string{"", "Bearer", "Bearer  " + at, "Bearer " + at + " junk", "Bearer" + at, "Bearer\t" + at} {
		req, _ = http.NewRequest("GET", e.url+"/oauth2/userinfo", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		if r := e.do(req); r.status != 401 {
			t.Errorf("Authorization %q: %d", h, r.status)
		}
	}
}

// failingStore makes chosen methods fail as if the store were down.
type failingStore struct {
	latch.Store
	mu   sync.Mutex
	down bool
}

func (f *failingStore) isDown() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.down }

func (f *failingStore) GetClient(ctx context.Context, id string) (latch.Client, error) {
	if f.isDown() {
		return latch.Client{}, latch.Wrap(latch.EUNAVAILABLE, "GetClient", context.DeadlineExceeded)
	}
	return f.Store.GetClient(ctx, id)
}

func (f *failingStore) CreateAccessToken(ctx context.Context, t latch.AccessToken) error {
	if f.isDown() {
		return latch.Wrap(latch.EUNAVAILABLE, "CreateAccessToken", context.DeadlineExceeded)
	}
	return f.Store.CreateAccessToken(ctx, t)
}

func TestStoreDownGivesNoToken(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, envOptions{store: func(s latch.Store) latch.Store { fs.Store = s; return fs }})
	fs.mu.Lock()
	fs.down = true
	fs.mu.Unlock()
	r := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret)
	if r.status < 500 || r.str("access_token") != "" {
		t.Fatalf("store down: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "deadline") {
		t.Fatalf("internal error text leaked: %s", r.body)
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()
	e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret)
}

func (f *failingStore) Ping(ctx context.Context) error {
	if f.isDown() {
		return latch.Wrap(latch.EUNAVAILABLE, "Ping", context.DeadlineExceeded)
	}
	return f.Store.Ping(ctx)
}

// TestBasicSecretEncodedOrNot: a secret with '+', '/' and '%' (as `openssl
// rand -base64` gives) works whether the client form-encodes it (RFC 6749
// §2.3.1, as x/oauth2 does) or not (as curl -u does).
func TestBasicSecretEncodedOrNot(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := "ab+cd/ef%zz+0123456789abcdefghijklmnopqrstuvwxyz="
	root := e.adminToken("root")
	if r := e.api("POST", "/admin/v1/orgs/acme/clients", root, map[string]any{"id": "plus", "secret": secret, "grants": []string{"client_credentials"}}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	e.token(form, "plus", secret) // post() form-encodes id and secret
	req, _ := http.NewRequest("POST", e.url+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("plus:"+secret)))
	if r := e.do(req); r.status != 200 {
		t.Fatalf("unencoded Basic secret: %d %s", r.status, r.body)
	}
	// And a near miss still fails.
	if r := e.post("/oauth2/token", form, "plus", strings.Replace(secret, "+", " ", 1)); r.status != 401 {
		t.Fatalf("space for plus accepted: %d", r.status)
	}
}

// A user without a password (created by the Cognito trigger) cannot sign in
// at the token endpoint with any password, and is answered exactly like a
// wrong password.
func TestUserWithoutPasswordCannotLogIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.store.CreateUser(ctx, latch.User{Org: "acme", ID: "cognito-sub", Username: "carol", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	wrong := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"not-it"}}, "app", appSecret)
	if r := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {""}}, "app", appSecret); r.status != 400 {
		t.Fatalf("empty password: %d %s", r.status, r.body)
	}
	for _, pw := range []string{"x", userPassword} {
		r := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {pw}}, "app", appSecret)
		if r.status != wrong.status || string(r.body) != string(wrong.body) {
			t.Fatalf("password %q: %d %s, want the wrong-password answer %d %s", pw, r.status, r.body, wrong.status, wrong.body)
		}
	}
}
