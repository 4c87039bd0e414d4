package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latch.dev/latch"
	"latch.dev/latch/internal/config"
)

func applyCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "apply a config file to a running server (validated as a whole first)",
		ArgsUsage: " ",
		Flags: append(remoteFlags(e),
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the config file (YAML)", Required: true},
			&cli.BoolFlag{Name: "dry-run", Usage: "show what would change, change nothing"},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			path := cmd.String("file")
			raw, err := os.ReadFile(path)
			if err != nil {
				return usageErrorf("%v", err)
			}
			f, err := config.Load(raw, e.get)
			if err != nil {
				return configError(path, err)
			}
			// The server validates the file against what it already holds
			// (a role created earlier may be referenced), so it alone decides.
			api, err := newAdminAPI(ctx, e, cmd)
			if err != nil {
				return err
			}
			target := "/admin/v1/apply"
			if cmd.Bool("dry-run") {
				target += "?dry_run=true"
			}
			var res config.Result
			if err := api.do(ctx, "POST", target, f, &res); err != nil {
				return configError(path, err)
			}
			if cmd.Bool("json") {
				return printJSON(stdout, res)
			}
			_, err = fmt.Fprint(stdout, res.String())
			return err
		},
	}
}

func clientCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "client",
		Usage: "manage OAuth2 clients",
		Commands: []*cli.Command{{
			Name:  "create",
			Usage: "create a client; its generated secret is printed once",
			Flags: append(remoteFlags(e),
				&cli.StringFlag{Name: "org", Usage: "the client's organization", Required: true},
				&cli.StringFlag{Name: "id", Usage: "client id (default: generated)"},
				&cli.StringFlag{Name: "name", Usage: "display name"},
				&cli.StringSliceFlag{Name: "grant", Usage: "allowed grant type (repeatable)", Value: []string{latch.GrantClientCredentials}},
				&cli.StringSliceFlag{Name: "scope", Usage: "allowed scope <audience>/<scope> (repeatable)"},
				&cli.StringSliceFlag{Name: "role", Usage: "role (repeatable)"},
				&cli.StringSliceFlag{Name: "allow", Usage: "allow statement (repeatable)"},
				&cli.StringSliceFlag{Name: "deny", Usage: "deny statement (repeatable)"},
				&cli.StringSliceFlag{Name: "login-org", Usage: "org whose users may sign in through it, or * (repeatable)"},
				&cli.StringSliceFlag{Name: "redirect-uri", Usage: "redirect URI (repeatable)"},
				&cli.StringFlag{Name: "format", Value: latch.TokenFormatJWT, Usage: "access token format: jwt or opaque"},
				&cli.BoolFlag{Name: "public", Usage: "no secret (a public client)"},
			),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				id := cmd.String("id")
				if id == "" {
					id = "c-" + randomHex(8)
				}
				in := map[string]any{
					"id": id, "name": cmd.String("name"), "grants": cmd.StringSlice("grant"),
					"scopes": cmd.StringSlice("scope"), "roles": cmd.StringSlice("role"),
					"allow": cmd.StringSlice("allow"), "deny": cmd.StringSlice("deny"),
					"login_orgs": cmd.StringSlice("login-org"), "redirect_uris": cmd.StringSlice("redirect-uri"),
					"access_token_format": cmd.String("format"), "public": cmd.Bool("public"),
				}
				api, err := newAdminAPI(ctx, e, cmd)
				if err != nil {
					return err
				}
				var out map[string]any
				if err := api.do(ctx, "POST", "/admin/v1/orgs/"+pathEscape(cmd.String("org"))+"/clients", in, &out); err != nil {
					return err
				}
				if cmd.Bool("json") {
					return printJSON(stdout, out)
				}
				fmt.Fprintf(stdout, "client_id:     %v\n", out["id"])
				if s, ok := out["client_secret"].(string); ok && s != "" {
					fmt.Fprintf(stdout, "client_secret: %s\n", s)
					fmt.Fprintf(stdout, "secret_hash:   %v\n", out["secret_hash"])
					fmt.Fprintln(stdout, "The secret is shown once and stored only as a digest. Use secret_hash in a config file.")
				}
				return nil
			},
		}},
	}
}

