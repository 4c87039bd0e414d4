package oauth

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

// grantFunc runs one grant for an authenticated client and returns the
// response or an error; handleToken writes either.
type grantFunc func(ctx context.Context, r *http.Request, f form, c latch.Client) (*tokenResponse, error)

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Token prefixes make leaked tokens recognisable (secret scanners) and let
// introspection skip lookups that cannot match.
const (
	opaqueAccessPrefix = "lat_"
	refreshPrefix      = "lrt_"
)

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, grant, err := s.token(w, r)
	if err != nil {
		s.metrics.tokens.WithLabelValues(grant, toOAuthError(err).Code).Inc()
		s.writeError(w, r, err)
		return
	}
	s.metrics.tokens.WithLabelValues(grant, "ok").Inc()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, string, error) {
	f, err := parseForm(w, r)
	if err != nil {
		return nil, "none", err
	}
	gt := f.get("grant_type")
	if gt == "" {
		return nil, "none", invalidRequest("grant_type is required")
	}
	grant, ok := s.grants[gt]
	if !ok {
		return nil, "unsupported", &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "the grant type is not supported"}
	}
	// Public clients may refresh and redeem codes; client credentials
	// always need a secret.
	c, err := s.authenticateClient(r.Context(), r, f, gt != latch.GrantClientCredentials)
	if err != nil {
		return nil, gt, err
	}
	if !c.HasGrant(gt) {
		return nil, gt, unauthorizedClient("the client may not use this grant type")
	}
	resp, err := grant(r.Context(), r, f, c)
	return resp, gt, err
}

func (s *Server) clientCredentials(ctx context.Context, _ *http.Request, f form, c latch.Client) (*tokenResponse, error) {
	scopes, err := s.resolveScopes(c, f.get("scope"), nil)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, issueRequest{client: c, org: c.Org, subject: c.ID, subjectType: latch.SubjectClient, scopes: scopes})
}

// resolveScopes applies Latch's scope rule: no scope asks for every scope the
// client may have; an explicit list must be a subset of them, or the request
// fails with invalid_scope (never silently narrowed). For user grants the
// OIDC scopes are always allowed, and the admin scope needs the admin role.
func (s *Server) resolveScopes(c latch.Client, requested string, user *latch.User) ([]string, error) {
	isAdmin := user != nil && slices.Contains(user.Roles, AdminRole)
	if requested == "" {
		out := make([]string, 0, len(c.Scopes))
		for _, sc := range c.Scopes {
			if sc == AdminScope && user != nil && !isAdmin {
				continue
			}
			out = append(out, sc)
		}
		return out, nil
	}
	fields := strings.Fields(requested)
	out := make([]string, 0, len(fields))
	for _, sc := range fields {
		if slices.Contains(out, sc) {
			continue
		}
		switch {
		case user != nil && oidcScopes[sc]:
		case !slices.Contains(c.Scopes, sc):
			return nil, invalidScope("the requested scope is not allowed for this client")
		case sc == AdminScope && user != nil && !isAdmin:
			return nil, invalidScope("the requested scope is not allowed for this user")
		}
		out = append(out, sc)
	}
	return out, nil
}

// audiences returns the audiences named by scopes ("<audience>/<scope>"), or
// the issuer when no scope names one.
func (s *Server) audiences(scopes []string) []string {
	var aud []string
	for _, sc := range scopes {
		if a, _, ok := strings.Cut(sc, "/"); ok && !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	if len(aud) == 0 {
		aud = []string{s.opts.Issuer}
	}
	return aud
}

type issueRequest struct {
	client      latch.Client
	org         string
	subject     string
	subjectType string
	scopes      []string
	// family, when set, is the refresh family the access token belongs to.
	family string
	// refresh, when set, is the refresh token to return.
	refresh string
}

// issue mints the access token: a JWT (RFC 9068) or an opaque token stored by
// digest, as the client asks.
func (s *Server) issue(ctx context.Context, ir issueRequest) (*tokenResponse, error) {
	now := s.clock.Now()
	exp := now.Add(s.opts.AccessTokenTTL)
	jti := token.NewID()
	scope := strings.Join(ir.scopes, " ")
	aud := s.audiences(ir.scopes)
	var access string
	if ir.client.AccessTokenFormat == latch.TokenFormatOpaque {
		tok, digest, err := token.NewOpaque(opaqueAccessPrefix)
		if err != nil {
			return nil, err
		}
		err = s.store.CreateAccessToken(ctx, latch.AccessToken{
			Digest: digest, JTI: jti, Org: ir.org, ClientID: ir.client.ID, Subject: ir.subject,
			SubjectKind: ir.subjectType, Scopes: ir.scopes, Audience: aud, FamilyID: ir.family,
			IssuedAt: now, ExpiresAt: exp,
		})
		if err != nil {
			return nil, err
		}
		access = tok
	} else {
		tok, err := s.keys.MintAccess(token.AccessClaims{
			Issuer: s.opts.Issuer, Subject: ir.subject, Audience: aud, ExpiresAt: exp, IssuedAt: now,
			JTI: jti, ClientID: ir.client.ID, Scope: scope, OrgID: ir.org, SubjectType: ir.subjectType,
			SessionID: ir.family,
		})
		if err != nil {
			return nil, err
		}
		access = tok
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now) / time.Second),
		RefreshToken: ir.refresh, Scope: scope,
	}, nil
}

