package oauth

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/token"
)

var errBadCredentials = invalidGrant("invalid username or password")

// passwordGrant is the resource owner password credentials grant (RFC 6749
// §4.3), off unless the client enables it: RFC 9700 forbids it and OAuth 2.1
// drops it, and Latch keeps it for the seed applications that sign in this
// way. The organization parameter picks the user's org among the client's own
// and its login_orgs. Unknown org, unknown user, wrong password and disabled
// user get the same answer after the same single hash computation; failures
// are throttled per account and per client address.
func (s *Server) passwordGrant(ctx context.Context, r *http.Request, f form, c latch.Client) (*tokenResponse, error) {
	login, pw := f.get("username"), f.get("password")
	if login == "" || pw == "" {
		return nil, invalidRequest("username and password are required")
	}
	org := f.get("organization")
	if org == "" {
		org = c.Org
	}
	user, err := s.authenticateUser(ctx, r, c, org, login, pw)
	if err != nil {
		return nil, err
	}
	scopes, err := s.resolveScopes(c, f.get("scope"), &user)
	if err != nil {
		return nil, err
	}
	return s.issueForUser(ctx, c, user, scopes)
}

// authenticateUser checks a username (or email) and password in org for
// client c.
func (s *Server) authenticateUser(ctx context.Context, r *http.Request, c latch.Client, org, login, pw string) (latch.User, error) {
	canonical, canonErr := canonicalLogin(login)
	accountKey := "acct\x00" + org + "\x00" + canonical
	if canonErr != nil {
		accountKey = "acct\x00" + org + "\x00" + login
	}
	addrKey := "addr\x00" + s.limiter.clientAddr(r)
	if wait := s.limiter.wait(ctx, accountKey, addrKey); wait > 0 {
		s.metrics.throttled.Inc()
		e := invalidGrant("too many failed attempts; retry later")
		e.RetryAfter = strconv.Itoa(int(wait/time.Second) + 1)
		return latch.User{}, e
	}
	fail := func(reason string) (latch.User, error) {
		s.limiter.fail(ctx, freeAccountFailures, accountKey)
		s.limiter.fail(ctx, freeAddressFailures, addrKey)
		s.metrics.loginFailures.Inc()
		return latch.User{}, &oauthError{Status: errBadCredentials.Status, Code: errBadCredentials.Code, Description: errBadCredentials.Description, cause: latch.Errorf(latch.EUNAUTHORIZED, "login failed: %s", reason)}
	}
	if len(pw) > password.MaxPasswordBytes || canonErr != nil || !latch.ValidID(org) || !c.AllowsLoginOrg(org) {
		s.hasher.DummyVerify(pw)
		return fail("bad input or org not allowed for client")
	}
	o, err := s.source.GetOrg(ctx, org)
	if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		return latch.User{}, err
	}
	if err != nil || o.Disabled {
		s.hasher.DummyVerify(pw)
		return fail("unknown or disabled org")
	}
	u, err := s.source.FindUser(ctx, org, canonical)
	if err != nil {
		if !latch.IsCode(err, latch.ENOTFOUND) {
			return latch.User{}, err
		}
		s.hasher.DummyVerify(pw)
		return fail("unknown user")
	}
	if u.PasswordHash == "" {
		// A user created by an identity provider's trigger (Cognito) signs
		// in there; the same work as a wrong password keeps it unseen.
		s.hasher.DummyVerify(pw)
		return fail("the user has no password here")
	}
	ok, rehash, err := s.hasher.Verify(u.PasswordHash, pw)
	if err != nil || !ok {
		return fail("wrong password")
	}
	if u.Disabled {
		return fail("user disabled")
	}
	s.limiter.succeed(ctx, accountKey)
	if rehash {
		// Upgrade imported bcrypt or weaker argon2id hashes now that we know
		// the password. A failure here must not fail the login.
		if h, err := s.hasher.Hash(pw); err == nil {
			old := u.PasswordHash
			if _, err := s.store.UpdateUser(ctx, org, u.ID, func(x *latch.User) error {
				if x.PasswordHash != old {
					return latch.Errorf(latch.ECONFLICT, "password changed meanwhile")
				}
				x.PasswordHash = h
				return nil
			}); err != nil {
				s.log.WarnContext(ctx, "password rehash failed", "org", org, "user", u.ID, "err", err)
			}
		}
	}
	return u, nil
}

// canonicalLogin canonicalises a username, or an email when it has an '@'.
func canonicalLogin(login string) (string, error) {
	if strings.Contains(login, "@") {
		return password.CanonicalEmail(login)
	}
	return password.CanonicalUsername(login)
}