func userCommand(e env, stdin io.Reader, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage users",
		Commands: []*cli.Command{{
			Name:  "create",
			Usage: "create a user; the password is read from LATCH_USER_PASSWORD or, with --password-stdin, from standard input",
			Flags: append(remoteFlags(e),
				&cli.StringFlag{Name: "org", Required: true},
				&cli.StringFlag{Name: "id", Usage: "user id, the token's sub (default: generated)"},
				&cli.StringFlag{Name: "username", Required: true},
				&cli.StringFlag{Name: "email"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of standard input"},
				&cli.StringSliceFlag{Name: "role", Usage: "role (repeatable)"},
				&cli.StringSliceFlag{Name: "allow", Usage: "allow statement (repeatable)"},
				&cli.StringSliceFlag{Name: "deny", Usage: "deny statement (repeatable)"},
				&cli.StringSliceFlag{Name: "attr", Usage: "attribute NAME=VALUE (repeatable; repeated names make a list)"},
			),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				pw := e.get("LATCH_USER_PASSWORD")
				if cmd.Bool("password-stdin") {
					line, err := bufio.NewReader(stdin).ReadString('\n')
					if err != nil && line == "" {
						return usageErrorf("could not read a password from standard input")
					}
					pw = strings.TrimRight(line, "\r\n")
				}
				if pw == "" {
					return usageErrorf("a password is needed: set LATCH_USER_PASSWORD or use --password-stdin")
				}
				id := cmd.String("id")
				if id == "" {
					id = randomHex(16)
				}
				attrs := map[string][]string{}
				for _, kv := range cmd.StringSlice("attr") {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return usageErrorf("--attr %q: want NAME=VALUE", kv)
					}
					attrs[k] = append(attrs[k], v)
				}
				in := map[string]any{
					"id": id, "username": cmd.String("username"), "email": cmd.String("email"), "password": pw,
					"roles": cmd.StringSlice("role"), "allow": cmd.StringSlice("allow"), "deny": cmd.StringSlice("deny"),
					"attributes": attrs,
				}
				api, err := newAdminAPI(ctx, e, cmd)
				if err != nil {
					return err
				}
				var out map[string]any
				if err := api.do(ctx, "POST", "/admin/v1/orgs/"+pathEscape(cmd.String("org"))+"/users", in, &out); err != nil {
					return err
				}
				if cmd.Bool("json") {
					return printJSON(stdout, out)
				}
				_, err = fmt.Fprintf(stdout, "user %v created in org %v\n", out["id"], out["org"])
				return err
			},
		}},
	}
}

func tokenCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "get a client_credentials access token (prints the token; --json prints the whole answer)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "endpoint", Usage: "the server's URL", Sources: e.sources("LATCH_ENDPOINT")},
			&cli.StringFlag{Name: "client-id", Required: true, Sources: e.sources("LATCH_CLIENT_ID")},
			&cli.StringFlag{Name: "client-secret", Usage: "better set LATCH_CLIENT_SECRET", Sources: e.sources("LATCH_CLIENT_SECRET")},
			&cli.StringSliceFlag{Name: "scope", Usage: "scope (repeatable)"},
			&cli.BoolFlag{Name: "json", Usage: "print the token response as JSON"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.String("client-secret") == "" {
				return usageErrorf("a client secret is needed: set LATCH_CLIENT_SECRET or --client-secret")
			}
			cc := clientcredentials.Config{
				ClientID: cmd.String("client-id"), ClientSecret: cmd.String("client-secret"),
				TokenURL: endpointOf(e, cmd) + "/oauth2/token", Scopes: cmd.StringSlice("scope"),
				AuthStyle: oauth2.AuthStyleInHeader,
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				return tokenError(err)
			}
			if cmd.Bool("json") {
				return printJSON(stdout, map[string]any{
					"access_token": tok.AccessToken, "token_type": tok.TokenType,
					"expires_in": tok.ExpiresIn, "scope": tok.Extra("scope"),
				})
			}
			_, err = fmt.Fprintln(stdout, tok.AccessToken)
			return err
		},
	}
}

func keysCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "manage signing keys",
		Commands: []*cli.Command{{
			Name:  "rotate",
			Usage: "make a new signing key current; the previous one stays in the JWKS until its tokens expire",
			Flags: remoteFlags(e),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				api, err := newAdminAPI(ctx, e, cmd)
				if err != nil {
					return err
				}
				var jwks struct {
					Keys []struct {
						Kid string `json:"kid"`
						Alg string `json:"alg"`
					} `json:"keys"`
				}
				if err := api.do(ctx, "POST", "/admin/v1/keys/rotate", nil, &jwks); err != nil {
					return err
				}
				if cmd.Bool("json") {
					return printJSON(stdout, jwks)
				}
				fmt.Fprintln(stdout, "keys rotated; the JWKS now lists:")
				for _, k := range jwks.Keys {
					fmt.Fprintf(stdout, "  %s %s\n", k.Alg, k.Kid)
				}
				return nil
			},
		}},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
