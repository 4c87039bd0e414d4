package authorizer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/oauth"
)

// DecideScope lets a client call the decision API.
const DecideScope = "latch/decide"

// ClientAuthenticator authenticates the caller of the decision API.
type ClientAuthenticator interface {
	AuthenticateBasic(r *http.Request) (latch.Client, error)
}

// Handlers serves the HTTP adapters of an Authorizer.
type Handlers struct {
	Authorizer *Authorizer
	Clients    ClientAuthenticator
	Log        *slog.Logger
	// Timeout bounds one decision (default DefaultDecisionTimeout): a store
	// that is down or hung makes the decision fail (closed) then, instead
	// of holding the proxy's request through every retry.
	Timeout time.Duration
}

// DefaultDecisionTimeout is Handlers.Timeout's default: far above a
// decision's milliseconds, below the proxies' own timeouts.
const DefaultDecisionTimeout = 3 * time.Second

// Register adds /forward-auth and /v1/decisions to mux.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("/forward-auth", h.bounded(h.forwardAuth))
	mux.HandleFunc("POST /v1/decisions", h.bounded(h.decisions))
}

func (h *Handlers) bounded(next http.HandlerFunc) http.HandlerFunc {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultDecisionTimeout
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next(w, r.WithContext(ctx))
	}
}

