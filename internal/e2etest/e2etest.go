// Package e2etest is test support for end-to-end tests; it is never
// imported by non-test code.
//
// The tests it serves build the real binaries (latch and the example
// services), run them on random loopback ports, and talk to them over the
// wire: BuildBinary and BuildLatch build, Start runs any server and
// StartLatch runs `latch serve`, RunLatch runs one CLI command, and
// RawRequest sends one HTTP/1.1 request written byte for byte as given.
//
// A test package that builds binaries calls Main from its TestMain, so that
// they are removed at the end:
//
//	func TestMain(m *testing.M) { e2etest.Main(m) }
package e2etest

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// LatchPackage is the import path of the latch command.
const LatchPackage = "latch.dev/latch/cmd/latch"

var build struct {
	mu   sync.Mutex
	dir  string            // where the binaries go; made on the first build
	bins map[string]string // package as given to BuildBinary -> binary
}

// Main runs the tests of m and then removes the binaries BuildBinary built.
// Call it from TestMain (the test binary exits with the code of m.Run).
func Main(m *testing.M) {
	m.Run()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// BuildBinary builds the Go package pkg (an import path, or a directory
// relative to the test's directory such as ".") once per test binary run
// and returns the path of the binary. A failed build fails the test.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if p, ok := build.bins[pkg]; ok {
		return p
	}
	if build.dir == "" {
		dir, err := os.MkdirTemp("", "latch-e2e-bin")
		if err != nil {
			t.Fatal(err)
		}
		build.dir, build.bins = dir, map[string]string{}
	}
	name := path.Base(pkg)
	if strings.HasPrefix(pkg, ".") {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			t.Fatal(err)
		}
		name = filepath.Base(abs)
	}
	dir := filepath.Join(build.dir, strconv.Itoa(len(build.bins)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", p, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	trackSources(t, pkg)
	build.bins[pkg] = p
	return p
}

// trackSources stats every file the binary of pkg is built from (Go files
// and embedded files of the module's packages it depends on, go.mod and
// go.sum). go test records the files a test touches and reuses a cached
// result only while they are unchanged: without this, a test driving a
// built binary would answer "(cached)" after an edit of a template or a
// handler it never reads itself.
func trackSources(t testing.TB, pkg string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{range .GoFiles}}|{{.}}{{end}}{{range .EmbedFiles}}|{{.}}{{end}}{{"\n"}}{{end}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	// Only this module's files: a dependency changes only with go.sum.
	root := moduleRoot(t)
	for line := range strings.Lines(string(out)) {
		dir, files, _ := strings.Cut(strings.TrimSpace(line), "|")
		if dir != root && !strings.HasPrefix(dir, root+string(filepath.Separator)) {
			continue
		}
		for f := range strings.SplitSeq(files, "|") {
			_, _ = os.Stat(filepath.Join(dir, f))
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		_, _ = os.Stat(filepath.Join(root, f))
	}
}

// moduleRoot is the directory of the latch module's go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// BuildLatch builds cmd/latch (once per test run) and returns the binary:
// the tests drive the real binary, as a user would.
func BuildLatch(t testing.TB) string {
	t.Helper()
	return BuildBinary(t, LatchPackage)
}
