package trust

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	jjson "github.com/go-jose/go-jose/v4/json"

	"latch.dev/latch"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/token"
)

// TokenVerifier is what Verifier wraps and itself is: Latch's own verifier
// (oauth.Server) has this method, and so does authorizer.TokenVerifier.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, raw string) (oauth.TokenInfo, error)
}

// Users is what Verifier reads from the store (latch.Store has it).
type Users interface {
	GetOrg(ctx context.Context, id string) (latch.Org, error)
	GetUser(ctx context.Context, org, id string) (latch.User, error)
}

// Options configure a Verifier.
type Options struct {
	// HTTPClient fetches the JWKS. The default has a 5 s timeout and
	// follows redirects only to https (or loopback http) URLs. Every fetch
	// is bounded by 5 s and 1 MiB whatever the client.
	HTTPClient *http.Client
	// Clock is latch.SystemClock{} by default.
	Clock latch.Clock
	// MinRefetch is the shortest time between two fetches of one issuer's
	// JWKS (for an unknown kid or stale keys): 5 minutes by default. After
	// a failed fetch the next may come after 10 s (or MinRefetch if less).
	MinRefetch time.Duration
	// MaxAge is how long fetched keys are used before the next token of
	// the issuer refetches them: 1 hour by default.
	MaxAge time.Duration
	// Log receives JWKS fetch outcomes (never a token); discarded when nil.
	Log *slog.Logger
}

// Leeway is the clock skew allowed on exp, nbf and iat: Latch's own.
const Leeway = token.DefaultLeeway

// Verifier verifies the tokens of external issuers and hands every other
// token to Latch's own verifier.
type Verifier struct {
	own   TokenVerifier
	users Users
	clock latch.Clock
	byIss map[string]*issuer
}

var _ TokenVerifier = (*Verifier)(nil)

// issuer is a validated Issuer and its key cache.
type issuer struct {
	cfg     Issuer
	cognito bool
	keys    *keySet
}

// New returns a Verifier for issuers (validated again here, see Validate)
// that delegates every other token to own and looks users up in users.
// Nothing is fetched yet: each issuer's JWKS is fetched on its first token.
func New(own TokenVerifier, users Users, issuers []Issuer, opts Options) (*Verifier, error) {
	if own == nil || users == nil {
		return nil, latch.Errorf(latch.EINVALID, "trust.New: a verifier and a store are required")
	}
	issuers, err := Validate(issuers)
	if err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultClient()
	}
	if opts.MinRefetch <= 0 {
		opts.MinRefetch = 5 * time.Minute
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{own: own, users: users, clock: opts.Clock, byIss: map[string]*issuer{}}
	for _, is := range issuers {
		v.byIss[is.Issuer] = &issuer{cfg: is, cognito: isCognito(is.Issuer), keys: &keySet{
			iss: is.Issuer, uri: is.JWKSURI, algs: is.Algorithms,
			client: opts.HTTPClient, clock: opts.Clock, log: opts.Log,
			minWait: opts.MinRefetch, failWait: min(opts.MinRefetch, retryAfterFailure), maxAge: opts.MaxAge,
		}}
	}
	return v, nil
}

// Reasons a token of an external issuer is refused; they reach logs through
// the error chain, never a client.
var (
	errHeader       = errors.New("malformed JOSE header")
	errCrit         = errors.New("crit header present")
	errAlg          = errors.New("alg not allowed for the issuer")
	errTyp          = errors.New("typ does not fit the issuer's token use")
	errNoFittingKey = errors.New("no key of the kid fits the alg")
	errSignature    = errors.New("signature does not verify")
	errClaims       = errors.New("malformed claims")
	errIssuer       = errors.New("iss does not match")
	errSubject      = errors.New("sub missing or not a valid Latch user id")
	errNoExp        = errors.New("exp missing")
	errNoIat        = errors.New("iat missing")
	errExpired      = errors.New("token expired")
	errNotYetValid  = errors.New("token not valid yet (nbf or iat in the future)")
	errTokenUse     = errors.New("token_use does not match the issuer's")
	errClient       = errors.New("client_id or aud is not an accepted client")
	errAudience     = errors.New("aud does not contain an accepted audience")
	errOrg          = errors.New("the issuer's org is gone or disabled")
	errUser         = errors.New("no such user in the issuer's org")
	errUserDisabled = errors.New("user disabled")
)

// refuse is every verification failure: one client-safe message, the
// reason kept for logs.
func refuse(iss string, reason error) error {
	return &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token", Op: "trust.VerifyAccessToken",
		Err: fmt.Errorf("issuer %s: %w", iss, reason)}
}

func unavailable(cause error) error {
	err := errUnavailable
	if cause != nil {
		err = fmt.Errorf("%w: %w", errUnavailable, cause)
	}
	return &latch.Error{Code: latch.EUNAVAILABLE, Message: "the identity provider's keys are unavailable",
		Op: "trust.VerifyAccessToken", Err: err}
}