// codeFamilyMargin keeps the family of a code redemption without refresh
// tokens alive a little past its access token (and the verifiers' leeway),
// so that revoking the family still refuses the token until it expires.
const codeFamilyMargin = 5 * time.Minute

var errBadCode = invalidGrant("the authorization code is invalid, expired or used")

// authorizationCodeGrant redeems an authorization code (RFC 6749 §4.1.3,
// RFC 7636 §4.6). The client has been authenticated (a public client by its
// client_id alone). The code is consumed first, then checked: it must have
// been issued to this client, for this redirect_uri, with a challenge that
// is the S256 of code_verifier. A code presented again fails, and when the
// replay is otherwise valid (same client, redirect URI and verifier) the
// family of the first redemption is revoked: its refresh token and, through
// sid, its access tokens. A replay with other parameters revokes nothing, so
// that whoever merely saw a code cannot end the session it started; nor does
// one within the race window (Options.RefreshRaceWindow, 2 s) of the first
// redemption, which is how a client's concurrent requests look: of n
// concurrent redemptions exactly one succeeds.
//
// Every redemption starts a family, even for clients without the
// refresh_token grant, so that the access tokens carry a sid to revoke.
func (s *Server) authorizationCodeGrant(ctx context.Context, _ *http.Request, f form, c latch.Client) (*tokenResponse, error) {
	raw, redirect, verifier := f.get("code"), f.get("redirect_uri"), f.get("code_verifier")
	if raw == "" || redirect == "" || verifier == "" {
		return nil, invalidRequest("code, redirect_uri and code_verifier are required")
	}
	if !validVerifier(verifier) {
		return nil, invalidRequest("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	if !strings.HasPrefix(raw, authCodePrefix) || len(raw) > 256 {
		return nil, errBadCode
	}
	digest := token.Digest(raw)
	code, err := s.store.ConsumeAuthCode(ctx, digest)
	switch {
	case latch.IsCode(err, latch.ECONFLICT):
		if err := s.onCodeReuse(ctx, code, c, redirect, verifier); err != nil {
			return nil, err
		}
		return nil, refusedCode("code reused")
	case latch.IsCode(err, latch.ENOTFOUND):
		return nil, refusedCode("code unknown or expired")
	case err != nil:
		return nil, err
	}
	switch {
	case code.ClientID != c.ID:
		return nil, refusedCode("code issued to another client")
	case code.RedirectURI != redirect:
		return nil, refusedCode("redirect_uri differs from the authorization request's")
	case !pkceMatches(verifier, code.CodeChallenge):
		return nil, refusedCode("code_verifier does not match the code_challenge")
	case !s.clock.Now().Before(code.ExpiresAt):
		return nil, refusedCode("code expired")
	}
	u, err := s.source.GetUser(ctx, code.Org, code.Subject)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return nil, refusedCode("user gone")
		}
		return nil, err
	}
	if u.Disabled {
		return nil, refusedCode("user disabled")
	}
	org, err := s.source.GetOrg(ctx, code.Org)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return nil, refusedCode("org gone")
		}
		return nil, err
	}
	if org.Disabled {
		return nil, refusedCode("org disabled")
	}
	scopes := code.Scopes
	if slices.Contains(scopes, AdminScope) && !slices.Contains(u.Roles, AdminRole) {
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == AdminScope })
	}
	return s.issueForCode(ctx, c, u, code, digest, scopes)
}

func refusedCode(reason string) error {
	return &oauthError{Status: errBadCode.Status, Code: errBadCode.Code, Description: errBadCode.Description,
		cause: latch.Errorf(latch.ENOTFOUND, "%s", reason)}
}

