// Package middleware protects a Go net/http service with Latch: every request
// needs a bearer token whose principal Latch allows to call this method on
// this path. Resource servers import it; it asks a Latch server's decision
// API (Remote), or an authorizer in the same process (Local).
//
// It fails closed: no token or an invalid one is 401, a denial is 403, and
// anything else (Latch unreachable, a bad answer) is 503, never a pass.
package middleware

import (
	"context"
	"encoding/json"
	"net/http"

	"latch.dev/latch"
)

// Decision is Latch's answer for one request.
type Decision struct {
	Allow    bool
	Reason   string
	Sub      string
	Org      string
	ClientID string
	Scopes   []string
	// Unauthorized is set when the token itself was refused (401, not 403).
	Unauthorized bool
}

// Decider decides whether bearer may call method on path (the raw, escaped
// path).
type Decider interface {
	Decide(ctx context.Context, bearer, method, path string) (Decision, error)
}

// DeciderFunc adapts a function to Decider (Local uses it).
type DeciderFunc func(ctx context.Context, bearer, method, path string) (Decision, error)

// Decide calls f.
func (f DeciderFunc) Decide(ctx context.Context, bearer, method, path string) (Decision, error) {
	return f(ctx, bearer, method, path)
}

type principalKey struct{}

// Principal is whom an allowed request was made for.
type Principal struct {
	Sub, Org, ClientID string
	Scopes             []string
}

// PrincipalFrom returns the principal of an allowed request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Options tune the middleware.
type Options struct {
	// OnError is called with errors that made a request fail with 503 (for logs).
	OnError func(r *http.Request, err error)
}

// New returns middleware that lets a request through only if d allows it.
func New(d Decider, opts Options) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bearer, ok := bearerToken(r)
			if !ok {
				unauthorized(w)
				return
			}
			dec, err := d.Decide(r.Context(), bearer, r.Method, r.URL.EscapedPath())
			switch {
			case err != nil:
				if opts.OnError != nil {
					opts.OnError(r, err)
				}
				writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
			case dec.Unauthorized:
				unauthorized(w)
			case !dec.Allow:
				writeMessage(w, http.StatusForbidden, "Forbidden")
			default:
				ctx := context.WithValue(r.Context(), principalKey{}, Principal{Sub: dec.Sub, Org: dec.Org, ClientID: dec.ClientID, Scopes: dec.Scopes})
				next.ServeHTTP(w, r.WithContext(ctx))
			}
		})
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="latch"`)
	writeMessage(w, http.StatusUnauthorized, "Unauthorized")
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// bearerToken applies RFC 6750's header syntax strictly (latch.ParseBearer)
// to the one Authorization header. Tokens in the query are refused.
func bearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	return latch.ParseBearer(vals[0])
}
