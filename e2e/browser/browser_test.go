package browser

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"latch.dev/latch/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

// chromium is Debian's package (apt-get install chromium); playwright's own
// browser download does not work on a closed network.
const chromium = "/usr/bin/chromium"

// The users of examples/records/latch-service.yaml.
const (
	orgA, userA, passwordA = "acme", "ann", "ann has a long password"
	orgB, userB, passwordB = "globex", "gus", "gus has a long password"
)

// scenarios are the modules run.mjs runs, one subtest each, in turn (in
// parallel they are slower on a small machine). They share the servers but
// not their state: each signs in with browsers of its own and adds records
// with titles of its own.
var scenarios = []string{"records", "login", "reused-code", "keyboard", "console", "a11y"}

// The console scenario's administrator of org A (testdata/console-admin.yaml).
const consoleUser, consolePassword = "ada", "ada administers acme with a long password"

// TestBrowser runs the real `latch serve` with examples/latch.yaml and
// examples/records/latch-service.yaml applied, and the records app built
// from examples/records, both on random loopback ports, and drives them
// with Debian's chromium through playwright-core (node run.mjs SCENARIO).
func TestBrowser(t *testing.T) {
	node := requireBrowser(t)
	s := startRecords(t)
	shots := screenshotDir(t)
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) { runScenario(t, node, name, s, shots) })
	}
}

// requireBrowser returns the node binary, or skips the test when chromium,
// node or playwright-core is missing; with LATCH_REQUIRE_BROWSER=1 (as
// scripts/test sets where CI is set) it fails instead, so that the test can
// never pass silently where it should run.
func requireBrowser(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("LATCH_REQUIRE_BROWSER") == "1" {
			t.Fatalf("LATCH_REQUIRE_BROWSER=1 but %s", what)
		}
		t.Skipf("%s (scripts/test installs it; LATCH_REQUIRE_BROWSER=1 fails instead of skipping)", what)
	}
	if _, err := os.Stat(chromium); err != nil {
		missing(chromium + " is missing (apt-get install chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed (Node.js 20 or newer)")
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			missing("e2e/browser/node_modules/" + pkg + " is missing (cd e2e/browser && npm ci)")
		}
	}
	return node
}

// stack is what the scenarios drive.
type stack struct {
	latchURL, appURL string
}

// startRecords starts Latch as examples/records' README does (serve
// examples/latch.yaml, then apply latch-service.yaml), then the records app
// binary. The app's port is chosen first: its URL is in the client's
// redirect_uris, which must match exactly.
func startRecords(t *testing.T) *stack {
	t.Helper()
	appURL := fmt.Sprintf("http://127.0.0.1:%d", e2etest.FreePort(t))
	env := e2etest.ExampleEnv("RECORDS_DECIDER_SECRET")
	env["RECORDS_URL"] = appURL
	env["RECORDS_PASSWORD_ANN"] = passwordA
	env["RECORDS_PASSWORD_GUS"] = passwordB
	env["CONSOLE_PASSWORD_ADA"] = consolePassword
	l := e2etest.StartLatch(t, e2etest.Options{Config: filepath.Join("..", "..", "examples", "latch.yaml"), Env: env.Environ(), Args: []string{"--log-level", "warn"}})
	service, err := filepath.Abs(filepath.Join("..", "..", "examples", "records", "latch-service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(t, service)
	admin, err := filepath.Abs(filepath.Join("testdata", "console-admin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(t, admin)

	bin := e2etest.BuildBinary(t, "latch.dev/latch/examples/records")
	store := "bolt://" + filepath.Join(t.TempDir(), "records.db")
	_, listening := e2etest.Start(t, e2etest.Command{Name: "records", Path: bin,
		Args: []string{"--latch", l.URL, "--addr", appURL[len("http://"):], "--public-url", appURL, "--store", store},
		Env:  env.Environ(), Ready: "records listening on ", CleanExit: true})
	if listening != appURL {
		t.Fatalf("records listens on %s, want %s", listening, appURL)
	}
	return &stack{latchURL: l.URL, appURL: appURL}
}

// screenshotDir is LATCH_SCREENSHOTS (relative paths are relative to
// e2e/browser) or e2e/browser/screenshots.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LATCH_SCREENSHOTS")
	if dir == "" {
		dir = "screenshots"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	return abs
}

// runScenario runs `node run.mjs name` with the stack in its environment
// and fails the test with node's output when node fails.
func runScenario(t *testing.T, node, name string, s *stack, shots string) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs", name)
	cmd.Env = append(os.Environ(),
		"LATCH_URL="+s.latchURL,
		"RECORDS_URL="+s.appURL,
		"RECORDS_ORG_A="+orgA, "RECORDS_USER_A="+userA, "RECORDS_PASSWORD_A="+passwordA,
		"RECORDS_ORG_B="+orgB, "RECORDS_USER_B="+userB, "RECORDS_PASSWORD_B="+passwordB,
		"CONSOLE_ORG="+orgA, "CONSOLE_USER="+consoleUser, "CONSOLE_PASSWORD="+consolePassword, "CONSOLE_OTHER_ORG="+orgB,
		"LATCH_SCREENSHOTS="+shots,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("node run.mjs %s: %v after %s\n%s", name, err, time.Since(start).Round(time.Millisecond), out.String())
	}
	t.Logf("node run.mjs %s (%s):\n%s", name, time.Since(start).Round(time.Millisecond), out.String())
}
