package latch

import (
	"context"
	"time"
)

// Store is all of Latch's persistence. Every backend (bolt, dynamodb) passes
// the conformance suite in internal/store/storetest; atomicity is part of this
// contract, never assembled by callers from reads and writes.
//
// Rules every method follows:
//   - Create* fails with ECONFLICT if the key exists (create-if-absent).
//   - Get*/Find* fail with ENOTFOUND if absent or expired: an item whose
//     expiry has passed (by the store's clock) is never returned, whatever the
//     backend's TTL lag.
//   - Update* loads the item, calls fn with a copy, and stores the result only
//     if nobody changed the item in between (compare-and-swap on Version); on a
//     lost race it retries a bounded number of times and then fails with
//     ECONFLICT. An error from fn aborts the update and is returned as is.
//     Update bumps Version and UpdatedAt; fn cannot change the item's keys.
//   - Every successful change to an org, user, role, client, audience or
//     signing key, and every revocation, is published on the change feed after
//     it is durable.
//   - Lists return items sorted by key.
//   - Create sets Version to 1 when it is 0; Update sets it to the old
//     Version + 1 whatever fn wrote, and keeps CreatedAt. fn may run more
//     than once (after a lost compare-and-swap), so it must not have side
//     effects.
//   - Usernames and emails share one namespace per org, so that FindUser is
//     never ambiguous; a user's own username may equal its own email.
//   - Delete* and RevokeFamily of an absent item return ENOTFOUND.
//   - CreateUser, CreateRole and CreateClient fail with ENOTFOUND when the
//     org does not exist.
type Store interface {
	CreateOrg(ctx context.Context, o Org) error
	GetOrg(ctx context.Context, id string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)
	UpdateOrg(ctx context.Context, id string, fn func(*Org) error) (Org, error)
	// DeleteOrg fails with ECONFLICT while the org still has users, roles or clients.
	DeleteOrg(ctx context.Context, id string) error

	// CreateUser fails with ECONFLICT if the id, the username or the email is
	// taken in the org: the three are claimed in one transaction.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, org, id string) (User, error)
	// FindUser finds a user of org by canonical username or canonical email.
	FindUser(ctx context.Context, org, login string) (User, error)
	ListUsers(ctx context.Context, org string) ([]User, error)
	// UpdateUser re-claims a changed username or email atomically (ECONFLICT
	// if the new one is taken).
	UpdateUser(ctx context.Context, org, id string, fn func(*User) error) (User, error)
	DeleteUser(ctx context.Context, org, id string) error

	CreateRole(ctx context.Context, r Role) error
	GetRole(ctx context.Context, org, id string) (Role, error)
	ListRoles(ctx context.Context, org string) ([]Role, error)
	UpdateRole(ctx context.Context, org, id string, fn func(*Role) error) (Role, error)
	DeleteRole(ctx context.Context, org, id string) error

	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients lists the clients of org, or of every org when org is "".
	ListClients(ctx context.Context, org string) ([]Client, error)
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error)
	DeleteClient(ctx context.Context, id string) error

	CreateAudience(ctx context.Context, a Audience) error
	GetAudience(ctx context.Context, id string) (Audience, error)
	ListAudiences(ctx context.Context) ([]Audience, error)
	UpdateAudience(ctx context.Context, id string, fn func(*Audience) error) (Audience, error)
	DeleteAudience(ctx context.Context, id string) error

	// CreateFamily and CreateRefreshToken are create-if-absent.
	CreateFamily(ctx context.Context, f Family) error
	GetFamily(ctx context.Context, id string) (Family, error)
	// ListFamilies lists the families of subject in org that have not expired,
	// revoked ones included (RevokedAt set), sorted by id. Families of other
	// subjects or orgs never appear. A subject without families (or an
	// unknown org) gives an empty list, not ENOTFOUND.
	ListFamilies(ctx context.Context, org, subject string) ([]Family, error)
	// CreateRefreshToken fails with ENOTFOUND if the family is absent, expired
	// or revoked.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns the token even if it was rotated (callers detect
	// reuse); ENOTFOUND if absent or expired. It does not look at the family.
	GetRefreshToken(ctx context.Context, digest string) (RefreshToken, error)
	// RotateRefreshToken atomically marks the token oldDigest rotated (by
	// next.Digest) and stores next, in the same family. It succeeds only if
	// the old token exists, is unexpired, and is not rotated yet, or if it was
	// rotated no longer than grace ago (a retry within the grace window, which
	// yields a sibling); and only if the family is neither revoked nor expired.
	// ECONFLICT with the old token's current state when it was rotated
	// already; ENOTFOUND when the token or its family is gone or revoked.
	RotateRefreshToken(ctx context.Context, oldDigest string, next RefreshToken, grace time.Duration) (RefreshToken, error)
	// RevokeFamily marks the family revoked; every token of the family, and
	// every access token issued from it, is refused from then on. Revoking a
	// revoked family succeeds and changes nothing.
	RevokeFamily(ctx context.Context, id string) error

	CreateAccessToken(ctx context.Context, t AccessToken) error
	GetAccessToken(ctx context.Context, digest string) (AccessToken, error)
	// RevokeAccessToken deletes an opaque access token; absent is not an error.
	RevokeAccessToken(ctx context.Context, digest string) error

	// RevokeJTI records that the self-contained token jti is revoked until r.ExpiresAt.
	RevokeJTI(ctx context.Context, r Revocation) error
	// JTIRevoked reports whether jti is revoked (an expired revocation is not).
	JTIRevoked(ctx context.Context, jti string) (bool, error)

	CreateAuthCode(ctx context.Context, c AuthCode) error
	// ConsumeAuthCode marks the code consumed exactly once under any
	// concurrency and returns it. A second call fails with ECONFLICT and
	// returns the code as stored (so the caller can revoke its family);
	// ENOTFOUND if absent or expired.
	ConsumeAuthCode(ctx context.Context, digest string) (AuthCode, error)
	// SetAuthCodeFamily records the family issued from a consumed code.
	SetAuthCodeFamily(ctx context.Context, digest, familyID string) error

	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// ReplaceSigningKeys swaps the whole key set if it is still the one the
	// caller read (same kids and states), so that two servers rotating at once
	// cannot both win. ECONFLICT otherwise.
	ReplaceSigningKeys(ctx context.Context, old, next []SigningKey) error

	// Watch returns a channel of changes made from now on, closed when ctx is
	// done. A slow subscriber never blocks writers: when its buffer is full
	// it receives a ChangeReset instead of the changes it missed and must
	// drop everything it cached.
	Watch(ctx context.Context) <-chan Change

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Change kinds published on the change feed.
const (
	ChangeOrg        = "org"
	ChangeUser       = "user"
	ChangeRole       = "role"
	ChangeClient     = "client"
	ChangeAudience   = "audience"
	ChangeFamily     = "family"      // a refresh-token family was revoked
	ChangeToken      = "token"       // an opaque access token or a jti was revoked
	ChangeSigningKey = "signing_key" // the key set changed
	ChangeReset      = "reset"       // changes were missed: drop every cached item
)

// Change says what changed; caches drop what it touches. ID is the item's id
// (for tokens the digest or jti); Org is empty for items that have none.
type Change struct {
	Kind    string `json:"kind"`
	Org     string `json:"org,omitempty"`
	ID      string `json:"id,omitempty"`
	Version uint64 `json:"version,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}
