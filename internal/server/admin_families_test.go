package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"latch.dev/latch"
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
	web := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"))
	tok, err := web.exchange(b.codeFor(web, "acme", "alice"))
	if err != nil {
		t.Fatal(err)
	}
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
	tok2, err := spa.exchange(callback(t, e, b.get(spa.url), spaRedirect, spa.state).Get("code"))
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
	p := b.get(e.url + "/oauth2/logout?client_id=web")
	if p := b.submit(p.form(t, "logout"), nil); p.status != 200 {
		t.Fatalf("logout: %d %s", p.status, p.body)
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