// VerifyAccessToken verifies a token of a configured external issuer, or
// hands any other token (Latch's JWTs, opaque tokens, garbage) to Latch's
// verifier unchanged. Refusals are EUNAUTHORIZED "invalid token"; a JWKS
// that cannot be fetched is EUNAVAILABLE, and a store error is returned as
// is: neither is ever "valid".
func (v *Verifier) VerifyAccessToken(ctx context.Context, raw string) (oauth.TokenInfo, error) {
	if len(v.byIss) == 0 {
		return v.own.VerifyAccessToken(ctx, raw)
	}
	is := v.byIss[peekIssuer(raw)]
	if is == nil {
		return v.own.VerifyAccessToken(ctx, raw)
	}
	return v.verify(ctx, is, raw)
}

// peekIssuer returns the unverified iss of a JWS compact serialisation, or
// "" for anything else. It reads what the signature has not yet vouched for,
// only to choose the verifier; claims with a repeated member name have no
// issuer, so a token cannot name one issuer here and another later.
func peekIssuer(raw string) string {
	if len(raw) > token.MaxTokenSize {
		return ""
	}
	_, p64, _, ok := splitCompact(raw)
	if !ok {
		return ""
	}
	pb, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if jjson.Unmarshal(pb, &c) != nil {
		return ""
	}
	return c.Iss
}

// splitCompact splits a JWS compact serialisation. Every byte must be of the
// base64url alphabet or one of exactly two dots: no padding, whitespace or
// line breaks. The signature may be empty here; verification refuses it.
func splitCompact(raw string) (header, payload, sig string, ok bool) {
	var dots [2]int
	n := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.' && n < 2:
			dots[n] = i
			n++
		default:
			return "", "", "", false
		}
	}
	if n != 2 || dots[0] == 0 || dots[1] == dots[0]+1 {
		return "", "", "", false
	}
	return raw[:dots[0]], raw[dots[0]+1 : dots[1]], raw[dots[1]+1:], true
}

type header struct {
	Alg  string            `json:"alg"`
	Kid  string            `json:"kid"`
	Typ  string            `json:"typ"`
	Crit *jjson.RawMessage `json:"crit"`
}

