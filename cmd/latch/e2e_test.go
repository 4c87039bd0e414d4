package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	e2eUserPassword = "employee five's long password"
	e2eClientSecret = "premium-0123456789abcdefghijklmnopqrstuvwxyz"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// latchBinary builds cmd/latch once per test run: the tests drive the real
// binary, as a user would.
func latchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "latch-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "latch")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// latchProcess is a running `latch serve` process.
type latchProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	data   string
	stderr *bytes.Buffer
	done   chan error
}

func e2eEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{
		"E2E_USER_PASSWORD=" + e2eUserPassword,
		"E2E_CLIENT_SECRET=" + e2eClientSecret,
	}, extra...)...)
}

// startServer runs `latch serve` on a random loopback port with data dir
// data and waits until it listens.
func startServer(t *testing.T, data string, args ...string) *latchProcess {
	t.Helper()
	cfg, _ := filepath.Abs("testdata/e2e.yaml")
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--config", cfg}, args...)
	cmd := exec.Command(latchBinary(t), all...)
	cmd.Env = e2eEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &latchProcess{t: t, cmd: cmd, data: data, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "latch listening on "); ok {
				lines <- u
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.url = <-lines:
	case err := <-s.done:
		t.Fatalf("latch serve exited: %v\n%s", err, s.stderr)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("latch serve did not start\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *latchProcess) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("latch serve exited with %v after SIGTERM\n%s", err, s.stderr)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Errorf("latch serve ignored SIGTERM")
	}
}

// runCLI runs the latch binary with args and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(latchBinary(t), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestEndToEndWithRealClients(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	s := startServer(t, data)

	// client_credentials with golang.org/x/oauth2, verified by go-oidc against the JWKS.
	cc := clientcredentials.Config{ClientID: "premium-reader", ClientSecret: e2eClientSecret, TokenURL: s.url + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, s.url)
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
	conf := oauth2.Config{ClientID: "payroll-app", ClientSecret: e2eClientSecret, Endpoint: oauth2.Endpoint{TokenURL: s.url + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	user, err := conf.PasswordCredentialsToken(ctx, "Employee5", e2eUserPassword)
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: user.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}

	// A revocation, then a restart: everything persists.
	opaque, err := (&clientcredentials.Config{ClientID: "opaque-reader", ClientSecret: e2eClientSecret, TokenURL: s.url + "/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokeForm := url.Values{"token": {user.RefreshToken}}
	if st := postForm(t, s.url+"/oauth2/revoke", revokeForm, "payroll-app", e2eClientSecret); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	s.stop()
	s2 := startServer(t, data)
	if !strings.Contains(s2.url, "127.0.0.1:") {
		t.Fatalf("url %q", s2.url)
	}
	cc.TokenURL = s2.url + "/oauth2/token"
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("client after restart: %v", err)
	}
	active := func(tok string) bool {
		var in map[string]any
		b := postFormBody(t, s2.url+"/oauth2/introspect", url.Values{"token": {tok}}, "premium-reader", e2eClientSecret)
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
	conf.Endpoint.TokenURL = s2.url + "/oauth2/token"
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Error("refresh token of a revoked family works after the restart")
	}
	// Tokens signed before the restart verify against the JWKS after it.
	// (The issuer changed with the port, so name the old one.)
	ks := oidc.NewRemoteKeySet(ctx, s2.url+"/.well-known/jwks.json")
	if _, err := oidc.NewVerifier(s.url, ks, &oidc.Config{ClientID: "premium", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, tok.AccessToken); err != nil {
		t.Errorf("signing key lost in the restart: %v", err)
	}
}

func postFormBody(t *testing.T, u string, form url.Values, id, secret string) []byte {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func postForm(t *testing.T, u string, form url.Values, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCLIAgainstRunningServer(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	env := append(os.Environ(), "LATCH_ENDPOINT="+s.url, "LATCH_DATA="+data)

	// client create prints a secret once; the secret works with `latch token`.
	out, errOut, code := runCLI(t, env, "", "client", "create", "--org", "payroll", "--id", "reports", "--scope", "premium/read", "--json")
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
	tokOut, errOut, code := runCLI(t, append(env, "LATCH_CLIENT_SECRET="+secret), "", "token", "--client-id", "reports", "--scope", "premium/read")
	if code != 0 || strings.Count(strings.TrimSpace(tokOut), ".") != 2 {
		t.Fatalf("latch token: %d %q %s", code, tokOut, errOut)
	}
	// The same secret must not be accepted for another client, and a wrong one exits 3.
	if _, _, code := runCLI(t, append(env, "LATCH_CLIENT_SECRET="+secret), "", "token", "--client-id", "premium-reader"); code != exitUnauthorized {
		t.Fatalf("wrong secret: exit %d, want %d", code, exitUnauthorized)
	}
	// user create reads the password from stdin.
	if _, errOut, code := runCLI(t, env, "a fine long password\n", "user", "create", "--org", "payroll", "--id", "6", "--username", "employee6", "--role", "employee", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %s", code, errOut)
	}
	if _, _, code := runCLI(t, env, "a fine long password\n", "user", "create", "--org", "payroll", "--id", "6", "--username", "employee6", "--password-stdin"); code != exitConflict {
		t.Fatalf("duplicate user: exit %d, want %d", code, exitConflict)
	}
	// A wrong config file is refused as a whole, every error listed by path.
	_, errOut, code = runCLI(t, env, "", "apply", "-f", "testdata/broken.yaml")
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
	out, errOut, code = runCLI(t, applyEnv, "", "apply", "-f", cfg, "--json")
	if code != 0 {
		t.Fatalf("apply: %d %s", code, errOut)
	}
	if strings.Contains(out, `"created"`) || strings.Contains(out, `"updated"`) {
		t.Fatalf("re-applying the start-up file changed something:\n%s", out)
	}
	// keys rotate lists two keys.
	out, errOut, code = runCLI(t, env, "", "keys", "rotate", "--json")
	if code != 0 || strings.Count(out, `"kid"`) != 2 {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	// version and usage errors.
	if out, _, code := runCLI(t, env, "", "version"); code != 0 || !strings.HasPrefix(out, "latch ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if _, _, code := runCLI(t, env, "", "serve", "--store", "nope://x", "--addr", "127.0.0.1:0", "--data", t.TempDir()); code != exitUsage {
		t.Fatalf("bad store URL: exit %d", code)
	}
	// No secret in the server's logs.
	s.stop()
	for _, secretText := range []string{secret, e2eClientSecret, e2eUserPassword} {
		if strings.Contains(s.stderr.String(), secretText) {
			t.Fatalf("a secret appears in the server log")
		}
	}
}
