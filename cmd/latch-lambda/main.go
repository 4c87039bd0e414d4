// Command latch-lambda is Latch's AWS Lambda bootstrap for the
// provided.al2023 runtime: one binary, the handler chosen by the environment
// variable LATCH_LAMBDA_HANDLER.
//
//   - token: the OAuth2 endpoints (the same http.Handler as `latch serve`)
//     behind API Gateway REST proxy events, HTTP API (payload format 2.0)
//     events and Lambda function URLs (buffered invoke mode, whose events
//     have the HTTP API 2.0 shape);
//   - authorizer: API Gateway Lambda authorizer events: REST TOKEN and
//     REQUEST events (IAM policy responses) and HTTP API 2.0 events (simple
//     responses, or IAM policy responses with LATCH_HTTP_IAM=true);
//   - stream: DynamoDB Streams events, of Latch's own table (changes for a
//     shared cache) and of application tables, whose records grant and
//     revoke statements by the grant rules of LATCH_GRANT_RULES (package
//     internal/stream);
//   - signup: Amazon Cognito post-confirmation events: the confirmed person
//     becomes a user of the org LATCH_SIGNUP_ORG with its default roles
//     (package internal/cognito).
//
// Configuration comes from the environment: LATCH_STORE (dynamodb://TABLE?
// region=R&endpoint=URL; this binary links no other backend), LATCH_ISSUER
// (token and authorizer), LATCH_SIGNING_ALG (ES256), LATCH_ACCESS_TOKEN_TTL
// (1h), LATCH_CACHE_TTL (5s; 1s with Redis), LATCH_HTTP_IAM, LATCH_TRUSTED_ISSUERS
// (authorizer: external issuers such as Cognito user pools, package
// internal/trust), LATCH_GRANT_RULES (stream), LATCH_SIGNUP_ORG (signup),
// LATCH_CACHE (memory, or a Redis URL: the cache the functions and servers
// share), LATCH_LOG_LEVEL (info). Everything is built once, at cold start, and a
// setting that does not parse stops the cold start with a message naming
// it. Keys, secrets and tokens are never logged.
//
// Build with
//
//	CGO_ENABLED=0 go build -trimpath -tags lambda.norpc,latch.lambda -ldflags "-s -w" -o bootstrap ./cmd/latch-lambda
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"latch.dev/latch"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/dynamodb"
	"latch.dev/latch/internal/stream"
	"latch.dev/latch/internal/trust"
)

func main() {
	log, err := newLogger(os.Getenv("LATCH_LOG_LEVEL"))
	if err != nil {
		fatal(slog.Default(), err)
	}
	s, err := settingsFromEnv(os.Getenv)
	if err != nil {
		fatal(log, err)
	}
	ctx := context.Background()
	source, err := openStore(ctx, s.Store)
	if err != nil {
		fatal(log, err)
	}
	var shared sharedcache.Cache
	if s.Cache != "memory" {
		sharedcache.RouteClientLogs(log)
		r, err := sharedcache.NewRedis(ctx, s.Cache, sharedcache.Options{})
		if err != nil {
			fatal(log, fmt.Errorf("LATCH_CACHE: %s", latch.ErrorMessage(err)))
		}
		shared = r
	}
	h, err := newHandler(ctx, source, shared, s, log)
	if err != nil {
		fatal(log, err)
	}
	log.Info("latch-lambda ready", "handler", s.Handler, "store", redactURL(s.Store), "issuer", s.Issuer)
	awslambda.Start(h)
}

// newHandler builds the handler s.Handler names; shared is the Redis cache,
// or nil.
func newHandler(ctx context.Context, source latch.Store, shared sharedcache.Cache, s settings, log *slog.Logger) (func(context.Context, json.RawMessage) (any, error), error) {
	switch s.Handler {
	case "stream":
		return streamHandler(source, shared, s, log)
	case "signup":
		return signupHandler(source, s, log)
	}
	a, err := newApp(ctx, source, shared, s, log)
	if err != nil {
		return nil, err
	}
	if s.Handler == "token" {
		return a.tokenHandler(), nil
	}
	return a.authorizerHandler()
}

func fatal(log *slog.Logger, err error) {
	log.Error("latch-lambda cannot start: " + err.Error())
	os.Exit(1)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("LATCH_LOG_LEVEL: %v", err)
		}
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// settings are what the environment configures.
type settings struct {
	Handler   string
	Store     string
	Issuer    string
	Alg       string
	AccessTTL time.Duration
	CacheTTL  time.Duration
	HTTPIAM   bool
	// Cache is "memory" or a Redis URL (token, authorizer, stream).
	Cache string
	// TrustedIssuers (authorizer), GrantRules (stream), SignupOrg (signup).
	TrustedIssuers []trust.Issuer
	GrantRules     []stream.Rule
	SignupOrg      string
}

