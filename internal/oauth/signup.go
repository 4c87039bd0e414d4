package oauth

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

const freeSignupsPerAddress = 10

// handleSignup is self sign-up: POST /signup with the token endpoint's form
// encoding and client authentication, and organization, username, password,
// optional email and scope. It works only in orgs that opted in and that the
// client serves, gives the user the org's default roles (the "initialise the
// ACL at registration" step of the seeds), and answers like a login. A taken
// username or email is a 409; concurrent sign-ups of one name create one user.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	c, err := s.authenticateClient(ctx, r, f, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addrKey := "signup\x00" + s.limiter.clientAddr(r)
	if wait := s.limiter.wait(ctx, addrKey); wait > 0 {
		s.metrics.throttled.Inc()
		e := &oauthError{Status: http.StatusTooManyRequests, Code: "slow_down", Description: "too many sign-ups from this address; retry later"}
		e.RetryAfter = strconv.Itoa(int(wait/time.Second) + 1)
		s.writeError(w, r, e)
		return
	}
	orgID := f.get("organization")
	if orgID == "" {
		orgID = c.Org
	}
	refused := invalidRequest("sign-up is not open in this organization")
	if !latch.ValidID(orgID) || !c.AllowsLoginOrg(orgID) {
		s.writeError(w, r, refused)
		return
	}
	org, err := s.source.GetOrg(ctx, orgID)
	if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		s.writeError(w, r, err)
		return
	}
	if err != nil || !org.Signup || org.Disabled {
		s.writeError(w, r, refused)
		return
	}
	username, err := password.CanonicalUsername(f.get("username"))
	if err != nil {
		s.writeError(w, r, invalidRequest("the username is not valid"))
		return
	}
	var email string
	if raw := f.get("email"); raw != "" {
		if email, err = password.CanonicalEmail(raw); err != nil {
			s.writeError(w, r, invalidRequest("the email address is not valid"))
			return
		}
	}
	pw := f.get("password")
	if err := password.CheckNew(pw); err != nil {
		s.writeError(w, r, invalidRequest(latch.ErrorMessage(err)))
		return
	}
	hash, err := s.hasher.Hash(pw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.clock.Now()
	u := latch.User{
		Org: orgID, ID: newUserID(), Username: username, Email: email, PasswordHash: hash,
		Roles: append([]string(nil), org.DefaultRoles...), CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	// Scopes are checked before the user exists, so a refused scope leaves nothing behind.
	scopes, err := s.resolveScopes(c, f.get("scope"), &u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.limiter.fail(ctx, freeSignupsPerAddress, addrKey)
	if err := s.store.CreateUser(ctx, u); err != nil {
		if latch.IsCode(err, latch.ECONFLICT) {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "already_registered", "error_description": "that username or email is already registered in this organization"})
			return
		}
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "user signed up", "org", orgID, "user", u.ID, "client_id", c.ID)
	resp, err := s.issueForUser(ctx, c, u, scopes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// newUserID returns a random 128-bit id in hex (a valid latch id).
func newUserID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
