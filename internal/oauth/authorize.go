//go:build !latch.lambda

package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

const (
	// authCodeTTL is the life of an authorization code: enough for a
	// redirect and one token request (RFC 6749 §4.1.2 says at most ten
	// minutes; a minute leaves a stolen code little time).
	authCodeTTL = 60 * time.Second
	// pendingRequestTTL is how long the login pages of one authorization
	// request may take.
	pendingRequestTTL = 10 * time.Minute
)

// Bounds on what an authorization request may carry, so that the sealed
// request stays small.
const (
	maxStateLen     = 1024
	maxNonceLen     = 512
	maxScopeLen     = 2048
	maxLoginHintLen = 256
)

// authRequest is a validated authorization request: what the login pages
// carry, sealed, from one step to the next.
type authRequest struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	Scope         string `json:"scope,omitempty"`
	State         string `json:"state,omitempty"`
	Nonce         string `json:"nonce,omitempty"`
	CodeChallenge string `json:"code_challenge"`
	// Org is the organization parameter: the login pages skip the
	// organization step and accept no other.
	Org       string `json:"org,omitempty"`
	LoginHint string `json:"login_hint,omitempty"`
}

// pageError is an authorization request error that must not be redirected
// (the client or the redirect URI is not trusted): it is shown on a page.
type pageError struct {
	status  int
	message string
	reason  string // for the log
}

func (e *pageError) Error() string { return e.reason }

var (
	errUnknownApp = &pageError{http.StatusBadRequest,
		"This application is not registered to sign in here, or it may not use this sign-in page.", "unknown or unfit client"}
	errBadRedirect = &pageError{http.StatusBadRequest,
		"The application sent a return address that is not registered for it, so it cannot be sent back there.", "redirect_uri missing or not registered"}
)

// handleAuthorize is the authorization endpoint (RFC 6749 §4.1.1, RFC 7636,
// OIDC Core §3.1.2), GET or POST. Errors about the client or the redirect
// URI are shown on a page; the others go back to the client with error,
// error_description, state and iss (RFC 9207). A user with a login session
// usable by this client gets a code at once (single sign-on); otherwise the
// login pages are shown, or login_required is returned for prompt=none.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	values, err := authorizeValues(w, r)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	req, c, err := s.parseAuthorize(ctx, values)
	if err != nil {
		var oe *oauthError
		if errors.As(err, &oe) {
			s.redirectError(w, r, req, oe)
			return
		}
		s.renderPageError(w, r, err)
		return
	}
	prompt := strings.Fields(values.Get("prompt"))
	promptNone := slices.Contains(prompt, "none")
	if promptNone && len(prompt) > 1 {
		s.redirectError(w, r, req, invalidRequest("prompt=none cannot be combined with other values"))
		return
	}
	maxAge := int64(-1)
	if v := values.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.redirectError(w, r, req, invalidRequest("max_age must be a non-negative integer"))
			return
		}
		maxAge = min(n, 1<<32) // a century is forever, and the Duration cannot overflow
	}
	sess, u, ok, err := s.currentSession(ctx, r)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	now := s.clock.Now()
	authTime := time.Unix(sess.AuthTime, 0)
	// prompt=consent is accepted and needs nothing: clients are registered
	// by administrators, so there is no third-party consent to ask for.
	reauth := slices.Contains(prompt, "login") || slices.Contains(prompt, "select_account") ||
		maxAge == 0 || (maxAge > 0 && now.Sub(authTime) > time.Duration(maxAge)*time.Second)
	usable := ok && c.AllowsLoginOrg(sess.Org) && (req.Org == "" || req.Org == sess.Org)
	if usable && !reauth {
		s.finishAuthorize(w, r, req, c, u, sess.SID, authTime)
		return
	}
	if promptNone {
		s.redirectError(w, r, req, &oauthError{Code: "login_required", Description: "the user must sign in"})
		return
	}
	var notice string
	if ok && !usable {
		notice = "You are signed in to another organization, which this application does not accept. Sign in with an organization it accepts."
	}
	s.showFirstStep(w, r, req, c, notice)
}

