// Package console is Latch's web console at /console: organizations, users,
// clients, roles, audiences, sessions and a "test a request" form, in server
// rendered pages that run no script.
//
// The console holds no power of its own. An administrator signs in through
// the hosted login with the authorization code flow and PKCE, as the public
// client ClientID, and every page is made from calls to the admin API with
// that administrator's own access token (in process: the API handler is
// called directly, not over the network). So the console can never do more
// than its user may: an org administrator sees one org, a global
// administrator (a user of the system org with the admin role) all of them,
// and a user without the admin role nothing.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"latch.dev/latch"
)

// ClientID is the OAuth client the console signs in as. `latch serve`
// creates it in the system org, public, with login_orgs "*" and the
// redirect URI RedirectURI(issuer).
const ClientID = "latch-console"

// AdminScope is the scope the console asks for (oauth.AdminScope).
const AdminScope = "latch/admin"

// RedirectURI is the console's callback for an issuer.
func RedirectURI(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/console/callback" }

// Sealer seals the console's cookies (oauth.Server's SealConsole and
// OpenConsole). Open must fail for anything forged, altered or expired.
type Sealer interface {
	SealConsole(ctx context.Context, v any, ttl time.Duration) (string, error)
	OpenConsole(ctx context.Context, raw string, v any) error
}

// Options configure a Console.
type Options struct {
	// Issuer is Latch's public URL; the console lives at Issuer + "/console".
	Issuer string
	// API serves the admin API and the token endpoint (server.Server).
	API    http.Handler
	Sealer Sealer
	Log    *slog.Logger
	Clock  latch.Clock
}

// Console is the web console's http.Handler, for the paths under /console/.
type Console struct {
	opts   Options
	base   string // the issuer's path, which prefixes every link
	secure bool   // https issuer: Secure, __Host- cookies
	pages  *template.Template
	mux    *http.ServeMux
}

const (
	// sessionCookie holds the signed-in administrator's session; loginCookie
	// the state and PKCE verifier of a sign-in in progress.
	sessionCookie = "latch_console"
	loginCookie   = "latch_console_login"
	// loginTTL bounds a sign-in in progress.
	loginTTL = 10 * time.Minute
	// maxForm bounds a console form (a policy of a few thousand statements fits).
	maxForm = 1 << 20
)

// session is what the console cookie carries: the administrator's access
// token and who it speaks for. CSRF is a random value every form repeats.
type session struct {
	Token    string `json:"tok"`
	Org      string `json:"org"`
	Sub      string `json:"sub"`
	Username string `json:"name"`
	CSRF     string `json:"csrf"`
}

func (s session) global() bool { return s.Org == latch.SystemOrg }

// pendingLogin is what the login cookie carries between the redirect to the
// authorization endpoint and the callback.
type pendingLogin struct {
	State    string `json:"state"`
	Verifier string `json:"verifier"`
	ReturnTo string `json:"return_to"`
}

// New returns the console.
func New(o Options) (*Console, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = latch.SystemClock{}
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("console: issuer %q is not an absolute URL", o.Issuer)
	}
	c := &Console{opts: o, base: strings.TrimSuffix(iss.Path, "/"), secure: iss.Scheme == "https", pages: parsePages()}
	c.routes()
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// link returns the URL path of a console page, under the issuer's path.
func (c *Console) link(format string, args ...any) string {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = url.PathEscape(s)
		}
	}
	return c.base + "/console" + fmt.Sprintf(format, args...)
}

// --- cookies ---

func (c *Console) cookieName(base string) string {
	if c.secure {
		return "__Host-" + base
	}
	return base
}

// setCookie sets a console cookie: HttpOnly, SameSite=Lax, Secure and
// __Host- on https. Not Strict: a link to the console from another site
// starts a navigation that browsers treat as cross-site through all its
// redirects (to the hosted login, back to the callback, on to the page),
// so a strict session cookie set by the callback would be missing on the
// last hop and the console would send the browser to sign in again, in a
// loop. Lax is enough: GET pages change nothing, and every POST carries
// the session's CSRF value.
func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: c.cookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, ck)
}

func (c *Console) cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(c.cookieName(name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// currentSession opens the session cookie; false when there is none or it
// does not open (forged, expired, or sealed by a key that no longer
// verifies; a store failure to read the keys also means signing in again,
// which then reports it).
func (c *Console) currentSession(r *http.Request) (session, bool) {
	raw := c.cookie(r, sessionCookie)
	if raw == "" {
		return session{}, false
	}
	var s session
	if err := c.opts.Sealer.OpenConsole(r.Context(), raw, &s); err != nil {
		return session{}, false
	}
	return s, s.Token != "" && s.CSRF != ""
}

// --- signing in ---

// startLogin sends the browser to the hosted login, to come back to
// returnTo (a console path).
func (c *Console) startLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	state, verifier := random(), random()
	sealed, err := c.opts.Sealer.SealConsole(r.Context(), pendingLogin{State: state, Verifier: verifier, ReturnTo: returnTo}, loginTTL)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, loginCookie, sealed, loginTTL)
	sum := sha256.Sum256([]byte(verifier))
	// No scope: the client's own (the admin scope) for an administrator,
	// none for anybody else, who then learns that the console is not for
	// them rather than meeting an OAuth error.
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {ClientID},
		"redirect_uri":          {RedirectURI(c.opts.Issuer)},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	http.Redirect(w, r, c.base+"/oauth2/authorize?"+q.Encode(), http.StatusSeeOther)
}

