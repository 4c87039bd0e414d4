package server_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// sessionsOf lists a user's sessions through the admin API.
func (e *env) sessionsOf(bearer, org, user string) ([]map[string]any, response) {
	e.t.Helper()
	r := e.api("GET", "/admin/v1/orgs/"+org+"/users/"+user+"/sessions", bearer, nil)
	var out []map[string]any
	if items, ok := r.json["items"].([]any); ok {
		for _, it := range items {
			out = append(out, it.(map[string]any))
		}
	}
	return out, r
}

// refused reports whether every check of an access token refuses it.
func (e *env) refused(t *testing.T, what, tok string) {
	t.Helper()
	if in := e.introspect(tok); in["active"] != false {
		t.Errorf("%s: introspection %v", what, in)
	}
	if r := e.forward(tok, "GET", "/api/employee/alice/x"); r.status != 401 {
		t.Errorf("%s: forward auth %d", what, r.status)
	}
}

// TestAdminListsSessions: a user's login session and the families of the
// applications it signed in to, newest first, with the session they came
// from; revoked ones are gone from the list.
func TestAdminListsSessions(t *testing.T) {
	e := newAuthcodeEnv(t)
	acme := e.adminToken("acme-admin")
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"))
	code := b.codeFor(f, "acme", "alice")
	e.clock.Advance(time.Second)
	tok, err := f.exchange(code)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	pw := e.login("app", appSecret, "", "alice").str("access_token")
	e.login("app", appSecret, "", "bob")

	list, r := e.sessionsOf(acme, "acme", "alice")
	if r.status != 200 || len(list) != 3 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	pwFam, codeFam := e.family(pw), e.family(tok.AccessToken)
	want := []struct{ id, kind, client, session string }{
		{pwFam.ID, latch.FamilyPassword, "app", ""},
		{codeFam.ID, latch.FamilyCode, "web", codeFam.SessionID},
		{codeFam.SessionID, latch.FamilyLogin, "web", ""},
	}
	for i, w := range want {
		got := list[i]
		if got["id"] != w.id || got["kind"] != w.kind || got["client_id"] != w.client || got["session_id"] != w.session ||
			got["created_at"] == nil || got["expires_at"] == nil {
			t.Errorf("session %d = %v, want %+v", i, got, w)
		}
	}
	if len(list[0]) != 6 {
		t.Errorf("fields: %v", list[0])
	}
	// Revoked families are not live sessions.
	if err := e.store.RevokeFamily(context.Background(), pwFam.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.sessionsOf(acme, "acme", "alice"); len(list) != 2 || list[0]["id"] != codeFam.ID {
		t.Errorf("after revoking the password family: %v", list)
	}
	// Nor expired ones: the code family of a client with refresh tokens
	// lives 90 days, the login session 12 hours.
	e.clock.Advance(13 * time.Hour)
	acme = e.adminToken("acme-admin")
	if list, _ := e.sessionsOf(acme, "acme", "alice"); len(list) != 1 || list[0]["id"] != codeFam.ID {
		t.Errorf("13 hours later: %v", list)
	}
	// A user without sessions, and one who does not exist.
	if list, r := e.sessionsOf(acme, "acme", "mgr"); r.status != 200 || len(list) != 0 || string(r.body) != "[]\n" {
		t.Errorf("no sessions: %d %s", r.status, r.body)
	}
	if _, r := e.sessionsOf(acme, "acme", "nobody"); r.status != 404 {
		t.Errorf("unknown user: %d %s", r.status, r.body)
	}
}

// TestAdminSessionsTenantIsolation: an org administrator can neither see
// nor revoke another org's user's sessions, even with a real family id; a
// family id of another user of its own org is not revoked through this one.
func TestAdminSessionsTenantIsolation(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	acme, root := e.adminToken("acme-admin"), e.adminToken("root")
	gina := e.token(url.Values{"grant_type": {"password"}, "username": {"gina"}, "password": {userPassword}, "organization": {"globex"}}, "app", appSecret)
	ginaFam := e.family(gina.str("access_token"))
	bobFam := e.family(e.login("app", appSecret, "", "bob").str("access_token"))
	e.login("app", appSecret, "", "alice")
	// globex has an alice too: a user id is unique in its org only.
	now := e.clock.Now()
	pwHash, err := e.hasher.Hash(userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUser(ctx, latch.User{Org: "globex", ID: "alice", Username: "galice", PasswordHash: pwHash, Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	gaFam := e.family(e.token(url.Values{"grant_type": {"password"}, "username": {"galice"}, "password": {userPassword}, "organization": {"globex"}}, "app", appSecret).str("access_token"))
	if gaFam.Org != "globex" || gaFam.Subject != "alice" {
		t.Fatalf("globex alice's family: %+v", gaFam)
	}

	missing := e.api("GET", "/admin/v1/orgs/nope/users/gina/sessions", acme, nil)
	if missing.status != 404 {
		t.Fatalf("missing org: %d", missing.status)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/admin/v1/orgs/globex/users/gina/sessions"},
		{"DELETE", "/admin/v1/orgs/globex/users/gina/sessions/" + ginaFam.ID},
		{"DELETE", "/admin/v1/orgs/globex/users/gina/sessions"},
	} {
		if r := e.api(c.method, c.path, acme, nil); r.status != 404 || string(r.body) != string(missing.body) {
			t.Errorf("%s %s by acme's admin: %d %s, want the 404 of a missing org", c.method, c.path, r.status, r.body)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/admin/v1/orgs/acme/users/gina/sessions"},
		{"DELETE", "/admin/v1/orgs/acme/users/gina/sessions/" + ginaFam.ID},
		{"DELETE", "/admin/v1/orgs/acme/users/gina/sessions"},
		{"DELETE", "/admin/v1/orgs/acme/users/alice/sessions/" + ginaFam.ID},
		{"DELETE", "/admin/v1/orgs/acme/users/alice/sessions/" + bobFam.ID},
		{"DELETE", "/admin/v1/orgs/acme/users/alice/sessions/" + gaFam.ID},
		{"DELETE", "/admin/v1/orgs/acme/users/alice/sessions/no-such-family"},
	} {
		if r := e.api(c.method, c.path, acme, nil); r.status != 404 {
			t.Errorf("%s %s by acme's admin: %d %s, want 404", c.method, c.path, r.status, r.body)
		}
	}
	// Nothing was revoked.
	for _, id := range []string{ginaFam.ID, bobFam.ID, gaFam.ID} {
		if f, err := e.store.GetFamily(ctx, id); err != nil || f.Revoked() {
			t.Errorf("family %s after the refused calls: %+v %v", id, f, err)
		}
	}
	if in := e.post("/oauth2/introspect", url.Values{"token": {gina.str("access_token")}}, "root", adminSecret).json; in["active"] != true {
		t.Errorf("gina's token: %v", in)
	}
	// The global administrator sees and revokes gina's; acme's admin bob's.
	if list, r := e.sessionsOf(root, "globex", "gina"); r.status != 200 || len(list) != 1 || list[0]["id"] != ginaFam.ID {
		t.Fatalf("root lists gina's: %d %s", r.status, r.body)
	}
	if r := e.api("DELETE", "/admin/v1/orgs/globex/users/gina/sessions/"+ginaFam.ID, root, nil); r.status != 204 {
		t.Fatalf("root revokes gina's: %d %s", r.status, r.body)
	}
	if r := e.api("DELETE", "/admin/v1/orgs/acme/users/bob/sessions/"+bobFam.ID, acme, nil); r.status != 204 {
		t.Fatalf("acme revokes bob's: %d %s", r.status, r.body)
	}
	for _, id := range []string{ginaFam.ID, bobFam.ID} {
		if f, err := e.store.GetFamily(ctx, id); err != nil || !f.Revoked() {
			t.Errorf("family %s after revocation: %+v %v", id, f, err)
		}
	}
	if list, _ := e.sessionsOf(acme, "acme", "alice"); len(list) != 1 {
		t.Errorf("alice's sessions: %v", list)
	}
}

// TestAdminRevokesEverySession: after revoke-all, nothing the user held
// works: refresh tokens, access tokens, the browser's session; other
// users keep theirs.
func TestAdminRevokesEverySession(t *testing.T) {
	e := newAuthcodeEnv(t)
	acme := e.adminToken("acme-admin")
	b := e.browser()
	f, tok := b.webTokens("alice")
	pw := e.login("app", appSecret, "", "alice")
	bob := e.login("app", appSecret, "", "bob").str("access_token")

	r := e.api("DELETE", "/admin/v1/orgs/acme/users/alice/sessions", acme, nil)
	if r.status != 200 || r.json["revoked"] != float64(3) {
		t.Fatalf("revoke all: %d %s", r.status, r.body)
	}
	if _, err := f.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("web refresh after revoke-all: %v", err)
	}
	if r := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")}}, "app", appSecret); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("password refresh after revoke-all: %d %s", r.status, r.body)
	}
	e.refused(t, "web access token", tok.AccessToken)
	e.refused(t, "password access token", pw.str("access_token"))
	g := newFlow(f.cfg)
	if p := b.Get(g.url); p.Status != 200 {
		t.Errorf("the browser is still signed in: %d %s", p.Status, p.Header.Get("Location"))
	}
	if in := e.introspect(bob); in["active"] != true {
		t.Errorf("bob's token: %v", in)
	}
	if list, _ := e.sessionsOf(acme, "acme", "alice"); len(list) != 0 {
		t.Errorf("alice's sessions after revoke-all: %v", list)
	}
	if r := e.api("DELETE", "/admin/v1/orgs/acme/users/alice/sessions", acme, nil); r.status != 200 || r.json["revoked"] != float64(0) {
		t.Errorf("revoke all again: %d %s", r.status, r.body)
	}
}

// TestLogoutEndsTheApplicationsTokens: signing out revokes the families of
// the tokens issued from that sign-in (every application of the single
// sign-on), and nothing else of the user's.
func TestLogoutEndsTheApplicationsTokens(t *testing.T) {
	e := newAuthcodeEnv(t)
	ctx := context.Background()
	b := e.browser()
	web, tok := b.webTokens("alice")
	spa := newFlow(e.oauthConfig("spa", "", spaRedirect, "openid"))
	spaTok, err := spa.exchange(callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	// Alice's other sign-ins: another browser, and the password grant.
	other := e.browser()
	o, otherTok := other.webTokens("alice")
	pw := e.login("app", appSecret, "", "alice").str("access_token")

	idToken, _ := tok.Extra("id_token").(string)
	p := b.Get(e.url + "/oauth2/logout?id_token_hint=" + idToken)
	if p.Status != 200 {
		t.Fatalf("logout: %d %s", p.Status, p.Body)
	}
	if _, err := web.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after logout: %v", err)
	}
	e.refused(t, "web access token after logout", tok.AccessToken)
	e.refused(t, "spa access token after logout", spaTok.AccessToken)
	// The other sign-ins hold.
	for name, at := range map[string]string{"another browser's": otherTok.AccessToken, "the password grant's": pw} {
		if in := e.introspect(at); in["active"] != true {
			t.Errorf("%s token after logout: %v", name, in)
		}
	}
	if _, err := o.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: otherTok.RefreshToken}).Token(); err != nil {
		t.Errorf("another browser's refresh after logout: %v", err)
	}
	g := newFlow(web.cfg)
	if q := callback(t, e, other.Get(g.url), webRedirect, g.state); q.Get("code") == "" {
		t.Errorf("the other browser's session ended: %v", q)
	}
}

// listFailingStore fails ListFamilies while fail is set.
type listFailingStore struct {
	latch.Store
	fail atomic.Bool
}

func (s *listFailingStore) ListFamilies(ctx context.Context, org, subject string) ([]latch.Family, error) {
	if s.fail.Load() {
		return nil, latch.Errorf(latch.EUNAVAILABLE, "store down")
	}
	return s.Store.ListFamilies(ctx, org, subject)
}

// TestLogoutKeepsTheCookieWhenTheStoreFails: a sign-out that could not
// revoke the applications' tokens says so and keeps the cookie, so that
// signing out again finishes it.
func TestLogoutKeepsTheCookieWhenTheStoreFails(t *testing.T) {
	fs := &listFailingStore{}
	e := newEnv(t, envOptions{store: func(s latch.Store) latch.Store { fs.Store = s; return fs }})
	ctx := context.Background()
	hash, err := password.HashClientSecret(webSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.store.CreateClient(ctx, latch.Client{ID: "web", Org: "acme", SecretHash: hash, Grants: []string{latch.GrantAuthorizationCode, latch.GrantRefreshToken},
		Scopes: []string{"premium/read"}, RedirectURIs: []string{webRedirect}, AccessTokenFormat: latch.TokenFormatJWT, Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	_, tok := b.webTokens("alice")
	idToken, _ := tok.Extra("id_token").(string)
	logout := e.url + "/oauth2/logout?id_token_hint=" + idToken

	fs.fail.Store(true)
	p := b.Get(logout)
	if p.Status < 500 {
		t.Fatalf("logout with the store failing: %d %s", p.Status, p.Body)
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if cookieRE.MatchString(c) {
			t.Errorf("the session cookie was cleared though the logout failed: %s", c)
		}
	}
	fs.fail.Store(false)
	if p := b.Get(logout); p.Status != 200 {
		t.Fatalf("logout again: %d %s", p.Status, p.Body)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("access token after the second logout: %v", in)
	}
}

// Revoking a login session through the admin API ends it like a sign-out:
// the families of the tokens applications got from that sign-in go too,
// and nothing else of the user's.
func TestAdminRevokingALoginSessionEndsItsApplications(t *testing.T) {
	e := newAuthcodeEnv(t)
	acme := e.adminToken("acme-admin")
	b := e.browser()
	f, tok := b.webTokens("alice")
	pw := e.login("app", appSecret, "", "alice").str("access_token")
	codeFam, pwFam := e.family(tok.AccessToken), e.family(pw)
	if r := e.api("DELETE", "/admin/v1/orgs/acme/users/alice/sessions/"+codeFam.SessionID, acme, nil); r.status != 204 {
		t.Fatalf("revoking the login session: %d %s", r.status, r.body)
	}
	list, _ := e.sessionsOf(acme, "acme", "alice")
	if len(list) != 1 || list[0]["id"] != pwFam.ID {
		t.Errorf("after revoking the login session, live: %v (want only the password family %s)", list, pwFam.ID)
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	if _, err := f.cfg.TokenSource(context.Background(), &expired).Token(); err == nil {
		t.Error("the application's refresh token still works after its login session was revoked")
	}
}