// authorizeValues reads the request's parameters: the query for GET, the
// form body for POST (OIDC Core §3.1.2.1).
func authorizeValues(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	bad := &pageError{http.StatusBadRequest, "The sign-in request is malformed.", "unparsable authorization request"}
	if r.Method == http.MethodPost {
		f, err := parseForm(w, r)
		if err != nil {
			return nil, bad
		}
		v := make(url.Values, len(f))
		for k, x := range f {
			v.Set(k, x)
		}
		return v, nil
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, bad
	}
	return v, nil
}

// parseAuthorize validates an authorization request. It returns a
// *pageError while the client and redirect URI are not established, then
// an *oauthError to send back to the redirect URI (req is then usable for
// that), or a store error.
func (s *Server) parseAuthorize(ctx context.Context, v url.Values) (authRequest, latch.Client, error) {
	var req authRequest
	single := func(k string) (string, bool) {
		vs := v[k]
		if len(vs) > 1 {
			return "", false
		}
		if len(vs) == 0 {
			return "", true
		}
		return vs[0], true
	}
	id, ok := single("client_id")
	if !ok || id == "" {
		return req, latch.Client{}, errUnknownApp
	}
	redirect, ok := single("redirect_uri")
	if !ok || redirect == "" {
		// Required even when the client has one: OAuth 2.1 §4.1.1 lets
		// it be left out, and exact matching is simpler to reason about.
		return req, latch.Client{}, errBadRedirect
	}
	c, err := s.authorizeClient(ctx, id, redirect)
	if err != nil {
		return req, latch.Client{}, err
	}
	req.ClientID, req.RedirectURI = c.ID, redirect
	// From here on, errors go back to the client; state first, so that
	// they carry it.
	if vs := v["state"]; len(vs) == 1 {
		req.State = vs[0]
	}
	for _, vs := range v {
		if len(vs) > 1 {
			return req, c, invalidRequest("a parameter was sent more than once")
		}
	}
	if len(req.State) > maxStateLen {
		req.State = ""
		return req, c, invalidRequest("state is too long")
	}
	if v.Get("request") != "" {
		return req, c, &oauthError{Code: "request_not_supported", Description: "request objects are not supported"}
	}
	if v.Get("request_uri") != "" {
		return req, c, &oauthError{Code: "request_uri_not_supported", Description: "request_uri is not supported"}
	}
	switch rt := v.Get("response_type"); rt {
	case "code":
	case "":
		return req, c, invalidRequest("response_type is required")
	default:
		return req, c, &oauthError{Code: "unsupported_response_type", Description: "only response_type=code is supported"}
	}
	if rm := v.Get("response_mode"); rm != "" && rm != "query" {
		return req, c, invalidRequest("only response_mode=query is supported")
	}
	req.CodeChallenge = v.Get("code_challenge")
	if req.CodeChallenge == "" {
		return req, c, invalidRequest("code_challenge is required (PKCE with S256)")
	}
	if v.Get("code_challenge_method") != "S256" {
		// An absent method means plain (RFC 7636 §4.3), which is refused.
		return req, c, invalidRequest("code_challenge_method must be S256")
	}
	if !validChallenge(req.CodeChallenge) {
		return req, c, invalidRequest("code_challenge must be the base64url SHA-256 of the code verifier")
	}
	req.Scope = strings.Join(strings.Fields(v.Get("scope")), " ")
	if len(req.Scope) > maxScopeLen {
		return req, c, invalidScope("the requested scope is too long")
	}
	// The user is not known yet: check the client's part of the scope rule
	// now, and the user's (the admin scope) when the code is issued.
	if _, err := s.resolveScopes(c, req.Scope, &latch.User{Roles: []string{AdminRole}}); err != nil {
		return req, c, err
	}
	req.Nonce = v.Get("nonce")
	if len(req.Nonce) > maxNonceLen {
		return req, c, invalidRequest("nonce is too long")
	}
	if org := v.Get("organization"); org != "" {
		if !latch.ValidID(org) || !c.AllowsLoginOrg(org) {
			return req, c, invalidRequest("the organization is not accepted by this client")
		}
		req.Org = org
	}
	if hint := v.Get("login_hint"); len(hint) <= maxLoginHintLen {
		req.LoginHint = hint
	}
	return req, c, nil
}

