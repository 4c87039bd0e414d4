// Package server assembles Latch's HTTP surface: the OAuth2 endpoints, the
// admin API, health and metrics, behind one http.Handler. It decides nothing
// about storage or keys (cmd/ wires those) and never writes internal error
// text to a client.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/metrics"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/ratelimit"
	"latch.dev/latch/internal/token"
)

// Deps are the parts a server is built from.
type Deps struct {
	// Store is what the server reads and writes: normally the in-process
	// cache in front of Source.
	Store latch.Store
	// Source is the uncached store the token endpoint authenticates from
	// (see oauth.Deps); Store when nil.
	Source latch.Store
	Keys   *token.Keys
	Hasher password.PasswordHasher
	Clock  latch.Clock
	Log    *slog.Logger
	OAuth  oauth.Options
	// Limiter counts failed logins and sign-ups (see oauth.Deps; nil: in
	// this process).
	Limiter ratelimit.Counter
}

// Server is Latch's HTTP handler.
type Server struct {
	store    latch.Store
	keys     *token.Keys
	hasher   password.PasswordHasher
	clock    latch.Clock
	log      *slog.Logger
	oauth    *oauth.Server
	authz    *authorizer.Authorizer
	handler  http.Handler
	registry *metrics.Registry
	duration metrics.HistogramVec
}

// New returns a Server. Metrics go to a registry of its own, so that several
// servers can live in one test process.
func New(d Deps) *Server {
	if d.Clock == nil {
		d.Clock = latch.SystemClock{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	reg := metrics.NewRegistry()
	s := &Server{
		store: d.Store, keys: d.Keys, hasher: d.Hasher, clock: d.Clock, log: d.Log, registry: reg,
		duration: metrics.NewHistogramVec("latch_http_request_duration_seconds", "HTTP request latency by route and status.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}, "route", "status"),
	}
	reg.Register(s.duration)
	// The cache in front of the store counts its hits and its shared
	// level's failures.
	if c, ok := d.Store.(interface{ RegisterMetrics(*metrics.Registry) }); ok {
		c.RegisterMetrics(reg)
	}
	s.oauth = oauth.New(oauth.Deps{Store: d.Store, Source: d.Source, Keys: d.Keys, Hasher: d.Hasher, Clock: d.Clock, Log: d.Log, Registry: reg, Limiter: d.Limiter}, d.OAuth)

	s.authz = authorizer.New(s.oauth, d.Store, authorizer.Options{})
	mux := http.NewServeMux()
	s.oauth.Register(mux)
	(&authorizer.Handlers{Authorizer: s.authz, Clients: s.oauth, Log: d.Log}).Register(mux)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", reg.Handler())
	s.registerAdmin(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Message: "no such endpoint"})
	})
	s.handler = s.instrument(mux)
	return s
}

// OAuth returns the OAuth2 server, for callers that verify tokens.
func (s *Server) OAuth() *oauth.Server { return s.oauth }

// Authorizer returns the authorizer, for in-process adapters.
func (s *Server) Authorizer() *authorizer.Authorizer { return s.authz }

// Close stops the server's background work (it does not close the store).
func (s *Server) Close() { s.authz.Close() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// WatchKeys reloads the signing keys whenever this process's store reports a
// change to them, and every minute for changes made by other servers on a
// shared store (whose feed this process does not see), until ctx is done.
func (s *Server) WatchKeys(ctx context.Context) {
	feed := s.store.Watch(ctx)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	reload := func() {
		if err := s.keys.Reload(ctx); err != nil {
			s.log.ErrorContext(ctx, "reloading signing keys failed", "err", err)
		}
	}
	for {
		select {
		case ch, ok := <-feed:
			if !ok {
				return
			}
			if ch.Kind == latch.ChangeSigningKey || ch.Kind == latch.ChangeReset {
				reload()
			}
		case <-tick.C:
			reload()
		}
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// instrument records latency per route and turns a panic into a 500 that
// says nothing about its cause.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, errorBody{Error: "internal", Message: "internal error"})
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.duration.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
