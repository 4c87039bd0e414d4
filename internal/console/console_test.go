package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"latch.dev/latch/internal/e2etest"
)

// The console's tests run the real `latch serve` (which creates the
// console's client and mounts the console) with testdata/console.yaml, and
// drive it with e2etest.Browser: the hosted login, then the console's own
// forms, exactly as a browser would post them.
func TestMain(m *testing.M) { e2etest.Main(m) }

const password = "console tests have a long password"

type consoleEnv struct {
	t     *testing.T
	latch *e2etest.Latch
	admin string // a global admin token of the CLI's client, to check what the console did
}

func start(t *testing.T) *consoleEnv {
	t.Helper()
	l := e2etest.StartLatch(t, e2etest.Options{Config: filepath.Join("testdata", "console.yaml"),
		Env: e2etest.Env{"CONSOLE_PASSWORD": password}.Environ(), Args: []string{"--log-level", "warn"}})
	raw, err := os.ReadFile(filepath.Join(l.Data, "admin-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var creds struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	return &consoleEnv{t: t, latch: l, admin: e2etest.ClientToken(t, l.URL, creds.ClientID, creds.ClientSecret, "")}
}

// signIn opens the console in a fresh browser and signs in as username of
// org; it returns the browser and the page the console lands on.
func (e *consoleEnv) signIn(org, username string) (*e2etest.Browser, e2etest.Page) {
	e.t.Helper()
	b := e2etest.NewBrowser(e.t)
	p := b.Get(e.latch.URL + "/console/")
	if !p.IsRedirect() || !strings.HasPrefix(p.Location(e.t).Path, "/oauth2/authorize") {
		e.t.Fatalf("the console did not send a new browser to sign in: %d %s", p.Status, p.Header.Get("Location"))
	}
	p = b.Follow(p)
	p = b.SignIn(p, org, username, password)
	return b, b.Follow(p)
}

// apiGet reads the admin API as the CLI's global admin.
func (e *consoleEnv) apiGet(path string, out any) int {
	e.t.Helper()
	r := e2etest.RawRequest(e.t, e.latch.URL, http.MethodGet, "/admin/v1"+path, e2etest.Bearer(e.admin), "")
	if r.Status == http.StatusOK && out != nil {
		if err := json.Unmarshal([]byte(r.Body), out); err != nil {
			e.t.Fatal(err)
		}
	}
	return r.Status
}

func TestConsoleGlobalAdminManagesOrganizations(t *testing.T) {
	e := start(t)
	b, home := e.signIn("latch", "root")
	if home.Status != http.StatusOK || home.URL.Path != "/console/" {
		t.Fatalf("after signing in: %d %s\n%s", home.Status, home.URL, home.Body)
	}
	for _, want := range []string{`href="/console/orgs/acme"`, `href="/console/orgs/globex"`, "global administrator"} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("the home page lacks %s", want)
		}
	}
	csp := home.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") || home.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: CSP %q, Cache-Control %q", csp, home.Header.Get("Cache-Control"))
	}

	p := b.Submit(home.Form(t, "create-org"), map[string]string{"id": "initech", "name": "Initech"})
	if loc := p.Location(t); loc.Path != "/console/orgs/initech" {
		t.Fatalf("creating an org redirected to %s", loc)
	}
	p = b.Follow(p)
	if !strings.Contains(p.Body, "Created.") || !strings.Contains(p.Body, `value="Initech"`) {
		t.Errorf("the new org's page: %d %s", p.Status, p.Body)
	}
	var role struct {
		ID string `json:"id"`
	}
	if st := e.apiGet("/orgs/initech/roles/admin", &role); st != http.StatusOK || role.ID != "admin" {
		t.Errorf("the new org has no admin role: %d", st)
	}

	// A second one with the same id is refused with the API's reason, and
	// what was typed stays in the form.
	p = b.Submit(home.Form(t, "create-org"), map[string]string{"id": "initech", "name": "Initech again"})
	if p.Status != http.StatusConflict || !strings.Contains(p.Alert(), "exists") || !strings.Contains(p.Body, `value="Initech again"`) {
		t.Errorf("duplicate org: %d alert %q", p.Status, p.Alert())
	}
}

