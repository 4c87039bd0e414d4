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
	// Public clients may refresh (and, later, redeem codes); client
	// credentials always need a secret.
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
