package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latch.dev/latch/internal/e2etest"
)

// The end-to-end tests drive the real binary, as a user would: the harness
// (internal/e2etest) builds it once and removes it at the end.
func TestMain(m *testing.M) { e2etest.Main(m) }

const (
	e2eUserPassword = "employee five's long password"
	e2eClientSecret = "premium-0123456789abcdefghijklmnopqrstuvwxyz"
)

func e2eEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{
		"E2E_USER_PASSWORD=" + e2eUserPassword,
		"E2E_CLIENT_SECRET=" + e2eClientSecret,
	}, extra...)...)
}

// startServer runs `latch serve` with testdata/e2e.yaml on a random loopback
// port with data dir data and waits until it listens. It must exit cleanly
// on SIGTERM.
func startServer(t *testing.T, data string) *e2etest.Latch {
	t.Helper()
	return e2etest.StartLatch(t, e2etest.Options{Config: "testdata/e2e.yaml", Data: data, Env: e2eEnv(), CleanExit: true})
}

func TestEndToEndWithRealClients(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	s := startServer(t, data)

	// client_credentials with golang.org/x/oauth2, verified by go-oidc against the JWKS.
	cc := clientcredentials.Config{ClientID: "premium-reader", ClientSecret: e2eClientSecret, TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "premium"}).Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	if idt.Subject != "premium-reader" {
		t.Fatalf("sub = %q", idt.Subject)
	}

	// password + refresh with x/oauth2.
	conf := oauth2.Config{ClientID: "payroll-app", ClientSecret: e2eClientSecret, Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	user, err := conf.PasswordCredentialsToken(ctx, "Employee5", e2eUserPassword)
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: user.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}

	// A revocation, then a restart: everything persists.
	opaque, err := (&clientcredentials.Config{ClientID: "opaque-reader", ClientSecret: e2eClientSecret, TokenURL: s.URL + "/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokeForm := url.Values{"token": {user.RefreshToken}}
	if st, _ := e2etest.PostForm(t, s.URL+"/oauth2/revoke", revokeForm, "payroll-app", e2eClientSecret); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	s.Stop()
	s2 := startServer(t, data)
	if !strings.Contains(s2.URL, "127.0.0.1:") {
		t.Fatalf("url %q", s2.URL)
	}
	cc.TokenURL = s2.URL + "/oauth2/token"
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("client after restart: %v", err)
	}
	active := func(tok string) bool {
		var in map[string]any
		_, b := e2etest.PostForm(t, s2.URL+"/oauth2/introspect", url.Values{"token": {tok}}, "premium-reader", e2eClientSecret)
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatalf("introspect: %s", b)
		}
		return in["active"] == true
	}
	if !active(opaque.AccessToken) {
		t.Error("opaque token lost in the restart")
	}
	if active(refreshed.AccessToken) {
		t.Error("access token of a revoked family is active after the restart")
	}
	conf.Endpoint.TokenURL = s2.URL + "/oauth2/token"
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Error("refresh token of a revoked family works after the restart")
	}
	// Tokens signed before the restart verify against the JWKS after it.
	// (The issuer changed with the port, so name the old one.)
	ks := oidc.NewRemoteKeySet(ctx, s2.URL+"/.well-known/jwks.json")
	if _, err := oidc.NewVerifier(s.URL, ks, &oidc.Config{ClientID: "premium", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, tok.AccessToken); err != nil {
		t.Errorf("signing key lost in the restart: %v", err)
	}
}

func TestCLIAgainstRunningServer(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	env := append(os.Environ(), "LATCH_ENDPOINT="+s.URL, "LATCH_DATA="+data)

	// client create prints a secret once; the secret works with `latch token`.
	out, errOut, code := e2etest.RunLatch(t, env, "", "client", "create", "--org", "payroll", "--id", "reports", "--scope", "premium/read", "--json")
	if code != 0 {
		t.Fatalf("client create: %d %s", code, errOut)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("client create --json: %v\n%s", err, out)
	}
	secret, _ := created["client_secret"].(string)
	if len(secret) < 43 {
		t.Fatalf("secret %q", secret)
	}
	tokOut, errOut, code := e2etest.RunLatch(t, append(env, "LATCH_CLIENT_SECRET="+secret), "", "token", "--client-id", "reports", "--scope", "premium/read")
	if code != 0 || strings.Count(strings.TrimSpace(tokOut), ".") != 2 {
		t.Fatalf("latch token: %d %q %s", code, tokOut, errOut)
	}
	// The same secret must not be accepted for another client, and a wrong one exits 3.
	if _, _, code := e2etest.RunLatch(t, append(env, "LATCH_CLIENT_SECRET="+secret), "", "token", "--client-id", "premium-reader"); code != exitUnauthorized {
		t.Fatalf("wrong secret: exit %d, want %d", code, exitUnauthorized)
	}
	// user create reads the password from stdin.
	if _, errOut, code := e2etest.RunLatch(t, env, "a fine long password\n", "user", "create", "--org", "payroll", "--id", "6", "--username", "employee6", "--role", "employee", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %s", code, errOut)
	}
	if _, _, code := e2etest.RunLatch(t, env, "a fine long password\n", "user", "create", "--org", "payroll", "--id", "6", "--username", "employee6", "--password-stdin"); code != exitConflict {
		t.Fatalf("duplicate user: exit %d, want %d", code, exitConflict)
	}
	// A wrong config file is refused as a whole, every error listed by path.
	_, errOut, code = e2etest.RunLatch(t, env, "", "apply", "-f", "testdata/broken.yaml")
	if code != exitUsage {
		t.Fatalf("apply broken: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	for _, want := range []string{`users[0].roles[0]`, "manger", "roles[0].allow[0]", "clients[0].secret"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("apply errors lack %q:\n%s", want, errOut)
		}
	}
	// Applying the good file twice changes nothing the second time.
	cfg := "testdata/e2e.yaml"
	applyEnv := append(env, "E2E_USER_PASSWORD="+e2eUserPassword, "E2E_CLIENT_SECRET="+e2eClientSecret)
	out, errOut, code = e2etest.RunLatch(t, applyEnv, "", "apply", "-f", cfg, "--json")
	if code != 0 {
		t.Fatalf("apply: %d %s", code, errOut)
	}
	if strings.Contains(out, `"created"`) || strings.Contains(out, `"updated"`) {
		t.Fatalf("re-applying the start-up file changed something:\n%s", out)
	}
	// keys rotate lists two keys.
	out, errOut, code = e2etest.RunLatch(t, env, "", "keys", "rotate", "--json")
	if code != 0 || strings.Count(out, `"kid"`) != 2 {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	// version and usage errors.
	if out, _, code := e2etest.RunLatch(t, env, "", "version"); code != 0 || !strings.HasPrefix(out, "latch ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if _, _, code := e2etest.RunLatch(t, env, "", "serve", "--store", "nope://x", "--addr", "127.0.0.1:0", "--data", t.TempDir()); code != exitUsage {
		t.Fatalf("bad store URL: exit %d", code)
	}
	// No secret in the server's logs.
	s.Stop()
	for _, secretText := range []string{secret, e2eClientSecret, e2eUserPassword} {
		if strings.Contains(s.Stderr(), secretText) {
			t.Fatalf("a secret appears in the server log")
		}
	}
}
