package oauth

import (
	"context"
	"net/http"
	"strings"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

// TokenInfo is what Latch knows about a valid access token.
type TokenInfo struct {
	JTI         string
	Org         string
	ClientID    string
	Subject     string
	SubjectType string
	Scopes      []string
	Audience    []string
	FamilyID    string
	IssuedAt    int64
	ExpiresAt   int64
}

// VerifyAccessToken checks an access token, JWT or opaque, and everything that
// can revoke it: its jti, its refresh family, its subject (a disabled or
// deleted user, a disabled client). Any failure is EUNAUTHORIZED, except a
// store failure, which is EUNAVAILABLE: never an answer of "valid".
func (s *Server) VerifyAccessToken(ctx context.Context, raw string) (TokenInfo, error) {
	unauthorized := func(reason string) (TokenInfo, error) {
		return TokenInfo{}, &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token", Err: latch.Errorf(latch.EUNAUTHORIZED, "%s", reason)}
	}
	if raw == "" || len(raw) > token.MaxTokenSize {
		return unauthorized("empty or oversized token")
	}
	var ti TokenInfo
	if strings.HasPrefix(raw, opaqueAccessPrefix) {
		at, err := s.store.GetAccessToken(ctx, token.Digest(raw))
		if err != nil {
			if latch.IsCode(err, latch.ENOTFOUND) {
				return unauthorized("unknown opaque token")
			}
			return TokenInfo{}, err
		}
		ti = TokenInfo{JTI: at.JTI, Org: at.Org, ClientID: at.ClientID, Subject: at.Subject, SubjectType: at.SubjectKind,
			Scopes: at.Scopes, Audience: at.Audience, FamilyID: at.FamilyID, IssuedAt: at.IssuedAt.Unix(), ExpiresAt: at.ExpiresAt.Unix()}
	} else {
		digest := token.Digest(raw)
		cl, ok := s.verified.get(digest, s.clock.Now())
		if !ok {
			var err error
			cl, err = s.keys.VerifyAccess(raw, token.VerifyOptions{Issuer: s.opts.Issuer})
			if err != nil && s.reloadKeys(ctx) {
				// Another server (or Lambda) may have rotated the keys since
				// this one loaded them: look again, at most every few seconds.
				cl, err = s.keys.VerifyAccess(raw, token.VerifyOptions{Issuer: s.opts.Issuer})
			}
			if err != nil {
				return TokenInfo{}, err
			}
			s.verified.put(digest, cl)
		}
		revoked, err := s.store.JTIRevoked(ctx, cl.JTI)
		if err != nil {
			return TokenInfo{}, err
		}
		if revoked {
			return unauthorized("jti revoked")
		}
		ti = TokenInfo{JTI: cl.JTI, Org: cl.OrgID, ClientID: cl.ClientID, Subject: cl.Subject, SubjectType: cl.SubjectType,
			Scopes: strings.Fields(cl.Scope), Audience: cl.Audience, FamilyID: cl.SessionID,
			IssuedAt: cl.IssuedAt.Unix(), ExpiresAt: cl.ExpiresAt.Unix()}
	}
	if ti.FamilyID != "" {
		fam, err := s.store.GetFamily(ctx, ti.FamilyID)
		if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			return TokenInfo{}, err
		}
		// An expired family no longer revokes anything, but the access
		// token is still bounded by its own exp.
		if err == nil && fam.Revoked() {
			return unauthorized("family revoked")
		}
	}
	switch ti.SubjectType {
	case latch.SubjectUser:
		u, err := s.store.GetUser(ctx, ti.Org, ti.Subject)
		if err != nil {
			if latch.IsCode(err, latch.ENOTFOUND) {
				return unauthorized("user gone")
			}
			return TokenInfo{}, err
		}
		if u.Disabled {
			return unauthorized("user disabled")
		}
	case latch.SubjectClient:
	default:
		return unauthorized("unknown subject type")
	}
	c, err := s.store.GetClient(ctx, ti.ClientID)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return unauthorized("client gone")
		}
		return TokenInfo{}, err
	}
	if c.Disabled {
		return unauthorized("client disabled")
	}
	return ti, nil
}

type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	OrgID     string   `json:"org_id,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	SubType   string   `json:"sub_type,omitempty"`
}

// handleIntrospect implements RFC 7662. The caller must authenticate as a
// confidential client, and sees a token as active only if the token belongs
// to the caller's org, was issued to the caller, or the caller belongs to the
// system org: other tenants' tokens look like unknown ones.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	caller, err := s.authenticateClientFrom(r.Context(), s.store, r, f, false)
	if err != nil {
		s.metrics.introspections.WithLabelValues("error").Inc()
		s.writeError(w, r, err)
		return
	}
	raw := f.get("token")
	if raw == "" {
		s.writeError(w, r, invalidRequest("token is required"))
		return
	}
	res, err := s.introspect(r.Context(), caller, raw)
	if err != nil {
		s.metrics.introspections.WithLabelValues("error").Inc()
		s.writeError(w, r, err)
		return
	}
	if res.Active {
		s.metrics.introspections.WithLabelValues("active").Inc()
	} else {
		s.metrics.introspections.WithLabelValues("inactive").Inc()
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) introspect(ctx context.Context, caller latch.Client, raw string) (introspection, error) {
	inactive := introspection{Active: false}
	visible := func(org, clientID string) bool {
		return org == caller.Org || clientID == caller.ID || caller.Org == SystemOrg
	}
	if strings.HasPrefix(raw, refreshPrefix) {
		if len(raw) > 256 {
			return inactive, nil
		}
		rt, err := s.store.GetRefreshToken(ctx, token.Digest(raw))
		if err != nil {
			return notFoundAsInactive(err)
		}
		if rt.Rotated() || !visible(rt.Org, rt.ClientID) {
			return inactive, nil
		}
		fam, err := s.store.GetFamily(ctx, rt.FamilyID)
		if err != nil {
			return notFoundAsInactive(err)
		}
		if fam.Revoked() {
			return inactive, nil
		}
		return introspection{Active: true, Scope: strings.Join(rt.Scopes, " "), ClientID: rt.ClientID, Sub: rt.Subject,
			Exp: rt.ExpiresAt.Unix(), Iat: rt.IssuedAt.Unix(), Aud: rt.Audience, Iss: s.opts.Issuer,
			TokenType: "refresh_token", OrgID: rt.Org, SubType: latch.SubjectUser}, nil
	}
	ti, err := s.VerifyAccessToken(ctx, raw)
	if err != nil {
		return notFoundAsInactive(err)
	}
	if !visible(ti.Org, ti.ClientID) {
		return inactive, nil
	}
	return introspection{Active: true, Scope: strings.Join(ti.Scopes, " "), ClientID: ti.ClientID, Sub: ti.Subject,
		Exp: ti.ExpiresAt, Iat: ti.IssuedAt, Aud: ti.Audience, Iss: s.opts.Issuer, TokenType: "Bearer",
		OrgID: ti.Org, Jti: ti.JTI, SubType: ti.SubjectType}, nil
}

// notFoundAsInactive turns "no such token" into {"active":false}; a store
// failure stays an error (a 503, never "active").
func notFoundAsInactive(err error) (introspection, error) {
	switch latch.ErrorCode(err) {
	case latch.ENOTFOUND, latch.EUNAUTHORIZED, latch.EINVALID:
		return introspection{Active: false}, nil
	}
	return introspection{}, err
}