func TestConsoleOrgAdminSeesOnlyItsOrg(t *testing.T) {
	e := start(t)
	b, home := e.signIn("acme", "ann")
	if home.Status != http.StatusOK {
		t.Fatalf("home: %d %s", home.Status, home.Body)
	}
	if !strings.Contains(home.Body, `href="/console/orgs/acme"`) || strings.Contains(home.Body, "globex") || home.HasForm("create-org") {
		t.Errorf("an org admin's home page shows other orgs or the new-org form:\n%s", home.Body)
	}
	// Another org's pages answer like missing ones, whatever the page.
	for _, path := range []string{"/console/orgs/globex", "/console/orgs/globex/users", "/console/orgs/globex/users/gus", "/console/orgs/globex/clients", "/console/orgs/nosuch/users"} {
		if p := b.Get(e.latch.URL + path); p.Status != http.StatusNotFound || strings.Contains(p.Body, "gus") {
			t.Errorf("GET %s as acme's admin: %d", path, p.Status)
		}
	}
	// And so do its forms, with the console's own CSRF value: nothing is
	// written in globex.
	users := b.Get(e.latch.URL + "/console/orgs/acme/users")
	f := users.Form(t, "create-user")
	f.Action = strings.Replace(f.Action, "/orgs/acme/", "/orgs/globex/", 1)
	if p := b.Submit(f, map[string]string{"id": "mole", "username": "mole", "password": password}); p.Status != http.StatusNotFound {
		t.Errorf("creating a user in globex through acme's console: %d", p.Status)
	}
	if st := e.apiGet("/orgs/globex/users/mole", nil); st != http.StatusNotFound {
		t.Errorf("globex has the user created through acme's console: %d", st)
	}
}

func TestConsoleRefusesNonAdmins(t *testing.T) {
	e := start(t)
	b, p := e.signIn("acme", "bob")
	if p.Status != http.StatusForbidden || !strings.Contains(p.Alert(), "not an administrator") {
		t.Fatalf("bob (no admin role): %d %q", p.Status, p.Alert())
	}
	// The page offers to sign out, to use another account.
	if !strings.Contains(p.Body, `href="/oauth2/logout?client_id=latch-console"`) {
		t.Errorf("the refusal offers no way to another account:\n%s", p.Body)
	}
	// No console session was made: the console still asks to sign in.
	if p := b.Get(e.latch.URL + "/console/orgs/acme/users"); !p.IsRedirect() || !strings.HasPrefix(p.Location(t).Path, "/oauth2/authorize") {
		t.Errorf("after the refusal: %d %s", p.Status, p.Header.Get("Location"))
	}
}

func TestConsoleCSRFAndForgedCookies(t *testing.T) {
	e := start(t)
	b, _ := e.signIn("acme", "ann")
	users := b.Get(e.latch.URL + "/console/orgs/acme/users")
	f := users.Form(t, "create-user")
	for name, csrf := range map[string]string{"missing": "", "wrong": "x" + f.Values.Get("csrf")} {
		p := b.Submit(f, map[string]string{"id": "csrf-" + name, "username": "csrf-" + name, "password": password, "csrf": csrf})
		if p.Status != http.StatusForbidden {
			t.Errorf("%s CSRF value: %d", name, p.Status)
		}
		if st := e.apiGet("/orgs/acme/users/csrf-"+name, nil); st != http.StatusNotFound {
			t.Errorf("%s CSRF value: the user was created (%d)", name, st)
		}
	}

	// A browser without the session, or with an altered one, is sent to
	// sign in, never served.
	u, _ := url.Parse(e.latch.URL)
	for name, value := range map[string]string{"none": "", "altered": "x.eyJ0b2siOiJ4In0.x"} {
		nb := e2etest.NewBrowser(t)
		req, _ := http.NewRequest(http.MethodGet, e.latch.URL+"/console/orgs/acme/users", nil)
		if value != "" {
			req.AddCookie(&http.Cookie{Name: "latch_console", Value: value})
		}
		p := nb.Do(req)
		if !p.IsRedirect() || p.Location(t).Host != u.Host || !strings.HasPrefix(p.Location(t).Path, "/oauth2/authorize") {
			t.Errorf("%s session cookie: %d %s", name, p.Status, p.Header.Get("Location"))
		}
	}
}

