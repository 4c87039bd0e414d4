//go:build !latch.lambda

package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// The one answer to a failed sign-in, whatever failed: unknown org, unknown
// user, wrong password, disabled user, an org the application does not
// accept.
const msgBadLogin = "The organization, username or password is not correct."

var (
	errBadForm = &pageError{http.StatusBadRequest,
		"This form could not be accepted: it was not sent from this sign-in page, or the page was open too long. Go back to the application and sign in again.",
		"CSRF check failed"}
	errPendingExpired = &pageError{http.StatusBadRequest,
		"This sign-in page has expired. Go back to the application and sign in again.", "pending authorization request invalid or expired"}
)

// loginFlow is one POST of the login pages: the validated pending request
// and what every page of it needs.
type loginFlow struct {
	req     authRequest
	client  latch.Client
	sealed  string
	csrf    string
	orgOnly string // the one org the client admits, if it admits one
}

// page returns the page skeleton of the flow.
func (fl *loginFlow) page(step string) page {
	name := fl.client.Name
	if name == "" {
		name = fl.client.ID
	}
	p := page{Step: step, Client: name, Request: fl.sealed, CSRF: fl.csrf, Login: fl.req.LoginHint}
	switch {
	case fl.req.Org != "":
		p.Org, p.OrgFixed = fl.req.Org, true
	case fl.orgOnly != "":
		p.Org, p.OrgFixed = fl.orgOnly, true
	}
	return p
}

// onlyOrg returns the org of the client's users when it admits exactly one.
func onlyOrg(c latch.Client) string {
	for _, o := range c.LoginOrgs {
		if o != c.Org {
			return ""
		}
	}
	return c.Org
}

// showFirstStep starts the login pages of an authorization request: the
// organization step, or the password step when the organization is known.
func (s *Server) showFirstStep(w http.ResponseWriter, r *http.Request, req authRequest, c latch.Client, notice string) {
	ctx := r.Context()
	sealed, err := s.web.seal.seal(ctx, sealRequest, req, pendingRequestTTL)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	fl := &loginFlow{req: req, client: c, sealed: sealed, csrf: s.csrfToken(w, r), orgOnly: onlyOrg(c)}
	p := fl.page("org")
	if p.OrgFixed {
		p.Step = "password"
		p.SignupOpen = s.signupOpen(ctx, c, p.Org)
	}
	p.Notice = notice
	s.showStep(w, r, fl, http.StatusOK, p)
}

// showStep renders a login step. Its forms may end in a 303 to the
// client's redirect URI, which form-action must allow.
func (s *Server) showStep(w http.ResponseWriter, r *http.Request, fl *loginFlow, status int, p page) {
	switch p.Step {
	case "org":
		p.Title = "Sign in: organization"
	case "password":
		p.Title = "Sign in"
	case "signup":
		p.Title = "Create an account"
	}
	s.render(w, r, status, origin(fl.req.RedirectURI), p)
}

// handleLogin serves the POSTs of the login pages (field step): "org"
// (organization chosen), "password" (sign in), "change-org" (back to the
// organization step), "signup-form" and "signup" (self sign-up). Every POST
// must pass the CSRF check and carry a pending request sealed less than ten
// minutes ago; one that does not is refused with 400 and changes nothing.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := parseForm(w, r)
	if err != nil {
		s.renderPageError(w, r, &pageError{http.StatusBadRequest, "This form could not be read. Go back to the application and sign in again.", errText(toOAuthError(err))})
		return
	}
	if !s.checkCSRF(r, f) {
		s.renderPageError(w, r, errBadForm)
		return
	}
	var req authRequest
	if err := s.web.seal.unseal(ctx, sealRequest, f.get("request"), &req); err != nil {
		if !isSealError(err) {
			s.renderPageError(w, r, err)
			return
		}
		s.renderPageError(w, r, errPendingExpired)
		return
	}
	// The client may have changed since the request was sealed.
	c, err := s.authorizeClient(ctx, req.ClientID, req.RedirectURI)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	fl := &loginFlow{req: req, client: c, sealed: f.get("request"), csrf: f.get("csrf"), orgOnly: onlyOrg(c)}
	org := strings.TrimSpace(f.get("organization"))
	if p := fl.page(""); p.OrgFixed {
		org = p.Org
	}
	switch f.get("step") {
	case "org":
		s.orgStep(w, r, fl, org)
	case "change-org":
		p := fl.page("org")
		if !p.OrgFixed {
			p.Org = org
		}
		s.showStep(w, r, fl, http.StatusOK, p)
	case "password":
		s.passwordStep(w, r, fl, org, f)
	case "signup-form":
		s.signupForm(w, r, fl, org, "")
	case "signup":
		s.signupStep(w, r, fl, org, f)
	default:
		s.renderPageError(w, r, &pageError{http.StatusBadRequest, "This form could not be read. Go back to the application and sign in again.", "unknown login step"})
	}
}

// orgStep accepts any well-formed organization id and moves on to the
// password step: whether the org exists is never told here.
func (s *Server) orgStep(w http.ResponseWriter, r *http.Request, fl *loginFlow, org string) {
	if !latch.ValidID(org) {
		p := fl.page("org")
		p.Org = org
		p.Error = "Enter your organization's identifier: letters, digits, dots, dashes and underscores."
		s.showStep(w, r, fl, http.StatusOK, p)
		return
	}
	p := fl.page("password")
	p.Org = org
	p.SignupOpen = s.signupOpen(r.Context(), fl.client, org)
	s.showStep(w, r, fl, http.StatusOK, p)
}

