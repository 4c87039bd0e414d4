package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"latch.dev/latch"
)

// Header typ values.
const (
	typAccess = "at+jwt" // RFC 9068 §2.1
	typJWT    = "JWT"    // ID tokens
)

// MaxTokenSize is the longest token VerifyAccess reads; longer ones are
// refused before any parsing.
const MaxTokenSize = 8 << 10

// DefaultLeeway is the clock skew VerifyOptions allows when Leeway is zero.
const DefaultLeeway = 30 * time.Second

// AccessClaims are the claims of a JWT access token (RFC 9068 §2.2).
type AccessClaims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user, or the client for client_credentials
	Audience  []string  // aud: at least one resource server
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat; MintAccess uses the clock's time when zero
	NotBefore time.Time // nbf; omitted when zero
	JTI       string    // jti: unique, the key for revocation (see NewID)
	ClientID  string    // client_id
	Scope     string    // scope: space separated; omitted when empty
	OrgID     string    // org_id: the tenant the token belongs to
	// SubjectType is latch.SubjectUser or latch.SubjectClient (claim
	// sub_type, omitted when empty).
	SubjectType string
	// SessionID is the refresh token family id (claim sid, omitted when empty).
	SessionID string
}

// IDClaims are the claims of an OpenID Connect ID token.
type IDClaims struct {
	Issuer          string    // iss
	Subject         string    // sub
	Audience        []string  // aud: the client id
	ExpiresAt       time.Time // exp
	IssuedAt        time.Time // iat; MintID uses the clock's time when zero
	AuthTime        time.Time // auth_time; omitted when zero
	Nonce           string    // nonce; omitted when empty
	OrgID           string    // org_id
	AuthorizedParty string    // azp; omitted when empty
	// SessionID is the login session the ID token was issued from (claim
	// sid, OIDC Front-/Back-Channel Logout; omitted when empty).
	SessionID string
}

// VerifyOptions say what VerifyAccess expects of a token.
type VerifyOptions struct {
	// Issuer must equal the token's iss exactly. Required: with no issuer
	// every token is refused.
	Issuer string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat: DefaultLeeway
	// (30 s) when zero, none when negative. Keep it to seconds.
	Leeway time.Duration
}

// audience marshals as a string when it holds one value (the common form)
// and as an array otherwise.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

type accessPayload struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      audience `json:"aud"`
	Exp      int64    `json:"exp"`
	Nbf      int64    `json:"nbf,omitempty"`
	Iat      int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	OrgID    string   `json:"org_id"`
	SubType  string   `json:"sub_type,omitempty"`
	SID      string   `json:"sid,omitempty"`
}

