package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latch.dev/latch/middleware"
)

// Config is what NewApp needs.
type Config struct {
	// Issuer is Latch's issuer URL (its base URL).
	Issuer string
	// PublicURL is the app's own base URL as browsers reach it, without a
	// trailing slash: PublicURL+"/callback" and PublicURL+"/" are among the
	// client's redirect_uris.
	PublicURL string
	// ClientID is the public client the app signs people in with.
	ClientID string
	// Decider asks Latch whether a user's token may call a method on a path
	// (middleware.Remote with a client of scope latch/decide).
	Decider middleware.Decider
	Store   Store
	Log     *slog.Logger // nil: no logs
	// HTTPClient talks to Latch (discovery, token, userinfo); nil for one
	// with a 10 s timeout.
	HTTPClient *http.Client
}

// App is the records web application.
type App struct {
	cfg      Config
	oauth    *oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	sessions *sessions
	secure   bool // https: cookies are Secure and __Host- prefixed
	csp      string
	mux      *http.ServeMux
}

// Scopes the app asks for: openid for the ID token, records/read and
// records/write for the pages (the audience "records" of latch-service.yaml).
var scopes = []string{oidc.ScopeOpenID, "records/read", "records/write"}

// maxRecords is how many records a page lists.
const maxRecords = 200

// NewApp discovers Latch's endpoints (Latch must be up) and returns the app.
func NewApp(ctx context.Context, cfg Config) (*App, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, cfg.HTTPClient), cfg.Issuer)
	if err != nil {
		return nil, err
	}
	return newApp(cfg, provider)
}

// newApp builds the app on a discovered provider (nil in tests that do not
// sign in).
func newApp(cfg Config, provider *oidc.Provider) (*App, error) {
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || pub.Path != "" {
		return nil, errors.New("the public URL must be an absolute http(s) URL without a path")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, provider: provider, sessions: newSessions(), secure: pub.Scheme == "https"}
	if provider != nil {
		a.oauth = &oauth2.Config{
			ClientID: cfg.ClientID, RedirectURL: cfg.PublicURL + "/callback", Scopes: scopes,
			// A public client: client_id in the body, no secret; PKCE
			// proves it is the one that started the request.
			Endpoint: oauth2.Endpoint{AuthURL: provider.Endpoint().AuthURL, TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		}
		a.verifier = provider.Verifier(&oidc.Config{ClientID: cfg.ClientID})
	}
	// No script at all, styles from our own stylesheet, forms only to
	// ourselves (logout then redirects to Latch, which form-action covers
	// too in the browsers that check redirects).
	a.csp = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' " + origin(cfg.Issuer)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /style.css", serveCSS)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /orgs/{org}/records", a.orgPage(a.listRecords))
	mux.HandleFunc("POST /orgs/{org}/records", a.orgPage(a.addRecord))
	mux.HandleFunc("GET /orgs/{org}/records/{id}", a.orgPage(a.showRecord))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.render(w, http.StatusNotFound, errorPage("Page not found", "There is no such page."), nil)
	})
	a.mux = mux
	return a, nil
}

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", a.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: under no-referrer browsers post this
	// app's own forms with "Origin: null".
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// Cookies: the session and the pending login. Both HttpOnly and
// SameSite=Lax (sent on the top-level redirect back from Latch, not on a
// cross-site POST); on https, Secure with the __Host- prefix.
func (a *App) cookieName(base string) string {
	if a.secure {
		return "__Host-" + base
	}
	return base
}

func (a *App) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: a.cookieName(base), Value: value, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func (a *App) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(a.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

func (a *App) session(r *http.Request) (string, session, bool) {
	id := a.cookie(r, "records_session")
	if id == "" {
		return "", session{}, false
	}
	sess, ok := a.sessions.get(id)
	return id, sess, ok
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	var who *session
	if _, sess, ok := a.session(r); ok {
		who = &sess
	}
	a.render(w, http.StatusOK, page{Title: "Records", View: "home"}, who)
}

// login starts an authorization request: state, nonce and a PKCE S256
// verifier, kept server-side under a random id in a short-lived cookie.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	p := pendingLogin{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Expires: time.Now().Add(loginTTL)}
	id := a.sessions.startLogin(p)
	if id == "" {
		a.render(w, http.StatusServiceUnavailable, errorPage("Try again later", "Too many sign-ins are under way. Try again in a few minutes."), nil)
		return
	}
	a.setCookie(w, "records_login", id, loginTTL)
	http.Redirect(w, r, a.oauth.AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)), http.StatusSeeOther)
}

