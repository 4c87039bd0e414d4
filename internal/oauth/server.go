// Package oauth implements Latch's OAuth2 and OIDC endpoints: the token
// endpoint and its grants, client authentication, introspection, revocation,
// userinfo, discovery, JWKS, self sign-up, and the browser side: the
// authorization endpoint, the hosted login pages with their login session,
// and RP-initiated logout. Every handler returns its result or an error; one
// function writes each. It never writes a secret or a token to a log, and
// never lets internal error text reach a client.
package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/metrics"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/ratelimit"
	"latch.dev/latch/internal/token"
)

// SystemOrg is the organization that operates the server: a token with the
// admin scope and this org_id is a global administrator.
const SystemOrg = latch.SystemOrg

// Built-in scopes and audience.
const (
	AdminAudience = "latch"
	AdminScope    = "latch/admin"
	// AdminRole is the role a user needs to receive AdminScope.
	AdminRole = "admin"
)

// oidcScopes may be requested by user grants without an audience.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true}

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Issuer string
	// AccessTokenTTL is the lifetime of access tokens (default 1h).
	AccessTokenTTL time.Duration
	// RefreshIdleTTL expires a refresh token not used for this long (default 30 days).
	RefreshIdleTTL time.Duration
	// RefreshAbsoluteTTL ends a refresh family this long after login (default 90 days).
	RefreshAbsoluteTTL time.Duration
	// RefreshGrace lets a rotated refresh token be used again for this long,
	// giving a sibling token (default 0: never).
	RefreshGrace time.Duration
	// RefreshRaceWindow: a rotated token presented again this soon after its
	// rotation is refused without revoking the family, because concurrent
	// requests of one client look exactly like that (default 2s).
	RefreshRaceWindow time.Duration
	// TrustedProxies are the peer addresses (CIDRs) whose X-Forwarded-For is
	// believed when rate limiting by client address.
	TrustedProxies []string
	// RequestTimeout bounds every request of these endpoints (default
	// DefaultRequestTimeout): a store that does not answer fails the
	// request with a 5xx at this deadline instead of holding the client
	// through every retry.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout leaves room for a password hash and a few store
// round trips with their retries (the DynamoDB store backs off at most 2 s).
const DefaultRequestTimeout = 5 * time.Second

func (o *Options) defaults() {
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = time.Hour
	}
	if o.RefreshIdleTTL <= 0 {
		o.RefreshIdleTTL = 30 * 24 * time.Hour
	}
	if o.RefreshAbsoluteTTL <= 0 {
		o.RefreshAbsoluteTTL = 90 * 24 * time.Hour
	}
	if o.RefreshRaceWindow <= 0 {
		o.RefreshRaceWindow = 2 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
}

// bounded runs next with the request's context ending at the deadline.
func (s *Server) bounded(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		next(w, r.WithContext(ctx))
	}
}

// Deps are what a Server needs.
type Deps struct {
	// Store serves everything but the reads that issue a token: normally
	// the in-process cache in front of Source, whose writes invalidate it
	// at once.
	Store latch.Store
	// Source, when set, is the store itself, uncached: the token endpoint
	// authenticates clients and users from it, so that a client or user
	// disabled anywhere is refused at once and a store outage gives no
	// token.
	Source   latch.Store
	Keys     *token.Keys
	Hasher   password.PasswordHasher
	Clock    latch.Clock
	Log      *slog.Logger
	Registry *metrics.Registry
	// Limiter counts failed logins and sign-ups (nil: in this process); a
	// ratelimit.Redis counts for the fleet.
	Limiter ratelimit.Counter
}

// Server serves the OAuth2 endpoints.
type Server struct {
	store   latch.Store
	source  latch.Store
	keys    *token.Keys
	hasher  password.PasswordHasher
	clock   latch.Clock
	log     *slog.Logger
	opts    Options
	limiter *limiter
	metrics *serverMetrics
	grants  map[string]grantFunc
	// verified caches verified JWTs by digest (signature checks only).
	verified *verifiedJWTs
	// lastKeyReload is when reloadKeys last read the key set (unix nanos).
	lastKeyReload atomic.Int64
	// web serves the browser: the authorization endpoint, the login pages
	// and logout (none in the Lambda build).
	web *hostedLogin
}

