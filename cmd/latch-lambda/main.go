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
//     responses, or IAM policy responses with LATCH_HTTP_IAM=true).
//
// Configuration comes from the environment: LATCH_STORE (dynamodb://TABLE?
// region=R&endpoint=URL; this binary links no other backend), LATCH_ISSUER
// (required), LATCH_SIGNING_ALG (ES256), LATCH_ACCESS_TOKEN_TTL (1h),
// LATCH_CACHE_TTL (5s), LATCH_HTTP_IAM, LATCH_LOG_LEVEL (info). The store,
// cache, signing keys and token verifier are built once, at cold start.
// Keys, secrets and tokens are never logged.
//
// Build with
//
//	CGO_ENABLED=0 go build -trimpath -tags lambda.norpc -ldflags "-s -w" -o bootstrap ./cmd/latch-lambda
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/dynamodb"
)

func main() {
	log, err := newLogger(os.Getenv("LATCH_LOG_LEVEL"))
	if err != nil {
		fatal(slog.Default(), err)
	}
	handler := os.Getenv("LATCH_LAMBDA_HANDLER")
	switch handler {
	case "token", "authorizer":
	case "":
		fatal(log, fmt.Errorf("LATCH_LAMBDA_HANDLER is not set (want token or authorizer)"))
	default:
		fatal(log, fmt.Errorf("LATCH_LAMBDA_HANDLER=%q is not a handler of this binary (want token or authorizer)", handler))
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
	a, err := newApp(ctx, source, s, log)
	if err != nil {
		fatal(log, err)
	}
	log.Info("latch-lambda ready", "handler", handler, "store", redactURL(s.Store), "issuer", s.Issuer)
	switch handler {
	case "token":
		awslambda.Start(a.tokenHandler())
	case "authorizer":
		awslambda.Start(a.authorizerHandler())
	}
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
	Store     string
	Issuer    string
	Alg       string
	AccessTTL time.Duration
	CacheTTL  time.Duration
	HTTPIAM   bool
}

func settingsFromEnv(getenv func(string) string) (settings, error) {
	s := settings{
		Store: getenv("LATCH_STORE"), Issuer: getenv("LATCH_ISSUER"), Alg: "ES256",
		AccessTTL: time.Hour, CacheTTL: 5 * time.Second,
	}
	if s.Store == "" {
		return s, fmt.Errorf("LATCH_STORE is not set (want dynamodb://TABLE?region=R)")
	}
	if s.Issuer == "" {
		return s, fmt.Errorf("LATCH_ISSUER is not set (the issuer URL of the token endpoint)")
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
	s, err := dynamodb.Open(ctx, url, dynamodb.Options{})
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
