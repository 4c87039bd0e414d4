package latch

import (
	"time"
)

// Clock gives the current time. Every component takes one so that tests can
// move time (expiry, rotation, grace windows) without sleeping.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantAuthorizationCode = "authorization_code"
)

// Access token formats.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// AnyOrg in Client.LoginOrgs lets the users of every organization sign in.
const AnyOrg = "*"

// SystemOrg is the organization `latch serve` creates on first start: its
// clients and admins act across every org.
const SystemOrg = "latch"

// Org is a tenant. Every user, role and token belongs to exactly one.
type Org struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Signup       bool      `json:"signup"`        // self sign-up allowed
	DefaultRoles []string  `json:"default_roles"` // given to users who sign up
	Disabled     bool      `json:"disabled"`
	Version      uint64    `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// User is a person who signs in to one organization. ID becomes the token's
// sub; Username and Email are stored in canonical form (see package password)
// and are unique within the organization.
type User struct {
	Org          string              `json:"org"`
	ID           string              `json:"id"`
	Username     string              `json:"username"`
	Email        string              `json:"email,omitempty"`
	PasswordHash string              `json:"-"`
	Roles        []string            `json:"roles"`
	Attributes   map[string][]string `json:"attributes,omitempty"`
	Allow        []string            `json:"allow,omitempty"`
	Deny         []string            `json:"deny,omitempty"`
	// RecordGrants are the statements that records of application tables
	// grant the user, keyed by "<table>/<record key>" (see GrantKey). The
	// stream handler keeps them: it sets a record's entry when the record
	// is written and deletes it when the record is removed, so each
	// record's grant is revoked on its own and replaying a record changes
	// nothing. Admin writes and `latch apply` leave them as they are.
	RecordGrants map[string]Grant `json:"record_grants,omitempty"`
	Disabled     bool             `json:"disabled"`
	Version      uint64           `json:"version"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// Grant is what one application record grants its principal: statements in
// the language of package policy, with the record's values filled in.
type Grant struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// GrantKey names the grant of the record with key recordKey in table.
func GrantKey(table, recordKey string) string { return table + "/" + recordKey }

