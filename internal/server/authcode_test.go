package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latch.dev/latch"
	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
)

// Clients of the authorization code tests (added to newEnv's fixtures by
// newAuthcodeEnv).
const (
	webSecret      = "web-secret-0123456789abcdefghijklmnopqrstu"
	webRedirect    = "https://web.example/callback"
	spaRedirect    = "https://spa.example/cb"
	singleRedirect = "https://single.example/cb"
	globexRedirect = "https://globex.example/cb"
)

// newAuthcodeEnv is newEnv plus the clients of the browser flow:
//   - "web": confidential, acme, authorization_code + refresh_token, any org;
//   - "spa": public, acme, authorization_code only, orgs acme and globex;
//   - "single": confidential, acme, authorization_code, acme's users only;
//   - "globex-app": confidential, globex, authorization_code, globex only;
//
// and a disabled user "dora" in globex.
func newAuthcodeEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	hash, err := password.HashClientSecret(webSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	code := latch.GrantAuthorizationCode
	for _, c := range []latch.Client{
		{ID: "web", Name: "Web App", Org: "acme", SecretHash: hash, Grants: []string{code, latch.GrantRefreshToken},
			Scopes: []string{"premium/read", oauth.AdminScope}, RedirectURIs: []string{webRedirect, "https://web.example/signed-out"}, LoginOrgs: []string{latch.AnyOrg}},
		{ID: "spa", Org: "acme", Grants: []string{code}, Scopes: []string{"premium/read"}, RedirectURIs: []string{spaRedirect}, LoginOrgs: []string{"globex"}},
		{ID: "single", Org: "acme", SecretHash: hash, Grants: []string{code}, Scopes: []string{"premium/read"}, RedirectURIs: []string{singleRedirect}},
		{ID: "globex-app", Org: "globex", SecretHash: hash, Grants: []string{code}, Scopes: []string{"premium/read"}, RedirectURIs: []string{globexRedirect}},
	} {
		c.AccessTokenFormat, c.Version, c.CreatedAt, c.UpdatedAt = latch.TokenFormatJWT, 1, now, now
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	pw, err := e.hasher.Hash(userPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUser(ctx, latch.User{Org: "globex", ID: "dora", Username: "dora", PasswordHash: pw, Disabled: true, Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) oauthConfig(client, secret, redirect string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: client, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.url + "/oauth2/authorize", TokenURL: e.url + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// flow is one authorization request as a client makes it.
type flow struct {
	cfg      *oauth2.Config
	verifier string
	state    string
	nonce    string
	url      string
}

func newFlow(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) *flow {
	f := &flow{cfg: cfg, verifier: oauth2.GenerateVerifier(), state: oauth2.GenerateVerifier()[:20], nonce: oauth2.GenerateVerifier()[:24]}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, opts...)
	f.url = cfg.AuthCodeURL(f.state, opts...)
	return f
}

func (f *flow) exchange(code string) (*oauth2.Token, error) {
	return f.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
}

// browser is the hosted login's user agent, with the env its helpers need.
type browser struct {
	*e2etest.Browser
	e *env
}

func (e *env) browser() *browser {
	return &browser{Browser: e2etest.NewBrowser(e.t), e: e}
}

var cookieRE = regexp.MustCompile(`^latch_session=`)

// callback checks a redirect to redirect with state and iss, and returns its
// query.
func callback(t *testing.T, e *env, p e2etest.Page, redirect, state string) url.Values {
	t.Helper()
	u := p.LocationStatus(t, http.StatusSeeOther)
	if got := u.Scheme + "://" + u.Host + u.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", got, redirect)
	}
	q := u.Query()
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != e.url {
		t.Errorf("iss = %q, want %q", q.Get("iss"), e.url)
	}
	return q
}

// codeFor runs a whole login for f in b and returns the code.
func (b *browser) codeFor(f *flow, org, username string) string {
	b.e.t.Helper()
	p := b.SignIn(b.Get(f.url), org, username, userPassword)
	q := callback(b.e.t, b.e, p, f.cfg.RedirectURL, f.state)
	if q.Get("code") == "" {
		b.e.t.Fatalf("no code in the redirect: %v", q)
	}
	return q.Get("code")
}

// webTokens signs username of acme in to the "web" client (scope openid)
// in b and redeems the code: the flow and its tokens.
func (b *browser) webTokens(username string) (*flow, *oauth2.Token) {
	b.e.t.Helper()
	f := newFlow(b.e.oauthConfig("web", webSecret, webRedirect, "openid"))
	tok, err := f.exchange(b.codeFor(f, "acme", username))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return f, tok
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func checkPageHeaders(t *testing.T, p e2etest.Page, formTarget string) {
	t.Helper()
	h := p.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'self'" + formTarget} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("headers = %v", h)
	}
}

func TestAuthCodeHappyPathWithOrgStep(t *testing.T) {
	e := newAuthcodeEnv(t)
	ctx := context.Background()
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid", "premium/read"))

	p := b.Get(f.url)
	if p.Status != http.StatusOK {
		t.Fatalf("authorize: %d %s", p.Status, p.Body)
	}
	checkPageHeaders(t, p, " https://web.example")
	if !strings.Contains(p.Body, `<label for="organization">`) || !strings.Contains(p.Body, "Web App") {
		t.Fatalf("the organization step is missing: %s", p.Body)
	}
	p = b.Submit(p.Form(t, "org"), map[string]string{"organization": "acme"})
	if !strings.Contains(p.Body, `<label for="username">`) || !strings.Contains(p.Body, `<label for="password">`) {
		t.Fatalf("the password step is missing: %s", p.Body)
	}
	p = b.Submit(p.Form(t, "password"), map[string]string{"username": "alice", "password": userPassword})
	q := callback(t, e, p, webRedirect, f.state)
	var session string
	for _, c := range p.Header.Values("Set-Cookie") {
		if cookieRE.MatchString(c) {
			session = c
		}
	}
	if !strings.Contains(session, "HttpOnly") || !strings.Contains(session, "SameSite=Lax") || !strings.Contains(session, "Path=/") {
		t.Errorf("session cookie = %q, want HttpOnly, SameSite=Lax, Path=/", session)
	}

	tok, err := f.exchange(q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Extra("scope") != "openid premium/read" {
		t.Errorf("token = %+v, scope %v", tok, tok.Extra("scope"))
	}
	raw, _ := tok.Extra("id_token").(string)
	provider, err := oidc.NewProvider(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	if idt.Nonce != f.nonce || idt.Subject != "alice" || idt.Issuer != e.url {
		t.Errorf("ID token nonce %q sub %q iss %q", idt.Nonce, idt.Subject, idt.Issuer)
	}
	var claims struct {
		Org      string `json:"org_id"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Org != "acme" || claims.AuthTime != e.clock.Now().Unix() {
		t.Errorf("ID token claims %+v, %v", claims, err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "spa", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw); err == nil {
		t.Error("the ID token verified for another audience")
	}
	if in := e.introspect(tok.AccessToken); in["active"] != true || in["sub"] != "alice" || in["client_id"] != "web" {
		t.Errorf("introspection = %v", in)
	}
	// The refresh token works like the password grant's.
	if _, err := f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

func TestAuthCodeOrganizationStepSkipped(t *testing.T) {
	e := newAuthcodeEnv(t)
	t.Run("organization parameter", func(t *testing.T) {
		b := e.browser()
		f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"), oauth2.SetAuthURLParam("organization", "globex"))
		p := b.Get(f.url)
		if p.HasForm("org") || !strings.Contains(p.Body, "<strong>globex</strong>") {
			t.Fatalf("the organization step was shown: %s", p.Body)
		}
		if p.HasForm("change-org") {
			t.Error("a fixed organization can be changed")
		}
		// A posted organization cannot override the one the application gave.
		p = b.Submit(p.Form(t, "password"), map[string]string{"organization": "acme", "username": "alice", "password": userPassword})
		if p.Status != http.StatusOK || p.Alert() == "" {
			t.Fatalf("alice signed in to globex: %d %s", p.Status, p.Body)
		}
		p = b.Submit(p.Form(t, "password"), map[string]string{"username": "gina", "password": userPassword})
		code := callback(t, e, p, webRedirect, f.state).Get("code")
		tok, err := f.exchange(code)
		if err != nil {
			t.Fatal(err)
		}
		r := e.post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "root", adminSecret)
		if in := r.json; in["org_id"] != "globex" || in["sub"] != "gina" {
			t.Errorf("introspection = %v", in)
		}
	})
	t.Run("client with one org", func(t *testing.T) {
		b := e.browser()
		f := newFlow(e.oauthConfig("single", webSecret, singleRedirect))
		p := b.Get(f.url)
		if p.HasForm("org") {
			t.Fatalf("the organization step was shown: %s", p.Body)
		}
		if _, err := f.exchange(b.codeFor(f, "", "bob")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("organization the client does not accept", func(t *testing.T) {
		f := newFlow(e.oauthConfig("single", webSecret, singleRedirect), oauth2.SetAuthURLParam("organization", "globex"))
		q := callback(t, e, e.browser().Get(f.url), singleRedirect, f.state)
		if q.Get("error") != "invalid_request" {
			t.Errorf("error = %v", q)
		}
	})
}

func TestAuthCodeSingleSignOn(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	web := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"))
	if _, err := web.exchange(b.codeFor(web, "acme", "alice")); err != nil {
		t.Fatal(err)
	}

	// A second application, public, of the same org: a code at once.
	spa := newFlow(e.oauthConfig("spa", "", spaRedirect, "openid"))
	q := callback(t, e, b.Get(spa.url), spaRedirect, spa.state)
	tok, err := spa.exchange(q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub      string `json:"sub"`
		AuthTime int64  `json:"auth_time"`
	}
	idt, err := oidcVerify(t, e, "spa", tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := idt.Claims(&claims); err != nil || claims.Sub != "alice" || claims.AuthTime != e.clock.Now().Unix() {
		t.Errorf("SSO ID token claims %+v", claims)
	}

	// An application that does not accept acme asks for a login.
	g := newFlow(e.oauthConfig("globex-app", webSecret, globexRedirect))
	p := b.Get(g.url)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "another organization") {
		t.Fatalf("globex-app: %d %s", p.Status, p.Body)
	}
	if !p.HasForm("password") {
		t.Fatalf("no password form: %s", p.Body)
	}
	// The same with prompt=none: login_required.
	g = newFlow(e.oauthConfig("globex-app", webSecret, globexRedirect), oauth2.SetAuthURLParam("prompt", "none"))
	if q := callback(t, e, b.Get(g.url), globexRedirect, g.state); q.Get("error") != "login_required" {
		t.Errorf("prompt=none for another org: %v", q)
	}
	// The session's org given as organization: still SSO; another org: a login.
	w := newFlow(e.oauthConfig("web", webSecret, webRedirect), oauth2.SetAuthURLParam("organization", "acme"))
	if q := callback(t, e, b.Get(w.url), webRedirect, w.state); q.Get("code") == "" {
		t.Errorf("organization=acme with an acme session: %v", q)
	}
	w = newFlow(e.oauthConfig("web", webSecret, webRedirect), oauth2.SetAuthURLParam("organization", "globex"))
	if p := b.Get(w.url); p.Status != http.StatusOK {
		t.Errorf("organization=globex with an acme session: %d %s", p.Status, p.Header.Get("Location"))
	}

	// prompt=login and a max_age shorter than the session's age ask again.
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		f := newFlow(e.oauthConfig("web", webSecret, webRedirect), opt)
		if p := b.Get(f.url); p.Status != http.StatusOK {
			t.Errorf("%s: %d %s", f.url, p.Status, p.Header.Get("Location"))
		}
	}
	e.clock.Advance(2 * time.Minute)
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect), oauth2.SetAuthURLParam("max_age", "60"))
	if p := b.Get(f.url); p.Status != http.StatusOK {
		t.Errorf("max_age=60 two minutes after login: %d", p.Status)
	}
	f = newFlow(e.oauthConfig("web", webSecret, webRedirect), oauth2.SetAuthURLParam("max_age", "600"))
	if q := callback(t, e, b.Get(f.url), webRedirect, f.state); q.Get("code") == "" {
		t.Errorf("max_age=600: %v", q)
	}

	// After twelve hours the session is over.
	e.clock.Advance(12 * time.Hour)
	if p := b.Get(spa.url); p.Status != http.StatusOK {
		t.Errorf("12 h later: %d %s", p.Status, p.Header.Get("Location"))
	}
}

func oidcVerify(t *testing.T, e *env, client string, tok *oauth2.Token) (*oidc.IDToken, error) {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return provider.Verifier(&oidc.Config{ClientID: client, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
}

func TestAuthCodeProtocolRules(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	cfg := e.oauthConfig("web", webSecret, webRedirect, "openid")

	t.Run("PKCE mismatch", func(t *testing.T) {
		f := newFlow(cfg)
		code := b.codeFor(f, "acme", "alice")
		_, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if got := oauthErrorCode(err); got != "invalid_grant" {
			t.Errorf("wrong verifier: %v, want invalid_grant", err)
		}
		// Nor is the code usable afterwards with the right verifier.
		if _, err := f.exchange(code); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("the right verifier after a wrong one: %v", err)
		}
	})
	t.Run("no verifier or a malformed one", func(t *testing.T) {
		for _, v := range []string{"", strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "!"} {
			f := newFlow(cfg)
			code := b.codeFor(f, "", "alice")
			_, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
			if got := oauthErrorCode(err); got != "invalid_request" {
				t.Errorf("verifier %q: %v, want invalid_request", v, err)
			}
			// A malformed request does not burn the code.
			if _, err := f.exchange(code); err != nil {
				t.Errorf("the code after a malformed request: %v", err)
			}
		}
	})
	t.Run("challenge missing or plain", func(t *testing.T) {
		for name, opts := range map[string][]oauth2.AuthCodeOption{
			"missing":    nil,
			"plain":      {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
			"lower case": {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())), oauth2.SetAuthURLParam("code_challenge_method", "s256")},
			"no method":  {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))},
			"short":      {oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "S256")},
		} {
			u := cfg.AuthCodeURL("st-"+name, opts...)
			q := callback(t, e, b.Get(u), webRedirect, "st-"+name)
			if q.Get("error") != "invalid_request" || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Errorf("%s: %v", name, q)
			}
		}
	})
	t.Run("other errors go back to the client", func(t *testing.T) {
		for name, c := range map[string]struct {
			opt  oauth2.AuthCodeOption
			code string
		}{
			"response_type":  {oauth2.SetAuthURLParam("response_type", "token"), "unsupported_response_type"},
			"scope":          {oauth2.SetAuthURLParam("scope", "premium/write"), "invalid_scope"},
			"request object": {oauth2.SetAuthURLParam("request", "x.y.z"), "request_not_supported"},
			"max_age":        {oauth2.SetAuthURLParam("max_age", "-1"), "invalid_request"},
			"prompt":         {oauth2.SetAuthURLParam("prompt", "none login"), "invalid_request"},
		} {
			f := newFlow(cfg, c.opt)
			if q := callback(t, e, b.Get(f.url), webRedirect, f.state); q.Get("error") != c.code {
				t.Errorf("%s: %v, want %s", name, q, c.code)
			}
		}
	})
	t.Run("wrong redirect_uri or client: error page, no redirect", func(t *testing.T) {
		for _, c := range []struct{ client, redirect string }{
			{"web", webRedirect + "/"},
			{"web", "https://WEB.example/callback"},
			{"web", "https://web.example/Callback"},
			{"web", webRedirect + "?x=1"},
			{"web", webRedirect + "#f"},
			{"web", "https://web.example:8443/callback"},
			{"web", "http://web.example/callback"},
			{"web", "https://web.example/x/../callback"},
			{"web", "https://web.example%2Fcallback"},
			{"web", "https://attacker.example/callback"},
			{"web", ""},
			{"spa", webRedirect},
			{"nosuch", webRedirect},
			{"machine", webRedirect}, // a client without the grant
			{"", webRedirect},
		} {
			f := newFlow(e.oauthConfig(c.client, "", c.redirect))
			p := b.Get(f.url)
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, `role="alert"`) {
				t.Errorf("client %q redirect %q: %d Location %q", c.client, c.redirect, p.Status, p.Header.Get("Location"))
			}
		}
		// Twice the same client_id: no way to know which to trust.
		p := b.Get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("client_id", "web")) + "&client_id=spa")
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Errorf("client_id twice: %d %s", p.Status, p.Header.Get("Location"))
		}
	})
	t.Run("token request redirect_uri must match", func(t *testing.T) {
		f := newFlow(cfg)
		code := b.codeFor(f, "", "alice")
		other := *cfg
		other.RedirectURL = "https://web.example/signed-out"
		if _, err := other.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier)); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("another redirect_uri: %v", err)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		f := newFlow(cfg)
		code := b.codeFor(f, "", "alice")
		e.clock.Advance(61 * time.Second)
		if _, err := f.exchange(code); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("a code 61 s old: %v, want invalid_grant", err)
		}
	})
	t.Run("code just under a minute old", func(t *testing.T) {
		f := newFlow(cfg)
		code := b.codeFor(f, "", "alice")
		e.clock.Advance(59 * time.Second)
		if _, err := f.exchange(code); err != nil {
			t.Errorf("a code 59 s old: %v", err)
		}
	})
}

func TestAuthCodeReuseRevokesTheFirstTokens(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid", "premium/read"))
	code := b.codeFor(f, "acme", "alice")
	tok, err := f.exchange(code)
	if err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != true {
		t.Fatalf("before the replay: %v", in)
	}
	// A replay right after the redemption (a client's retry or concurrent
	// request) fails and revokes nothing.
	if _, err := f.exchange(code); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("immediate second redemption: %v, want invalid_grant", err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != true {
		t.Fatalf("a replay within the race window revoked the tokens: %v", in)
	}
	e.clock.Advance(3 * time.Second)
	// A replay that is not otherwise valid revokes nothing.
	_, err = f.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("replay with a wrong verifier: %v", err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != true {
		t.Fatalf("a replay with a wrong verifier revoked the tokens: %v", in)
	}
	// A later replay fails and revokes what the first redemption issued.
	if _, err := f.exchange(code); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("second redemption: %v, want invalid_grant", err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("access token after the replay: %v", in)
	}
	if in := e.introspect(tok.RefreshToken); in["active"] != false {
		t.Errorf("refresh token after the replay: %v", in)
	}
	_, err = f.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after the replay: %v", err)
	}
	// The authorizer refuses the JWT too (its sid names the revoked family).
	req, _ := http.NewRequest(http.MethodGet, e.url+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if r := e.do(req); r.status != http.StatusUnauthorized {
		t.Errorf("userinfo after the replay: %d", r.status)
	}

	// A client without the refresh_token grant: its access token is revoked as well.
	spa := newFlow(e.oauthConfig("spa", "", spaRedirect))
	code = callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code")
	tok, err = spa.exchange(code)
	if err != nil || tok.RefreshToken != "" {
		t.Fatalf("spa: %+v %v", tok, err)
	}
	e.clock.Advance(30 * time.Second)
	if _, err := spa.exchange(code); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("spa replay: %v", err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("spa access token after the replay: %v", in)
	}
	// And it stays revoked for the rest of its life.
	e.clock.Advance(55 * time.Minute)
	if in := e.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("spa access token 55 minutes after the replay: %v", in)
	}
}

func TestAuthCodePublicClient(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	spa := newFlow(e.oauthConfig("spa", "", spaRedirect))
	code := b.codeFor(spa, "acme", "bob")

	// Another client (public or confidential) cannot redeem it.
	other := *spa.cfg
	other.ClientID = "public-app"
	if _, err := other.Exchange(context.Background(), code, oauth2.VerifierOption(spa.verifier)); oauthErrorCode(err) == "" {
		t.Errorf("another client redeemed the code: %v", err)
	}
	code = callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code")
	other.ClientID, other.ClientSecret = "web", ""
	if _, err := other.Exchange(context.Background(), code, oauth2.VerifierOption(spa.verifier)); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("a confidential client without its secret: %v", err)
	}
	code = callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code")
	other.ClientID, other.ClientSecret = "single", webSecret
	if _, err := other.Exchange(context.Background(), code, oauth2.VerifierOption(spa.verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("another client with the grant redeemed the code: %v", err)
	}
	// A public client that sends a secret is refused.
	code = callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code")
	withSecret := *spa.cfg
	withSecret.ClientSecret = "anything-at-all"
	if _, err := withSecret.Exchange(context.Background(), code, oauth2.VerifierOption(spa.verifier)); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("a public client with a secret: %v", err)
	}
	// With client_id alone it works.
	code = callback(t, e, b.Get(spa.url), spaRedirect, spa.state).Get("code")
	spa.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, err := spa.exchange(code)
	if err != nil {
		t.Fatal(err)
	}
	if in := e.introspect(tok.AccessToken); in["active"] != true || in["sub"] != "bob" || in["client_id"] != "spa" {
		t.Errorf("introspection = %v", in)
	}
	// A confidential client's code needs its secret.
	web := newFlow(e.oauthConfig("web", "wrong-secret-0123456789abcdefghijklmnop", webRedirect))
	code = callback(t, e, b.Get(web.url), webRedirect, web.state).Get("code")
	if _, err := web.exchange(code); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestHostedLoginErrorsRevealNothing(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	start := b.Get(f.url)
	attempt := func(org, username, pw string) string {
		t.Helper()
		p := b.Submit(start.Form(t, "org"), map[string]string{"organization": org})
		p = b.Submit(p.Form(t, "password"), map[string]string{"username": username, "password": pw})
		if p.Status != http.StatusOK {
			t.Fatalf("%s/%s: %d %s", org, username, p.Status, p.Body)
		}
		// What differs is only what the user typed.
		body := strings.ReplaceAll(p.Body, ">"+org+"<", ">ORG<")
		body = strings.ReplaceAll(body, `value="`+org+`"`, `value="ORG"`)
		return strings.ReplaceAll(body, `value="`+username+`"`, `value="USER"`)
	}
	wrongPassword := attempt("globex", "gina", "not the password at all")
	if !strings.Contains(wrongPassword, "The organization, username or password is not correct.") {
		t.Fatalf("wrong password page: %s", wrongPassword)
	}
	for name, body := range map[string]string{
		"unknown user":                   attempt("globex", "nobody", "not the password at all"),
		"unknown org":                    attempt("nosuchorg", "gina", "not the password at all"),
		"disabled user":                  attempt("globex", "dora", userPassword),
		"org the client does not accept": attempt("latch", "gina", "not the password at all"),
	} {
		if body != wrongPassword {
			t.Errorf("%s: the page differs from a wrong password's:\n%s\n---\n%s", name, body, wrongPassword)
		}
	}
	// The organization step accepts any well-formed id, and refuses the rest.
	p := b.Submit(start.Form(t, "org"), map[string]string{"organization": "no such org!"})
	if !p.HasForm("org") || p.Alert() == "" {
		t.Errorf("malformed org: %s", p.Body)
	}
}

func TestHostedLoginSharesThePasswordGrantBudget(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	pw := b.Submit(b.Get(f.url).Form(t, "org"), map[string]string{"organization": "acme"}).Form(t, "password")
	for range 6 {
		b.Submit(pw, map[string]string{"username": "bob", "password": "wrong password here"})
	}
	// The password grant sees the same lock for bob in acme...
	r := e.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {userPassword}}, "app", appSecret)
	if r.status != http.StatusBadRequest || !strings.Contains(r.str("error_description"), "too many") {
		t.Errorf("password grant after six failures on the page: %d %s", r.status, r.body)
	}
	// ...and the page says so, even with the right password, for a while.
	p := b.Submit(pw, map[string]string{"username": "bob", "password": userPassword})
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Errorf("page while locked: %d %s", p.Status, p.Alert())
	}
	// The sixth failure locked the account for a second (then 2, 4, ...,
	// at most 15 minutes).
	e.clock.Advance(2 * time.Second)
	if p := b.Submit(pw, map[string]string{"username": "bob", "password": userPassword}); p.Status != http.StatusSeeOther {
		t.Errorf("after the lock: %d %s", p.Status, p.Alert())
	}
}

func TestHostedLoginCSRF(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	pw := b.Submit(b.Get(f.url).Form(t, "org"), map[string]string{"organization": "acme"}).Form(t, "password")
	good := map[string]string{"username": "alice", "password": userPassword}
	for name, mutate := range map[string]func(v url.Values){
		"field missing":    func(v url.Values) { v.Del("csrf") },
		"field mismatched": func(v url.Values) { v.Set("csrf", strings.Repeat("A", 43)) },
		"request missing":  func(v url.Values) { v.Del("request") },
		"request tampered": func(v url.Values) {
			r := []byte(v.Get("request"))
			r[len(r)/2] ^= 1
			v.Set("request", string(r))
		},
	} {
		v := url.Values{}
		for k, x := range pw.Values {
			v[k] = append([]string(nil), x...)
		}
		for k, x := range good {
			v.Set(k, x)
		}
		mutate(v)
		p := b.Post(pw.Action, v)
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || len(p.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("%s: %d Location %q Set-Cookie %q", name, p.Status, p.Header.Get("Location"), p.Header.Values("Set-Cookie"))
		}
	}
	// The right fields from another site's page (Origin says so) are refused.
	v := url.Values{}
	for k, x := range pw.Values {
		v[k] = append([]string(nil), x...)
	}
	for k, x := range good {
		v.Set(k, x)
	}
	req, _ := http.NewRequest(http.MethodPost, pw.Action, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	if p := b.Do(req); p.Status != http.StatusBadRequest || len(p.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("cross-origin POST: %d %v", p.Status, p.Header.Values("Set-Cookie"))
	}
	// A browser without the cookie (another site posting the form) is refused.
	p := e.browser().Submit(pw, good)
	if p.Status != http.StatusBadRequest || len(p.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("without the cookie: %d %v", p.Status, p.Header.Values("Set-Cookie"))
	}
	// Nothing happened: no session, so the next request asks for a login.
	if p := b.Get(f.url); p.Status != http.StatusOK {
		t.Errorf("a session exists after refused POSTs: %d", p.Status)
	}
	// A pending request older than ten minutes is refused.
	e.clock.Advance(11 * time.Minute)
	if p := b.Submit(pw, good); p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Errorf("an 11-minute-old page: %d", p.Status)
	}
}

func TestAuthCodePromptNone(t *testing.T) {
	e := newAuthcodeEnv(t)
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect), oauth2.SetAuthURLParam("prompt", "none"))
	p := e.browser().Get(f.url)
	q := callback(t, e, p, webRedirect, f.state)
	if q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Errorf("prompt=none without a session: %v", q)
	}
	checkPageHeaders(t, p, "")
}

func TestLogout(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f, tok := b.webTokens("alice")
	idToken, _ := tok.Extra("id_token").(string)
	issuer, _ := url.Parse(e.url)
	stolen := b.Jar().Cookies(issuer)

	// Without an ID token hint, the user confirms (a link elsewhere cannot sign anyone out).
	p := b.Get(e.url + "/oauth2/logout?client_id=web&post_logout_redirect_uri=" + url.QueryEscape(webRedirect) + "&state=bye")
	if p.Status != http.StatusOK {
		t.Fatalf("logout without a hint: %d %s", p.Status, p.Body)
	}
	confirm := p.FormAt(t, "/oauth2/logout")
	if confirm.Values.Get("post_logout_redirect_uri") != webRedirect {
		t.Errorf("confirm form = %v", confirm.Values)
	}
	v := url.Values{}
	for k, x := range confirm.Values {
		v[k] = x
	}
	v.Del("csrf")
	if p := b.Post(confirm.Action, v); p.Status != http.StatusBadRequest {
		t.Errorf("confirmation without the CSRF field: %d", p.Status)
	}
	// Refused, so still signed in.
	g := newFlow(f.cfg)
	if q := callback(t, e, b.Get(g.url), webRedirect, g.state); q.Get("code") == "" {
		t.Errorf("the session ended without confirmation: %v", q)
	}

	// With the hint of the signed-in user: at once, back to a registered URI with state.
	p = b.Get(e.url + "/oauth2/logout?id_token_hint=" + idToken + "&post_logout_redirect_uri=" + url.QueryEscape("https://web.example/signed-out") + "&state=bye")
	u := p.LocationStatus(t, http.StatusSeeOther)
	if u.String() != "https://web.example/signed-out?state=bye" {
		t.Errorf("redirected to %s", u)
	}
	// The next authorization asks for the password again...
	g = newFlow(f.cfg)
	if p := b.Get(g.url); p.Status != http.StatusOK {
		t.Errorf("after logout: %d %s", p.Status, p.Header.Get("Location"))
	}
	// ...even with the old cookie put back: the session is revoked in the store.
	b.Jar().SetCookies(issuer, stolen)
	if p := b.Get(g.url); p.Status != http.StatusOK {
		t.Errorf("after logout with the old cookie: %d %s", p.Status, p.Header.Get("Location"))
	}

	// An unregistered post_logout_redirect_uri: signed out, no redirect.
	for _, target := range []string{"https://attacker.example/", webRedirect + "/", spaRedirect} {
		p := b.Get(e.url + "/oauth2/logout?id_token_hint=" + idToken + "&post_logout_redirect_uri=" + url.QueryEscape(target))
		if p.Status != http.StatusOK || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "signed out") {
			t.Errorf("target %s: %d Location %q", target, p.Status, p.Header.Get("Location"))
		}
	}
	// A hint that is not ours (or was tampered with) is refused.
	bad := idToken[:len(idToken)-4] + "AAAA"
	if p := b.Get(e.url + "/oauth2/logout?id_token_hint=" + bad + "&post_logout_redirect_uri=" + url.QueryEscape(webRedirect)); p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Errorf("tampered hint: %d %s", p.Status, p.Header.Get("Location"))
	}
	// An access token is not an ID token.
	if p := b.Get(e.url + "/oauth2/logout?id_token_hint=" + tok.AccessToken); p.Status != http.StatusBadRequest {
		t.Errorf("access token as hint: %d", p.Status)
	}
}

func TestLogoutConfirmed(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	b.codeFor(f, "acme", "alice")
	p := b.Get(e.url + "/oauth2/logout?client_id=web&post_logout_redirect_uri=" + url.QueryEscape(webRedirect) + "&state=s1")
	p = b.Submit(p.FormAt(t, "/oauth2/logout"), nil)
	if u := p.LocationStatus(t, http.StatusSeeOther); u.String() != webRedirect+"?state=s1" {
		t.Errorf("redirected to %s", u)
	}
	if p := b.Get(newFlow(f.cfg).url); p.Status != http.StatusOK {
		t.Errorf("after a confirmed logout: %d", p.Status)
	}
	// With no session, nothing to confirm.
	if p := b.Get(e.url + "/oauth2/logout"); p.Status != http.StatusOK || !strings.Contains(p.Body, "signed out") {
		t.Errorf("logout without a session: %d %s", p.Status, p.Body)
	}
}

func TestDisabledUserSessionStops(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	b.codeFor(f, "acme", "bob")
	g := newFlow(f.cfg)
	if q := callback(t, e, b.Get(g.url), webRedirect, g.state); q.Get("code") == "" {
		t.Fatalf("SSO before disabling: %v", q)
	}
	if _, err := e.store.UpdateUser(context.Background(), "acme", "bob", func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if p := b.Get(g.url); p.Status != http.StatusOK {
		t.Errorf("a disabled user's session: %d %s", p.Status, p.Header.Get("Location"))
	}
	// A code issued before the user was disabled is refused too.
	if _, err := e.store.UpdateUser(context.Background(), "acme", "bob", func(u *latch.User) error { u.Disabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	h := newFlow(f.cfg)
	code := b.codeFor(h, "acme", "bob")
	if _, err := e.store.UpdateUser(context.Background(), "acme", "bob", func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.exchange(code); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("a disabled user's code: %v", err)
	}
}

func TestHostedSignup(t *testing.T) {
	e := newAuthcodeEnv(t)
	b := e.browser()
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect, "openid"))
	p := b.Submit(b.Get(f.url).Form(t, "org"), map[string]string{"organization": "acme"})
	p = b.Submit(p.Form(t, "signup-form"), nil)
	form := p.Form(t, "signup")
	p = b.Submit(form, map[string]string{"username": "newbie", "password": "a long enough password", "password2": "another one"})
	if p.Alert() == "" || p.Status != http.StatusOK {
		t.Errorf("mismatched passwords: %d %s", p.Status, p.Alert())
	}
	p = b.Submit(form, map[string]string{"username": "alice", "password": "a long enough password", "password2": "a long enough password"})
	if !strings.Contains(p.Alert(), "already registered") {
		t.Errorf("taken username: %s", p.Alert())
	}
	p = b.Submit(form, map[string]string{"username": "Newbie", "email": "newbie@acme.test", "password": "a long enough password", "password2": "a long enough password"})
	tok, err := f.exchange(callback(t, e, p, webRedirect, f.state).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.FindUser(context.Background(), "acme", "newbie")
	if err != nil || len(u.Roles) != 1 || u.Roles[0] != "employee" {
		t.Fatalf("new user %+v %v", u, err)
	}
	if in := e.introspect(tok.AccessToken); in["sub"] != u.ID {
		t.Errorf("introspection = %v", in)
	}
	// globex has no sign-up: no link, and the step is refused.
	p = b.Submit(b.Get(newFlow(f.cfg, oauth2.SetAuthURLParam("prompt", "login")).url).Form(t, "org"), map[string]string{"organization": "globex"})
	if p.HasForm("signup-form") {
		t.Error("globex offers sign-up")
	}
	v := p.Form(t, "password")
	v.Values.Set("step", "signup")
	p = b.Submit(v, map[string]string{"username": "intruder", "password": "a long enough password", "password2": "a long enough password"})
	if p.Status == http.StatusSeeOther {
		t.Error("signed up in globex")
	}
	if _, err := e.store.FindUser(context.Background(), "globex", "intruder"); !latch.IsCode(err, latch.ENOTFOUND) {
		t.Errorf("intruder: %v", err)
	}
}

func TestDiscoveryListsTheAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	req, _ := http.NewRequest(http.MethodGet, e.url+"/.well-known/openid-configuration", nil)
	r := e.do(req)
	if r.str("authorization_endpoint") != e.url+"/oauth2/authorize" || r.str("end_session_endpoint") != e.url+"/oauth2/logout" ||
		r.json["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery: %s", r.body)
	}
	has := func(k, v string) bool {
		list, _ := r.json[k].([]any)
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	if !has("response_types_supported", "code") || !has("code_challenge_methods_supported", "S256") || has("code_challenge_methods_supported", "plain") ||
		!has("grant_types_supported", "authorization_code") {
		t.Errorf("discovery: %s", r.body)
	}
}

func TestLoginAssetsAreServed(t *testing.T) {
	e := newEnv(t, envOptions{})
	req, _ := http.NewRequest(http.MethodGet, e.url+"/oauth2/assets/latch.css", nil)
	r := e.do(req)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

func TestAuthCodeConcurrentRedemption(t *testing.T) {
	e := newAuthcodeEnv(t)
	f := newFlow(e.oauthConfig("web", webSecret, webRedirect))
	code := e.browser().codeFor(f, "acme", "alice")
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.exchange(code)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case oauthErrorCode(err) != "invalid_grant":
			t.Errorf("a losing redemption: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent redemptions succeeded, want exactly 1", ok, n)
	}
}
