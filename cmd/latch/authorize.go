package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"latch.dev/latch"
	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/policy"
)

// exitDenied is `latch authorize`'s answer for a denied request.
const exitDenied = 1

func authorizeCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "authorize",
		Usage:     "decide a request offline from a config file: prints ALLOW or DENY and why (exit 0 allow, 1 deny)",
		ArgsUsage: "METHOD PATH",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Required: true, Usage: "the config file", Sources: e.sources("LATCH_CONFIG")},
			&cli.StringFlag{Name: "as", Usage: "the user (id or username) making the request; with --org when ids repeat across orgs"},
			&cli.StringFlag{Name: "org", Usage: "the user's org (default: the only org with such a user)"},
			&cli.StringFlag{Name: "client", Usage: "act as this client (client_credentials), instead of --as"},
			&cli.StringSliceFlag{Name: "scope", Usage: "token scope <audience>/<scope> (repeatable): adds the scope layer"},
			&cli.StringFlag{Name: "token", Usage: "take principal and scopes from this access token's claims (NOT verified: offline)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return usageErrorf("want METHOD PATH, e.g. latch authorize --config latch.yaml --as alice GET /api/employee/6/paystubs")
			}
			method, path := cmd.Args().Get(0), cmd.Args().Get(1)
			raw, err := os.ReadFile(cmd.String("config"))
			if err != nil {
				return usageErrorf("--config: %v", err)
			}
			// Secrets are irrelevant to a decision: undefined ${VARS} read as placeholders.
			f, err := config.Load(raw, func(k string) string {
				if v := e.get(k); v != "" {
					return v
				}
				return "offline-placeholder-" + strings.Repeat("x", 32)
			})
			if err != nil {
				return configError(cmd.String("config"), err)
			}
			in, who, err := authorizeInput(f, cmd)
			if err != nil {
				return err
			}
			pol, err := policy.Compile(in)
			if err != nil {
				return usageErrorf("%v", err)
			}
			d := pol.Decide(method, path)
			if cmd.Bool("json") {
				err = printJSON(stdout, map[string]any{"allow": d.Allowed, "reason": d.Reason.String(), "explanation": d.Explain(), "principal": who, "path": d.Path})
			} else {
				_, err = fmt.Fprintln(stdout, d.Explain()) // starts with ALLOW or DENY
			}
			if err != nil {
				return err
			}
			if !d.Allowed {
				return &cliError{code: exitDenied} // the verdict is printed already
			}
			return nil
		},
	}
}

// authorizeInput builds the policy input of the principal the flags name.
func authorizeInput(f *config.File, cmd *cli.Command) (policy.Input, string, error) {
	as, org, clientID, scopes := cmd.String("as"), cmd.String("org"), cmd.String("client"), cmd.StringSlice("scope")
	kind := latch.SubjectUser
	if tok := cmd.String("token"); tok != "" {
		cl, err := unverifiedClaims(tok)
		if err != nil {
			return policy.Input{}, "", err
		}
		as, org, scopes = cl.Sub, cl.OrgID, strings.Fields(cl.Scope)
		clientID = ""
		if cl.SubType == latch.SubjectClient {
			kind, clientID, as = latch.SubjectClient, cl.ClientID, ""
		}
	} else if clientID != "" {
		kind = latch.SubjectClient
	} else if as == "" {
		return policy.Input{}, "", usageErrorf("say who asks: --as USER, --client ID or --token TOKEN")
	}
	roles := func(org string) []latch.Role {
		var out []latch.Role
		for _, r := range f.Roles {
			if r.Org == org {
				out = append(out, latch.Role{Org: r.Org, ID: r.ID, Allow: r.Allow, Deny: r.Deny})
			}
		}
		return out
	}
	var in policy.Input
	var who string
	if kind == latch.SubjectClient {
		var c *config.Client
		for i := range f.Clients {
			if f.Clients[i].ID == clientID {
				c = &f.Clients[i]
			}
		}
		if c == nil {
			return in, "", &cliError{code: exitNotFound, msg: fmt.Sprintf("no client %q in the config", clientID)}
		}
		in = policy.ForClient(latch.Client{ID: c.ID, Org: c.Org, Roles: c.Roles, Allow: c.Allow, Deny: c.Deny}, roles(c.Org))
		who = "client " + c.ID
	} else {
		canonical, _ := password.CanonicalUsername(as)
		var found []config.User
		for _, u := range f.Users {
			if (u.ID == as || u.Username == canonical || u.Username == as) && (org == "" || u.Org == org) {
				found = append(found, u)
			}
		}
		switch len(found) {
		case 0:
			return in, "", &cliError{code: exitNotFound, msg: fmt.Sprintf("no user %q in the config", as)}
		case 1:
		default:
			return in, "", usageErrorf("%q names users in several orgs: add --org", as)
		}
		u := found[0]
		in = policy.ForUser(latch.User{Org: u.Org, ID: u.ID, Roles: u.Roles, Attributes: u.Attributes, Allow: u.Allow, Deny: u.Deny}, roles(u.Org), clientID)
		who = "user " + u.Org + "/" + u.ID
	}
	in.Scopes = scopes
	for _, sc := range scopes {
		audID, _, _ := strings.Cut(sc, "/")
		for _, a := range f.Audiences {
			if a.ID == audID && !containsAudience(in.Audiences, a.ID) {
				in.Audiences = append(in.Audiences, latch.Audience{ID: a.ID, Scopes: a.Scopes})
			}
		}
	}
	return in, who, nil
}

func containsAudience(list []latch.Audience, id string) bool {
	for _, a := range list {
		if a.ID == id {
			return true
		}
	}
	return false
}

type tokenClaims struct {
	Sub      string `json:"sub"`
	OrgID    string `json:"org_id"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	SubType  string `json:"sub_type"`
}

// unverifiedClaims reads a JWT's payload without checking its signature:
// `latch authorize` runs offline, to explain a decision, never to grant one.
func unverifiedClaims(tok string) (tokenClaims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tokenClaims{}, usageErrorf("--token: not a JWT (opaque tokens can only be decided by a server: POST /v1/decisions)")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var cl tokenClaims
	if err != nil || json.Unmarshal(b, &cl) != nil || cl.Sub == "" {
		return tokenClaims{}, usageErrorf("--token: the payload is not a Latch access token")
	}
	return cl, nil
}
