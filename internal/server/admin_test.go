package server_test

import (
	"net/url"
	"strings"
	"testing"
)

func TestAdminAPITenantIsolation(t *testing.T) {
	e := newEnv(t, envOptions{})
	acme := e.adminToken("acme-admin")
	root := e.adminToken("root")

	// An org admin sees its org and nothing of another: other orgs answer
	// exactly like missing ones.
	if r := e.api("GET", "/admin/v1/orgs/acme/users", acme, nil); r.status != 200 || len(r.json["items"].([]any)) != 4 {
		t.Fatalf("own users: %d %s", r.status, r.body)
	}
	missing := e.api("GET", "/admin/v1/orgs/nope/users", acme, nil)
	for _, p := range []string{"/admin/v1/orgs/globex/users", "/admin/v1/orgs/globex", "/admin/v1/orgs/globex/users/gina", "/admin/v1/orgs/globex/clients"} {
		r := e.api("GET", p, acme, nil)
		if r.status != 404 || string(r.body) != string(missing.body) {
			t.Errorf("%s: %d %s, want the 404 of a missing org", p, r.status, r.body)
		}
	}
	// A client of another org named through acme's path is missing too.
	if r := e.api("GET", "/admin/v1/orgs/acme/clients/other", acme, nil); r.status != 404 {
		t.Errorf("globex client via acme path: %d", r.status)
	}
	// Mass assignment: org in the body is ignored, the path wins.
	r := e.api("POST", "/admin/v1/orgs/acme/users", acme, map[string]any{"id": "carl", "org": "globex", "username": "carl", "password": "a long enough password", "roles": []string{"employee"}})
	if r.status != 201 || r.str("org") != "acme" {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	if r := e.api("GET", "/admin/v1/orgs/globex/users/carl", root, nil); r.status != 404 {
		t.Fatalf("user landed in globex: %d %s", r.status, r.body)
	}
	// Org admins cannot open their clients to other orgs, create orgs, or rotate keys.
	if r := e.api("POST", "/admin/v1/orgs/acme/clients", acme, map[string]any{"id": "sneaky", "grants": []string{"password"}, "login_orgs": []string{"globex"}}); r.status != 403 {
		t.Fatalf("login_orgs by org admin: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/admin/v1/orgs"}, {"POST", "/admin/v1/keys/rotate"}, {"POST", "/admin/v1/apply"}, {"POST", "/admin/v1/audiences"}, {"DELETE", "/admin/v1/orgs/globex"}} {
		if r := e.api(c.method, c.path, acme, map[string]any{"id": "x"}); r.status != 403 {
			t.Errorf("%s %s by org admin: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	// No token, a non-admin token.
	if r := e.api("GET", "/admin/v1/orgs", "", nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous: %d", r.status)
	}
	plain := e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret).str("access_token")
	if r := e.api("GET", "/admin/v1/orgs", plain, nil); r.status != 403 {
		t.Fatalf("non-admin token: %d %s", r.status, r.body)
	}
}

func TestAdminAPIGlobalAdmin(t *testing.T) {
	e := newEnv(t, envOptions{})
	root := e.adminToken("root")
	if r := e.api("POST", "/admin/v1/orgs", root, map[string]any{"id": "initech", "name": "Initech"}); r.status != 201 {
		t.Fatalf("create org: %d %s", r.status, r.body)
	}
	if r := e.api("POST", "/admin/v1/orgs", root, map[string]any{"id": "initech"}); r.status != 409 {
		t.Fatalf("duplicate org: %d %s", r.status, r.body)
	}
	r := e.api("POST", "/admin/v1/orgs/initech/clients", root, map[string]any{"id": "svc", "grants": []string{"client_credentials"}, "scopes": []string{"premium/read"}})
	secret := r.str("client_secret")
	if r.status != 201 || len(secret) < 43 || r.str("secret_hash") == "" {
		t.Fatalf("create client: %d %s", r.status, r.body)
	}
	e.token(url.Values{"grant_type": {"client_credentials"}}, "svc", secret)
	// GET never shows the secret or its hash.
	if r := e.api("GET", "/admin/v1/orgs/initech/clients/svc", root, nil); strings.Contains(string(r.body), "hmac") || strings.Contains(string(r.body), secret) {
		t.Fatalf("client GET leaks: %s", r.body)
	}
	// A reset secret replaces the old one at once.
	r = e.api("POST", "/admin/v1/orgs/initech/clients/svc/secret", root, nil)
	if r.status != 200 || r.str("client_secret") == "" {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", secret); r.status != 401 {
		t.Fatalf("old secret still works: %d", r.status)
	}
	// Validation errors come back by path and change nothing.
	r = e.api("POST", "/admin/v1/orgs/initech/users", root, map[string]any{"id": "u1", "username": "u1", "password": "a long enough password", "roles": []string{"manger"}, "allow": []string{"GET /employee/5*"}})
	if r.status != 400 || !strings.Contains(string(r.body), "manger") {
		t.Fatalf("invalid user: %d %s", r.status, r.body)
	}
	if r := e.api("GET", "/admin/v1/orgs/initech/users/u1", root, nil); r.status != 404 {
		t.Fatalf("invalid user was created: %d", r.status)
	}
	// Keys rotate; tokens signed before stay valid.
	before := e.token(url.Values{"grant_type": {"client_credentials"}}, "machine", machineSecret).str("access_token")
	if r := e.api("POST", "/admin/v1/keys/rotate", root, nil); r.status != 200 || len(r.json["keys"].([]any)) != 2 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if in := e.introspect(before); in["active"] != true {
		t.Fatalf("token signed by the previous key: %v", in)
	}
	// Disabling a user through PUT takes effect on its tokens at once.
	at := e.login("app", appSecret, "", "bob").str("access_token")
	if r := e.api("PUT", "/admin/v1/orgs/acme/users/bob", root, map[string]any{"username": "bob", "roles": []string{"employee"}, "disabled": true}); r.status != 200 {
		t.Fatalf("disable bob: %d %s", r.status, r.body)
	}
	if in := e.introspect(at); in["active"] != false {
		t.Fatalf("disabled user's token: %v", in)
	}
}
