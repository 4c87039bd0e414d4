package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// forward asks /forward-auth as nginx would: raw URI in X-Original-URI.
func (e *env) forward(token, method, uri string) response {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/forward-auth", nil)
	req.Header.Set("X-Original-Method", method)
	req.Header.Set("X-Original-URI", uri)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// userToken signs username in with only the openid scope: no audience, so
// the principal's own statements alone decide.
func (e *env) userToken(username string) string {
	return e.token(url.Values{"grant_type": {"password"}, "username": {username}, "password": {userPassword}, "scope": {"openid"}}, "app", appSecret).str("access_token")
}

func TestForwardAuthPayroll(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, mgr := e.userToken("alice"), e.userToken("mgr")
	cases := []struct {
		name, token, method, uri string
		status                   int
	}{
		{"own record", alice, "GET", "/api/employee/alice", 200},
		{"own paystubs with a query", alice, "GET", "/api/employee/alice/paystubs?year=2026", 200},
		{"another employee", alice, "GET", "/api/employee/bob/paystubs", 403},
		{"own record, wrong method", alice, "DELETE", "/api/employee/alice", 403},
		{"manager reads a report", mgr, "GET", "/api/employee/alice/paystubs", 200},
		{"manager denied the boss", mgr, "GET", "/api/employee/bob", 403},
		{"manager denied below the boss", mgr, "GET", "/api/employee/bob/paystubs/1", 403},
		{"encoded letter", mgr, "GET", "/api/employee/%62ob", 403},
		{"encoded slash and dots", mgr, "GET", "/api/employee/alice%2F..%2Fbob", 403},
		{"dot segments", mgr, "GET", "/api/employee/alice/../bob", 403},
		{"encoded dots", mgr, "GET", "/api/employee/alice/%2e%2e/bob", 403},
		{"double slash", mgr, "GET", "/api/employee//bob", 403},
		{"trailing slash", mgr, "GET", "/api/employee/bob/", 403},
		{"other case", mgr, "GET", "/API/employee/bob", 403},
		{"NUL", mgr, "GET", "/api/employee/bob%00", 403},
		{"no token", "", "GET", "/api/employee/alice", 401},
		{"garbage token", "garbage", "GET", "/api/employee/alice", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.forward(c.token, c.method, c.uri)
			if r.status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.uri, r.status, r.body, c.status)
			}
			switch c.status {
			case 200:
				if r.header.Get("X-Latch-Org") != "acme" || r.header.Get("X-Latch-Sub") == "" || r.header.Get("X-Latch-Client") != "app" {
					t.Errorf("headers %v", r.header)
				}
			case 401:
				if r.str("message") != "Unauthorized" || r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 body %s, WWW-Authenticate %q", r.body, r.header.Get("WWW-Authenticate"))
				}
			case 403:
				if r.str("message") != "Forbidden" {
					t.Errorf("403 body %s", r.body)
				}
			}
		})
	}
	// Without the original URI nothing is allowed: a 400, which proxies treat as an error.
	req, _ := http.NewRequest("GET", e.url+"/forward-auth", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	if r := e.do(req); r.status != 400 {
		t.Fatalf("no URI: %d", r.status)
	}
	// Traefik's header names work too.
	req, _ = http.NewRequest("GET", e.url+"/forward-auth", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/api/employee/alice")
	if r := e.do(req); r.status != 200 {
		t.Fatalf("X-Forwarded-*: %d", r.status)
	}
}

func TestForwardAuthScopes(t *testing.T) {
	e := newEnv(t, envOptions{})
	read := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"premium/read"}}, "machine", machineSecret).str("access_token")
	write := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"premium/write"}}, "machine", machineSecret).str("access_token")
	for _, c := range []struct {
		token, method string
		status        int
	}{{read, "GET", 200}, {read, "POST", 403}, {write, "POST", 200}, {write, "GET", 403}} {
		if r := e.forward(c.token, c.method, "/premium/article/1"); r.status != c.status {
			t.Errorf("%s with %s token: %d, want %d", c.method, map[bool]string{true: "read", false: "write"}[c.token == read], r.status, c.status)
		}
	}
	// A client whose id equals a user's id gets nothing of the user's ACL.
	imposter := e.token(url.Values{"grant_type": {"client_credentials"}}, "alice", machineSecret).str("access_token")
	if r := e.forward(imposter, "GET", "/api/employee/alice/paystubs"); r.status != 403 {
		t.Fatalf("client named alice: %d", r.status)
	}
}

func TestForwardAuthSeesChangesAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	root := e.adminToken("root")
	login := e.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {userPassword}, "scope": {"openid"}}, "app", appSecret)
	alice := login.str("access_token")
	if r := e.forward(alice, "GET", "/api/reports"); r.status != 403 {
		t.Fatalf("before: %d", r.status)
	}
	// A new allow on the user is honoured on the next request.
	put := func(allow []string) {
		if r := e.api("PUT", "/admin/v1/orgs/acme/users/alice", root, map[string]any{"username": "alice", "email": "alice@acme.test", "roles": []string{"employee"}, "allow": allow}); r.status != 200 {
			t.Fatalf("PUT alice: %d %s", r.status, r.body)
		}
	}
	put([]string{"GET /api/reports"})
	if r := e.forward(alice, "GET", "/api/reports"); r.status != 200 {
		t.Fatalf("after allow: %d", r.status)
	}
	put(nil)
	if r := e.forward(alice, "GET", "/api/reports"); r.status != 403 {
		t.Fatalf("after removing the allow: %d", r.status)
	}
	// A role change reaches every member.
	if r := e.api("PUT", "/admin/v1/orgs/acme/roles/employee", root, map[string]any{"allow": []string{}}); r.status != 200 {
		t.Fatalf("PUT role: %d %s", r.status, r.body)
	}
	if r := e.forward(alice, "GET", "/api/employee/alice"); r.status != 403 {
		t.Fatalf("after emptying the role: %d", r.status)
	}
	// Revoking the session stops its access token at once.
	e.post("/oauth2/revoke", url.Values{"token": {login.str("refresh_token")}}, "app", appSecret)
	if r := e.forward(alice, "GET", "/api/employee/alice"); r.status != 401 {
		t.Fatalf("after revocation: %d", r.status)
	}
}

func TestForwardAuthStoreDownIsNeverAnAllow(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, envOptions{store: func(s latchStore) latchStore { fs.Store = s; return fs }})
	opaque := e.token(url.Values{"grant_type": {"client_credentials"}}, "opaque-machine", machineSecret).str("access_token")
	fs.mu.Lock()
	fs.down = true
	fs.mu.Unlock()
	r := e.forward(opaque, "GET", "/premium/x")
	if r.status == 200 || r.status == 401 || r.status == 403 {
		t.Fatalf("store down: %d, want an error status", r.status)
	}
}

func TestDecisionAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.userToken("alice")
	gina := e.token(url.Values{"grant_type": {"password"}, "username": {"gina"}, "password": {userPassword}, "organization": {"globex"}, "scope": {"openid"}}, "app", appSecret).str("access_token")
	ask := func(client, secret string, body map[string]any) response {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", e.url+"/v1/decisions", jsonBody(t, body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(client, secret)
		return e.do(req)
	}
	if r := ask("decider", machineSecret, map[string]any{"token": alice, "method": "GET", "path": "/api/employee/alice"}); r.json["allow"] != true || r.str("sub") != "alice" {
		t.Fatalf("token form: %s", r.body)
	}
	r := ask("decider", machineSecret, map[string]any{"sub": "mgr", "method": "GET", "path": "/api/employee/bob"})
	if r.json["allow"] != false || r.str("reason") != "denied" || r.str("explanation") == "" {
		t.Fatalf("sub form: %s", r.body)
	}
	// Another org's token and an unknown subject are plain denials.
	if r := ask("decider", machineSecret, map[string]any{"token": gina, "method": "GET", "path": "/"}); r.json["allow"] != false || r.str("reason") != "invalid_token" {
		t.Fatalf("foreign token: %s", r.body)
	}
	if r := ask("decider", machineSecret, map[string]any{"sub": "gina", "method": "GET", "path": "/"}); r.json["allow"] != false {
		t.Fatalf("foreign sub: %s", r.body)
	}
	// Only clients with latch/decide may ask.
	if r := ask("machine", machineSecret, map[string]any{"sub": "alice", "method": "GET", "path": "/"}); r.status != 403 {
		t.Fatalf("client without latch/decide: %d", r.status)
	}
	if r := ask("decider", "wrong", map[string]any{"sub": "alice", "method": "GET", "path": "/"}); r.status != 401 {
		t.Fatalf("wrong secret: %d", r.status)
	}
	if r := ask("decider", machineSecret, map[string]any{"method": "GET", "path": "/"}); r.status != 400 {
		t.Fatalf("neither token nor sub: %d", r.status)
	}
}

// TestForwardAuthPinsAudienceAndOrg: a gateway names what it protects, and a
// token of another audience or org does not pass, whatever its own ACL says.
func TestForwardAuthPinsAudienceAndOrg(t *testing.T) {
	e := newEnv(t, envOptions{})
	read := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"premium/read"}}, "machine", machineSecret).str("access_token")
	foreign := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"premium/read"}}, "other", otherSecret).str("access_token")
	ask := func(query, tok string) int {
		req, _ := http.NewRequest("GET", e.url+"/forward-auth"+query, nil)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", "/premium/a")
		req.Header.Set("Authorization", "Bearer "+tok)
		return e.do(req).status
	}
	for _, c := range []struct {
		query, tok string
		want       int
	}{
		{"", foreign, 200}, // unpinned: globex's token is judged by its own scopes
		{"?org=acme", foreign, 403},
		{"?org=acme", read, 200},
		{"?aud=premium", read, 200},
		{"?aud=payroll-api", read, 401},
		{"?aud=premium&org=acme", read, 200},
		{"?aud=premium&org=acme", foreign, 403},
	} {
		if got := ask(c.query, c.tok); got != c.want {
			t.Errorf("%s with the %s token: %d, want %d", c.query, map[bool]string{true: "acme", false: "globex"}[c.tok == read], got, c.want)
		}
	}
}

// TestForwardAuthRefusesAmbiguousOriginals: a client cannot smuggle a path it
// may call in the header spelling its proxy does not set.
func TestForwardAuthRefusesAmbiguousOriginals(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.userToken("alice")
	for _, hdrs := range [][][2]string{
		{{"X-Original-URI", "/api/employee/bob"}, {"X-Forwarded-Uri", "/api/employee/alice"}},
		{{"X-Forwarded-Uri", "/api/employee/bob"}, {"X-Original-URI", "/api/employee/alice"}},
		{{"X-Original-URI", "/api/employee/alice"}, {"X-Original-URI", "/api/employee/bob"}},
	} {
		req, _ := http.NewRequest("GET", e.url+"/forward-auth", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("X-Original-Method", "GET")
		for _, h := range hdrs {
			req.Header.Add(h[0], h[1])
		}
		if r := e.do(req); r.status != 400 {
			t.Errorf("%v: %d, want 400", hdrs, r.status)
		}
	}
	// The same value in both spellings is not ambiguous.
	req, _ := http.NewRequest("GET", e.url+"/forward-auth", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Original-URI", "/api/employee/alice")
	req.Header.Set("X-Forwarded-Uri", "/api/employee/alice")
	if r := e.do(req); r.status != 200 {
		t.Errorf("same value twice: %d", r.status)
	}
}
