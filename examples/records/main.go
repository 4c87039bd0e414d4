// Command records is the web application of the last seed document: the
// employees of many organizations sign in with Latch (the organization
// first, then username and password, on Latch's hosted login: authorization
// code with PKCE, one public client whose login_orgs is "*"), then list and
// add the records of their own organization.
//
// Records are partitioned by organization, in a bbolt file by default or in
// one DynamoDB table (partition key ORG#<org id>, sort key the record id),
// and every request to /orgs/{org}/... is decided by Latch's decision API
// for the user's access token: a member of one org never reads or writes
// another org's partition, whatever URL or form field they send. The app
// itself decides nothing and keeps access tokens on the server.
//
//	records --latch http://127.0.0.1:8080 --addr 127.0.0.1:8090 --public-url http://127.0.0.1:8090
//
// The decision-API secret comes from RECORDS_DECIDER_SECRET. It prints
// "records listening on http://HOST:PORT" once it listens, and stops cleanly
// on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"latch.dev/latch/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "records:", err)
		os.Exit(1)
	}
}

// options are the command's flags, each with an environment default.
type options struct {
	latchURL, addr, publicURL, clientID, deciderID, store string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	fs := flag.NewFlagSet("records", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.latchURL, "latch", env("RECORDS_LATCH", "http://127.0.0.1:8080"), "Latch's issuer URL (RECORDS_LATCH)")
	fs.StringVar(&o.addr, "addr", env("RECORDS_ADDR", "127.0.0.1:8090"), "listen address (RECORDS_ADDR)")
	fs.StringVar(&o.publicURL, "public-url", getenv("RECORDS_URL"), "the app's URL as browsers reach it (RECORDS_URL; default http://ADDR)")
	fs.StringVar(&o.clientID, "client-id", env("RECORDS_CLIENT_ID", "records-app"), "the public client people sign in with (RECORDS_CLIENT_ID)")
	fs.StringVar(&o.deciderID, "decider-id", env("RECORDS_DECIDER_ID", "records-decider"), "the client with scope latch/decide (RECORDS_DECIDER_ID); its secret in RECORDS_DECIDER_SECRET")
	fs.StringVar(&o.store, "store", env("RECORDS_STORE", "bolt://records.db"), "bolt://PATH or dynamodb://TABLE?region=REGION (RECORDS_STORE)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.publicURL == "" {
		o.publicURL = "http://" + o.addr
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	secret := getenv("RECORDS_DECIDER_SECRET")
	if secret == "" {
		return errors.New("the decision-API client's secret is missing: set RECORDS_DECIDER_SECRET")
	}
	store, err := openStore(ctx, o.store)
	if err != nil {
		return err
	}
	defer store.Close()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	app, err := NewApp(ctx, Config{
		Issuer: o.latchURL, PublicURL: o.publicURL, ClientID: o.clientID, Store: store, Log: log,
		// Audience: the decision API refuses tokens issued for other APIs.
		Decider: middleware.Remote(middleware.RemoteConfig{Endpoint: o.latchURL, ClientID: o.deciderID, ClientSecret: secret, Audience: "records"}),
	})
	if err != nil {
		return fmt.Errorf("reaching Latch at %s: %w", o.latchURL, err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	fmt.Fprintf(stdout, "records listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// openStore opens the -store URL: bolt://PATH or
// dynamodb://TABLE?region=REGION[&endpoint=URL].
func openStore(ctx context.Context, s string) (Store, error) {
	kind, rest, err := parseStoreURL(s)
	if err != nil {
		return nil, err
	}
	if kind == "bolt" {
		return openBolt(rest)
	}
	u, err := url.Parse(rest)
	if err != nil {
		return nil, fmt.Errorf("-store: %w", err)
	}
	return openDynamoDB(ctx, u)
}

// parseStoreURL splits a -store value into its kind and the rest.
func parseStoreURL(s string) (kind, rest string, err error) {
	switch {
	case strings.HasPrefix(s, "bolt://"):
		if p := strings.TrimPrefix(s, "bolt://"); p != "" {
			return "bolt", p, nil
		}
	case strings.HasPrefix(s, "dynamodb://"):
		return "dynamodb", s, nil
	}
	return "", "", fmt.Errorf("-store is bolt://PATH or dynamodb://TABLE?region=REGION, not %q", s)
}
