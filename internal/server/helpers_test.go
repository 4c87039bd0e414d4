package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/cache"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/server"
	"latch.dev/latch/internal/store/bolt"
	"latch.dev/latch/internal/token"
)

// Secrets of the fixture clients: long enough to pass the config rule.
const (
	machineSecret = "machine-secret-0123456789abcdefghijklmnop"
	appSecret     = "app-secret-0123456789abcdefghijklmnopqrstu"
	otherSecret   = "other-secret-0123456789abcdefghijklmnopqrs"
	adminSecret   = "admin-secret-0123456789abcdefghijklmnopqrs"
	userPassword  = "correct horse battery staple"
)

type env struct {
	t      *testing.T
	url    string
	store  latch.Store
	clock  *clocktest.Clock
	hasher password.PasswordHasher
	srv    *server.Server
}

type envOptions struct {
	oauth oauth.Options
	store func(latch.Store) latch.Store // wraps the store (fault injection)
}

// newEnv starts a real server on a loopback port over a bolt file, with
// fixtures: org "acme" (users alice and bob, admin ann), org "globex"
// (user gina), audience "premium" (read, write), clients "machine" (acme,
// client_credentials), "app" (acme, password + refresh, login_orgs globex),
// "other" (globex, client_credentials), and the global admin client.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	clock := clocktest.New(time.Now())
	st, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var store latch.Store = st
	hasher := password.NewTestHasher()
	e := &env{t: t, store: store, clock: clock, hasher: hasher}
	e.fixtures(ctx)
	var source latch.Store = st
	if o.store != nil {
		source = o.store(st)
	}
	// As in production: the server reads and writes through the cache, and
	// the token endpoint authenticates from the store itself.
	cached := cache.New(source, cache.Options{Clock: clock})
	store = cached
	e.store = cached
	keys, err := token.NewKeys(store, clock, "ES256", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	o.oauth.Issuer = "http://" + ts.Listener.Addr().String()
	e.url = o.oauth.Issuer
	e.srv = server.New(server.Deps{Store: store, Source: source, Keys: keys, Hasher: hasher, Clock: clock, OAuth: o.oauth})
	t.Cleanup(e.srv.Close)
	ts.Config.Handler = e.srv
	ts.Start()
	t.Cleanup(ts.Close)
	return e
}

func (e *env) fixtures(ctx context.Context) {
	t := e.t
	now := e.clock.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hash := func(s string) string {
		h, err := password.HashClientSecret(s)
		must(err)
		return h
	}
	pw, err := e.hasher.Hash(userPassword)
	must(err)
	for _, o := range []latch.Org{
		{ID: oauth.SystemOrg, Name: "system"},
		{ID: "acme", Name: "Acme", Signup: true, DefaultRoles: []string{"employee"}},
		{ID: "globex", Name: "Globex"},
	} {
		o.CreatedAt, o.UpdatedAt, o.Version = now, now, 1
		must(e.store.CreateOrg(ctx, o))
	}
	must(e.store.CreateAudience(ctx, latch.Audience{ID: "premium", Scopes: map[string][]string{
		"read": {"GET /premium/**"}, "write": {"POST /premium/**"},
	}, Version: 1, CreatedAt: now, UpdatedAt: now}))
	must(e.store.CreateRole(ctx, latch.Role{Org: "acme", ID: "employee", Allow: []string{"GET /api/employee/{sub}/**"}, Version: 1}))
	must(e.store.CreateRole(ctx, latch.Role{Org: "acme", ID: "admin", Allow: []string{"* /**"}, Version: 1}))
	for _, u := range []latch.User{
		{Org: "acme", ID: "alice", Username: "alice", Email: "alice@acme.test", Roles: []string{"employee"}},
		{Org: "acme", ID: "bob", Username: "bob", Roles: []string{"employee"}},
		{Org: "acme", ID: "ann", Username: "ann", Roles: []string{"employee", "admin"}},
		{Org: "globex", ID: "gina", Username: "gina"},
		{Org: "acme", ID: "mgr", Username: "mgr", Allow: []string{"GET /api/employee/**"}, Deny: []string{"* /api/employee/bob", "* /api/employee/bob/**"}},
	} {
		u.PasswordHash, u.Version, u.CreatedAt, u.UpdatedAt = pw, 1, now, now
		must(e.store.CreateUser(ctx, u))
	}
	for _, c := range []latch.Client{
		{ID: "machine", Org: "acme", SecretHash: hash(machineSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"premium/read", "premium/write"}},
		{ID: "opaque-machine", Org: "acme", SecretHash: hash(machineSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"premium/read"}, AccessTokenFormat: latch.TokenFormatOpaque},
		{ID: "app", Org: "acme", SecretHash: hash(appSecret), Grants: []string{latch.GrantPassword, latch.GrantRefreshToken}, Scopes: []string{"premium/read", oauth.AdminScope}, LoginOrgs: []string{"globex"}},
		{ID: "public-app", Org: "acme", Grants: []string{latch.GrantPassword, latch.GrantRefreshToken}, Scopes: []string{"premium/read"}},
		{ID: "other", Org: "globex", SecretHash: hash(otherSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"premium/read"}},
		{ID: "root", Org: oauth.SystemOrg, SecretHash: hash(adminSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{oauth.AdminScope}},
		{ID: "acme-admin", Org: "acme", SecretHash: hash(adminSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{oauth.AdminScope}},
		{ID: "alice", Org: "acme", SecretHash: hash(machineSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"premium/read"}},
		{ID: "decider", Org: "acme", SecretHash: hash(machineSecret), Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"latch/decide"}},
		{ID: "disabled", Org: "acme", SecretHash: hash(machineSecret), Grants: []string{latch.GrantClientCredentials}, Disabled: true},
	} {
		if c.AccessTokenFormat == "" {
			c.AccessTokenFormat = latch.TokenFormatJWT
		}
		c.Version, c.CreatedAt, c.UpdatedAt = 1, now, now
		must(e.store.CreateClient(ctx, c))
	}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r response) str(k string) string {
	s, _ := r.json[k].(string)
	return s
}

// post sends a form, with Basic credentials when user is not empty.
func (e *env) post(path string, form url.Values, user, pass string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &r.json)
	return r
}

// token gets a token with the given grant form, failing the test on error.
func (e *env) token(form url.Values, user, pass string) response {
	e.t.Helper()
	r := e.post("/oauth2/token", form, user, pass)
	if r.status != http.StatusOK {
		e.t.Fatalf("token request %v: %d %s", form.Get("grant_type"), r.status, r.body)
	}
	return r
}

func (e *env) login(client, secret, org, username string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {"password"}, "username": {username}, "password": {userPassword}}
	if org != "" {
		f.Set("organization", org)
	}
	return e.token(f, client, secret)
}

func (e *env) introspect(tok string) map[string]any {
	e.t.Helper()
	r := e.post("/oauth2/introspect", url.Values{"token": {tok}}, "machine", machineSecret)
	if r.status != http.StatusOK {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return r.json
}

func (e *env) adminToken(client string) string {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {oauth.AdminScope}}, client, adminSecret).str("access_token")
}

// api calls the admin API with a bearer token and a JSON body.
func (e *env) api(method, path, bearer string, body any) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	r := e.do(req)
	if len(r.body) > 0 && r.body[0] == '[' {
		var list []any
		_ = json.Unmarshal(r.body, &list)
		r.json = map[string]any{"items": list}
	}
	return r
}

type latchStore = latch.Store

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}
