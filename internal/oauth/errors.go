package oauth

import (
	"encoding/json"
	"errors"
	"net/http"

	"latch.dev/latch"
)

// oauthError is an RFC 6749 §5.2 error. Description is chosen here, never
// copied from input or from an internal error.
type oauthError struct {
	Status      int
	Code        string
	Description string
	// Basic is set when the client tried HTTP Basic authentication, so that a
	// 401 carries a WWW-Authenticate challenge for that scheme.
	Basic bool
	// RetryAfter, in seconds, when the request was throttled.
	RetryAfter string
	cause      error
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *oauthError) Unwrap() error { return e.cause }

func invalidRequest(desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

func invalidClient(basic bool) *oauthError {
	return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", Basic: basic}
}

func invalidGrant(desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: desc}
}

func invalidScope(desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Description: desc}
}

func unauthorizedClient(desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: desc}
}

// toOAuthError maps any error to the wire. Domain errors are mapped once here;
// anything unexpected is a server_error whose cause only reaches the log.
func toOAuthError(err error) *oauthError {
	var oe *oauthError
	if errors.As(err, &oe) {
		return oe
	}
	switch latch.ErrorCode(err) {
	case latch.EINVALID:
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "invalid request", cause: err}
	case latch.EUNAUTHORIZED:
		return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", cause: err}
	case latch.ENOTFOUND, latch.ECONFLICT:
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "the grant is invalid, expired or revoked", cause: err}
	case latch.EUNAVAILABLE:
		return &oauthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the service is temporarily unavailable; retry later", cause: err}
	}
	return &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", cause: err}
}

// writeError writes err as RFC 6749 JSON with Cache-Control: no-store.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	oe := toOAuthError(err)
	if oe.Status >= 500 {
		s.log.ErrorContext(r.Context(), "oauth request failed", "path", r.URL.Path, "code", oe.Code, "err", err)
	} else {
		s.log.InfoContext(r.Context(), "oauth request refused", "path", r.URL.Path, "code", oe.Code, "reason", errText(oe))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.Status == http.StatusUnauthorized && oe.Basic {
		h.Set("WWW-Authenticate", `Basic realm="latch", charset="UTF-8"`)
	}
	if oe.RetryAfter != "" {
		h.Set("Retry-After", oe.RetryAfter)
	}
	w.WriteHeader(oe.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oe.Description})
}

// errText is the log form of an error: its cause, which never holds secrets
// (causes are written by this package and the store, not copied from input).
func errText(oe *oauthError) string {
	if oe.cause != nil {
		return oe.cause.Error()
	}
	return oe.Description
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
