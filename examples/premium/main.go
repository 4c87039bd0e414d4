// Command premium is the machine-to-machine premium content API of the seed
// documents, protected by Latch through the Go middleware: a client with the
// scope premium/read may GET, only premium/write may POST.
//
//	PREMIUM_SERVICE_SECRET=... premium --addr 127.0.0.1:8083 --latch http://127.0.0.1:8080 --client-id premium-service
//
// The client named by --client-id needs the latch/decide scope (see
// latch-service.yaml). It prints "premium listening on http://HOST:PORT"
// once it listens, and stops cleanly on SIGINT or SIGTERM.
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
		fmt.Fprintln(os.Stderr, "premium:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("premium", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8083", "listen address")
	latchURL := fs.String("latch", "http://127.0.0.1:8080", "Latch server")
	clientID := fs.String("client-id", "premium-service", "client with the latch/decide scope; secret in PREMIUM_SERVICE_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	secret := getenv("PREMIUM_SERVICE_SECRET")
	if secret == "" {
		return errors.New("the client secret must be in PREMIUM_SERVICE_SECRET")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	d := middleware.Remote(middleware.RemoteConfig{Endpoint: *latchURL, ClientID: *clientID, ClientSecret: secret})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewHandler(d, NewStore(), log), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "premium listening on http://%s\n", ln.Addr())
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
