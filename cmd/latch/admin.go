package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latch.dev/latch"
)

// remoteFlags are the flags of every command that talks to a running server.
func remoteFlags(e env) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", Usage: "the server's URL (default http://<LATCH_ADDR or 127.0.0.1:8080>)", Sources: e.sources("LATCH_ENDPOINT")},
		&cli.StringFlag{Name: "client-id", Usage: "admin client id (default: the one in <data>/admin-credentials.json)", Sources: e.sources("LATCH_CLIENT_ID")},
		&cli.StringFlag{Name: "client-secret", Usage: "admin client secret (better set LATCH_CLIENT_SECRET)", Sources: e.sources("LATCH_CLIENT_SECRET")},
		&cli.StringFlag{Name: "data", Value: "./latch-data", Usage: "data directory holding admin-credentials.json", Sources: e.sources("LATCH_DATA")},
		&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"},
	}
}

func endpointOf(e env, cmd *cli.Command) string {
	if ep := cmd.String("endpoint"); ep != "" {
		return strings.TrimSuffix(ep, "/")
	}
	if a := e.get("LATCH_ADDR"); a != "" {
		return "http://" + a
	}
	return "http://127.0.0.1:8080"
}

// adminAPI calls the admin API with a client_credentials token carrying the
// admin scope.
type adminAPI struct {
	endpoint string
	http     *http.Client
}

func newAdminAPI(ctx context.Context, e env, cmd *cli.Command) (*adminAPI, error) {
	id, secret := cmd.String("client-id"), cmd.String("client-secret")
	if id == "" && secret == "" {
		path := filepath.Join(cmd.String("data"), adminCredentialsFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, &cliError{code: exitUnauthorized, msg: fmt.Sprintf("no admin credentials: set LATCH_CLIENT_ID and LATCH_CLIENT_SECRET, or run where %s is readable", path)}
		}
		var c adminCredentials
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, &cliError{code: exitUnauthorized, msg: fmt.Sprintf("%s is not valid JSON", path)}
		}
		id, secret = c.ClientID, c.ClientSecret
	}
	if id == "" || secret == "" {
		return nil, usageErrorf("both --client-id and --client-secret (or LATCH_CLIENT_SECRET) are needed")
	}
	ep := endpointOf(e, cmd)
	cc := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: ep + "/oauth2/token",
		Scopes: []string{"latch/admin"}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	base := &http.Client{Timeout: 30 * time.Second}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
	if _, err := cc.Token(ctx); err != nil {
		return nil, tokenError(err)
	}
	hc := cc.Client(ctx)
	hc.Timeout = 30 * time.Second
	return &adminAPI{endpoint: ep, http: hc}, nil
}

// tokenError turns a failed token request into a CLI error with the server's
// OAuth2 error code.
func tokenError(err error) error {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		code := exitFailure
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client":
			code = exitUnauthorized
		case "invalid_scope", "invalid_request", "invalid_grant":
			code = exitUsage
		}
		msg := re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		return &cliError{code: code, msg: "token request refused: " + msg}
	}
	return &cliError{code: exitFailure, msg: fmt.Sprintf("token request failed: %v", err)}
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (a *adminAPI) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.endpoint+path, body)
	if err != nil {
		return usageErrorf("bad endpoint: %v", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return &cliError{code: exitFailure, msg: fmt.Sprintf("%s %s: %v", method, path, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &cliError{code: exitFailure, msg: fmt.Sprintf("reading the answer: %v", err)}
	}
	if resp.StatusCode >= 300 {
		var apiErr struct {
			Error   string   `json:"error"`
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &apiErr)
		msg := apiErr.Message
		if msg == "" {
			msg = resp.Status
		}
		if len(apiErr.Errors) > 0 {
			msg += ":\n  " + strings.Join(apiErr.Errors, "\n  ")
		}
		return &latch.Error{Code: codeOfStatus(resp.StatusCode), Message: msg}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return &cliError{code: exitFailure, msg: "the server's answer is not valid JSON"}
		}
	}
	return nil
}

func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return latch.EINVALID
	case http.StatusUnauthorized:
		return latch.EUNAUTHORIZED
	case http.StatusForbidden:
		return latch.EFORBIDDEN
	case http.StatusNotFound:
		return latch.ENOTFOUND
	case http.StatusConflict:
		return latch.ECONFLICT
	case http.StatusServiceUnavailable:
		return latch.EUNAVAILABLE
	}
	return latch.EINTERNAL
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func pathEscape(s string) string { return url.PathEscape(s) }