// keyReloadInterval bounds how often a failed verification may re-read the
// signing keys, so that garbage tokens cannot turn into store reads.
const keyReloadInterval = 5 * time.Second

// reloadKeys re-reads the signing keys if it has not done so for
// keyReloadInterval, and reports whether it did. Servers on one DynamoDB
// table, and Lambda functions, learn of each other's key rotations this way
// (and from the periodic reload of WatchKeys).
func (s *Server) reloadKeys(ctx context.Context) bool {
	now := s.clock.Now().UnixNano()
	last := s.lastKeyReload.Load()
	if now-last < int64(keyReloadInterval) || !s.lastKeyReload.CompareAndSwap(last, now) {
		return false
	}
	if err := s.keys.Reload(ctx); err != nil {
		s.log.WarnContext(ctx, "reloading signing keys failed", "err", err)
		return false
	}
	return true
}

// New returns a Server.
func New(d Deps, opts Options) *Server {
	opts.defaults()
	if d.Clock == nil {
		d.Clock = latch.SystemClock{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Source == nil {
		d.Source = d.Store
	}
	s := &Server{
		store: d.Store, source: d.Source, keys: d.Keys, hasher: d.Hasher, clock: d.Clock, log: d.Log, opts: opts,
		limiter:  newLimiter(d.Limiter, d.Clock, opts.TrustedProxies),
		metrics:  newMetrics(d.Registry),
		verified: newVerifiedJWTs(),
		web:      newHostedLogin(d),
	}
	if m, ok := d.Limiter.(interface{ RegisterMetrics(*metrics.Registry) }); ok && d.Registry != nil {
		m.RegisterMetrics(d.Registry)
	}
	s.grants = map[string]grantFunc{
		latch.GrantClientCredentials: s.clientCredentials,
		latch.GrantPassword:          s.passwordGrant,
		latch.GrantRefreshToken:      s.refreshGrant,
		latch.GrantAuthorizationCode: s.authorizationCodeGrant,
	}
	return s
}

// Register adds the OAuth2 and OIDC routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth2/token", s.bounded(s.handleToken))
	mux.HandleFunc("/oauth2/introspect", s.bounded(s.handleIntrospect))
	mux.HandleFunc("/oauth2/revoke", s.bounded(s.handleRevoke))
	mux.HandleFunc("/oauth2/userinfo", s.bounded(s.handleUserinfo))
	mux.HandleFunc("/signup", s.bounded(s.handleSignup))
	s.registerBrowser(mux)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleDiscovery)
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.opts.Issuer }

type serverMetrics struct {
	tokens             metrics.CounterVec
	clientAuthFailures metrics.Counter
	loginFailures      metrics.Counter
	throttled          metrics.Counter
	refreshReuse       metrics.Counter
	introspections     metrics.CounterVec
}

func newMetrics(reg *metrics.Registry) *serverMetrics {
	m := &serverMetrics{
		tokens: metrics.NewCounterVec("latch_token_requests_total",
			"Token endpoint requests by grant type and result (ok or an OAuth2 error code).", "grant", "result"),
		clientAuthFailures: metrics.NewCounter("latch_client_auth_failures_total", "Failed client authentications."),
		loginFailures:      metrics.NewCounter("latch_login_failures_total", "Failed user authentications (password grant and sign-in)."),
		throttled:          metrics.NewCounter("latch_throttled_total", "Requests refused by the brute-force limiter."),
		refreshReuse: metrics.NewCounter("latch_refresh_reuse_total",
			"Rotated refresh tokens presented again after the race window (their family is revoked)."),
		introspections: metrics.NewCounterVec("latch_introspections_total",
			"Introspection requests by result (active, inactive, error).", "result"),
	}
	if reg != nil {
		reg.Register(m.tokens, m.clientAuthFailures, m.loginFailures, m.throttled, m.refreshReuse, m.introspections)
	}
	return m
}
