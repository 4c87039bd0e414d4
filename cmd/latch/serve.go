package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"latch.dev/latch"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/console"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/ratelimit"
	"latch.dev/latch/internal/server"
	"latch.dev/latch/internal/sharedcache"
	"latch.dev/latch/internal/store/bolt"
	"latch.dev/latch/internal/store/dynamodb"
	"latch.dev/latch/internal/store/dynamodb/awsconfig"
	"latch.dev/latch/internal/token"
)

// adminClientID is the client that `latch serve` creates on first start, in
// the system org, so that the CLI can manage the server.
const adminClientID = "latch-admin"

// adminCredentialsFile, in the data directory, holds that client's secret.
const adminCredentialsFile = "admin-credentials.json"

type adminCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func serveCommand(e env, stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the server",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen address", Sources: e.sources("LATCH_ADDR")},
			&cli.StringFlag{Name: "data", Value: "./latch-data", Usage: "data directory", Sources: e.sources("LATCH_DATA")},
			&cli.StringFlag{Name: "store", Usage: "store URL (default bolt://<data>/latch.db)", Sources: e.sources("LATCH_STORE")},
			&cli.StringFlag{Name: "cache", Value: "memory", Usage: "cache URL", Sources: e.sources("LATCH_CACHE")},
			&cli.DurationFlag{Name: "cache-ttl", Value: 5 * time.Second, Usage: "how long the in-process cache may serve an item (bounds staleness across servers)", Sources: e.sources("LATCH_CACHE_TTL")},
			&cli.StringFlag{Name: "issuer", Usage: "issuer URL (default http://<addr>)", Sources: e.sources("LATCH_ISSUER")},
			&cli.StringFlag{Name: "config", Usage: "a config file to apply at start-up", Sources: e.sources("LATCH_CONFIG")},
			&cli.StringFlag{Name: "signing-alg", Value: "ES256", Usage: "ES256, EdDSA or RS256", Sources: e.sources("LATCH_SIGNING_ALG")},
			&cli.DurationFlag{Name: "access-token-ttl", Value: time.Hour, Usage: "access token lifetime", Sources: e.sources("LATCH_ACCESS_TOKEN_TTL")},
			&cli.DurationFlag{Name: "refresh-grace", Value: 0, Usage: "how long a rotated refresh token may be used again", Sources: e.sources("LATCH_REFRESH_GRACE")},
			&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "CIDR of a proxy whose X-Forwarded-For is believed", Sources: e.sources("LATCH_TRUSTED_PROXIES")},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", Sources: e.sources("LATCH_LOG_LEVEL")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return serve(ctx, e, cmd, stdout, stderr)
		},
	}
}

// openStore chooses the store backend from its URL: the one place that knows
// every backend.
func openStore(ctx context.Context, url string, clock latch.Clock) (latch.Store, error) {
	switch {
	case strings.HasPrefix(url, "dynamodb://"):
		s, err := awsconfig.Open(ctx, url, dynamodb.Options{Clock: clock})
		if err != nil {
			return nil, err
		}
		if err := s.Ping(ctx); err != nil {
			return nil, fmt.Errorf("the DynamoDB table is not reachable (create it with `latch dynamodb create-table`): %w", err)
		}
		return s, nil
	case strings.HasPrefix(url, "bolt://"):
		path := strings.TrimPrefix(url, "bolt://")
		if path == "" {
			return nil, usageErrorf("--store: bolt:// needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating the store directory: %w", err)
		}
		return bolt.Open(path, bolt.Options{Clock: clock})
	}
	return nil, usageErrorf("--store: unsupported store URL %q (use bolt://PATH or dynamodb://TABLE?region=R)", redactURL(url))
}

