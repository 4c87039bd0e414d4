package main

// The end-to-end harness: build and run the real binaries (latch, this
// service, Debian's nginx and Caddy) on random loopback ports, and talk to them with
// raw HTTP/1.1 requests so that the test says byte for byte what goes on the
// wire ("%37", "5/../7" and "//" must reach the servers as written).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
)

var (
	binDir   string
	buildMu  sync.Mutex
	builtBin = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latch-example-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds a Go package (once per test run) and returns the binary.
func binary(t *testing.T, name, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtBin[name]; ok {
		return p
	}
	p := filepath.Join(binDir, name)
	out, err := exec.Command("go", "build", "-o", p, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	builtBin[name] = p
	return p
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of os/exec and
// the test reading it; it signals the first line with a given prefix.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	prefix string
	found  chan string
	sent   bool
}

func newSyncBuffer(prefix string) *syncBuffer {
	return &syncBuffer{prefix: prefix, found: make(chan string, 1)}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.prefix != "" && !b.sent {
		for line := range strings.Lines(b.buf.String()) {
			if rest, ok := strings.CutPrefix(line, b.prefix); ok && strings.HasSuffix(line, "\n") {
				b.found <- strings.TrimSpace(rest)
				b.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a server the test started; it is stopped (SIGTERM, then KILL)
// at the end of the test that started it.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// start runs bin with args and env. With readyPrefix, it waits for a stdout
// line starting with it and returns the rest of that line.
func start(t *testing.T, name, bin string, env []string, readyPrefix string, args ...string) (*process, string) {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), stdout: newSyncBuffer(readyPrefix), stderr: newSyncBuffer(""), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	if readyPrefix == "" {
		return p, ""
	}
	select {
	case line := <-p.stdout.found:
		return p, line
	case <-p.done:
		t.Fatalf("%s exited: %v\n%s%s", name, p.err, p.stdout, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start\n%s%s", name, p.stdout, p.stderr)
	}
	return p, ""
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s ignored SIGTERM\n%s", p.name, p.stderr)
	}
}

// randomSecret is a 256-bit client secret, written as the READMEs suggest.
func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // like `openssl rand -base64 32`: may hold + / =
}

// latchEnv is the environment examples/latch.yaml and this example's extra
// file need: passwords of the payroll users and client secrets.
type latchEnv struct {
	vars map[string]string
}

func newLatchEnv() latchEnv {
	return latchEnv{vars: map[string]string{
		"PAYROLL_PASSWORD_5":     "alice has a long password",
		"PAYROLL_PASSWORD_6":     "bob has a long password",
		"PAYROLL_PASSWORD_C":     "carol has a long password",
		"PAYROLL_PASSWORD_7":     "dave has a long password",
		"PAYROLL_APP_SECRET":     randomSecret(),
		"PREMIUM_READER_SECRET":  randomSecret(),
		"PREMIUM_WRITER_SECRET":  randomSecret(),
		"PAYROLL_SERVICE_SECRET": randomSecret(),
	}}
}

func (e latchEnv) environ(extra ...string) []string {
	env := os.Environ()
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// startLatch runs `latch serve` with examples/latch.yaml on a random loopback
// port and a temporary data dir, then applies extra (this example's clients)
// with `latch apply`, as an operator would.
func startLatch(t *testing.T, env latchEnv, extra string) string {
	t.Helper()
	bin := binary(t, "latch", "latch.dev/latch/cmd/latch")
	cfg, err := filepath.Abs("../latch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	_, u := start(t, "latch", bin, env.environ(), "latch listening on ",
		"serve", "--addr", "127.0.0.1:0", "--data", data, "--config", cfg, "--log-level", "warn")
	if extra != "" {
		cmd := exec.Command(bin, "apply", "-f", extra)
		cmd.Env = env.environ("LATCH_ENDPOINT="+u, "LATCH_DATA="+data)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("latch apply -f %s: %v\n%s", extra, err, out)
		}
	}
	return u
}

// passwordToken signs a payroll user in through the payroll-app client.
func passwordToken(t *testing.T, latchURL string, env latchEnv, username, password string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	return tokenRequest(t, latchURL, form, "payroll-app", env.vars["PAYROLL_APP_SECRET"])
}

func clientToken(t *testing.T, latchURL, clientID, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return tokenRequest(t, latchURL, form, clientID, secret)
}

func tokenRequest(t *testing.T, latchURL string, form url.Values, id, secret string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, latchURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s (%s): %s %s", id, form.Get("grant_type"), resp.Status, body)
	}
	return tok.AccessToken
}

// response is what came back for one raw request.
type response struct {
	status int
	header http.Header
	body   string
}

// rawRequest sends one HTTP/1.1 request with target written exactly as given
// (no client library normalises it) and reads the answer. The Host header is
// base's unless header sets another.
func rawRequest(t *testing.T, base, method, target string, header map[string]string, body string) response {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	host := u.Host
	if h, ok := header["Host"]; ok {
		host = h
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, v := range header {
		if k != "Host" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if body != "" || method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(rb)}
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return map[string]string{}
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

// isMessage reports whether body is exactly the JSON {"message": msg}.
func isMessage(body, msg string) bool {
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return false
	}
	return len(m) == 1 && m["message"] == msg
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening waits until something accepts connections on addr, or p exits.
func waitListening(t *testing.T, p *process, addr string) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s does not listen on %s\n%s", p.name, addr, p.stderr)
	return false
}