func TestConsoleCreatesClientUserAndTestsRequests(t *testing.T) {
	e := start(t)
	b, _ := e.signIn("acme", "ann")

	// A confidential client: its secret is shown once and works.
	clients := b.Get(e.latch.URL + "/console/orgs/acme/clients")
	p := b.Submit(clients.Form(t, "create-client"), map[string]string{"id": "acme-worker", "name": "Worker"})
	if p.Status != http.StatusCreated {
		t.Fatalf("create client: %d %s", p.Status, p.Body)
	}
	secret := secretOn(t, p)
	e2etest.ClientToken(t, e.latch.URL, "acme-worker", secret, "")
	if again := b.Get(e.latch.URL + "/console/orgs/acme/clients/acme-worker"); strings.Contains(again.Body, secret) {
		t.Error("the client's page shows the secret again")
	}

	// A user, then an ACL change, each checked with "test a request".
	users := b.Get(e.latch.URL + "/console/orgs/acme/users")
	p = b.Follow(b.Submit(users.Form(t, "create-user"), map[string]string{"id": "dan", "username": "dan", "password": password, "roles": "member"}))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Created.") {
		t.Fatalf("create user: %d %s", p.Status, p.Body)
	}
	decide := func(principal, method, path string) (allowed bool, body string) {
		t.Helper()
		page := b.Get(e.latch.URL + "/console/orgs/acme/test")
		r := b.Submit(page.Form(t, "test-request"), map[string]string{"principal": principal, "method": method, "path": path})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="decision"`) {
			t.Fatalf("test a request: %d %s", r.Status, r.Body)
		}
		return strings.Contains(r.Body, ">Allowed</h2>"), r.Body
	}
	if ok, body := decide("user:dan", "GET", "/records/acme/1"); !ok || !strings.Contains(body, "GET /records/{org}/**") {
		t.Errorf("dan (member) reading acme's records: allowed=%v\n%s", ok, body)
	}
	if ok, _ := decide("user:dan", "DELETE", "/records/acme/1"); ok {
		t.Error("dan may delete records before any statement allows it")
	}

	dan := b.Get(e.latch.URL + "/console/orgs/acme/users/dan")
	p = b.Follow(b.Submit(dan.Form(t, "user-settings"), map[string]string{"allow": "DELETE /records/{org}/**", "deny": "GET /records/acme/secret"}))
	if !strings.Contains(p.Body, "Saved.") {
		t.Fatalf("saving dan's statements: %d %s", p.Status, p.Body)
	}
	if ok, _ := decide("user:dan", "DELETE", "/records/acme/1"); !ok {
		t.Error("dan may not delete records after the allow statement")
	}
	if ok, body := decide("user:dan", "GET", "/records/acme/secret"); ok || !strings.Contains(body, "GET /records/acme/secret") {
		t.Errorf("the deny statement does not win or is not explained:\n%s", body)
	}
	// The password was kept (the form leaves it empty).
	e2etest.Token(t, e.latch.URL, url.Values{"grant_type": {"client_credentials"}}, "acme-worker", secret)

	// A bad statement is refused with the reason, and what was typed stays.
	p = b.Submit(dan.Form(t, "user-settings"), map[string]string{"allow": "FETCH records"})
	if p.Status != http.StatusBadRequest || p.Alert() == "" || !strings.Contains(p.Body, "FETCH records") {
		t.Errorf("a bad statement: %d %q", p.Status, p.Alert())
	}
}

// secretOn returns the client secret shown on p.
func secretOn(t *testing.T, p e2etest.Page) string {
	t.Helper()
	i := strings.Index(p.Body, `id="client-secret"`)
	if i < 0 {
		t.Fatalf("no secret on the page: %s", p.Body)
	}
	rest := p.Body[i:]
	j := strings.Index(rest, `value="`)
	k := strings.Index(rest[j+7:], `"`)
	return html.UnescapeString(rest[j+7 : j+7+k])
}