// tokenResponse is the part of the token endpoint's answer the console reads.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
}

// callback finishes a sign-in: it checks state against the login cookie,
// redeems the code with the PKCE verifier at the token endpoint, and keeps
// the access token in the session cookie.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var pl pendingLogin
	raw := c.cookie(r, loginCookie)
	c.setCookie(w, loginCookie, "", 0) // one use
	if raw == "" || c.opts.Sealer.OpenConsole(r.Context(), raw, &pl) != nil ||
		subtle.ConstantTimeCompare([]byte(pl.State), []byte(q.Get("state"))) != 1 {
		c.message(w, r, http.StatusBadRequest, "Sign-in did not complete", "This sign-in expired or was started in another window. Open the console again to sign in.")
		return
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		c.message(w, r, http.StatusForbidden, "Sign-in did not complete", "Latch did not sign you in to the console.")
		return
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {RedirectURI(c.opts.Issuer)},
		"client_id":     {ClientID},
		"code_verifier": {pl.Verifier},
	}
	status, body := c.do(r, http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", "", strings.NewReader(form.Encode()))
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || status != http.StatusOK || tr.AccessToken == "" {
		c.opts.Log.WarnContext(r.Context(), "console sign-in: code redemption failed", "status", status, "error", tr.Error)
		c.message(w, r, http.StatusBadGateway, "Sign-in did not complete", "The sign-in could not be completed. Open the console again to sign in.")
		return
	}
	if !strings.Contains(" "+tr.Scope+" ", " "+AdminScope+" ") {
		// Offer the way to another account: the login session is the
		// one that was just used, so the console alone would sign the
		// same person in again.
		c.render(w, r, http.StatusForbidden, "message", view{Title: "Not an administrator",
			Error:   "You are signed in, but your account is not an administrator of its organization, so the console has nothing to show you.",
			SignOut: c.base + "/oauth2/logout?client_id=" + url.QueryEscape(ClientID)})
		return
	}
	// Who the token speaks for: its claims name the user, and the admin
	// API, asked for that user's record with the token, verifies both.
	sess := session{Token: tr.AccessToken, CSRF: random()}
	who, err := c.whoami(r, sess)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sess.Org, sess.Sub, sess.Username = who.Org, who.Sub, who.Username
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	sealed, err := c.opts.Sealer.SealConsole(r.Context(), sess, ttl)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, sealed, ttl)
	c.opts.Log.InfoContext(r.Context(), "console sign-in", "org", sess.Org, "user", sess.Sub)
	to := pl.ReturnTo
	if !strings.HasPrefix(to, c.base+"/console/") || strings.HasPrefix(to, c.base+"/console//") {
		to = c.link("/")
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// signOut ends the console session and sends the browser to the hosted
// login's logout, which ends the login session too.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, _ session) {
	c.setCookie(w, sessionCookie, "", 0)
	http.Redirect(w, r, c.base+"/oauth2/logout?client_id="+url.QueryEscape(ClientID), http.StatusSeeOther)
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// --- the admin API, in process ---

// apiError is an admin API answer other than 2xx.
type apiError struct {
	Status  int
	Code    string   `json:"error"`
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("admin API %d %s: %s", e.Status, e.Code, e.Message)
}

// do calls the handler behind the console in process, as the browser's
// request (its context and remote address, so that rate limits and logs
// name the right client).
func (c *Console) do(r *http.Request, method, path, contentType, bearer string, body io.Reader) (int, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := &recorder{header: http.Header{}}
	c.opts.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes()
}

// api calls the admin API with the session's token: in is sent as JSON
// (when not nil) and a 2xx answer decoded into out (when not nil).
func (c *Console) api(r *http.Request, s session, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	status, resp := c.do(r, method, "/admin/v1"+path, ctype, s.Token, body)
	if status < 200 || status > 299 {
		e := &apiError{Status: status}
		if json.Unmarshal(resp, e) != nil || e.Message == "" {
			e.Message = http.StatusText(status)
		}
		return e
	}
	if out != nil && len(resp) > 0 {
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("console: decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}

type identity struct {
	Org, Sub, Username string
}

// whoami learns who a fresh token speaks for from the admin API: the
// introspection-free way is the token's claims, which the API verified;
// the console reads them from the JWT payload only after the API accepted
// the token for the user's own record.
func (c *Console) whoami(r *http.Request, s session) (identity, error) {
	org, sub, ok := jwtSubject(s.Token)
	if !ok {
		return identity{}, errors.New("console: the access token is not a JWT with sub and org_id")
	}
	var u latch.User
	if err := c.api(r, s, http.MethodGet, "/orgs/"+url.PathEscape(org)+"/users/"+url.PathEscape(sub), nil, &u); err != nil {
		return identity{}, err
	}
	return identity{Org: org, Sub: sub, Username: u.Username}, nil
}

// jwtSubject reads sub and org_id from a JWT's payload without verifying
// it: the caller has the admin API verify the token before trusting them.
func jwtSubject(tok string) (org, sub string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", false
	}
	var claims struct {
		Sub string `json:"sub"`
		Org string `json:"org_id"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Sub == "" || claims.Org == "" {
		return "", "", false
	}
	return claims.Org, claims.Sub, true
}

// recorder is a ResponseWriter that keeps what the admin API wrote.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