// callback finishes the authorization request: the state must be the one
// this browser's pending login holds, the code is exchanged with its PKCE
// verifier, and the ID token must verify (issuer, audience, expiry,
// signature) and carry its nonce.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	ctx := oidc.ClientContext(r.Context(), a.cfg.HTTPClient)
	failed := func(status int, why string, err error) {
		a.cfg.Log.InfoContext(ctx, "sign-in failed", "reason", why, "err", err)
		// A failed callback (a replayed or stale link) does not end a
		// session this browser already has: the page still shows it.
		var current *session
		if _, sess, ok := a.session(r); ok {
			current = &sess
		}
		a.render(w, status, errorPage("Sign-in failed", "The sign-in could not be completed. Try again from the start."), current)
	}
	loginID := a.cookie(r, "records_login")
	a.setCookie(w, "records_login", "", 0)
	p, ok := a.sessions.takeLogin(loginID)
	q := r.URL.Query()
	if !ok || !equalSecret(q.Get("state"), p.State) {
		failed(http.StatusBadRequest, "no pending login for this browser, or another state", nil)
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != a.cfg.Issuer { // RFC 9207
		failed(http.StatusBadRequest, "iss is not Latch", nil)
		return
	}
	if e := q.Get("error"); e != "" {
		failed(http.StatusBadRequest, "Latch answered "+e, nil)
		return
	}
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		failed(http.StatusBadGateway, "code exchange", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		failed(http.StatusBadGateway, "ID token", err)
		return
	}
	if !equalSecret(idt.Nonce, p.Nonce) {
		failed(http.StatusBadRequest, "nonce", nil)
		return
	}
	var claims struct {
		Org string `json:"org_id"`
	}
	if err := idt.Claims(&claims); err != nil || !validOrgID(claims.Org) {
		failed(http.StatusBadGateway, "ID token without org_id", err)
		return
	}
	username := idt.Subject
	if info, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && info.Subject == idt.Subject {
		var c struct {
			Username string `json:"preferred_username"`
		}
		if info.Claims(&c) == nil && c.Username != "" {
			username = c.Username
		}
	}
	// A new session, never a reused one (session fixation).
	if old := a.cookie(r, "records_session"); old != "" {
		a.sessions.end(old)
	}
	id := a.sessions.create(session{
		Sub: idt.Subject, Org: claims.Org, Username: username, AccessToken: tok.AccessToken, IDToken: raw,
		Expires: time.Now().Add(sessionTTL),
	})
	a.setCookie(w, "records_session", id, sessionTTL)
	a.cfg.Log.InfoContext(ctx, "signed in", "sub", idt.Subject, "org", claims.Org)
	http.Redirect(w, r, "/orgs/"+claims.Org+"/records", http.StatusSeeOther)
}

// logout ends the app's session and sends the browser to Latch's logout,
// which ends Latch's session too and comes back to the home page.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	id, sess, ok := a.session(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !a.checkCSRF(w, r, sess) {
		return
	}
	a.sessions.end(id)
	a.setCookie(w, "records_session", "", 0)
	v := url.Values{"id_token_hint": {sess.IDToken}, "post_logout_redirect_uri": {a.cfg.PublicURL + "/"}}
	http.Redirect(w, r, strings.TrimSuffix(a.cfg.Issuer, "/")+"/oauth2/logout?"+v.Encode(), http.StatusSeeOther)
}

// checkCSRF parses a POSTed form and checks its csrf field against the
// session's token; on failure it writes 400 and returns false.
func (a *App) checkCSRF(w http.ResponseWriter, r *http.Request, sess session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !equalSecret(r.PostForm.Get("csrf"), sess.CSRF) {
		a.render(w, http.StatusBadRequest, errorPage("Form not accepted",
			"This form was not sent from a page of this application, or the page is too old. Go back, reload the page and try again."), &sess)
		return false
	}
	return true
}

// orgRequest is a request to /orgs/{org}/... that Latch allowed.
type orgRequest struct {
	org  string
	sess session
}

