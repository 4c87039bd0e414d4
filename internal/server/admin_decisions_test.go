package server_test

import (
	"strings"
	"testing"
)

// TestAdminDecisions: an administrator asks how a request of a user or client
// of its org would be decided, and gets the decision API's answer, with the
// statement that decided it.
func TestAdminDecisions(t *testing.T) {
	e := newEnv(t, envOptions{})
	acme := e.adminToken("acme-admin")
	root := e.adminToken("root")
	// dana: the employee role allows her own records; her own statement
	// denies one of them.
	if r := e.api("POST", "/admin/v1/orgs/acme/users", acme, map[string]any{
		"id": "dana", "username": "dana", "password": "a long enough password", "roles": []string{"employee"},
		"deny": []string{"GET /api/employee/dana/salary"},
	}); r.status != 201 {
		t.Fatalf("create dana: %d %s", r.status, r.body)
	}
	decide := func(bearer, org string, body map[string]any) response {
		t.Helper()
		return e.api("POST", "/admin/v1/orgs/"+org+"/decisions", bearer, body)
	}

	r := decide(acme, "acme", map[string]any{"sub": "dana", "method": "GET", "path": "/api/employee/dana/profile"})
	if r.status != 200 || r.json["allow"] != true || r.str("reason") != "allowed" || r.str("sub") != "dana" || r.str("org_id") != "acme" ||
		r.str("path") != "/api/employee/dana/profile" || !strings.Contains(r.str("explanation"), "ALLOW") || !strings.Contains(r.str("explanation"), "employee") {
		t.Fatalf("role statement: %d %s", r.status, r.body)
	}
	r = decide(acme, "acme", map[string]any{"sub": "dana", "method": "GET", "path": "/api/employee/dana/salary"})
	if r.status != 200 || r.json["allow"] != false || r.str("reason") != "denied" ||
		!strings.Contains(r.str("explanation"), "DENY") || !strings.Contains(r.str("explanation"), "GET /api/employee/dana/salary") {
		t.Fatalf("explicit deny: %d %s", r.status, r.body)
	}
	r = decide(acme, "acme", map[string]any{"sub": "dana", "method": "GET", "path": "/api/employee/bob/profile"})
	if r.status != 200 || r.json["allow"] != false || r.str("reason") != "not_allowed" {
		t.Fatalf("another's record: %d %s", r.status, r.body)
	}
	// The global admin may ask about any org.
	r = decide(root, "acme", map[string]any{"sub": "dana", "method": "GET", "path": "/api/employee/dana/salary"})
	if r.status != 200 || r.json["allow"] != false || r.str("reason") != "denied" {
		t.Fatalf("global admin: %d %s", r.status, r.body)
	}

	// Another org answers like a missing one; so do its users and clients
	// named through the admin's own org.
	missing := decide(acme, "nope", map[string]any{"sub": "gina", "method": "GET", "path": "/"})
	if missing.status != 404 {
		t.Fatalf("missing org: %d %s", missing.status, missing.body)
	}
	if r := decide(acme, "globex", map[string]any{"sub": "gina", "method": "GET", "path": "/"}); r.status != 404 || string(r.body) != string(missing.body) {
		t.Fatalf("other org's admin: %d %s, want the 404 of a missing org", r.status, r.body)
	}
	if r := decide(root, "globex", map[string]any{"sub": "gina", "method": "GET", "path": "/"}); r.status != 200 || r.str("org_id") != "globex" {
		t.Fatalf("global admin on globex: %d %s", r.status, r.body)
	}
	for _, body := range []map[string]any{
		{"sub": "gina", "method": "GET", "path": "/"},
		{"sub": "nobody", "method": "GET", "path": "/"},
		{"client_id": "other", "method": "GET", "path": "/premium/a"},
		{"client_id": "nobody", "method": "GET", "path": "/premium/a"},
	} {
		if r := decide(acme, "acme", body); r.status != 404 {
			t.Errorf("%v through acme: %d %s, want 404", body, r.status, r.body)
		}
	}

	// A client principal: its own scopes when none are given, and the
	// decision of a token of it with those scopes.
	r = decide(acme, "acme", map[string]any{"client_id": "machine", "method": "POST", "path": "/premium/article/1"})
	if r.status != 200 || r.json["allow"] != true || r.str("client_id") != "machine" || r.str("sub") != "machine" || r.str("scope") != "premium/read premium/write" {
		t.Fatalf("client with its scopes: %d %s", r.status, r.body)
	}
	r = decide(acme, "acme", map[string]any{"client_id": "machine", "scope": "premium/read", "method": "POST", "path": "/premium/article/1"})
	if r.status != 200 || r.json["allow"] != false || r.str("reason") != "scope_not_allowed" || r.str("scope") != "premium/read" {
		t.Fatalf("client with premium/read only: %d %s", r.status, r.body)
	}
	if r := e.forward(e.token(map[string][]string{"grant_type": {"client_credentials"}, "scope": {"premium/read"}}, "machine", machineSecret).str("access_token"), "POST", "/premium/article/1"); r.status != 403 {
		t.Fatalf("forward auth disagrees: %d", r.status)
	}
	// The client named alice is a client: alice's ACL is not its own.
	if r := decide(acme, "acme", map[string]any{"client_id": "alice", "method": "GET", "path": "/api/employee/alice/profile"}); r.status != 200 || r.json["allow"] != false {
		t.Fatalf("client alice: %d %s", r.status, r.body)
	}
	// A user's scopes, when given, are a token's: the scope layer applies.
	r = decide(acme, "acme", map[string]any{"sub": "dana", "scope": "premium/read", "method": "GET", "path": "/api/employee/dana/profile"})
	if r.status != 200 || r.json["allow"] != false || r.str("reason") != "scope_not_allowed" {
		t.Fatalf("user with a scope: %d %s", r.status, r.body)
	}

	// Bad input.
	for name, body := range map[string]map[string]any{
		"no method":     {"sub": "dana", "path": "/"},
		"no path":       {"sub": "dana", "method": "GET"},
		"no principal":  {"method": "GET", "path": "/"},
		"two principal": {"sub": "dana", "client_id": "machine", "method": "GET", "path": "/"},
	} {
		r := decide(acme, "acme", body)
		if r.status != 400 || r.str("error") != "invalid" || r.str("message") == "" {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := decide(acme, "acme", map[string]any{"sub": "dana", "path": "/"}); !strings.Contains(r.str("message"), "method") {
		t.Errorf("missing method message: %s", r.body)
	}
}
