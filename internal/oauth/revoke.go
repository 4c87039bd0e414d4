package oauth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

// handleRevoke implements RFC 7009. Revoking a refresh token revokes its whole
// family and the access tokens issued from it; revoking a JWT access token
// records its jti until it expires; an opaque one is deleted. Unknown tokens,
// tokens already revoked, and tokens issued to another client all answer 200
// and change nothing: the answer never tells a client whether someone else's
// token is valid.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.authenticateClient(r.Context(), r, f, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raw := f.get("token")
	if raw == "" {
		s.writeError(w, r, invalidRequest("token is required"))
		return
	}
	switch f.get("token_type_hint") {
	case "", "access_token", "refresh_token":
	default:
		s.writeError(w, r, &oauthError{Status: http.StatusBadRequest, Code: "unsupported_token_type", Description: "the token type is not supported"})
		return
	}
	if err := s.revoke(r.Context(), c, raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(ctx context.Context, c latch.Client, raw string) error {
	ignoreMissing := func(err error) error {
		switch latch.ErrorCode(err) {
		case "", latch.ENOTFOUND, latch.EUNAUTHORIZED, latch.EINVALID:
			return nil
		}
		return err
	}
	switch {
	case strings.HasPrefix(raw, refreshPrefix):
		if len(raw) > 256 {
			return nil
		}
		rt, err := s.store.GetRefreshToken(ctx, token.Digest(raw))
		if err != nil || rt.ClientID != c.ID {
			return ignoreMissing(err)
		}
		return s.store.RevokeFamily(ctx, rt.FamilyID)
	case strings.HasPrefix(raw, opaqueAccessPrefix):
		digest := token.Digest(raw)
		at, err := s.store.GetAccessToken(ctx, digest)
		if err != nil || at.ClientID != c.ID {
			return ignoreMissing(err)
		}
		return s.store.RevokeAccessToken(ctx, digest)
	default:
		cl, err := s.keys.VerifyAccess(raw, token.VerifyOptions{Issuer: s.opts.Issuer, Leeway: time.Minute})
		if err != nil || cl.ClientID != c.ID {
			return ignoreMissing(err)
		}
		return s.store.RevokeJTI(ctx, latch.Revocation{JTI: cl.JTI, Org: cl.OrgID, ExpiresAt: cl.ExpiresAt.Add(time.Minute)})
	}
}