// orgPage authorizes every request to /orgs/: a signed-in session, a
// canonical path (the one Latch decides on is exactly the one the app acts
// on), a valid CSRF token for a POST, and Latch's decision for the user's
// access token, this method and this path. Only then does h run, with the
// org of the URL, which is the partition it may touch.
func (a *App) orgPage(h func(http.ResponseWriter, *http.Request, orgRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		org, id := r.PathValue("org"), r.PathValue("id")
		want := "/orgs/" + org + "/records"
		valid := validOrgID(org)
		if id != "" {
			want += "/" + id
			valid = valid && validRecordID(id)
		}
		if !valid || r.URL.EscapedPath() != want {
			a.render(w, http.StatusNotFound, errorPage("Page not found", "There is no such page."), nil)
			return
		}
		sid, sess, ok := a.session(r)
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !a.checkCSRF(w, r, sess) {
			return
		}
		d, err := a.cfg.Decider.Decide(r.Context(), sess.AccessToken, r.Method, want)
		switch {
		case err != nil:
			a.cfg.Log.ErrorContext(r.Context(), "decision failed", "err", err)
			a.render(w, http.StatusServiceUnavailable, errorPage("Try again later", "The application cannot check your permissions at the moment."), &sess)
		case d.Unauthorized:
			// The access token expired or was revoked: sign in again
			// (Latch's own session may make that a redirect or two).
			a.sessions.end(sid)
			a.setCookie(w, "records_session", "", 0)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		case !d.Allow:
			a.cfg.Log.InfoContext(r.Context(), "refused", "sub", sess.Sub, "org", sess.Org, "method", r.Method, "path", want, "reason", d.Reason)
			a.render(w, http.StatusForbidden, errorPage("Not allowed",
				"You are not allowed to see or change the records of this organization."), &sess)
		default:
			h(w, r, orgRequest{org: org, sess: sess})
		}
	}
}

func (a *App) listRecords(w http.ResponseWriter, r *http.Request, or orgRequest) {
	a.showList(w, r, or, http.StatusOK, "", "", "")
}

func (a *App) showList(w http.ResponseWriter, r *http.Request, or orgRequest, status int, msg, title, text string) {
	recs, err := a.cfg.Store.List(r.Context(), or.org, maxRecords)
	if err != nil {
		a.storeError(w, r, err, or.sess)
		return
	}
	a.render(w, status, page{Title: "Records of " + or.org, View: "list", Org: or.org, Records: recs,
		Error: msg, FormTitle: title, FormText: text}, &or.sess)
}

const (
	maxTitle = 200
	maxText  = 5000
)

// addRecord stores a record in the org of the URL, the one Latch allowed;
// any org field in the form is ignored.
func (a *App) addRecord(w http.ResponseWriter, r *http.Request, or orgRequest) {
	title := strings.TrimSpace(r.PostForm.Get("title"))
	text := strings.TrimSpace(r.PostForm.Get("text"))
	var msg string
	switch {
	case title == "":
		msg = "Give the record a title."
	case !utf8.ValidString(title) || !utf8.ValidString(text):
		msg = "The title and text must be text."
	case utf8.RuneCountInString(title) > maxTitle:
		msg = "The title is too long (200 characters at most)."
	case utf8.RuneCountInString(text) > maxText:
		msg = "The text is too long (5000 characters at most)."
	}
	if msg != "" {
		a.showList(w, r, or, http.StatusBadRequest, msg, title, text)
		return
	}
	rec, err := a.cfg.Store.Add(r.Context(), or.org, Record{Title: title, Text: text, Author: or.sess.Username})
	if err != nil {
		a.storeError(w, r, err, or.sess)
		return
	}
	a.cfg.Log.InfoContext(r.Context(), "record added", "org", or.org, "id", rec.ID, "sub", or.sess.Sub)
	http.Redirect(w, r, "/orgs/"+or.org+"/records", http.StatusSeeOther)
}

func (a *App) showRecord(w http.ResponseWriter, r *http.Request, or orgRequest) {
	rec, err := a.cfg.Store.Get(r.Context(), or.org, r.PathValue("id"))
	if errors.Is(err, errNotFound) {
		a.render(w, http.StatusNotFound, errorPage("Record not found", "This organization has no such record."), &or.sess)
		return
	}
	if err != nil {
		a.storeError(w, r, err, or.sess)
		return
	}
	a.render(w, http.StatusOK, page{Title: rec.Title, View: "record", Org: or.org, Records: []Record{rec}}, &or.sess)
}

func (a *App) storeError(w http.ResponseWriter, r *http.Request, err error, sess session) {
	a.cfg.Log.ErrorContext(r.Context(), "store failed", "err", err)
	a.render(w, http.StatusServiceUnavailable, errorPage("Try again later", "The records cannot be reached at the moment."), &sess)
}
