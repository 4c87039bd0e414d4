package oauth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// authenticateClient identifies and authenticates the client of a request,
// with exactly one mechanism: HTTP Basic (RFC 6749 §2.3.1, id and secret
// form-encoded before base64), client_secret in the body, or, for a public
// client, client_id alone. An unknown client and a wrong secret cost the same
// digest work and get the same answer. When allowPublic is false, a public
// client is refused.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, f form, allowPublic bool) (latch.Client, error) {
	return s.authenticateClientFrom(ctx, s.source, r, f, allowPublic)
}

// authenticateClientFrom is authenticateClient reading clients and orgs
// from src (the cache, for read-only endpoints).
func (s *Server) authenticateClientFrom(ctx context.Context, src latch.Store, r *http.Request, f form, allowPublic bool) (latch.Client, error) {
	id, secret, rawSecret, basic, err := clientCredentials(r, f)
	if err != nil {
		return latch.Client{}, err
	}
	if id == "" {
		return latch.Client{}, invalidClient(basic)
	}
	c, err := src.GetClient(ctx, id)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			if secret != "" {
				password.DummyVerifyClientSecret(secret)
			}
			s.metrics.clientAuthFailures.Inc()
			return latch.Client{}, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", Basic: basic, cause: latch.Errorf(latch.EUNAUTHORIZED, "unknown client")}
		}
		return latch.Client{}, err
	}
	fail := func(reason string) (latch.Client, error) {
		s.metrics.clientAuthFailures.Inc()
		return latch.Client{}, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", Basic: basic, cause: latch.Errorf(latch.EUNAUTHORIZED, "client %s: %s", c.ID, reason)}
	}
	if c.Public() {
		if secret != "" {
			return fail("public client sent a secret")
		}
		if !allowPublic {
			return fail("public client not allowed here")
		}
	} else if secret == "" || !(password.VerifyClientSecret(c.SecretHash, secret) ||
		(rawSecret != secret && password.VerifyClientSecret(c.SecretHash, rawSecret))) {
		return fail("wrong or missing secret")
	}
	if c.Disabled {
		return fail("client disabled")
	}
	org, err := src.GetOrg(ctx, c.Org)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return fail("org missing")
		}
		return latch.Client{}, err
	}
	if org.Disabled {
		return fail("org disabled")
	}
	return c, nil
}

// clientCredentials extracts the client's id and secret from the request,
// refusing two mechanisms at once and a body client_id that contradicts the
// Basic user.
//
// RFC 6749 §2.3.1 says the Basic id and secret are form-encoded before
// base64, but many clients (curl -u among them) do not encode them, and a '+'
// in a secret then decodes to a space. So the secret is returned decoded and
// as sent (rawSecret), and either may match. Latch's own secrets are
// base64url and never differ between the two.
func clientCredentials(r *http.Request, f form) (id, secret, rawSecret string, basic bool, err error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return f.get("client_id"), f.get("client_secret"), f.get("client_secret"), false, nil
	}
	scheme, rest, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", "", false, invalidRequest("unsupported Authorization scheme; use Basic")
	}
	raw, decErr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if decErr != nil {
		return "", "", "", true, invalidRequest("malformed Basic credentials")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", "", true, invalidRequest("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", "", true, invalidRequest("malformed Basic credentials")
	}
	rawSecret = pass
	if secret, err = url.QueryUnescape(pass); err != nil {
		secret = pass // a '%' that is not an escape: the client did not encode
	}
	if f.get("client_secret") != "" {
		return "", "", "", true, invalidRequest("use one client authentication method")
	}
	if bodyID := f.get("client_id"); bodyID != "" && bodyID != id {
		return "", "", "", true, invalidRequest("client_id does not match the authenticated client")
	}
	return id, secret, rawSecret, true, nil
}

// AuthenticateBasic authenticates a confidential client by HTTP Basic alone,
// for endpoints whose body is not a form (the decision API). Reads go through
// the cache, as for introspection.
func (s *Server) AuthenticateBasic(r *http.Request) (latch.Client, error) {
	if r.Header.Get("Authorization") == "" {
		return latch.Client{}, invalidClient(true)
	}
	return s.authenticateClientFrom(r.Context(), s.store, r, form{}, false)
}