// Client is an OAuth2 client. It belongs to one organization (the org_id of
// its client_credentials tokens) and may let users of LoginOrgs sign in.
// SecretHash is a keyed SHA-256 digest (see package password); a client
// without one is public.
type Client struct {
	ID                string    `json:"id"`
	Org               string    `json:"org"`
	Name              string    `json:"name,omitempty"`
	SecretHash        string    `json:"-"`
	Grants            []string  `json:"grants"`
	Scopes            []string  `json:"scopes"` // "<audience>/<scope>" the client may request
	Roles             []string  `json:"roles,omitempty"`
	Allow             []string  `json:"allow,omitempty"`
	Deny              []string  `json:"deny,omitempty"`
	AccessTokenFormat string    `json:"access_token_format"`
	RedirectURIs      []string  `json:"redirect_uris,omitempty"`
	LoginOrgs         []string  `json:"login_orgs,omitempty"`
	Disabled          bool      `json:"disabled"`
	Version           uint64    `json:"version"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Public reports whether the client has no secret.
func (c Client) Public() bool { return c.SecretHash == "" }

// HasGrant reports whether the client may use grant.
func (c Client) HasGrant(grant string) bool { return contains(c.Grants, grant) }

// AllowsLoginOrg reports whether users of org may sign in through the client.
func (c Client) AllowsLoginOrg(org string) bool {
	return org == c.Org || contains(c.LoginOrgs, org) || contains(c.LoginOrgs, AnyOrg)
}

// Audience is a resource server. Scopes maps each scope name to the statements
// the scope permits; a token's scope strings are "<audience id>/<scope name>".
type Audience struct {
	ID        string              `json:"id"`
	Name      string              `json:"name,omitempty"`
	Scopes    map[string][]string `json:"scopes"`
	Version   uint64              `json:"version"`
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// Role is a named set of statements within one organization.
type Role struct {
	Org       string    `json:"org"`
	ID        string    `json:"id"`
	Allow     []string  `json:"allow,omitempty"`
	Deny      []string  `json:"deny,omitempty"`
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Subject kinds: whom a token speaks for.
const (
	SubjectUser   = "user"
	SubjectClient = "client"
)

// RefreshToken is stored under the SHA-256 digest of the token; the token
// itself is never stored. Tokens of one login form a family that is revoked
// as a whole when a rotated token is reused.
type RefreshToken struct {
	Digest      string    `json:"digest"`
	FamilyID    string    `json:"family_id"`
	Org         string    `json:"org"`
	ClientID    string    `json:"client_id"`
	Subject     string    `json:"sub"`
	Scopes      []string  `json:"scopes"`
	Audience    []string  `json:"aud"`
	IssuedAt    time.Time `json:"iat"`
	ExpiresAt   time.Time `json:"exp"`                   // idle expiry of this token, capped by the family's
	RotatedAt   time.Time `json:"rotated_at,omitzero"`   // set once, when it was exchanged
	ReplacedBy  string    `json:"replaced_by,omitempty"` // digest of its successor
	FamilyEndAt time.Time `json:"family_exp"`            // absolute expiry of the family
}

// Rotated reports whether the token has been exchanged already.
func (t RefreshToken) Rotated() bool { return !t.RotatedAt.IsZero() }

// Family is one login's chain of refresh tokens.
type Family struct {
	ID       string `json:"id"`
	Org      string `json:"org"`
	ClientID string `json:"client_id"`
	Subject  string `json:"sub"`
	// Kind says how the family began: FamilyLogin (a hosted-login session), FamilyCode
	// (an authorization code redemption), FamilyPassword (the password grant). Empty in
	// families written before it existed.
	Kind string `json:"kind,omitempty"`
	// SessionID is the login session (a FamilyLogin family) whose sign-in issued this
	// family, when it came from the hosted login; logging out revokes it too.
	SessionID string    `json:"session_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"exp"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Family kinds: how a family began.
const (
	FamilyLogin    = "login"
	FamilyCode     = "authorization_code"
	FamilyPassword = "password"
)

// Revoked reports whether the family has been revoked.
func (f Family) Revoked() bool { return !f.RevokedAt.IsZero() }

// AccessToken is an opaque access token, stored under its SHA-256 digest.
type AccessToken struct {
	Digest      string    `json:"digest"`
	JTI         string    `json:"jti"`
	Org         string    `json:"org"`
	ClientID    string    `json:"client_id"`
	Subject     string    `json:"sub"`
	SubjectKind string    `json:"sub_kind"`
	Scopes      []string  `json:"scopes"`
	Audience    []string  `json:"aud"`
	FamilyID    string    `json:"family_id,omitempty"`
	IssuedAt    time.Time `json:"iat"`
	ExpiresAt   time.Time `json:"exp"`
}

// AuthCode is an authorization code, stored under its SHA-256 digest and
// consumed at most once. A consumed code is kept (marked) until it expires so
// that a second redemption is detected and revokes what the first issued.
type AuthCode struct {
	Digest        string    `json:"digest"`
	Org           string    `json:"org"`
	ClientID      string    `json:"client_id"`
	Subject       string    `json:"sub"`
	RedirectURI   string    `json:"redirect_uri"`
	Scopes        []string  `json:"scopes"`
	Audience      []string  `json:"aud"`
	CodeChallenge string    `json:"code_challenge"`
	Nonce         string    `json:"nonce,omitempty"`
	AuthTime      time.Time `json:"auth_time"`
	ExpiresAt     time.Time `json:"exp"`
	ConsumedAt    time.Time `json:"consumed_at,omitzero"`
	FamilyID      string    `json:"family_id,omitempty"` // the family issued on redemption
	// SessionID is the login session (a FamilyLogin family) of the hosted
	// login that issued the code; its redemption's family and ID token
	// carry it.
	SessionID string `json:"session_id,omitempty"`
}

// Revocation marks a self-contained token (a JWT, by jti) as revoked until it
// would have expired anyway.
type Revocation struct {
	JTI       string    `json:"jti"`
	Org       string    `json:"org"`
	ExpiresAt time.Time `json:"exp"`
}

// Signing key states. Exactly one key is current; previous keys stay in the
// JWKS until every token they signed has expired.
const (
	KeyCurrent  = "current"
	KeyPrevious = "previous"
)

// SigningKey is a private key that signs access and ID tokens. PrivateKey is a
// PKCS#8 DER encoding; it never leaves the server.
type SigningKey struct {
	ID         string    `json:"kid"`
	Algorithm  string    `json:"alg"` // ES256, EdDSA or RS256
	PrivateKey []byte    `json:"private_key"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	RetiredAt  time.Time `json:"retired_at,omitzero"` // when it stopped being current
	ExpiresAt  time.Time `json:"exp,omitzero"`        // when it leaves the JWKS (previous keys)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