// issueForUser starts a family of kind FamilyPassword and issues the tokens
// of a login: the access token, which names the family in sid (so that
// revoking the family refuses it), and a refresh token of the family when
// the client may refresh. Without refresh tokens the family lives as long
// as a code redemption's does.
func (s *Server) issueForUser(ctx context.Context, c latch.Client, u latch.User, scopes []string) (*tokenResponse, error) {
	now := s.clock.Now()
	refresh := c.HasGrant(latch.GrantRefreshToken)
	fam := latch.Family{ID: token.NewID(), Org: u.Org, ClientID: c.ID, Subject: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(s.opts.AccessTokenTTL + codeFamilyMargin), Kind: latch.FamilyPassword}
	if refresh {
		fam.ExpiresAt = now.Add(s.opts.RefreshAbsoluteTTL)
	}
	if err := s.store.CreateFamily(ctx, fam); err != nil {
		return nil, err
	}
	ir := issueRequest{client: c, org: u.Org, subject: u.ID, subjectType: latch.SubjectUser, scopes: scopes, family: fam.ID}
	if refresh {
		tok, digest, err := token.NewOpaque(refreshPrefix)
		if err != nil {
			return nil, err
		}
		rt := latch.RefreshToken{
			Digest: digest, FamilyID: fam.ID, Org: u.Org, ClientID: c.ID, Subject: u.ID, Scopes: scopes,
			Audience: s.audiences(scopes), IssuedAt: now, ExpiresAt: minTime(now.Add(s.opts.RefreshIdleTTL), fam.ExpiresAt), FamilyEndAt: fam.ExpiresAt,
		}
		if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
			return nil, err
		}
		ir.refresh = tok
	}
	return s.issue(ctx, ir)
}

// refreshGrant rotates a refresh token (RFC 6749 §6) on every use. A rotated
// token presented again revokes its whole family, except within the grace
// window (a sibling is issued, for clients that lost a response) or the race
// window (refused, family kept: concurrent requests of one client).
func (s *Server) refreshGrant(ctx context.Context, _ *http.Request, f form, c latch.Client) (*tokenResponse, error) {
	raw := f.get("refresh_token")
	if raw == "" {
		return nil, invalidRequest("refresh_token is required")
	}
	if !strings.HasPrefix(raw, refreshPrefix) || len(raw) > 256 {
		return nil, invalidGrant("the refresh token is invalid, expired or revoked")
	}
	digest := token.Digest(raw)
	old, err := s.store.GetRefreshToken(ctx, digest)
	if err != nil {
		return nil, notFoundAsInvalidGrant(err)
	}
	if old.ClientID != c.ID {
		return nil, invalidGrant("the refresh token was issued to another client")
	}
	fam, err := s.source.GetFamily(ctx, old.FamilyID)
	if err != nil {
		return nil, notFoundAsInvalidGrant(err)
	}
	now := s.clock.Now()
	if fam.Revoked() {
		return nil, invalidGrant("the refresh token is invalid, expired or revoked")
	}
	if old.Rotated() {
		if err := s.onRotatedReuse(ctx, old, now); err != nil {
			return nil, err
		}
	}
	// The requested scope may narrow the access token; the refresh token
	// keeps the original grant (RFC 6749 §6).
	scopes := old.Scopes
	if req := f.get("scope"); req != "" {
		scopes = nil
		for _, sc := range strings.Fields(req) {
			if !slices.Contains(old.Scopes, sc) {
				return nil, invalidScope("the requested scope exceeds the original grant")
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	u, err := s.source.GetUser(ctx, old.Org, old.Subject)
	if err != nil || u.Disabled {
		if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			return nil, err
		}
		_ = s.store.RevokeFamily(ctx, fam.ID)
		return nil, invalidGrant("the refresh token is invalid, expired or revoked")
	}
	if slices.Contains(scopes, AdminScope) && !slices.Contains(u.Roles, AdminRole) {
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == AdminScope })
	}
	tok, nextDigest, err := token.NewOpaque(refreshPrefix)
	if err != nil {
		return nil, err
	}
	next := latch.RefreshToken{
		Digest: nextDigest, FamilyID: old.FamilyID, Org: old.Org, ClientID: old.ClientID, Subject: old.Subject,
		Scopes: old.Scopes, Audience: old.Audience, IssuedAt: now,
		ExpiresAt: minTime(now.Add(s.opts.RefreshIdleTTL), fam.ExpiresAt), FamilyEndAt: fam.ExpiresAt,
	}
	stored, err := s.store.RotateRefreshToken(ctx, digest, next, s.opts.RefreshGrace)
	if err != nil {
		if latch.IsCode(err, latch.ECONFLICT) {
			// Another request rotated it between our read and our write.
			if err := s.onRotatedReuse(ctx, stored, s.clock.Now()); err != nil {
				return nil, err
			}
			return nil, invalidGrant("the refresh token was used concurrently; retry with the newest token")
		}
		return nil, notFoundAsInvalidGrant(err)
	}
	return s.issue(ctx, issueRequest{
		client: c, org: old.Org, subject: old.Subject, subjectType: latch.SubjectUser,
		scopes: scopes, family: old.FamilyID, refresh: tok,
	})
}

// onRotatedReuse decides what a rotated token presented again means. It
// returns nil only inside the grace window, where rotation may proceed.
func (s *Server) onRotatedReuse(ctx context.Context, old latch.RefreshToken, now time.Time) error {
	since := now.Sub(old.RotatedAt)
	if since <= s.opts.RefreshGrace {
		return nil
	}
	if since <= s.opts.RefreshRaceWindow {
		return invalidGrant("the refresh token was used concurrently; retry with the newest token")
	}
	s.metrics.refreshReuse.Inc()
	s.log.WarnContext(ctx, "rotated refresh token reused: family revoked", "org", old.Org, "client_id", old.ClientID, "sub", old.Subject, "family", old.FamilyID)
	if err := s.store.RevokeFamily(ctx, old.FamilyID); err != nil {
		return err
	}
	return invalidGrant("the refresh token is invalid, expired or revoked")
}

func notFoundAsInvalidGrant(err error) error {
	if latch.IsCode(err, latch.ENOTFOUND) {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "the refresh token is invalid, expired or revoked", cause: err}
	}
	return err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
