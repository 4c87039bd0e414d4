package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOAuth4WebAPI runs panva's oauth4webapi (npm) against the real binary.
// The test command installs node_modules; when they are missing the test is
// skipped on a developer's machine and fails in CI, so it can never pass
// silently where it should run.
func TestOAuth4WebAPI(t *testing.T) {
	dir, _ := filepath.Abs("../../e2e/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("oauth4webapi is not installed in %s: the test command must install it", dir)
		}
		t.Skip("run the test command to install oauth4webapi")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed")
	}
	s := startServer(t, t.TempDir())
	cmd := exec.Command(node, "oauth4webapi.test.mjs")
	cmd.Dir = dir
	cmd.Env = e2eEnv("LATCH_URL=" + s.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("oauth4webapi: %v", err)
	}
	if !strings.Contains(string(out), "# 6 steps passed") {
		t.Fatal("not every oauth4webapi step ran")
	}
}
