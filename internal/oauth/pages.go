//go:build !latch.lambda

package oauth

import (
	"errors"
	"net/http"
)

// page is what every template gets.
type page struct {
	Title  string
	Step   string // which body the layout renders: org, password, signup, error, logout, signed-out
	Client string // the application's name
	// Request is the sealed pending authorization request; CSRF the
	// browser's CSRF token. Every form carries both.
	Request string
	CSRF    string
	// The login steps.
	Org        string
	OrgFixed   bool // the organization was given by the application
	Login      string
	Email      string
	SignupOpen bool
	Error      string // what went wrong, shown above the form
	Notice     string // information, not an error
	// The error, logout and signed-out pages.
	Message               string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
}

// pageHeaders sets the headers of every hosted login response: nothing
// framed, loaded or submitted elsewhere, nothing cached, no Referer leaking
// the query to another origin. Referrer-Policy is same-origin, not
// no-referrer: under no-referrer Chromium sends "Origin: null" with the
// pages' own form posts, which checkCSRF refuses. formTarget, when set, is the origin a form on the page may end
// up at through a 303 (browsers apply form-action to redirects).
func pageHeaders(w http.ResponseWriter, formTarget string) {
	h := w.Header()
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action "+formAction)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
}

// renderPageError shows err on an error page: a *pageError's message, or,
// for anything else (a store failure), a message that says nothing of the
// cause, which goes to the log.
func (s *Server) renderPageError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	if errors.As(err, &pe) {
		s.log.InfoContext(r.Context(), "sign-in request refused", "path", r.URL.Path, "reason", pe.reason)
		s.render(w, r, pe.status, "", page{Title: "Cannot sign in", Step: "error", Message: pe.message})
		return
	}
	oe := toOAuthError(err)
	s.log.ErrorContext(r.Context(), "sign-in request failed", "path", r.URL.Path, "err", err)
	status := http.StatusInternalServerError
	if oe.Status == http.StatusServiceUnavailable {
		status = oe.Status
	}
	s.render(w, r, status, "", page{Title: "Sign-in unavailable", Step: "error",
		Message: "Signing in is not possible right now. Please try again in a moment."})
}
