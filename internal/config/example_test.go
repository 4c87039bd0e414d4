package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/policy"
)

const examplePath = "../../examples/latch.yaml"

// exampleEnv is what a reader sets before applying examples/latch.yaml.
func exampleEnv() env {
	return env{
		"PAYROLL_PASSWORD_5":    "alice-correct-horse",
		"PAYROLL_PASSWORD_6":    "bob-battery-staple",
		"PAYROLL_PASSWORD_C":    "carol-manages-five-and-six",
		"PAYROLL_PASSWORD_7":    "dave-manages-carol",
		"PAYROLL_APP_SECRET":    "payroll-app-secret-0123456789abcdef",
		"PREMIUM_READER_SECRET": "premium-reader-secret-0123456789abcdef",
		"PREMIUM_WRITER_SECRET": "premium-writer-secret-0123456789abcdef",
	}
}

func loadExample(t *testing.T) *File {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(examplePath))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(data, exampleEnv().get)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	return f
}

func TestExampleIsValid(t *testing.T) {
	f := loadExample(t)
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate(%s): %v", examplePath, err)
	}

	// Every variable the example uses is listed in its header, and none is
	// left out of exampleEnv.
	data, _ := os.ReadFile(filepath.FromSlash(examplePath))
	for name := range exampleEnv() {
		if !strings.Contains(string(data), "${"+name+"}") {
			t.Errorf("the example does not use %s", name)
		}
	}
	_, err := Load(data, env{}.get)
	if got, want := len(problems(t, err)), len(exampleEnv()); got != want {
		t.Errorf("without its environment the example has %d problems, want %d (one per variable): %v", got, want, err)
	}
}

// The example says what the seed documents say: employees see their own
// records, the manager c sees every employee but 7, machines get read and
// write scopes.
func TestExampleContents(t *testing.T) {
	f := loadExample(t)
	users := map[string]User{}
	for _, u := range f.Users {
		users[u.ID] = u
	}
	for _, id := range []string{"5", "6", "c", "7"} {
		u, ok := users[id]
		if !ok || u.Org != "payroll" || len(u.Roles) != 1 || u.Roles[0] != "employee" {
			t.Errorf("user %s: %+v, want an employee of payroll", id, u)
		}
	}
	if got := users["c"].Deny; !containsAll(got, "* /api/employee/7", "* /api/employee/7/**") {
		t.Errorf("c denies %v, want 7 and everything below", got)
	}
	if got := users["c"].Allow; !containsAll(got, "GET /api/employee/**") {
		t.Errorf("c allows %v", got)
	}
	clients := map[string]Client{}
	for _, c := range f.Clients {
		clients[c.ID] = c
	}
	if c := clients["premium-reader"]; !containsAll(c.Grants, latch.GrantClientCredentials) || !sameStrings(c.Scopes, []string{"premium/read"}) {
		t.Errorf("premium-reader: %+v", c)
	}
	if c := clients["premium-writer"]; !containsAll(c.Scopes, "premium/read", "premium/write") {
		t.Errorf("premium-writer: %+v", c)
	}
	if c := clients["payroll-app"]; !sameStrings(c.Grants, []string{latch.GrantPassword, latch.GrantRefreshToken}) {
		t.Errorf("payroll-app: %+v", c)
	}
	for _, a := range f.Audiences {
		if a.ID == "premium" {
			if !sameStrings(a.Scopes["read"], []string{"GET /premium/**"}) || !sameStrings(a.Scopes["write"], []string{"POST /premium/**"}) {
				t.Errorf("premium scopes: %v", a.Scopes)
			}
		}
	}
	for _, r := range f.Roles {
		if r.ID == "employee" && !sameStrings(r.Allow, []string{"GET /api/employee/{sub}/**"}) {
			t.Errorf("employee allows %v", r.Allow)
		}
	}
	for _, s := range append(users["c"].Allow, users["c"].Deny...) {
		if _, err := policy.Parse(s); err != nil {
			t.Error(err)
		}
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// The example applies to an empty store, and applying it again changes
// nothing.
func TestExampleApplies(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	f := loadExample(t)
	opts := ApplyOptions{Hasher: password.NewTestHasher()}
	res, err := Apply(ctx, s, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Count(Created), len(f.Orgs)+len(f.Audiences)+len(f.Roles)+len(f.Users)+len(f.Clients); got != want {
		t.Errorf("created %d items, want %d:\n%s", got, want, res)
	}
	res, err = Apply(ctx, s, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Count(Unchanged), len(res.Changes); got != want {
		t.Errorf("second apply:\n%s", res)
	}
	u, err := s.FindUser(ctx, "payroll", "carol@payroll.example.com")
	if err != nil || u.ID != "c" {
		t.Fatalf("FindUser(carol) = %+v, %v", u, err)
	}
	if ok, _, err := opts.Hasher.Verify(u.PasswordHash, exampleEnv()["PAYROLL_PASSWORD_C"]); !ok || err != nil {
		t.Errorf("carol's password does not verify: %v %v", ok, err)
	}
	c, err := s.GetClient(ctx, "premium-writer")
	if err != nil {
		t.Fatal(err)
	}
	if !password.VerifyClientSecret(c.SecretHash, exampleEnv()["PREMIUM_WRITER_SECRET"]) || c.AccessTokenFormat != latch.TokenFormatOpaque {
		t.Errorf("premium-writer stored as %+v", c)
	}
}