func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{
		Handler: getenv("LATCH_LAMBDA_HANDLER"),
		Store:   getenv("LATCH_STORE"), Issuer: getenv("LATCH_ISSUER"), Alg: "ES256",
		AccessTTL: time.Hour, CacheTTL: 5 * time.Second,
	}
	switch s.Handler {
	case "token", "authorizer", "stream", "signup":
	case "":
		return s, fmt.Errorf("LATCH_LAMBDA_HANDLER is not set (want token, authorizer, stream or signup)")
	default:
		return s, fmt.Errorf("LATCH_LAMBDA_HANDLER=%q is not a handler of this binary (want token, authorizer, stream or signup)", s.Handler)
	}
	if s.Store == "" {
		return s, fmt.Errorf("LATCH_STORE is not set (want dynamodb://TABLE?region=R)")
	}
	s.Cache = getenv("LATCH_CACHE")
	switch {
	case s.Cache == "":
		s.Cache = "memory"
	case s.Cache == "memory", strings.HasPrefix(s.Cache, "redis://"), strings.HasPrefix(s.Cache, "rediss://"):
	default:
		return s, fmt.Errorf("LATCH_CACHE: want memory or redis://[user:password@]host:port/db (rediss:// for TLS), not %q", redactURL(s.Cache))
	}
	if s.Issuer == "" && (s.Handler == "token" || s.Handler == "authorizer") {
		return s, fmt.Errorf("LATCH_ISSUER is not set (the issuer URL of the token endpoint)")
	}
	var err error
	switch s.Handler {
	case "authorizer":
		if s.TrustedIssuers, err = trust.ParseIssuers(getenv("LATCH_TRUSTED_ISSUERS")); err != nil {
			return s, fmt.Errorf("LATCH_TRUSTED_ISSUERS: %s", latch.ErrorMessage(err))
		}
	case "stream":
		if s.GrantRules, err = stream.ParseRules(getenv("LATCH_GRANT_RULES")); err != nil {
			return s, fmt.Errorf("LATCH_GRANT_RULES: %s", latch.ErrorMessage(err))
		}
	case "signup":
		if s.SignupOrg = getenv("LATCH_SIGNUP_ORG"); !latch.ValidID(s.SignupOrg) {
			return s, fmt.Errorf("LATCH_SIGNUP_ORG: want the id of the org confirmed users join, not %q", s.SignupOrg)
		}
	}
	if v := getenv("LATCH_SIGNING_ALG"); v != "" {
		s.Alg = v
	}
	switch s.Alg {
	case "ES256", "EdDSA", "RS256":
	default:
		return s, fmt.Errorf("LATCH_SIGNING_ALG: unsupported algorithm %q (use ES256, EdDSA or RS256)", s.Alg)
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"LATCH_ACCESS_TOKEN_TTL", &s.AccessTTL}, {"LATCH_CACHE_TTL", &s.CacheTTL}} {
		if v := getenv(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return s, fmt.Errorf("%s: want a positive duration such as 5s, not %q", d.name, v)
			}
			*d.to = x
		}
	}
	if s.Cache != "memory" && getenv("LATCH_CACHE_TTL") == "" {
		// A frozen Lambda sandbox reads Redis's messages only when it is
		// thawed, possibly after its next decision: its in-process entries
		// must not outlive the 1 s bound on their own.
		s.CacheTTL = time.Second
	}
	if v := getenv("LATCH_HTTP_IAM"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("LATCH_HTTP_IAM: want true or false, not %q", v)
		}
		s.HTTPIAM = b
	}
	return s, nil
}

// openStore opens the DynamoDB store, the only backend of this binary.
func openStore(ctx context.Context, url string) (latch.Store, error) {
	if !strings.HasPrefix(url, "dynamodb://") {
		return nil, fmt.Errorf("LATCH_STORE: unsupported store URL %q (the Lambda functions support dynamodb://TABLE?region=R only)", redactURL(url))
	}
	s, err := dynamodb.OpenEnv(url, os.Getenv, dynamodb.Options{})
	if err != nil {
		return nil, fmt.Errorf("LATCH_STORE: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		return nil, fmt.Errorf("the DynamoDB table is not reachable (create it with `latch dynamodb create-table`): %w", err)
	}
	return s, nil
}

// redactURL drops the password of a URL for logs.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i > 0 {
		if j := strings.Index(s, "://"); j > 0 && j < i {
			return s[:j+3] + "REDACTED" + s[i:]
		}
	}
	return s
}
