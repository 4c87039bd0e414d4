package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"latch.dev/latch"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// Exit codes scripts can rely on.
const (
	exitOK           = 0
	exitFailure      = 1 // the server or the store failed; retrying may help
	exitUsage        = 2 // bad flags, arguments or input; nothing was changed
	exitUnauthorized = 3 // credentials missing, wrong, or not allowed
	exitNotFound     = 4
	exitConflict     = 5
)

// cliError carries an exit code and a message for the user.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch latch.ErrorCode(err) {
	case latch.EINVALID:
		return exitUsage
	case latch.EUNAUTHORIZED, latch.EFORBIDDEN:
		return exitUnauthorized
	case latch.ENOTFOUND:
		return exitNotFound
	case latch.ECONFLICT:
		return exitConflict
	}
	return exitFailure
}

// env is the process environment, injected so that tests need not set it.
type env map[string]string

func parseEnv(kv []string) env {
	e := env{}
	for _, s := range kv {
		if k, v, ok := strings.Cut(s, "="); ok {
			e[k] = v
		}
	}
	return e
}

func (e env) get(k string) string { return e[k] }

// envSource makes a flag read an injected environment variable.
type envSource struct {
	e   env
	key string
}

func (s envSource) Lookup() (string, bool) { v, ok := s.e[s.key]; return v, ok }
func (s envSource) String() string         { return "environment variable " + s.key }
func (s envSource) GoString() string       { return "envSource(" + s.key + ")" }

func (e env) sources(keys ...string) cli.ValueSourceChain {
	var vs []cli.ValueSource
	for _, k := range keys {
		vs = append(vs, envSource{e, k})
	}
	return cli.NewValueSourceChain(vs...)
}

// run runs the latch command line. It returns instead of exiting, and writes
// only to stdout and stderr, so tests can run it in-process.
func run(ctx context.Context, args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := parseEnv(environ)
	root := &cli.Command{
		Name:           "latch",
		Usage:          "an OAuth2/OIDC authorization server and object-level authorizer",
		Version:        Version,
		Writer:         stdout,
		ErrWriter:      stderr,
		Reader:         stdin,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return usageErrorf("%v", err)
		},
		Commands: []*cli.Command{
			serveCommand(e, stdout, stderr),
			applyCommand(e, stdout),
			clientCommand(e, stdout),
			userCommand(e, stdin, stdout),
			tokenCommand(e, stdout),
			keysCommand(e, stdout),
			authorizeCommand(e, stdout),
			dynamodbCommand(e, stdout),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(context.Context, *cli.Command) error {
					_, err := fmt.Fprintln(stdout, "latch", Version)
					return err
				},
			},
		},
		CommandNotFound: func(_ context.Context, _ *cli.Command, name string) {
			fmt.Fprintf(stderr, "latch: unknown command %q\n", name)
		},
	}
	err := root.Run(ctx, args)
	if err != nil && errorText(err) != "" {
		fmt.Fprintln(stderr, "latch:", errorText(err))
	}
	return err
}

// errorText is what the CLI prints for err: the chosen message, and for a
// fault (a store that is down or answers something unexpected) the whole
// chain too, operation and server error included: the person at the
// terminal runs the store and needs to know which call failed. A server
// never shows a cause to its clients; the CLI's user is the operator.
func errorText(err error) string {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.msg
	}
	var le *latch.Error
	if errors.As(err, &le) {
		switch latch.ErrorCode(err) {
		case latch.EINTERNAL, latch.EUNAVAILABLE:
			return latch.ErrorMessage(err) + " (" + err.Error() + ")"
		}
		return latch.ErrorMessage(err)
	}
	return err.Error()
}