func (h *Handlers) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// forwardAuth is forward authentication for nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth: the proxy sends the original method and
// URI in headers and the client's Authorization header; 200 lets the request
// through with the principal in X-Latch-* headers, 401 and 403 stop it. The
// URI is taken raw (nginx's $request_uri is undecoded) and canonicalised by
// the policy engine exactly as the application must. Anything else (no URI,
// a store failure) is not a 2xx, 401 or 403, which every one of these proxies
// treats as an error and refuses the request: fail closed.
//
// The proxy should pin what it protects in the forward-auth URL:
// ?aud=payroll-api requires the token's audience to include it (else 401,
// the token is not for this API, RFC 9068 §4), and ?org=payroll requires the
// token's org (else 403). Without them any org's token is judged by its own
// ACL alone, which is only right for an API shared by every tenant.
func (h *Handlers) forwardAuth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wantAud, wantOrg := q["aud"], q["org"]
	method, okM := originalHeader(r, "X-Forwarded-Method", "X-Original-Method")
	uri, okU := originalHeader(r, "X-Forwarded-Uri", "X-Original-URI")
	if !okM || !okU {
		h.log().WarnContext(r.Context(), "forward auth: original method or URI missing or ambiguous")
		message(w, http.StatusBadRequest, "exactly one original method and URI are required (X-Forwarded-Method and X-Forwarded-Uri, or X-Original-Method and X-Original-URI)")
		return
	}
	bearer, ok := oauth.BearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latch"`)
		message(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	res, err := h.Authorizer.Authorize(r.Context(), bearer, method, uri)
	if err == nil && len(wantAud) > 0 && !slices.ContainsFunc(res.Audience, func(a string) bool { return slices.Contains(wantAud, a) }) {
		err = latch.Errorf(latch.EUNAUTHORIZED, "the token is not for this audience")
	}
	if err != nil {
		if latch.IsCode(err, latch.EUNAUTHORIZED) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="latch", error="invalid_token"`)
			message(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		h.log().ErrorContext(r.Context(), "forward auth failed", "err", err)
		message(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if len(wantOrg) > 0 && !slices.Contains(wantOrg, res.Principal.Org) {
		h.log().InfoContext(r.Context(), "request denied: token of another org", "org", res.Principal.Org, "sub", res.Principal.Sub)
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	if !res.Decision.Allowed {
		h.log().InfoContext(r.Context(), "request denied", "org", res.Principal.Org, "sub", res.Principal.Sub,
			"client_id", res.Principal.ClientID, "method", res.Decision.Method, "path", res.Decision.Path, "reason", res.Decision.Reason.String())
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	hd := w.Header()
	hd.Set("X-Latch-Sub", res.Principal.Sub)
	hd.Set("X-Latch-Org", res.Principal.Org)
	hd.Set("X-Latch-Client", res.Principal.ClientID)
	hd.Set("X-Latch-Scope", strings.Join(res.Principal.Scopes, " "))
	hd.Set("X-Latch-Sub-Type", res.Principal.Kind)
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// originalHeader reads the original request's method or URI from either
// header spelling. It refuses (ok false) when none is given and when several
// different values are: a proxy passes the client's own headers on to the
// auth request, so a client could add the other spelling with a path it may
// call while the proxy forwards another. Whatever the proxy, an ambiguous
// request is refused rather than guessed.
func originalHeader(r *http.Request, names ...string) (string, bool) {
	var val string
	for _, n := range names {
		for _, v := range r.Header.Values(n) {
			switch {
			case v == "":
			case val == "":
				val = v
			case v != val:
				return "", false
			}
		}
	}
	return val, val != ""
}

type decisionRequest struct {
	Token string `json:"token"`
	Sub   string `json:"sub"`
	Org   string `json:"org"`
	// Audience, with a token, requires the token's aud to include it.
	Audience string `json:"audience"`
	Method   string `json:"method"`
	Path     string `json:"path"`
}

// DecisionResponse is the decision API's answer (and the admin API's test of
// a request, which shares its field names).
type DecisionResponse struct {
	Allow       bool   `json:"allow"`
	Reason      string `json:"reason"`
	Explanation string `json:"explanation,omitempty"`
	Sub         string `json:"sub,omitempty"`
	Org         string `json:"org_id,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	Scope       string `json:"scope,omitempty"`
	Path        string `json:"path,omitempty"`
}

// decisions is POST /v1/decisions: a client with the latch/decide scope asks
// whether a token's bearer ({"token"}) or a user of its own org ({"sub"})
// may call method on path. The system org may name another org with "org".
func (h *Handlers) decisions(w http.ResponseWriter, r *http.Request) {
	caller, err := h.Clients.AuthenticateBasic(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		message(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if !slices.Contains(caller.Scopes, DecideScope) && !slices.Contains(caller.Scopes, oauth.AdminScope) {
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	var req decisionRequest
	if err := decodeJSON(r, &req); err != nil {
		message(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Method == "" || req.Path == "" || (req.Token == "") == (req.Sub == "") {
		message(w, http.StatusBadRequest, `give "method", "path", and exactly one of "token" and "sub"`)
		return
	}
	ctx := r.Context()
	var res Result
	if req.Token != "" {
		res, err = h.Authorizer.Authorize(ctx, req.Token, req.Method, req.Path)
		if latch.IsCode(err, latch.EUNAUTHORIZED) {
			writeDecision(w, DecisionResponse{Allow: false, Reason: "invalid_token"})
			return
		}
		// A token of another tenant, or for another API, is judged like an
		// invalid one.
		if err == nil && ((res.Principal.Org != caller.Org && caller.Org != oauth.SystemOrg) ||
			(req.Audience != "" && !slices.Contains(res.Audience, req.Audience))) {
			writeDecision(w, DecisionResponse{Allow: false, Reason: "invalid_token"})
			return
		}
	} else {
		org := caller.Org
		if req.Org != "" && caller.Org == oauth.SystemOrg {
			org = req.Org
		}
		p := Principal{Sub: req.Sub, Org: org, ClientID: caller.ID, Kind: latch.SubjectUser}
		pol, perr := h.Authorizer.PolicyFor(ctx, p, nil)
		if latch.IsCode(perr, latch.EUNAUTHORIZED) {
			writeDecision(w, DecisionResponse{Allow: false, Reason: "unknown_subject"})
			return
		}
		err = perr
		if err == nil {
			res = Result{Principal: p, Decision: pol.Decide(req.Method, req.Path)}
		}
	}
	if err != nil {
		h.log().ErrorContext(ctx, "decision failed", "err", err)
		message(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	d := res.Decision
	writeDecision(w, DecisionResponse{
		Allow: d.Allowed, Reason: d.Reason.String(), Explanation: d.Explain(), Sub: res.Principal.Sub,
		Org: res.Principal.Org, ClientID: res.Principal.ClientID, Scope: strings.Join(res.Principal.Scopes, " "), Path: d.Path,
	})
}

func writeDecision(w http.ResponseWriter, d DecisionResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(d)
}

func decodeJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errors.New("the body must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		return errors.New("the body is too large or unreadable")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errors.New("the body is not valid JSON")
	}
	return nil
}