// passwordStep checks the username and password with the password grant's
// checks, limiter and budget, then starts a session and sends the browser
// back to the client with a code.
func (s *Server) passwordStep(w http.ResponseWriter, r *http.Request, fl *loginFlow, org string, f form) {
	ctx := r.Context()
	login, pw := strings.TrimSpace(f.get("username")), f.get("password")
	p := fl.page("password")
	p.Org, p.Login = org, login
	if !latch.ValidID(org) {
		p = fl.page("org")
		p.Org = org
		p.Error = "Enter your organization's identifier: letters, digits, dots, dashes and underscores."
		s.showStep(w, r, fl, http.StatusOK, p)
		return
	}
	p.SignupOpen = s.signupOpen(ctx, fl.client, org)
	if login == "" || pw == "" {
		p.Error = "Enter your username (or email) and your password."
		s.showStep(w, r, fl, http.StatusOK, p)
		return
	}
	u, err := s.authenticateUser(ctx, r, fl.client, org, login, pw)
	if err != nil {
		var oe *oauthError
		switch {
		case errors.As(err, &oe) && oe.RetryAfter != "":
			w.Header().Set("Retry-After", oe.RetryAfter)
			p.Error = "Too many failed attempts. Wait a few minutes, then try again."
			s.showStep(w, r, fl, http.StatusTooManyRequests, p)
		case errors.As(err, &oe):
			s.log.InfoContext(ctx, "hosted login failed", "org", org, "client_id", fl.client.ID, "reason", errText(oe))
			p.Error = msgBadLogin
			s.showStep(w, r, fl, http.StatusOK, p)
		default:
			s.renderPageError(w, r, err)
		}
		return
	}
	s.loggedIn(w, r, fl, u)
}

// loggedIn starts the session of a user who just proved who they are and
// finishes the authorization request.
func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, fl *loginFlow, u latch.User) {
	sess, err := s.startSession(r.Context(), w, r, fl.client, u)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	s.finishAuthorize(w, r, fl.req, fl.client, u, sess.SID, time.Unix(sess.AuthTime, 0))
}

// signupOpen reports whether users may sign themselves up in org through c.
// Telling it reveals no more than POST /signup does.
func (s *Server) signupOpen(ctx context.Context, c latch.Client, org string) bool {
	if !latch.ValidID(org) || !c.AllowsLoginOrg(org) {
		return false
	}
	o, err := s.source.GetOrg(ctx, org)
	return err == nil && o.Signup && !o.Disabled
}

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request, fl *loginFlow, org, msg string) {
	p := fl.page("signup")
	p.Org, p.Error = org, msg
	if !s.signupOpen(r.Context(), fl.client, org) {
		p = fl.page("password")
		p.Org = org
		p.Error = "Sign-up is not open in this organization."
	}
	s.showStep(w, r, fl, http.StatusOK, p)
}

// signupStep creates a user as POST /signup does (the org's default roles,
// the same canonical forms and password rules, the same per-address limit),
// then signs them in.
func (s *Server) signupStep(w http.ResponseWriter, r *http.Request, fl *loginFlow, org string, f form) {
	ctx := r.Context()
	p := fl.page("signup")
	p.Org, p.Login, p.Email = org, strings.TrimSpace(f.get("username")), strings.TrimSpace(f.get("email"))
	fail := func(status int, msg string) {
		p.Error = msg
		s.showStep(w, r, fl, status, p)
	}
	if !s.signupOpen(ctx, fl.client, org) {
		s.signupForm(w, r, fl, org, "")
		return
	}
	addrKey := "signup\x00" + s.limiter.clientAddr(r)
	if wait := s.limiter.wait(ctx, addrKey); wait > 0 {
		s.metrics.throttled.Inc()
		fail(http.StatusTooManyRequests, "Too many accounts were created from this address. Try again later.")
		return
	}
	o, err := s.source.GetOrg(ctx, org)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	username, err := password.CanonicalUsername(p.Login)
	if err != nil {
		fail(http.StatusOK, "That username cannot be used: "+latch.ErrorMessage(err)+".")
		return
	}
	var email string
	if p.Email != "" {
		if email, err = password.CanonicalEmail(p.Email); err != nil {
			fail(http.StatusOK, "Enter a valid email address, or leave it empty.")
			return
		}
	}
	pw := f.get("password")
	if err := password.CheckNew(pw); err != nil {
		fail(http.StatusOK, "That password cannot be used: "+latch.ErrorMessage(err)+".")
		return
	}
	if f.get("password2") != pw {
		fail(http.StatusOK, "The two passwords differ.")
		return
	}
	hash, err := s.hasher.Hash(pw)
	if err != nil {
		s.renderPageError(w, r, err)
		return
	}
	now := s.clock.Now()
	u := latch.User{
		Org: org, ID: newUserID(), Username: username, Email: email, PasswordHash: hash,
		Roles: append([]string(nil), o.DefaultRoles...), CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if _, err := s.resolveScopes(fl.client, fl.req.Scope, &u); err != nil {
		var oe *oauthError
		if errors.As(err, &oe) {
			s.redirectError(w, r, fl.req, oe)
			return
		}
		s.renderPageError(w, r, err)
		return
	}
	s.limiter.fail(ctx, freeSignupsPerAddress, addrKey)
	if err := s.store.CreateUser(ctx, u); err != nil {
		if latch.IsCode(err, latch.ECONFLICT) {
			fail(http.StatusOK, "That username or email is already registered in this organization.")
			return
		}
		s.renderPageError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "user signed up", "org", org, "user", u.ID, "client_id", fl.client.ID)
	s.loggedIn(w, r, fl, u)
}
