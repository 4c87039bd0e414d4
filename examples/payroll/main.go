// Command payroll is the payroll API of the seed documents, protected by
// Latch object by object: employee 5 reads their own record and paystubs,
// manager c reads 5 and 6 but not 7.
//
// Behind nginx (auth_request to Latch's /forward-auth; listens on loopback
// only and trusts the X-Latch-Sub header the gateway sets):
//
//	payroll --mode gateway --addr 127.0.0.1:8081
//
// Standalone, with the Go middleware asking Latch's decision API (the client
// needs the latch/decide scope; its secret comes from PAYROLL_SERVICE_SECRET):
//
//	payroll --mode middleware --addr 127.0.0.1:8082 --latch http://127.0.0.1:8080 --client-id payroll-service
//
// It prints "payroll listening on http://HOST:PORT" once it listens, and
// stops cleanly on SIGINT or SIGTERM.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"latch.dev/latch/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "payroll:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("payroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", string(Gateway), "gateway (behind nginx auth_request) or middleware (Go middleware, Latch decision API)")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address (gateway mode: loopback only)")
	latchURL := fs.String("latch", "http://127.0.0.1:8080", "Latch server (middleware mode)")
	clientID := fs.String("client-id", "payroll-service", "client with the latch/decide scope (middleware mode); secret in PAYROLL_SERVICE_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := Config{Mode: Mode(*mode), Log: log}
	switch cfg.Mode {
	case Gateway:
		if !loopback(*addr) {
			return fmt.Errorf("gateway mode trusts X-Latch-Sub, so it listens on a loopback address only, not %q", *addr)
		}
	case Middleware:
		secret := getenv("PAYROLL_SERVICE_SECRET")
		if secret == "" {
			return errors.New("middleware mode needs the client secret in PAYROLL_SERVICE_SECRET")
		}
		cfg.Decider = middleware.Remote(middleware.RemoteConfig{Endpoint: *latchURL, ClientID: *clientID, ClientSecret: secret})
	default:
		return fmt.Errorf("--mode is gateway or middleware, not %q", *mode)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewHandler(cfg), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "payroll listening on http://%s (%s mode)\n", ln.Addr(), cfg.Mode)
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

// loopback reports whether addr's host is a loopback IP address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