// onCodeReuse revokes what the first redemption of code issued, when the
// replay is otherwise valid.
func (s *Server) onCodeReuse(ctx context.Context, code latch.AuthCode, c latch.Client, redirect, verifier string) error {
	if code.ClientID != c.ID || code.RedirectURI != redirect || !pkceMatches(verifier, code.CodeChallenge) {
		s.log.InfoContext(ctx, "used authorization code presented with other parameters; nothing revoked", "client_id", c.ID)
		return nil
	}
	if since := s.clock.Now().Sub(code.ConsumedAt); since <= s.opts.RefreshRaceWindow {
		// What a client's concurrent or retried request looks like (a
		// double-mounted single-page app, a retry after a lost response):
		// refused, and the first redemption keeps its tokens.
		s.log.InfoContext(ctx, "authorization code presented again within the race window; nothing revoked", "client_id", c.ID)
		return nil
	}
	s.log.WarnContext(ctx, "authorization code reused: the tokens it issued are revoked",
		"org", code.Org, "client_id", code.ClientID, "sub", code.Subject, "family", code.FamilyID)
	if code.FamilyID == "" {
		// The first redemption has not recorded its family yet (it is in
		// flight); there is nothing to revoke.
		return nil
	}
	if err := s.store.RevokeFamily(ctx, code.FamilyID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		return err
	}
	return nil
}

// issueForCode starts the family of a code redemption, records it on the
// code, and issues the access token, a refresh token when the client may
// refresh, and an ID token when openid was granted. The family and the ID
// token (sid) name the login session that issued the code, so that ending
// the session ends them too.
func (s *Server) issueForCode(ctx context.Context, c latch.Client, u latch.User, code latch.AuthCode, digest string, scopes []string) (*tokenResponse, error) {
	now := s.clock.Now()
	refresh := c.HasGrant(latch.GrantRefreshToken)
	fam := latch.Family{ID: token.NewID(), Org: u.Org, ClientID: c.ID, Subject: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(s.opts.AccessTokenTTL + codeFamilyMargin), Kind: latch.FamilyCode, SessionID: code.SessionID}
	if refresh {
		fam.ExpiresAt = now.Add(s.opts.RefreshAbsoluteTTL)
	}
	if err := s.store.CreateFamily(ctx, fam); err != nil {
		return nil, err
	}
	// Recorded before any token exists, so that a replay from now on
	// revokes everything this redemption issues.
	if err := s.store.SetAuthCodeFamily(ctx, digest, fam.ID); err != nil {
		return nil, err
	}
	// Checked after the family exists: a logout that revoked the session
	// either finds this family among the user's or is seen here.
	if err := s.checkCodeSession(ctx, code, fam.ID); err != nil {
		return nil, err
	}
	ir := issueRequest{client: c, org: u.Org, subject: u.ID, subjectType: latch.SubjectUser, scopes: scopes, family: fam.ID}
	if refresh {
		tok, rdigest, err := token.NewOpaque(refreshPrefix)
		if err != nil {
			return nil, err
		}
		err = s.store.CreateRefreshToken(ctx, latch.RefreshToken{
			Digest: rdigest, FamilyID: fam.ID, Org: u.Org, ClientID: c.ID, Subject: u.ID, Scopes: scopes,
			Audience: s.audiences(scopes), IssuedAt: now, ExpiresAt: minTime(now.Add(s.opts.RefreshIdleTTL), fam.ExpiresAt),
			FamilyEndAt: fam.ExpiresAt,
		})
		if err != nil {
			return nil, err
		}
		ir.refresh = tok
	}
	resp, err := s.issue(ctx, ir)
	if err != nil {
		return nil, err
	}
	if slices.Contains(scopes, "openid") {
		resp.IDToken, err = s.keys.MintID(token.IDClaims{
			Issuer: s.opts.Issuer, Subject: u.ID, Audience: []string{c.ID}, IssuedAt: now,
			ExpiresAt: now.Add(s.opts.AccessTokenTTL), AuthTime: code.AuthTime, Nonce: code.Nonce,
			OrgID: u.Org, AuthorizedParty: c.ID, SessionID: code.SessionID,
		})
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// checkCodeSession refuses a code whose login session has been ended (a
// logout between the code and its redemption) and revokes the family just
// started for it. A session that has merely expired since (the code lives a
// minute) does not refuse it.
func (s *Server) checkCodeSession(ctx context.Context, code latch.AuthCode, famID string) error {
	if code.SessionID == "" {
		return nil
	}
	sess, err := s.source.GetFamily(ctx, code.SessionID)
	if latch.IsCode(err, latch.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sess.Revoked() {
		return nil
	}
	if err := s.store.RevokeFamily(ctx, famID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		return err
	}
	return refusedCode("login session ended")
}