// claims are the claims read from a verified payload. The JSON decoder is
// go-jose's: member names match exactly, and a repeated name is an error.
type claims struct {
	Iss      string       `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      audience     `json:"aud"`
	Azp      string       `json:"azp"`
	ClientID string       `json:"client_id"`
	TokenUse string       `json:"token_use"`
	Scope    string       `json:"scope"`
	JTI      string       `json:"jti"`
	Exp      *numericDate `json:"exp"`
	Iat      *numericDate `json:"iat"`
	Nbf      *numericDate `json:"nbf"`
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := jjson.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := jjson.Unmarshal(b, &many); err != nil {
		return errors.New("aud is not a string or an array of strings")
	}
	*a = many
	return nil
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// numericDate is an RFC 7519 NumericDate: a non-negative JSON number of
// seconds (a fraction is truncated). A string is not a number.
type numericDate int64

func (d *numericDate) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return errors.New("NumericDate is not a number")
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return errors.New("NumericDate out of range")
		}
		*d = numericDate(i)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return errors.New("NumericDate out of range")
	}
	*d = numericDate(f)
	return nil
}

func (v *Verifier) verify(ctx context.Context, is *issuer, raw string) (oauth.TokenInfo, error) {
	var none oauth.TokenInfo
	h64, _, s64, _ := splitCompact(raw) // peekIssuer found it well formed
	strict := base64.RawURLEncoding.Strict()
	hb, err := strict.DecodeString(h64)
	if err != nil {
		return none, refuse(is.cfg.Issuer, errHeader)
	}
	var h header
	if err := jjson.Unmarshal(hb, &h); err != nil {
		return none, refuse(is.cfg.Issuer, errHeader)
	}
	if h.Crit != nil {
		return none, refuse(is.cfg.Issuer, errCrit)
	}
	// The issuer's list holds asymmetric algorithms only, so none (in any
	// case) and HS256 fail here, before any key is looked at.
	if !slices.Contains(is.cfg.Algorithms, h.Alg) {
		return none, refuse(is.cfg.Issuer, errAlg)
	}
	if !typFits(is.cfg.TokenUse, h.Typ) {
		return none, refuse(is.cfg.Issuer, errTyp)
	}
	// go-jose decodes leniently; strict decoding here means no second
	// spelling of a token verifies.
	if sig, err := strict.DecodeString(s64); err != nil || len(sig) == 0 {
		return none, refuse(is.cfg.Issuer, errSignature)
	}
	keys, err := is.keys.lookup(ctx, h.Kid)
	if errors.Is(err, errUnknownKey) {
		return none, refuse(is.cfg.Issuer, err)
	}
	if err != nil {
		return none, err
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(h.Alg)})
	if err != nil || len(jws.Signatures) != 1 {
		return none, refuse(is.cfg.Issuer, errHeader)
	}
	var payload []byte
	reason := errNoFittingKey
	for _, k := range keys {
		if !k.fits(h.Alg) {
			continue
		}
		p, err := jws.Verify(k.key)
		if err == nil {
			payload, reason = p, nil
			break
		}
		reason = errSignature
	}
	if reason != nil {
		return none, refuse(is.cfg.Issuer, reason)
	}
	var c claims
	if err := jjson.Unmarshal(payload, &c); err != nil {
		return none, refuse(is.cfg.Issuer, errClaims)
	}
	clientID, err := v.check(is, &c)
	if err != nil {
		return none, refuse(is.cfg.Issuer, err)
	}
	if err := v.enrolled(ctx, is, c.Sub); err != nil {
		return none, err
	}
	var scopes []string
	for _, s := range strings.Fields(c.Scope) {
		if !strings.HasPrefix(s, "latch/") { // Latch's own scopes are Latch's to grant
			scopes = append(scopes, s)
		}
	}
	return oauth.TokenInfo{
		JTI: c.JTI, Org: is.cfg.Org, ClientID: clientID, Subject: c.Sub, SubjectType: latch.SubjectUser,
		Scopes: scopes,
		// Audience stays nil: the provider's aud is not a Latch audience
		// (see the package comment), so no scope layer applies.
		IssuedAt: int64(*c.Iat), ExpiresAt: int64(*c.Exp),
	}, nil
}

// typFits says which header typ values each token use accepts: none, JWT,
// and for access tokens at+jwt (RFC 9068); anything else (logout, DPoP,
// secevent tokens...) is not a bearer token for this API.
func typFits(use, typ string) bool {
	switch t := strings.ToLower(typ); t {
	case "", "jwt", "application/jwt":
		return true
	case "at+jwt", "application/at+jwt":
		return use == UseAccess
	}
	return false
}

// check applies the claim rules and returns the client the token was issued
// to.
func (v *Verifier) check(is *issuer, c *claims) (string, error) {
	if c.Iss != is.cfg.Issuer {
		return "", errIssuer
	}
	if !latch.ValidID(c.Sub) {
		return "", errSubject
	}
	if c.Exp == nil {
		return "", errNoExp
	}
	if c.Iat == nil {
		return "", errNoIat
	}
	now := v.clock.Now()
	exp, iat := time.Unix(int64(*c.Exp), 0), time.Unix(int64(*c.Iat), 0)
	if !now.Before(exp.Add(Leeway)) {
		return "", errExpired
	}
	if !exp.After(iat) {
		return "", errClaims
	}
	latest := now.Add(Leeway)
	if iat.After(latest) || (c.Nbf != nil && time.Unix(int64(*c.Nbf), 0).After(latest)) {
		return "", errNotYetValid
	}
	if (c.TokenUse != "" && c.TokenUse != is.cfg.TokenUse) || (c.TokenUse == "" && is.cognito) {
		return "", errTokenUse
	}
	if is.cfg.TokenUse == UseAccess {
		if !slices.Contains(is.cfg.ClientIDs, c.ClientID) {
			return "", errClient
		}
		if len(is.cfg.Audiences) > 0 && !slices.ContainsFunc(c.Aud, func(a string) bool { return slices.Contains(is.cfg.Audiences, a) }) {
			return "", errAudience
		}
		return c.ClientID, nil
	}
	// An ID token (OpenID Connect Core §3.1.3.7): aud contains the client;
	// with several audiences azp names it, and azp, when present, must be
	// an accepted client.
	if c.Azp != "" {
		if !slices.Contains(is.cfg.ClientIDs, c.Azp) || !slices.Contains(c.Aud, c.Azp) {
			return "", errClient
		}
		return c.Azp, nil
	}
	if len(c.Aud) != 1 || !slices.Contains(is.cfg.ClientIDs, c.Aud[0]) {
		return "", errClient
	}
	return c.Aud[0], nil
}

// enrolled checks that the org is enabled and that sub is an enabled user of
// it. A store failure is returned as is: the caller denies.
func (v *Verifier) enrolled(ctx context.Context, is *issuer, sub string) error {
	org, err := v.users.GetOrg(ctx, is.cfg.Org)
	if latch.IsCode(err, latch.ENOTFOUND) || err == nil && org.Disabled {
		return refuse(is.cfg.Issuer, errOrg)
	}
	if err != nil {
		return err
	}
	u, err := v.users.GetUser(ctx, is.cfg.Org, sub)
	if latch.IsCode(err, latch.ENOTFOUND) {
		return refuse(is.cfg.Issuer, errUser)
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		return refuse(is.cfg.Issuer, errUserDisabled)
	}
	return nil
}