type idPayload struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      audience `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Nonce    string   `json:"nonce,omitempty"`
	OrgID    string   `json:"org_id"`
	Azp      string   `json:"azp,omitempty"`
	SID      string   `json:"sid,omitempty"`
}

// MintAccess signs an access token with the current key: JWS compact, header
// typ at+jwt. Missing required claims are a caller bug (latch.EINTERNAL).
func (k *Keys) MintAccess(c AccessClaims) (string, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = k.clock.Now()
	}
	var missing string
	switch {
	case c.Issuer == "":
		missing = "iss"
	case c.Subject == "":
		missing = "sub"
	case !validAudience(c.Audience):
		missing = "aud"
	case c.JTI == "":
		missing = "jti"
	case c.ClientID == "":
		missing = "client_id"
	case c.OrgID == "":
		missing = "org_id"
	case c.ExpiresAt.IsZero() || !c.ExpiresAt.After(c.IssuedAt):
		missing = "exp (after iat)"
	case c.SubjectType != "" && c.SubjectType != latch.SubjectUser && c.SubjectType != latch.SubjectClient:
		missing = "valid sub_type"
	}
	if missing != "" {
		return "", latch.Wrap(latch.EINTERNAL, "token.MintAccess", errors.New("claims lack "+missing))
	}
	p := accessPayload{
		Iss: c.Issuer, Sub: c.Subject, Aud: c.Audience,
		Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
		JTI: c.JTI, ClientID: c.ClientID, Scope: c.Scope, OrgID: c.OrgID,
		SubType: c.SubjectType, SID: c.SessionID,
	}
	if !c.NotBefore.IsZero() {
		p.Nbf = c.NotBefore.Unix()
	}
	return k.mint("token.MintAccess", p, false)
}

// MintID signs an OpenID Connect ID token with the current key (header typ
// JWT, so that it never passes VerifyAccess).
func (k *Keys) MintID(c IDClaims) (string, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = k.clock.Now()
	}
	if c.Issuer == "" || c.Subject == "" || !validAudience(c.Audience) || c.OrgID == "" ||
		c.ExpiresAt.IsZero() || !c.ExpiresAt.After(c.IssuedAt) {
		return "", latch.Wrap(latch.EINTERNAL, "token.MintID", errors.New("claims lack iss, sub, aud, org_id or exp"))
	}
	p := idPayload{
		Iss: c.Issuer, Sub: c.Subject, Aud: c.Audience,
		Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
		Nonce: c.Nonce, OrgID: c.OrgID, Azp: c.AuthorizedParty, SID: c.SessionID,
	}
	if !c.AuthTime.IsZero() {
		p.AuthTime = c.AuthTime.Unix()
	}
	return k.mint("token.MintID", p, true)
}

func validAudience(aud []string) bool {
	for _, a := range aud {
		if a == "" {
			return false
		}
	}
	return len(aud) > 0
}

func (k *Keys) mint(op string, payload any, id bool) (string, error) {
	s := k.set.Load()
	if s == nil {
		return "", latch.Wrap(latch.EUNAVAILABLE, op, errors.New("signing keys not loaded"))
	}
	kk := s.current
	body, err := json.Marshal(payload)
	if err != nil {
		return "", latch.Wrap(latch.EINTERNAL, op, err)
	}
	header := kk.atHeader
	if id {
		header = kk.idHeader
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(body))+1+enc.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, body)
	sig, err := kk.sign(buf)
	if err != nil {
		return "", latch.Wrap(latch.EINTERNAL, op, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// Reasons a token is refused; they reach logs through the error chain, never
// a client.
var (
	errNoIssuer     = errors.New("verifier has no issuer configured")
	errTooLarge     = errors.New("token larger than MaxTokenSize")
	errMalformed    = errors.New("not a JWS compact serialisation")
	errHeader       = errors.New("malformed JOSE header")
	errAlgNone      = errors.New("alg none or missing")
	errCrit         = errors.New("crit header present")
	errTyp          = errors.New("typ is not at+jwt")
	errNoKeys       = errors.New("signing keys not loaded")
	errUnknownKey   = errors.New("unknown kid")
	errAlgMismatch  = errors.New("alg does not match the key's algorithm")
	errKeyExpired   = errors.New("signing key expired")
	errBadSignature = errors.New("signature does not verify")
	errClaims       = errors.New("malformed claims")
	errMissingClaim = errors.New("required claim missing")
	errExpired      = errors.New("token expired")
	errNotYetValid  = errors.New("token not valid yet (nbf or iat in the future)")
	errIssuer       = errors.New("iss does not match")
	errAudience     = errors.New("aud does not contain the expected audience")
)

// refuse is what every verification failure returns: one client-safe
// message, the reason kept for logs.
func refuse(reason error) error {
	return &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token", Op: "token.VerifyAccess", Err: reason}
}

type joseHeader struct {
	alg, kid, typ string
}

// VerifyAccess verifies a JWT access token minted by these keys and returns
// its claims. Every failure is latch.EUNAUTHORIZED "invalid token"; the
// reason is in the wrapped cause.
//
// Rules: at most MaxTokenSize bytes; JWS compact with base64url without
// padding; no duplicate member names in header or claims; the kid must name a
// key of the set that still verifies, and alg must equal that key's algorithm
// (so alg none, HMAC and algorithm substitution fail); typ must be at+jwt or
// application/at+jwt (any case); crit is refused; jku, x5u, x5c and jwk are
// ignored. Claims iss (exact), sub, aud, exp, iat, jti, client_id and org_id
// are required; exp must not have passed, nbf and iat must not be in the
// future, each give or take the leeway.
func (k *Keys) VerifyAccess(raw string, opts VerifyOptions) (AccessClaims, error) {
	var c AccessClaims
	if opts.Issuer == "" {
		return c, refuse(errNoIssuer)
	}
	if len(raw) > MaxTokenSize {
		return c, refuse(errTooLarge)
	}
	h64, p64, s64, ok := splitCompact(raw)
	if !ok {
		return c, refuse(errMalformed)
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err := enc.DecodeString(h64)
	if err != nil {
		return c, refuse(errMalformed)
	}
	hdr, err := parseHeader(hb)
	if err != nil {
		return c, refuse(err)
	}
	if hdr.alg == "" || strings.EqualFold(hdr.alg, "none") {
		return c, refuse(errAlgNone)
	}
	if t := strings.ToLower(hdr.typ); t != typAccess && t != "application/"+typAccess {
		return c, refuse(errTyp)
	}
	s := k.set.Load()
	if s == nil {
		return c, refuse(errNoKeys)
	}
	kk := s.byKID[hdr.kid]
	if kk == nil {
		return c, refuse(errUnknownKey)
	}
	if hdr.alg != kk.alg {
		return c, refuse(errAlgMismatch)
	}
	now := k.clock.Now()
	if !kk.verifies(now) {
		return c, refuse(errKeyExpired)
	}
	sig, err := enc.DecodeString(s64)
	if err != nil || len(sig) == 0 || !kk.verify([]byte(raw[:len(h64)+1+len(p64)]), sig) {
		return c, refuse(errBadSignature)
	}
	pb, err := enc.DecodeString(p64)
	if err != nil {
		return c, refuse(errClaims)
	}
	var exp, iat, nbf int64
	var hasExp, hasIat bool
	err = readObject(pb, func(r objectReader, name string) error {
		var err error
		switch name {
		case "iss":
			c.Issuer, err = r.string()
		case "sub":
			c.Subject, err = r.string()
		case "aud":
			c.Audience, err = r.strings()
		case "exp":
			exp, err = r.numericDate()
			hasExp = true
		case "iat":
			iat, err = r.numericDate()
			hasIat = true
		case "nbf":
			nbf, err = r.numericDate()
		case "jti":
			c.JTI, err = r.string()
		case "client_id":
			c.ClientID, err = r.string()
		case "scope":
			c.Scope, err = r.string()
		case "org_id":
			c.OrgID, err = r.string()
		case "sub_type":
			c.SubjectType, err = r.string()
		case "sid":
			c.SessionID, err = r.string()
		default:
			err = r.skip(2)
		}
		return err
	})
	if errors.Is(err, errDuplicate) {
		return AccessClaims{}, refuse(errDuplicate)
	}
	if err != nil {
		return AccessClaims{}, refuse(errClaims)
	}
	if !hasExp || !hasIat || c.Issuer == "" || c.Subject == "" || !validAudience(c.Audience) ||
		c.JTI == "" || c.ClientID == "" || c.OrgID == "" {
		return AccessClaims{}, refuse(errMissingClaim)
	}
	if c.SubjectType != "" && c.SubjectType != latch.SubjectUser && c.SubjectType != latch.SubjectClient {
		return AccessClaims{}, refuse(errClaims)
	}
	if c.Issuer != opts.Issuer {
		return AccessClaims{}, refuse(errIssuer)
	}
	if opts.Audience != "" && !slices.Contains(c.Audience, opts.Audience) {
		return AccessClaims{}, refuse(errAudience)
	}
	leeway := opts.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	c.ExpiresAt = time.Unix(exp, 0).UTC()
	c.IssuedAt = time.Unix(iat, 0).UTC()
	if nbf != 0 {
		c.NotBefore = time.Unix(nbf, 0).UTC()
	}
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return AccessClaims{}, refuse(errExpired)
	}
	if latest := now.Add(leeway); c.IssuedAt.After(latest) || c.NotBefore.After(latest) {
		return AccessClaims{}, refuse(errNotYetValid)
	}
	return c, nil
}

func parseHeader(data []byte) (joseHeader, error) {
	var h joseHeader
	err := readObject(data, func(r objectReader, name string) error {
		var err error
		switch name {
		case "alg":
			h.alg, err = r.string()
		case "kid":
			h.kid, err = r.string()
		case "typ":
			h.typ, err = r.string()
		case "crit":
			return errCrit
		default: // jku, x5u, x5c, jwk and the rest: read past, never used
			err = r.skip(2)
		}
		return err
	})
	switch {
	case errors.Is(err, errDuplicate), errors.Is(err, errCrit):
		return h, err
	case err != nil:
		return h, errHeader
	}
	return h, nil
}
