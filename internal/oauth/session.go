//go:build !latch.lambda

package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/token"
)

// loginSessionTTL is the absolute life of a login session: a working day.
// After it, the next application to ask gets the password prompt again.
const loginSessionTTL = 12 * time.Hour

// Cookie names. On an https issuer they get the __Host- prefix (Secure,
// Path=/, no Domain: no other host or path can set or shadow them); on http
// (local development and tests on 127.0.0.1) browsers refuse Secure and
// __Host- cookies, so the plain names are used.
const (
	sessionCookie = "latch_session"
	csrfCookie    = "latch_csrf"
)

// loginSession is what the session cookie carries, sealed. SID is a
// latch.Family created for the session, so that the session can be revoked
// in the store (RevokeFamily) and is checked there on every use.
type loginSession struct {
	SID      string `json:"sid"`
	Org      string `json:"org"`
	Sub      string `json:"sub"`
	AuthTime int64  `json:"auth_time"`
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.opts.Issuer, "https://") }

func (s *Server) cookieName(base string) string {
	if s.secureCookies() {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	c := &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/",
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	}
	switch {
	case value == "":
		c.MaxAge = -1
	case !expires.IsZero():
		c.Expires = expires
		c.MaxAge = int(expires.Sub(s.clock.Now()) / time.Second)
	}
	http.SetCookie(w, c)
}

func (s *Server) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// csrfToken returns the browser's CSRF token, setting the cookie when it has
// none. The token is random per browser; every form carries it in a hidden
// field and checkCSRF compares the two (a cross-site form cannot read the
// cookie, so it cannot send the field).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if v := s.cookie(r, csrfCookie); validRandom(v) {
		return v
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	s.setCookie(w, csrfCookie, v, time.Time{})
	return v
}

// checkCSRF reports whether a form POST came from one of our pages: the
// hidden field equals the cookie (in constant time), and the Origin header,
// when the browser sent one, is the issuer's.
func (s *Server) checkCSRF(r *http.Request, f form) bool {
	cookie, field := s.cookie(r, csrfCookie), f.get("csrf")
	if !validRandom(cookie) || subtle.ConstantTimeCompare([]byte(cookie), []byte(field)) != 1 {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != origin(s.opts.Issuer) {
		return false
	}
	return true
}

// validRandom: 32 random bytes in base64url.
func validRandom(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil
}

// origin returns the scheme://host[:port] of an http(s) URL, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// startSession records a login session for u, started through client c,
// and sets its cookie. A session the browser had already is revoked: one
// browser, one session.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, c latch.Client, u latch.User) (loginSession, error) {
	if old, ok := s.sessionCookie(ctx, r); ok {
		if err := s.store.RevokeFamily(ctx, old.SID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			s.log.WarnContext(ctx, "revoking the replaced login session failed", "org", old.Org, "sid", old.SID, "err", err)
		}
	}
	now := s.clock.Now()
	fam := latch.Family{ID: token.NewID(), Org: u.Org, ClientID: c.ID, Subject: u.ID, CreatedAt: now, ExpiresAt: now.Add(loginSessionTTL),
		Kind: latch.FamilyLogin}
	if err := s.store.CreateFamily(ctx, fam); err != nil {
		return loginSession{}, err
	}
	sess := loginSession{SID: fam.ID, Org: u.Org, Sub: u.ID, AuthTime: now.Unix()}
	v, err := s.web.seal.seal(ctx, sealSession, sess, loginSessionTTL)
	if err != nil {
		return loginSession{}, err
	}
	s.setCookie(w, sessionCookie, v, fam.ExpiresAt)
	s.log.InfoContext(ctx, "login session started", "org", u.Org, "user", u.ID, "client_id", c.ID, "sid", fam.ID)
	return sess, nil
}

// sessionCookie opens the session cookie without asking the store whether
// the session still holds.
func (s *Server) sessionCookie(ctx context.Context, r *http.Request) (loginSession, bool) {
	raw := s.cookie(r, sessionCookie)
	if raw == "" {
		return loginSession{}, false
	}
	var sess loginSession
	if err := s.web.seal.unseal(ctx, sealSession, raw, &sess); err != nil {
		return loginSession{}, false
	}
	return sess, sess.SID != "" && sess.Org != "" && sess.Sub != ""
}

// currentSession returns the browser's login session and its user when the
// session holds: its family exists and is not revoked, names the same org
// and user, the org is enabled, and the user exists and is enabled. Reads
// go to the source store, so that a revocation or a disabled user anywhere
// ends the session at once. Only a store failure is an error.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (loginSession, latch.User, bool, error) {
	sess, ok := s.sessionCookie(ctx, r)
	if !ok {
		return loginSession{}, latch.User{}, false, nil
	}
	none := func(err error) (loginSession, latch.User, bool, error) {
		if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			return loginSession{}, latch.User{}, false, err
		}
		return loginSession{}, latch.User{}, false, nil
	}
	fam, err := s.source.GetFamily(ctx, sess.SID)
	if err != nil {
		return none(err)
	}
	if fam.Revoked() || fam.Org != sess.Org || fam.Subject != sess.Sub {
		return none(nil)
	}
	org, err := s.source.GetOrg(ctx, sess.Org)
	if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		return none(err)
	}
	var u latch.User
	if err == nil && !org.Disabled {
		u, err = s.source.GetUser(ctx, sess.Org, sess.Sub)
		if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			return none(err)
		}
	}
	if err != nil || org.Disabled || u.Disabled {
		// Gone or disabled: the session ends for good, so that enabling
		// the user again does not revive it.
		if err := s.store.RevokeFamily(ctx, sess.SID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			s.log.WarnContext(ctx, "revoking a disabled user's login session failed", "org", sess.Org, "sid", sess.SID, "err", err)
		}
		return none(nil)
	}
	return sess, u, true, nil
}

// endSession revokes the browser's login session, if any, and the families
// of the applications' tokens issued from it (their SessionID), and clears
// its cookie. When the store fails the cookie is kept, so that signing out
// again finishes the job.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	sess, ok := s.sessionCookie(ctx, r)
	if !ok {
		s.setCookie(w, sessionCookie, "", time.Time{})
		return nil
	}
	err := s.store.RevokeFamily(ctx, sess.SID)
	if err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
		return err
	}
	fams, err := s.store.ListFamilies(ctx, sess.Org, sess.Sub)
	if err != nil {
		return err
	}
	n := 0
	for _, f := range fams {
		if f.SessionID != sess.SID || f.Revoked() {
			continue
		}
		if err := s.store.RevokeFamily(ctx, f.ID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
			return err
		}
		n++
	}
	s.setCookie(w, sessionCookie, "", time.Time{})
	s.log.InfoContext(ctx, "login session ended", "org", sess.Org, "user", sess.Sub, "sid", sess.SID, "app_families_revoked", n)
	return nil
}

// isSealError reports whether err is the sealer's refusal rather than a
// store failure.
func isSealError(err error) bool {
	return errors.Is(err, errSealed) || errors.Is(err, errSealExpired)
}