func TestConsoleListsAndRevokesSessions(t *testing.T) {
	e := start(t)
	// bob signs in to the console too: he is refused (not an admin), but
	// his sign-in at Latch is a login session, and the console's attempt a
	// code family of that session.
	e.signIn("acme", "bob")
	b, _ := e.signIn("acme", "ann")

	bob := b.Get(e.latch.URL + "/console/orgs/acme/users/bob")
	table := between(bob.Body, `<table id="sessions">`, `</table>`)
	if !strings.Contains(table, "Latch sign-in") || !strings.Contains(table, "latch-console") {
		t.Fatalf("bob's sessions:\n%s", table)
	}
	var live []struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	if st := e.apiGet("/orgs/acme/users/bob/sessions", &live); st != http.StatusOK || len(live) == 0 {
		t.Fatalf("bob's sessions in the admin API: %d %v", st, live)
	}

	// Revoke one: it leaves the list.
	var one e2etest.Form
	for _, f := range bob.Forms() {
		if f.Values.Get("action") == "revoke-session" && f.Values.Get("session") == live[0].ID {
			one = f
		}
	}
	if one.Action == "" {
		t.Fatalf("no revoke form for session %s", live[0].ID)
	}
	if p := b.Follow(b.Submit(one, nil)); !strings.Contains(p.Body, "Revoked.") || strings.Contains(p.Body, live[0].ID) {
		t.Errorf("after revoking %s: %d\n%s", live[0].ID, p.Status, between(p.Body, `<table id="sessions">`, `</table>`))
	}
	var after []struct {
		ID string `json:"id"`
	}
	e.apiGet("/orgs/acme/users/bob/sessions", &after)
	if len(after) != len(live)-1 {
		t.Errorf("sessions after revoking one: %d, before %d", len(after), len(live))
	}

	// Revoke every one of ann's own: the console's token goes with them,
	// so the next page sends her to sign in again.
	ann := b.Get(e.latch.URL + "/console/orgs/acme/users/ann")
	p := b.Submit(ann.Form(t, "revoke-all"), nil)
	if p = b.Follow(p); p.URL.Path != "/oauth2/authorize" {
		t.Errorf("after revoking every session of the console's own user: %d at %s", p.Status, p.URL)
	}
	var left []struct{}
	if e.apiGet("/orgs/acme/users/ann/sessions", &left); len(left) != 0 {
		t.Errorf("ann has %d sessions left", len(left))
	}
}

// between returns the part of s from the first from to the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}

