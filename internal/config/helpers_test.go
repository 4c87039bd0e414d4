package config

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/store/bolt"
)

// env is a fake environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// Secrets and passwords used throughout the tests.
const (
	secretA = "0123456789abcdef0123456789abcdef-A" // 34 characters
	secretB = "0123456789abcdef0123456789abcdef-B"
	pwA     = "correct horse battery staple"
	pwB     = "tr0ub4dor&3-but-longer"
)

func testEnv() env {
	return env{
		"SECRET_A": secretA,
		"SECRET_B": secretB,
		"PW_A":     pwA,
		"PW_B":     pwB,
	}
}

// mustLoad loads a file that must load.
func mustLoad(t *testing.T, yaml string, e env) *File {
	t.Helper()
	f, err := Load([]byte(yaml), e.get)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

// problems returns the problems of err as "path: message", or fails the test
// if err is not a *ValidationError.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *ValidationError", err, err)
	}
	if !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("error code is %q, want EINVALID", latch.ErrorCode(err))
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.Path + ": " + p.Message
		if p.Path == "" {
			out[i] = p.Message
		}
	}
	return out
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problems(t, err)
	if !sameList(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", lines(got), lines(want))
	}
}

func lines(list []string) string {
	s := ""
	for _, l := range list {
		s += "\t" + l + "\n"
	}
	if s == "" {
		s = "\t(none)\n"
	}
	return s
}

func newStore(t *testing.T) *bolt.Store {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock, NoSync: true, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
