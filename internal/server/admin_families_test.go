package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/token"
)

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// family returns the family an access token names in its sid.
func (e *env) family(accessToken string) latch.Family {
	e.t.Helper()
	sid, _ := jwtClaims(e.t, accessToken)["sid"].(string)
	if sid == "" {
		e.t.Fatalf("access token without sid: %v", jwtClaims(e.t, accessToken))
	}
	f, err := e.store.GetFamily(context.Background(), sid)
	if err != nil {
		e.t.Fatalf("family %s: %v", sid, err)
	}
	return f
}

// TestFamiliesSayWhatTheyAre: a login session, a code redemption and a
// password grant each start a family of their kind; a code's family and
// its ID token (sid) name the login session that issued the code.
func TestFamiliesSayWhatTheyAre(t *testing.T) {
	e := newAuthcodeEnv(t)
	ctx := context.Background()
	b := e.browser()
	_, tok := b.webTokens("alice")
	code := e.family(tok.AccessToken)
	if code.Kind != latch.FamilyCode || code.Subject != "alice" || code.Org != "acme" || code.ClientID != "web" || code.SessionID == "" {
		t.Fatalf("code family = %+v", code)
	}
	sess, err := e.store.GetFamily(ctx, code.SessionID)
	if err != nil || sess.Kind != latch.FamilyLogin || sess.Subject != "alice" || sess.Org != "acme" || sess.Revoked() || sess.SessionID != "" {
		t.Fatalf("login session family = %+v, %v", sess, err)
	}
	idt, err := oidcVerify(t, e, "web", tok)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil || claims.SID != sess.ID {
		t.Fatalf("ID token sid = %q, want the login session %q (%v)", claims.SID, sess.ID, err)
	}
	if jwtClaims(t, tok.AccessToken)["sid"] != code.ID {
		t.Fatalf("the access token's sid is not its own family")
	}

	// Single sign-on into a second application: the same login session.
	spa := newFlow(e.oauthConfig("spa", "", spaRedirect, "openid"))
	tok2, err := spa.exchange(callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	code2 := e.family(tok2.AccessToken)
	if code2.Kind != latch.FamilyCode || code2.SessionID != sess.ID || code2.ID == code.ID {
		t.Fatalf("SSO code family = %+v, want session %s", code2, sess.ID)
	}
	idt2, err := oidcVerify(t, e, "spa", tok2)
	if err != nil {
		t.Fatal(err)
	}
	if err := idt2.Claims(&claims); err != nil || claims.SID != sess.ID {
		t.Fatalf("SSO ID token sid = %q, want %q", claims.SID, sess.ID)
	}

	// The password grant.
	pw := e.login("app", appSecret, "", "bob")
	if f := e.family(pw.str("access_token")); f.Kind != latch.FamilyPassword || f.Subject != "bob" || f.ClientID != "app" || f.SessionID != "" {
		t.Fatalf("password family = %+v", f)
	}
}

// TestCodeAfterLogoutIsRefused: a code issued by a login session that is
// ended before the code is redeemed yields nothing.
func TestCodeAfterLogoutIsRefused(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"))
	code := b.codeFor(f, "acme", "alice")
	p := b.Get(e.url + "/oauth2/logout?client_id=web")
	if p := b.Submit(p.FormAt(t, "/oauth2/logout"), nil); p.Status != 200 {
		t.Fatalf("logout: %d %s", p.Status, p.Body)
	}
	if _, err := f.exchange(code); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("a code of an ended session: %v, want invalid_grant", err)
	}
	// A code of a live session still works.
	g := newFlow(f.cfg)
	if _, err := g.exchange(b.codeFor(g, "acme", "alice")); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordGrantWithoutRefreshHasAFamily: a client without the
// refresh_token grant still gets access tokens that name a family, so that
// revoking the family refuses them for the rest of their life.
func TestPasswordGrantWithoutRefreshHasAFamily(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	now := e.clock.Now()
	hash, err := password.HashClientSecret(appSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{latch.TokenFormatJWT, latch.TokenFormatOpaque} {
		c := latch.Client{ID: "pw-only-" + format, Org: "acme", SecretHash: hash, Grants: []string{latch.GrantPassword},
			Scopes: []string{"premium/read"}, AccessTokenFormat: format, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	decide := func(tok string) response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+"/v1/decisions", jsonBody(t, map[string]any{"token": tok, "method": "GET", "path": "/api/employee/alice/x"}))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("decider", machineSecret)
		return e.do(req)
	}
	grant := func(client string) response {
		t.Helper()
		r := e.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {userPassword}, "scope": {"openid"}}, client, appSecret)
		if r.str("refresh_token") != "" {
			t.Fatalf("%s got a refresh token: %s", client, r.body)
		}
		return r
	}

	jwt := grant("pw-only-jwt").str("access_token")
	fam := e.family(jwt)
	exp := time.Unix(int64(jwtClaims(t, jwt)["exp"].(float64)), 0)
	if fam.Kind != latch.FamilyPassword || fam.Subject != "alice" || fam.ClientID != "pw-only-jwt" || fam.ExpiresAt.Before(exp.Add(4*time.Minute)) {
		t.Fatalf("family = %+v, token exp %v", fam, exp)
	}
	opaque := grant("pw-only-opaque").str("access_token")
	if in := e.introspect(opaque); in["active"] != true {
		t.Fatalf("opaque before revocation: %v", in)
	}
	at, err := e.store.GetAccessToken(ctx, token.Digest(opaque))
	if err != nil || at.FamilyID == "" {
		t.Fatalf("opaque token %+v without a family: %v", at, err)
	}
	if f, err := e.store.GetFamily(ctx, at.FamilyID); err != nil || f.Kind != latch.FamilyPassword {
		t.Fatalf("opaque token's family = %+v, %v", f, err)
	}
	if in := e.introspect(jwt); in["active"] != true {
		t.Fatalf("before revocation: %v", in)
	}
	if r := e.forward(jwt, "GET", "/api/employee/alice/x"); r.status != 200 {
		t.Fatalf("forward auth before revocation: %d", r.status)
	}
	if r := decide(jwt); r.json["allow"] != true {
		t.Fatalf("decision before revocation: %s", r.body)
	}

	for _, id := range []string{fam.ID, at.FamilyID} {
		if err := e.store.RevokeFamily(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Refused at once, and until the token would have expired.
	for _, after := range []time.Duration{0, 59 * time.Minute} {
		e.clock.Advance(after)
		for _, tok := range []string{jwt, opaque} {
			if in := e.introspect(tok); in["active"] != false {
				t.Errorf("%v after revocation: introspection %v", after, in)
			}
		}
		if r := e.forward(jwt, "GET", "/api/employee/alice/x"); r.status != 401 {
			t.Errorf("%v after revocation: forward auth %d", after, r.status)
		}
		if r := decide(jwt); r.json["allow"] != false || r.str("reason") != "invalid_token" {
			t.Errorf("%v after revocation: decision %s", after, r.body)
		}
	}
	// Another login is not affected.
	if in := e.introspect(grant("pw-only-jwt").str("access_token")); in["active"] != true {
		t.Errorf("a new login: %v", in)
	}
}
