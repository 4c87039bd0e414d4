package trust

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"latch.dev/latch"
)

// Token uses: which of a provider's tokens an Issuer accepts.
const (
	UseAccess = "access" // access tokens (Cognito token_use "access")
	UseID     = "id"     // OpenID Connect ID tokens (Cognito token_use "id")
)

// Issuer is an external identity provider whose tokens the authorizer
// accepts, for the users of one Latch org.
type Issuer struct {
	// Issuer is the exact iss of its tokens, e.g.
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC.
	Issuer string `json:"issuer"`
	// JWKSURI is where its signing keys are published; Issuer +
	// "/.well-known/jwks.json" (Cognito's location) when empty.
	JWKSURI string `json:"jwks_uri"`
	// Org is the Latch org its users belong to; a token's sub is a user id
	// in it. Two issuers may not share an org.
	Org string `json:"org"`
	// ClientIDs are the accepted app clients: an access token's client_id,
	// or an ID token's aud (and azp), must be one of them. Required.
	ClientIDs []string `json:"client_ids"`
	// TokenUse is UseAccess (the default) or UseID. A token_use claim, when
	// present, must equal it; Cognito always sends one, so for a Cognito
	// issuer it is required. Without the claim, the token's shape decides:
	// an access token must carry client_id (ID tokens do not) and a typ, if
	// any, of JWT or at+jwt; an ID token must carry one of ClientIDs in aud
	// and a typ, if any, of JWT.
	TokenUse string `json:"token_use"`
	// Audiences, for access tokens only: when set, the token's aud must
	// contain one of them (for providers that scope access tokens to an API
	// by aud; Cognito access tokens carry no aud).
	Audiences []string `json:"audiences"`
	// Algorithms are the accepted JWS algorithms; ["RS256"] (Cognito's)
	// when empty. Asymmetric ones only.
	Algorithms []string `json:"algorithms"`
}

// asymmetric are the algorithms an Issuer may allow: never none, never HMAC
// (a public key used as an HMAC secret would verify anything).
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// maxIssuersText bounds ParseIssuers' input: a configuration, not a data set.
const maxIssuersText = 1 << 20

// ParseIssuers reads a YAML or JSON list of issuers and validates it (see
// Validate). Empty text is an empty list.
func ParseIssuers(text string) ([]Issuer, error) {
	if len(text) > maxIssuersText {
		return nil, latch.Errorf(latch.EINVALID, "trusted issuers: longer than %d bytes", maxIssuersText)
	}
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var list []Issuer
	if err := yaml.UnmarshalWithOptions([]byte(text), &list, yaml.DisallowUnknownField()); err != nil {
		return nil, &latch.Error{Code: latch.EINVALID, Message: "trusted issuers: not a YAML or JSON list of issuers: " +
			strings.ReplaceAll(err.Error(), "\n", " ")}
	}
	list, err := Validate(list)
	if err != nil {
		return nil, err
	}
	return list, nil
}

// Validate checks issuers and returns a copy with the defaults filled in
// (JWKSURI, TokenUse, Algorithms). Errors name the entry's index and field:
// issuer and jwks_uri must be https URLs (http only for 127.0.0.1, ::1 or
// localhost, for tests) without query or fragment; issuers must be unique,
// and so must orgs; org must be a valid Latch id; client_ids must be
// non-empty; token_use must be access or id; algorithms must be asymmetric.
func Validate(issuers []Issuer) ([]Issuer, error) {
	out := make([]Issuer, 0, len(issuers))
	seenIss := map[string]int{}
	seenOrg := map[string]int{}
	for i, is := range issuers {
		bad := func(field, format string, args ...any) error {
			return latch.Errorf(latch.EINVALID, "trusted issuers[%d].%s: %s", i, field, fmt.Sprintf(format, args...))
		}
		if err := checkURL(is.Issuer); err != nil {
			return nil, bad("issuer", "%v", err)
		}
		if j, dup := seenIss[is.Issuer]; dup {
			return nil, bad("issuer", "%q is also entry %d", is.Issuer, j)
		}
		seenIss[is.Issuer] = i
		if is.JWKSURI == "" {
			is.JWKSURI = strings.TrimSuffix(is.Issuer, "/") + "/.well-known/jwks.json"
		}
		if err := checkURL(is.JWKSURI); err != nil {
			return nil, bad("jwks_uri", "%v", err)
		}
		if is.Org == "" {
			return nil, bad("org", "required: the Latch org the issuer's users belong to")
		}
		if err := latch.CheckID("org", is.Org); err != nil {
			return nil, bad("org", "%s", latch.ErrorMessage(err))
		}
		if j, dup := seenOrg[is.Org]; dup {
			return nil, bad("org", "%q is also the org of entry %d; each issuer needs its own org, so that two providers' subjects never meet", is.Org, j)
		}
		seenOrg[is.Org] = i
		if len(is.ClientIDs) == 0 {
			return nil, bad("client_ids", "required: the app clients whose tokens are accepted")
		}
		for _, id := range is.ClientIDs {
			if id == "" || strings.ContainsFunc(id, isSpaceOrControl) {
				return nil, bad("client_ids", "%q is not a client id", id)
			}
		}
		switch is.TokenUse {
		case "":
			is.TokenUse = UseAccess
		case UseAccess, UseID:
		default:
			return nil, bad("token_use", "%q: want %q or %q", is.TokenUse, UseAccess, UseID)
		}
		if len(is.Audiences) > 0 && is.TokenUse != UseAccess {
			return nil, bad("audiences", "only for access tokens; an ID token's aud is checked against client_ids")
		}
		for _, a := range is.Audiences {
			if a == "" {
				return nil, bad("audiences", "empty audience")
			}
		}
		if len(is.Algorithms) == 0 {
			is.Algorithms = []string{"RS256"}
		}
		for _, alg := range is.Algorithms {
			if !slices.Contains(asymmetric, alg) {
				return nil, bad("algorithms", "%q is not allowed: use one of %s", alg, strings.Join(asymmetric, ", "))
			}
		}
		is.ClientIDs = slices.Clone(is.ClientIDs)
		is.Audiences = slices.Clone(is.Audiences)
		is.Algorithms = slices.Clone(is.Algorithms)
		out = append(out, is)
	}
	return out, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// checkURL accepts an absolute https URL, or http on a loopback host.
func checkURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q: no user info, query or fragment allowed", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: https required (http only for 127.0.0.1, ::1 or localhost)", s)
	}
	return fmt.Errorf("%q: https required", s)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isCognito reports whether the issuer is a Cognito user pool, whose tokens
// always carry token_use.
func isCognito(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return strings.HasPrefix(h, "cognito-idp.") && (strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn"))
}
