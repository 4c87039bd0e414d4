package e2etest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Options says how StartLatch runs `latch serve`.
type Options struct {
	Config string   // the --config file, relative to the test's directory; "" for none
	Data   string   // the --data directory; "" for a fresh t.TempDir()
	Env    []string // the whole environment; nil for os.Environ()
	Args   []string // more arguments, such as "--log-level", "warn"

	// CleanExit makes Stop report as a test error an exit other than 0
	// after SIGTERM.
	CleanExit bool
}

// Latch is a running `latch serve`.
type Latch struct {
	*Process
	URL  string // where it listens, such as "http://127.0.0.1:41234"
	Data string // its data directory
	env  []string
}

// StartLatch runs `latch serve` on a random loopback port and waits until
// it prints "latch listening on URL".
func StartLatch(t testing.TB, o Options) *Latch {
	t.Helper()
	l := &Latch{Data: o.Data, env: o.Env}
	if l.Data == "" {
		l.Data = t.TempDir()
	}
	if l.env == nil {
		l.env = os.Environ()
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", l.Data}
	if o.Config != "" {
		cfg, err := filepath.Abs(o.Config)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	l.Process, l.URL = Start(t, Command{Name: "latch serve", Path: BuildLatch(t), Args: append(args, o.Args...),
		Env: l.env, Ready: "latch listening on ", CleanExit: o.CleanExit})
	return l
}

// Apply runs `latch apply -f file` against l, as an operator would, with
// l's environment and LATCH_ENDPOINT and LATCH_DATA naming l. A failure
// fails the test.
func (l *Latch) Apply(t testing.TB, file string) {
	t.Helper()
	cmd := exec.Command(BuildLatch(t), "apply", "-f", file)
	cmd.Env = append(l.env[:len(l.env):len(l.env)], "LATCH_ENDPOINT="+l.URL, "LATCH_DATA="+l.Data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("latch apply -f %s: %v\n%s", file, err, out)
	}
}

// RunLatch runs the latch binary with args, env as its whole environment
// and stdin as its input, and returns its stdout, its stderr and its exit
// code.
func RunLatch(t testing.TB, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(BuildLatch(t), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Env is a set of environment variables for the processes a test starts.
type Env map[string]string

// Environ is os.Environ() with e and then extra ("NAME=value") added.
func (e Env) Environ(extra ...string) []string {
	env := os.Environ()
	for k, v := range e {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// RandomSecret is a 256-bit client secret, written as the READMEs suggest:
// like `openssl rand -base64 32`, so it may hold + / =.
func RandomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
