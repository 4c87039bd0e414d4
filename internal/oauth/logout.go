//go:build !latch.lambda

package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

var errBadLogout = &pageError{http.StatusBadRequest,
	"This sign-out request is not valid. You may still be signed in; close the browser to be sure.", "invalid logout request"}

// idTokenHint is what logout takes from an ID token we issued.
type idTokenHint struct {
	Sub   string
	Org   string
	Aud   string
	valid bool
}

// handleLogout is RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0), GET or POST: id_token_hint (an ID token of ours, expired or not),
// client_id, post_logout_redirect_uri and state.
//
// The session is ended at once when the hint names the user signed in here
// (or nobody is); otherwise the user is asked to confirm, so that a link on
// another site cannot sign anyone out. post_logout_redirect_uri must be one
// of the client's redirect_uris, byte for byte; without a client (from the
// hint or client_id) or with another URI, there is no redirect and a
// "signed out" page is shown.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var v url.Values
	confirmed := false
	if r.Method == http.MethodPost {
		f, err := parseForm(w, r)
		if err != nil {
			s.renderPageError(w, r, errBadLogout)
			return
		}
		if f.get("confirm") != "" {
			if !s.checkCSRF(r, f) {
				s.renderPageError(w, r, errBadForm)
				return
			}
			confirmed = true
		}
		v = url.Values{}
		for k, x := range f {
			v.Set(k, x)
		}
	} else {
		var err error
		if v, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			s.renderPageError(w, r, errBadLogout)
			return
		}
		for _, vs := range v {
			if len(vs) > 1 {
				s.renderPageError(w, r, errBadLogout)
				return
			}
		}
	}
	var hint idTokenHint
	if raw := v.Get("id_token_hint"); raw != "" {
		var err error
		if hint, err = s.verifyIDTokenHint(raw); err != nil {
			s.log.InfoContext(ctx, "logout refused", "reason", err)
			s.renderPageError(w, r, errBadLogout)
			return
		}
	}
	clientID := v.Get("client_id")
	if hint.valid {
		if clientID != "" && clientID != hint.Aud {
			s.renderPageError(w, r, errBadLogout)
			return
		}
		clientID = hint.Aud
	}
	target, state := "", v.Get("state")
	if len(state) > maxStateLen {
		state = ""
	}
	if uri := v.Get("post_logout_redirect_uri"); uri != "" && clientID != "" {
		ok, err := s.postLogoutAllowed(ctx, clientID, uri)
		if err != nil {
			s.renderPageError(w, r, err)
			return
		}
		if ok {
			target = uri
		}
	}
	sess, hasSession := s.sessionCookie(ctx, r)
	if hasSession && !confirmed && !(hint.valid && hint.Sub == sess.Sub && hint.Org == sess.Org) {
		s.render(w, r, http.StatusOK, origin(target), page{
			Title: "Sign out", Step: "logout", CSRF: s.csrfToken(w, r),
			ClientID: clientID, PostLogoutRedirectURI: target, State: state,
		})
		return
	}
	if err := s.endSession(ctx, w, r); err != nil {
		s.renderPageError(w, r, err)
		return
	}
	if target != "" {
		p := url.Values{}
		if state != "" {
			p.Set("state", state)
		}
		s.redirect(w, target, p)
		return
	}
	s.render(w, r, http.StatusOK, "", page{Title: "Signed out", Step: "signed-out"})
}

// postLogoutAllowed reports whether uri is one of the client's redirect URIs.
func (s *Server) postLogoutAllowed(ctx context.Context, clientID, uri string) (bool, error) {
	if !latch.ValidID(clientID) {
		return false, nil
	}
	c, err := s.store.GetClient(ctx, clientID)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return false, nil
		}
		return false, err
	}
	return !c.Disabled && slices.Contains(c.RedirectURIs, uri), nil
}

// verifyIDTokenHint checks that raw is an ID token signed by one of our keys
// that still verifies, for our issuer. Expiry is not checked: a hint is
// often an old token (OIDC RP-Initiated Logout §2).
func (s *Server) verifyIDTokenHint(raw string) (idTokenHint, error) {
	if len(raw) > token.MaxTokenSize {
		return idTokenHint{}, errors.New("id_token_hint too large")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return idTokenHint{}, errors.New("id_token_hint is not a JWS")
	}
	hdr := jws.Signatures[0].Header
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		// Access tokens (at+jwt) are not ID tokens.
		return idTokenHint{}, errors.New("id_token_hint is not an ID token")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.keys.JWKS(), &set); err != nil {
		return idTokenHint{}, err
	}
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 || keys[0].Algorithm != hdr.Algorithm {
		return idTokenHint{}, errors.New("id_token_hint signed by an unknown key")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return idTokenHint{}, errors.New("id_token_hint signature does not verify")
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Org string          `json:"org_id"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return idTokenHint{}, errors.New("id_token_hint claims malformed")
	}
	var aud string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var list []string
		if err := json.Unmarshal(claims.Aud, &list); err != nil || len(list) != 1 {
			return idTokenHint{}, errors.New("id_token_hint aud malformed")
		}
		aud = list[0]
	}
	if claims.Iss != s.opts.Issuer || claims.Sub == "" || claims.Org == "" || aud == "" {
		return idTokenHint{}, errors.New("id_token_hint not issued here")
	}
	return idTokenHint{Sub: claims.Sub, Org: claims.Org, Aud: aud, valid: true}, nil
}