func TestConsoleRolesAudiencesAndClients(t *testing.T) {
	e := start(t)
	root, _ := e.signIn("latch", "root")

	// A global administrator writes audiences, scopes as "scope: statement" lines.
	auds := root.Get(e.latch.URL + "/console/audiences")
	p := root.Follow(root.Submit(auds.Form(t, "create-audience"), map[string]string{
		"id": "reports", "name": "Reports", "scopes": "read: GET /reports/**\nwrite: POST /reports/**\nwrite: PUT /reports/**\naudit:"}))
	if !strings.Contains(p.Body, "Created.") {
		t.Fatalf("create audience: %d %s", p.Status, p.Body)
	}
	var aud struct {
		Scopes map[string][]string `json:"scopes"`
	}
	e.apiGet("/audiences/reports", &aud)
	if len(aud.Scopes["write"]) != 2 || aud.Scopes["read"][0] != "GET /reports/**" || aud.Scopes["audit"] == nil {
		t.Errorf("the audience's scopes: %v", aud.Scopes)
	}
	// Shown again as the same lines, and saved unchanged.
	f := p.Form(t, "audience-settings")
	if got := f.Values.Get("scopes"); got != "audit:\nread: GET /reports/**\nwrite: POST /reports/**\nwrite: PUT /reports/**\n" {
		t.Errorf("the scopes field: %q", got)
	}
	if p = root.Submit(f, map[string]string{"scopes": "read GET /reports"}); p.Status != http.StatusBadRequest || !strings.Contains(p.Alert(), "scope: METHODS PATH") {
		t.Errorf("a scope line without a colon: %d %q", p.Status, p.Alert())
	}

	// An org administrator reads audiences but has no form, and a forged
	// post is refused by the admin API.
	ann, _ := e.signIn("acme", "ann")
	list := ann.Get(e.latch.URL + "/console/audiences")
	if !strings.Contains(list.Body, "reports") || list.HasForm("create-audience") {
		t.Errorf("acme's admin on the audiences page: form shown=%v", list.HasForm("create-audience"))
	}
	forged := e2etest.Form{Action: e.latch.URL + "/console/audiences", Values: url.Values{"csrf": {csrfOf(t, list)}}}
	if p := ann.Submit(forged, map[string]string{"id": "mine", "scopes": "read: GET /**"}); p.Status != http.StatusForbidden {
		t.Errorf("an org admin creating an audience: %d", p.Status)
	}

	// Roles: create, then edit the statements.
	roles := ann.Get(e.latch.URL + "/console/orgs/acme/roles")
	p = ann.Follow(ann.Submit(roles.Form(t, "create-role"), map[string]string{"id": "auditor", "allow": "GET /reports/**\n\nGET /audit/**", "deny": "GET /reports/payroll"}))
	if !strings.Contains(p.Body, "Created.") {
		t.Fatalf("create role: %d %s", p.Status, p.Body)
	}
	p = ann.Follow(ann.Submit(p.Form(t, "role-settings"), map[string]string{"allow": "GET /reports/**"}))
	var role struct {
		Allow []string `json:"allow"`
		Deny  []string `json:"deny"`
	}
	e.apiGet("/orgs/acme/roles/auditor", &role)
	if !strings.Contains(p.Body, "Saved.") || len(role.Allow) != 1 || len(role.Deny) != 1 {
		t.Errorf("the role after editing: %+v", role)
	}

	// A public client with the code flow; editing it keeps its grants and
	// redirect URIs, and it stays public (no secret shown, none made).
	clients := ann.Get(e.latch.URL + "/console/orgs/acme/clients")
	p = ann.Submit(clients.Form(t, "create-client"), map[string]string{"id": "acme-spa", "type": "public",
		"grant_client_credentials": "", "grant_authorization_code": "1", "redirect_uris": "http://127.0.0.1:9/cb\nhttp://127.0.0.1:9/cb2"})
	if !p.IsRedirect() {
		t.Fatalf("create public client: %d %s", p.Status, p.Alert())
	}
	p = ann.Follow(p)
	p = ann.Follow(ann.Submit(p.Form(t, "client-settings"), map[string]string{"name": "Acme SPA"}))
	var cl struct {
		Name         string   `json:"name"`
		Grants       []string `json:"grants"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	e.apiGet("/orgs/acme/clients/acme-spa", &cl)
	if cl.Name != "Acme SPA" || len(cl.Grants) != 1 || cl.Grants[0] != "authorization_code" || len(cl.RedirectURIs) != 2 {
		t.Errorf("the public client after editing: %+v", cl)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"acme-spa"}}
	if st, _ := e2etest.PostForm(t, e.latch.URL+"/oauth2/token", form, "", ""); st == http.StatusOK {
		t.Error("the public client got a client_credentials token")
	}

	// Org settings: sign-up on, default roles.
	org := ann.Get(e.latch.URL + "/console/orgs/acme")
	ann.Submit(org.Form(t, "org-settings"), map[string]string{"signup": "1", "default_roles": "member"})
	var o struct {
		Signup       bool     `json:"signup"`
		DefaultRoles []string `json:"default_roles"`
	}
	e.apiGet("/orgs/acme", &o)
	if !o.Signup || len(o.DefaultRoles) != 1 {
		t.Errorf("acme after saving its settings: %+v", o)
	}
}

// csrfOf is the console's CSRF value on page p.
func csrfOf(t *testing.T, p e2etest.Page) string {
	t.Helper()
	for _, f := range p.Forms() {
		if v := f.Values.Get("csrf"); v != "" {
			return v
		}
	}
	t.Fatalf("no CSRF value on %s", p.URL)
	return ""
}

func TestConsoleSignOutEndsTheLoginSession(t *testing.T) {
	e := start(t)
	b, home := e.signIn("acme", "ann")
	p := b.Submit(home.Form(t, "signout"), nil)
	if loc := p.Location(t); loc.Path != "/oauth2/logout" || loc.Query().Get("client_id") != "latch-console" {
		t.Fatalf("sign out redirected to %s", loc)
	}
	p = b.Follow(p)
	var confirm e2etest.Form
	for _, f := range p.Forms() {
		if strings.HasSuffix(f.Action, "/oauth2/logout") {
			confirm = f
		}
	}
	if confirm.Action == "" {
		t.Fatalf("no sign-out confirmation: %d %s", p.Status, p.Body)
	}
	if p = b.Follow(b.Submit(confirm, nil)); p.Status != http.StatusOK || !strings.Contains(p.Body, "signed out") {
		t.Fatalf("after confirming: %d %s", p.Status, p.Body)
	}
	// The console asks for a password again: no console session, and no
	// login session for the hosted login to reuse.
	p = b.Follow(b.Get(e.latch.URL + "/console/"))
	if !p.HasForm("org") && !p.HasForm("password") {
		t.Errorf("the console after signing out: %d at %s", p.Status, p.URL)
	}
	var left []struct{}
	if e.apiGet("/orgs/acme/users/ann/sessions", &left); len(left) != 0 {
		t.Errorf("ann has %d live sessions after signing out", len(left))
	}
}
