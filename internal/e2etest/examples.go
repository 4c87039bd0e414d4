package e2etest

import (
	"path/filepath"
	"testing"
)

// ExampleEnv is the environment an example under examples/ runs Latch
// with: what examples/latch.yaml needs (passwords of the payroll users and
// fresh client secrets), and a fresh secret in serviceSecret for the
// example's own client in its latch-service.yaml.
func ExampleEnv(serviceSecret string) Env {
	return Env{
		"PAYROLL_PASSWORD_5":    "alice has a long password",
		"PAYROLL_PASSWORD_6":    "bob has a long password",
		"PAYROLL_PASSWORD_C":    "carol has a long password",
		"PAYROLL_PASSWORD_7":    "dave has a long password",
		"PAYROLL_APP_SECRET":    RandomSecret(),
		"PREMIUM_READER_SECRET": RandomSecret(),
		"PREMIUM_WRITER_SECRET": RandomSecret(),
		serviceSecret:           RandomSecret(),
	}
}

// StartExampleLatch runs Latch as an example's README does, from the
// example's directory: `latch serve` with ../latch.yaml (examples/latch.yaml)
// and then `latch apply -f latch-service.yaml` (the example's clients), as
// an operator would.
func StartExampleLatch(t testing.TB, env Env) *Latch {
	t.Helper()
	l := StartLatch(t, Options{Config: filepath.Join("..", "latch.yaml"), Env: env.Environ(), Args: []string{"--log-level", "warn"}})
	extra, err := filepath.Abs("latch-service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(t, extra)
	return l
}
