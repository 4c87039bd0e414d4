package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/cognito"
	"latch.dev/latch/internal/lambda"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/ratelimit"
	"latch.dev/latch/internal/server"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/dynamodb"
	"latch.dev/latch/internal/stream"
	"latch.dev/latch/internal/token"
	"latch.dev/latch/internal/trust"
)

// app is what a cold start builds: the cached store, the signing keys and
// the options both handlers share. Handlers take it as a parameter, so that
// tests can build it on any store.
type app struct {
	source latch.Store
	store  latch.Store
	keys   *token.Keys
	hasher password.PasswordHasher
	clock  latch.Clock
	log    *slog.Logger
	s      settings
	// limiter counts failed logins for the fleet (on LATCH_CACHE's Redis),
	// or is nil: in this sandbox.
	limiter ratelimit.Counter
}

func newApp(ctx context.Context, source latch.Store, shared sharedcache.Cache, s settings, log *slog.Logger) (*app, error) {
	clock := latch.SystemClock{}
	store := cache.New(source, cache.Options{TTL: s.CacheTTL, Clock: clock, Shared: shared, Log: log})
	// Keys stay in the JWKS for as long as the tokens they signed live.
	keys, err := token.NewKeys(store, clock, s.Alg, s.AccessTTL+5*time.Minute)
	if err != nil {
		return nil, err
	}
	if s.Handler == "authorizer" {
		// The authorizer only verifies, and may only read the table: it
		// never creates the first key. On a fresh table it starts with none
		// and picks the key up (the token function creates it on its cold
		// start) when the first token fails to verify.
		if err := keys.Reload(ctx); err != nil {
			if !errors.Is(err, token.ErrNoCurrentKey) {
				return nil, fmt.Errorf("loading signing keys: %w", err)
			}
			log.Warn("no signing key in the table yet: the token function creates it")
		}
	} else if err := keys.Load(ctx); err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	a := &app{source: source, store: store, keys: keys, hasher: password.NewHasher(), clock: clock, log: log, s: s}
	if r, ok := shared.(*sharedcache.Redis); ok {
		a.limiter = ratelimit.NewRedis(r.Client(), ratelimit.RedisOptions{Timeout: r.Timeout(), Clock: clock, Log: log})
	}
	return a, nil
}

func (a *app) oauthOptions() oauth.Options {
	return oauth.Options{Issuer: a.s.Issuer, AccessTokenTTL: a.s.AccessTTL}
}

// tokenHandler serves server.New's handler (the same as `latch serve`)
// behind API Gateway and function URL events.
func (a *app) tokenHandler() func(context.Context, json.RawMessage) (any, error) {
	srv := server.New(server.Deps{
		Store: a.store, Source: a.source, Keys: a.keys, Hasher: a.hasher, Clock: a.clock, Log: a.log,
		OAuth: a.oauthOptions(), Limiter: a.limiter,
	})
	go srv.WatchKeys(context.Background())
	return httpHandler(srv)
}

// authorizerHandler answers authorizer events with the decisions of an
// authorizer whose tokens an oauth.Server verifies, and the trusted
// external issuers' tokens their JWKS (package trust).
func (a *app) authorizerHandler() (func(context.Context, json.RawMessage) (any, error), error) {
	var verifier authorizer.TokenVerifier = oauth.New(oauth.Deps{Store: a.store, Source: a.source, Keys: a.keys, Hasher: a.hasher, Clock: a.clock, Log: a.log}, a.oauthOptions())
	if len(a.s.TrustedIssuers) > 0 {
		v, err := trust.New(verifier, a.store, a.s.TrustedIssuers, trust.Options{Clock: a.clock, Log: a.log})
		if err != nil {
			return nil, fmt.Errorf("LATCH_TRUSTED_ISSUERS: %w", err)
		}
		verifier = v
	}
	go watchKeys(context.Background(), a.store, a.keys, a.log)
	authz := authorizer.New(verifier, a.store, authorizer.Options{})
	h := lambda.New(authz, lambda.Options{Log: func(ctx context.Context, o lambda.Outcome) { logOutcome(ctx, a.log, o) }})
	return authorizerDispatch(h, a.s.HTTPIAM), nil
}