func serve(ctx context.Context, e env, cmd *cli.Command, stdout, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return usageErrorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	clock := latch.SystemClock{}

	addr, data := cmd.String("addr"), cmd.String("data")
	storeURL := cmd.String("store")
	if storeURL == "" {
		storeURL = "bolt://" + filepath.Join(data, "latch.db")
	}
	cacheURL := cmd.String("cache")
	if cacheURL != "memory" && !strings.HasPrefix(cacheURL, "redis://") && !strings.HasPrefix(cacheURL, "rediss://") {
		return usageErrorf("--cache: unsupported cache %q (use memory, or redis://[user:password@]host:port/db, rediss:// for TLS)", redactURL(cacheURL))
	}
	alg := cmd.String("signing-alg")
	switch alg {
	case "ES256", "EdDSA", "RS256":
	default:
		return usageErrorf("--signing-alg: unsupported algorithm %q (use ES256, EdDSA or RS256)", alg)
	}
	var cfgFile *config.File
	if path := cmd.String("config"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return usageErrorf("--config: %v", err)
		}
		f, err := config.Load(raw, e.get)
		if err != nil {
			return configError(path, err)
		}
		if err := f.Validate(); err != nil {
			return configError(path, err)
		}
		cfgFile = f
	}

	// Listen before opening the store so that a busy port fails fast.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &cliError{code: exitFailure, msg: fmt.Sprintf("listening on %s: %v", addr, err)}
	}
	defer ln.Close()
	issuer := cmd.String("issuer")
	if issuer == "" {
		issuer = "http://" + ln.Addr().String()
	}

	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	source, err := openStore(ctx, storeURL, clock)
	if err != nil {
		return err
	}
	// Everything but the token endpoint's authentication reads through the
	// in-process cache (and Redis behind it, when configured); closing the
	// cache closes the store.
	cacheOpts := cache.Options{TTL: cmd.Duration("cache-ttl"), Clock: clock, Log: log,
		// One process owns a bolt file: its own writes drop what they
		// change before they return, so revocation states may be cached.
		Revocations: strings.HasPrefix(storeURL, "bolt://")}
	var limiter ratelimit.Counter // nil: in this process
	if cacheURL != "memory" {
		// Redis is not contacted here: a Redis that is down when Latch
		// starts is read through, like one that goes down later.
		sharedcache.RouteClientLogs(log)
		shared, err := sharedcache.NewRedis(ctx, cacheURL, sharedcache.Options{})
		if err != nil {
			source.Close()
			return usageErrorf("--cache: %s", latch.ErrorMessage(err))
		}
		defer shared.Close()
		cacheOpts.Shared = shared
		// Failed logins are counted for the fleet, on the same connections.
		limiter = ratelimit.NewRedis(shared.Client(), ratelimit.RedisOptions{Timeout: shared.Timeout(), Clock: clock, Log: log})
	}
	store := cache.New(source, cacheOpts)
	defer store.Close()

	hasher := password.NewHasher()
	accessTTL := cmd.Duration("access-token-ttl")
	// Keys stay in the JWKS for as long as the tokens they signed live.
	keys, err := token.NewKeys(store, clock, alg, accessTTL+5*time.Minute)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if err := keys.Load(ctx); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	if err := bootstrap(ctx, store, data, clock, log); err != nil {
		return err
	}
	if err := bootstrapConsole(ctx, store, issuer, clock); err != nil {
		return err
	}
	if cfgFile != nil {
		res, err := config.Apply(ctx, store, cfgFile, config.ApplyOptions{Hasher: hasher})
		if err != nil {
			return configError(cmd.String("config"), err)
		}
		log.Info("config applied", "file", cmd.String("config"), "created", res.Count(config.Created), "updated", res.Count(config.Updated), "unchanged", res.Count(config.Unchanged))
	}

	srv := server.New(server.Deps{
		Store: store, Source: source, Keys: keys, Hasher: hasher, Clock: clock, Log: log, Limiter: limiter,
		OAuth: oauth.Options{
			Issuer: issuer, AccessTokenTTL: accessTTL, RefreshGrace: cmd.Duration("refresh-grace"),
			TrustedProxies: cmd.StringSlice("trusted-proxy"),
		},
	})
	defer srv.Close()
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go srv.WatchKeys(watchCtx)

	con, err := console.New(console.Options{Issuer: issuer, API: srv, Sealer: srv.OAuth(), Log: log, Clock: clock})
	if err != nil {
		return usageErrorf("--issuer: %v", err)
	}
	// The console is a client of the server like any other, mounted beside it.
	root := http.NewServeMux()
	root.Handle("/console/", con)
	root.Handle("/console", con)
	root.Handle("/", srv)

	hs := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("latch listening", "addr", ln.Addr().String(), "issuer", issuer, "store", redactURL(storeURL))
	fmt.Fprintf(stdout, "latch listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// Graceful shutdown: stop accepting, let in-flight requests (and their
	// writes) finish, then close the store. A write acknowledged to a client
	// was committed before its response was written.
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	return nil
}