// authorizeClient loads a client that may use the authorization endpoint
// with redirect, matched byte for byte against its registered URIs.
func (s *Server) authorizeClient(ctx context.Context, id, redirect string) (latch.Client, error) {
	if !latch.ValidID(id) {
		return latch.Client{}, errUnknownApp
	}
	c, err := s.source.GetClient(ctx, id)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return latch.Client{}, errUnknownApp
		}
		return latch.Client{}, err
	}
	if c.Disabled || !c.HasGrant(latch.GrantAuthorizationCode) {
		return latch.Client{}, errUnknownApp
	}
	if !slices.Contains(c.RedirectURIs, redirect) {
		return latch.Client{}, errBadRedirect
	}
	org, err := s.source.GetOrg(ctx, c.Org)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return latch.Client{}, errUnknownApp
		}
		return latch.Client{}, err
	}
	if org.Disabled {
		return latch.Client{}, errUnknownApp
	}
	return c, nil
}

// validChallenge: an S256 challenge is 43 base64url characters (32 bytes).
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// finishAuthorize issues a code for u, signed in by the login session sid,
// and sends the browser back to the client, or sends back the error that
// prevents it.
func (s *Server) finishAuthorize(w http.ResponseWriter, r *http.Request, req authRequest, c latch.Client, u latch.User, sid string, authTime time.Time) {
	code, err := s.issueCode(r.Context(), req, c, u, sid, authTime)
	if err != nil {
		var oe *oauthError
		if errors.As(err, &oe) {
			s.redirectError(w, r, req, oe)
			return
		}
		s.renderPageError(w, r, err)
		return
	}
	p := url.Values{"code": {code}, "iss": {s.opts.Issuer}}
	if req.State != "" {
		p.Set("state", req.State)
	}
	s.log.InfoContext(r.Context(), "authorization code issued", "org", u.Org, "user", u.ID, "client_id", c.ID)
	s.redirect(w, req.RedirectURI, p)
}

// issueCode stores a new authorization code for u, signed in by the login
// session sid, and returns it. Only its digest is stored.
func (s *Server) issueCode(ctx context.Context, req authRequest, c latch.Client, u latch.User, sid string, authTime time.Time) (string, error) {
	scopes, err := s.resolveScopes(c, req.Scope, &u)
	if err != nil {
		return "", err
	}
	code, digest, err := token.NewOpaque(authCodePrefix)
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	err = s.store.CreateAuthCode(ctx, latch.AuthCode{
		Digest: digest, Org: u.Org, ClientID: c.ID, Subject: u.ID, RedirectURI: req.RedirectURI,
		Scopes: scopes, Audience: s.audiences(scopes), CodeChallenge: req.CodeChallenge, Nonce: req.Nonce,
		AuthTime: authTime.UTC(), ExpiresAt: now.Add(authCodeTTL), SessionID: sid,
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// redirectError sends an OAuth error back to the client's redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req authRequest, oe *oauthError) {
	s.log.InfoContext(r.Context(), "authorization request refused", "client_id", req.ClientID, "code", oe.Code, "reason", errText(oe))
	p := url.Values{"error": {oe.Code}, "error_description": {oe.Description}, "iss": {s.opts.Issuer}}
	if req.State != "" {
		p.Set("state", req.State)
	}
	s.redirect(w, req.RedirectURI, p)
}

// redirect answers 303 to base (a registered redirect URI, which has no
// fragment) with params appended to its query.
func (s *Server) redirect(w http.ResponseWriter, base string, params url.Values) {
	sep := "?"
	switch {
	case len(params) == 0:
		// Nothing to add (a logout without state): the registered URI as
		// it is, byte for byte.
		sep = ""
	case strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&"):
		sep = ""
	case strings.Contains(base, "?"):
		sep = "&"
	}
	pageHeaders(w, "")
	w.Header().Set("Location", base+sep+params.Encode())
	w.WriteHeader(http.StatusSeeOther)
}