// streamHandler applies DynamoDB Streams events: grants from application
// tables, changes of Latch's own table (LATCH_STORE's). It works on the
// uncached store: it decides from what it reads.
func streamHandler(source latch.Store, shared sharedcache.Cache, s settings, log *slog.Logger) (func(context.Context, json.RawMessage) (any, error), error) {
	cfg, err := dynamodb.ParseURL(s.Store)
	if err != nil {
		return nil, err
	}
	opts := stream.Options{
		OwnTable: cfg.Table, PK: dynamodb.KeyAttributePK, SK: dynamodb.KeyAttributeSK, ChangeOf: dynamodb.ChangeOf, Log: log,
	}
	if shared != nil {
		// Every change of Latch's table, whoever made it, invalidates the
		// shared cache and reaches every replica (the seed's "refresh the
		// cached policy from the stream").
		opts.Invalidator = cache.Invalidator{Shared: shared}
	}
	h, err := stream.New(source, s.GrantRules, opts)
	if err != nil {
		return nil, fmt.Errorf("LATCH_GRANT_RULES: %w", err)
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) { return h.Handle(ctx, raw) }, nil
}

// signupHandler answers Cognito post-confirmation events.
func signupHandler(source latch.Store, s settings, log *slog.Logger) (func(context.Context, json.RawMessage) (any, error), error) {
	h, err := cognito.New(source, s.SignupOrg, latch.SystemClock{}, log)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) { return h.Handle(ctx, raw) }, nil
}

// watchKeys reloads the signing keys when the store says they changed.
func watchKeys(ctx context.Context, store latch.Store, keys *token.Keys, log *slog.Logger) {
	for ch := range store.Watch(ctx) {
		if ch.Kind == latch.ChangeSigningKey || ch.Kind == latch.ChangeReset {
			if err := keys.Reload(ctx); err != nil {
				log.ErrorContext(ctx, "reloading signing keys failed", "err", err)
			}
		}
	}
}

// logOutcome logs a decision: who, which event, allowed or not. Never the
// token.
func logOutcome(ctx context.Context, log *slog.Logger, o lambda.Outcome) {
	switch {
	case errors.Is(o.Err, lambda.ErrUnauthorized):
		log.InfoContext(ctx, "authorizer: unauthorized", "event", o.Event, "arn", o.ARN)
	case o.Err != nil:
		log.ErrorContext(ctx, "authorizer: error", "event", o.Event, "arn", o.ARN, "code", latch.ErrorCode(o.Err), "err", o.Err.Error())
	default:
		attrs := []any{"event", o.Event, "arn", o.ARN, "principal", o.PrincipalID, "allowed", o.Decision.Allowed}
		if o.IAM != nil && !o.IAM.Whole {
			attrs = append(attrs, "per_request_document", true)
		}
		log.InfoContext(ctx, "authorizer: decided", attrs...)
	}
}

// eventShape is what dispatch looks at.
type eventShape struct {
	Type       string `json:"type"`
	Version    string `json:"version"`
	HTTPMethod string `json:"httpMethod"`
}

// authorizerDispatch routes an authorizer event by its shape: "version":"2.0"
// is an HTTP API event, else "type" TOKEN or REQUEST a REST event.
func authorizerDispatch(h *lambda.Handler, httpIAM bool) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var shape eventShape
		if err := json.Unmarshal(raw, &shape); err != nil {
			return nil, fmt.Errorf("latch-lambda: the event is not a JSON object: %w", err)
		}
		switch {
		case shape.Version == "2.0":
			var ev events.APIGatewayV2CustomAuthorizerV2Request
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("latch-lambda: decoding an HTTP API authorizer event: %w", err)
			}
			if httpIAM {
				return h.HTTPIAM(ctx, ev)
			}
			return h.HTTPSimple(ctx, ev)
		case shape.Type == "TOKEN":
			var ev events.APIGatewayCustomAuthorizerRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("latch-lambda: decoding a TOKEN authorizer event: %w", err)
			}
			return h.Token(ctx, ev)
		case shape.Type == "REQUEST":
			var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("latch-lambda: decoding a REQUEST authorizer event: %w", err)
			}
			return h.Request(ctx, ev)
		}
		return nil, fmt.Errorf("latch-lambda: not an API Gateway authorizer event (type %q, version %q)", shape.Type, shape.Version)
	}
}

// httpHandler routes an HTTP event by its shape: "version":"2.0" is an HTTP
// API or function URL event, else one with "httpMethod" a REST proxy event
// (or an HTTP API payload format 1.0 event, the same shape).
func httpHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var shape eventShape
		if err := json.Unmarshal(raw, &shape); err != nil {
			return nil, fmt.Errorf("latch-lambda: the event is not a JSON object: %w", err)
		}
		switch {
		case shape.Version == "2.0":
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("latch-lambda: decoding an HTTP API event: %w", err)
			}
			return ServeV2(ctx, h, ev), nil
		case shape.HTTPMethod != "":
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("latch-lambda: decoding a REST proxy event: %w", err)
			}
			return ServeProxy(ctx, h, ev), nil
		}
		return nil, fmt.Errorf("latch-lambda: not an API Gateway or function URL HTTP event")
	}
}