// bootstrap makes sure the system org and the CLI's admin client exist. The
// admin client's secret is generated once and written, readable only by its
// owner, to the data directory; it is never logged.
func bootstrap(ctx context.Context, store latch.Store, data string, clock latch.Clock, log *slog.Logger) error {
	now := clock.Now()
	err := store.CreateOrg(ctx, latch.Org{ID: oauth.SystemOrg, Name: "Latch administrators", CreatedAt: now, UpdatedAt: now, Version: 1})
	if err != nil && !latch.IsCode(err, latch.ECONFLICT) {
		return fmt.Errorf("creating the system org: %w", err)
	}
	secret, hash, err := password.NewClientSecret()
	if err != nil {
		return err
	}
	err = store.CreateClient(ctx, latch.Client{
		ID: adminClientID, Org: oauth.SystemOrg, Name: "Latch CLI", SecretHash: hash,
		Grants: []string{latch.GrantClientCredentials}, Scopes: []string{oauth.AdminScope},
		AccessTokenFormat: latch.TokenFormatJWT, CreatedAt: now, UpdatedAt: now, Version: 1,
	})
	if latch.IsCode(err, latch.ECONFLICT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the admin client: %w", err)
	}
	b, _ := json.MarshalIndent(adminCredentials{ClientID: adminClientID, ClientSecret: secret}, "", "  ")
	path := filepath.Join(data, adminCredentialsFile)
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	log.Info("admin client created; its credentials are in the data directory", "client_id", adminClientID, "file", path)
	return nil
}

// bootstrapConsole makes sure the system org has the admin role (which makes
// its holders global administrators) and that the console's client exists,
// with the redirect URI of this issuer: public, authorization code with
// PKCE, the admin scope, and every org's users may sign in (the admin API
// decides what each may do).
func bootstrapConsole(ctx context.Context, store latch.Store, issuer string, clock latch.Clock) error {
	now := clock.Now()
	err := store.CreateRole(ctx, latch.Role{Org: oauth.SystemOrg, ID: oauth.AdminRole, CreatedAt: now, UpdatedAt: now, Version: 1})
	if err != nil && !latch.IsCode(err, latch.ECONFLICT) {
		return fmt.Errorf("creating the system org's admin role: %w", err)
	}
	redirect := console.RedirectURI(issuer)
	err = store.CreateClient(ctx, latch.Client{
		ID: console.ClientID, Org: oauth.SystemOrg, Name: "Latch console",
		Grants: []string{latch.GrantAuthorizationCode}, Scopes: []string{oauth.AdminScope},
		AccessTokenFormat: latch.TokenFormatJWT, RedirectURIs: []string{redirect}, LoginOrgs: []string{latch.AnyOrg},
		CreatedAt: now, UpdatedAt: now, Version: 1,
	})
	if latch.IsCode(err, latch.ECONFLICT) {
		// A new issuer (another address or domain) moves the callback; the
		// old one stops working, since nothing serves it any more.
		var c latch.Client
		if c, err = store.GetClient(ctx, console.ClientID); err == nil && !slices.Equal(c.RedirectURIs, []string{redirect}) {
			_, err = store.UpdateClient(ctx, console.ClientID, func(c *latch.Client) error {
				c.RedirectURIs = []string{redirect}
				return nil
			})
		}
	}
	if err != nil {
		return fmt.Errorf("creating the console's client: %w", err)
	}
	return nil
}

// configError prints every validation error of a config file, by path.
func configError(path string, err error) error {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		return &cliError{code: exitUsage, msg: fmt.Sprintf("%s is not valid; nothing was applied:\n  %s", path, strings.Join(problemStrings(ve), "\n  "))}
	}
	if latch.IsCode(err, latch.EINVALID) {
		return &cliError{code: exitUsage, msg: fmt.Sprintf("%s: %s", path, latch.ErrorMessage(err))}
	}
	return err
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

// problemStrings lists a validation error's problems, one "path: message" each.
func problemStrings(ve *config.ValidationError) []string {
	out := make([]string, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		out = append(out, p.String())
	}
	return out
}
