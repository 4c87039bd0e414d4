package oauth

import (
	"net/http"
	"strings"

	"latch.dev/latch"
)

// discovery is the document served at both /.well-known/openid-configuration
// and /.well-known/oauth-authorization-server (RFC 8414).
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	AccessTokenSigningAlgValues       []string `json:"access_token_signing_alg_values_supported,omitempty"`
	ServiceDocumentation              string   `json:"service_documentation,omitempty"`
	AuthorizationResponseIssParameter bool     `json:"authorization_response_iss_parameter_supported"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := strings.TrimSuffix(s.opts.Issuer, "/")
	authMethods := []string{"client_secret_basic", "client_secret_post"}
	doc := discovery{
		Issuer:                            s.opts.Issuer,
		AuthorizationEndpoint:             iss + "/oauth2/authorize",
		EndSessionEndpoint:                iss + "/oauth2/logout",
		TokenEndpoint:                     iss + "/oauth2/token",
		JWKSURI:                           iss + "/.well-known/jwks.json",
		IntrospectionEndpoint:             iss + "/oauth2/introspect",
		RevocationEndpoint:                iss + "/oauth2/revoke",
		UserinfoEndpoint:                  iss + "/oauth2/userinfo",
		GrantTypesSupported:               []string{latch.GrantAuthorizationCode, latch.GrantClientCredentials, latch.GrantPassword, latch.GrantRefreshToken},
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		TokenEndpointAuthMethods:          append(authMethods, "none"),
		IntrospectionEndpointAuthMethods:  authMethods,
		RevocationEndpointAuthMethods:     append(authMethods, "none"),
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{s.keys.Algorithm()},
		AccessTokenSigningAlgValues:       []string{s.keys.Algorithm()},
		ScopesSupported:                   []string{"openid", "profile", "email", AdminScope},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "org_id", "sub_type", "sid", "auth_time", "nonce", "azp", "preferred_username", "email"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseIssParameter: true,
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	writeJSONBody(w, doc)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.keys.JWKS())
}
