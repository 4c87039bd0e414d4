package main

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/middleware"
)

// The end-to-end test runs the real `latch serve` (examples/latch.yaml plus
// latch-service.yaml, as the README says) and this app in process, and
// drives both with a browser made of net/http and a cookie jar.
func TestMain(m *testing.M) { e2etest.Main(m) }

const (
	annPassword = "ann has a long password"
	gusPassword = "gus has a long password"
	// Latch's one answer to every failed sign-in.
	badLogin = "The organization, username or password is not correct."
)

type recordsEnv struct {
	latchURL, appURL string
	store            Store
}

// startRecords starts Latch and the app. The app's listener comes first:
// its URL is in the client's redirect_uris, which must match exactly.
func startRecords(t *testing.T, decider func(middleware.Decider) middleware.Decider) *recordsEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	appURL := "http://" + srv.Listener.Addr().String()
	env := e2etest.ExampleEnv("RECORDS_DECIDER_SECRET")
	env["RECORDS_URL"] = appURL
	env["RECORDS_PASSWORD_ANN"] = annPassword
	env["RECORDS_PASSWORD_GUS"] = gusPassword
	l := e2etest.StartExampleLatch(t, env)

	store, err := openBolt(filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var d middleware.Decider = middleware.Remote(middleware.RemoteConfig{
		Endpoint: l.URL, ClientID: "records-decider", ClientSecret: env["RECORDS_DECIDER_SECRET"], Audience: "records"})
	if decider != nil {
		d = decider(d)
	}
	app, err := NewApp(context.Background(), Config{Issuer: l.URL, PublicURL: appURL, ClientID: "records-app", Decider: d, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = app
	srv.Start()
	t.Cleanup(srv.Close)
	return &recordsEnv{latchURL: l.URL, appURL: appURL, store: store}
}

func TestRecordsEndToEnd(t *testing.T) {
	e := startRecords(t, nil)
	ctx := context.Background()
	countRecords := func(org string) int {
		t.Helper()
		recs, err := e.store.List(ctx, org, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	ann := e2etest.NewBrowser(t)
	// Signed out, the records send the browser to /login, and /login to
	// Latch with PKCE S256, state and nonce.
	p := ann.Get(e.appURL + "/orgs/acme/records")
	if loc := p.Location(t); loc.String() != e.appURL+"/login" {
		t.Fatalf("signed out: redirected to %s, want /login", loc)
	}
	p = ann.Get(e.appURL + "/login")
	authz := p.Location(t)
	q := authz.Query()
	if got := authz.Scheme + "://" + authz.Host + authz.Path; got != e.latchURL+"/oauth2/authorize" {
		t.Fatalf("/login redirected to %s", got)
	}
	if q.Get("client_id") != "records-app" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != e.appURL+"/callback" || q.Get("scope") != "openid records/read records/write" {
		t.Errorf("authorization request %v", q)
	}

	// Latch asks for the organization first, then the credentials.
	p = ann.Get(authz.String())
	p = ann.Submit(p.Form(t, "org"), map[string]string{"organization": "acme"})
	pw := p.Form(t, "password")
	// A wrong password and an unknown organization get Latch's one
	// generic answer.
	bad := ann.Submit(pw, map[string]string{"username": "ann", "password": "not ann's password"})
	if bad.Status != http.StatusOK || !strings.Contains(html.UnescapeString(bad.Body), badLogin) {
		t.Errorf("wrong password: %d, want Latch's generic error %q\n%s", bad.Status, badLogin, bad.Body)
	}
	p = ann.Submit(bad.Form(t, "password"), map[string]string{"username": "ann", "password": annPassword})
	cb := p.Location(t)
	if !strings.HasPrefix(cb.String(), e.appURL+"/callback?") {
		t.Fatalf("Latch redirected to %s, want the app's callback", cb)
	}
	p = ann.Get(cb.String())
	if loc := p.Location(t); loc.Path != "/orgs/acme/records" {
		t.Fatalf("after the callback: redirected to %s, want /orgs/acme/records", loc)
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "records_session=") && (!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax")) {
			t.Errorf("session cookie %q, want HttpOnly and SameSite=Lax", c)
		}
	}
	// The callback is single-use: the same code and state again fail.
	if again := ann.Get(cb.String()); again.Status != http.StatusBadRequest {
		t.Errorf("callback replayed: %d, want 400", again.Status)
	}

	p = ann.Get(e.appURL + "/orgs/acme/records")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Records of acme") || !strings.Contains(p.Body, "ann") {
		t.Fatalf("acme's records: %d\n%s", p.Status, p.Body)
	}
	checkHeaders(t, p)

	// Add a record; the list shows it, escaped.
	add := p.FormAt(t, "/orgs/acme/records")
	p = ann.Submit(add, map[string]string{"title": "First <b>note</b>", "text": "hello from acme"})
	if loc := p.Location(t); loc.Path != "/orgs/acme/records" {
		t.Fatalf("after adding: redirected to %s", loc)
	}
	p = ann.Get(e.appURL + "/orgs/acme/records")
	if !strings.Contains(p.Body, "First &lt;b&gt;note&lt;/b&gt;") || !strings.Contains(p.Body, "1 record<") {
		t.Fatalf("the new record is not listed:\n%s", p.Body)
	}
	acme, err := e.store.List(ctx, "acme", 10)
	if err != nil || len(acme) != 1 || acme[0].Author != "ann" || acme[0].Text != "hello from acme" {
		t.Fatalf("acme's partition: %+v, %v", acme, err)
	}
	if r := ann.Get(e.appURL + "/orgs/acme/records/" + acme[0].ID); r.Status != http.StatusOK || !strings.Contains(r.Body, "hello from acme") {
		t.Errorf("acme's record page: %d\n%s", r.Status, r.Body)
	}

	// globex's partition, before ann tries it.
	if _, err := e.store.Add(ctx, "globex", Record{Title: "Globex plans", Text: "secret plans", Author: "gus"}); err != nil {
		t.Fatal(err)
	}
	globex, _ := e.store.List(ctx, "globex", 10)
	gid := globex[0].ID

	// ann is refused globex's records, however she asks.
	forbidden := func(what string, r e2etest.Page) {
		t.Helper()
		if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Not allowed") {
			t.Errorf("%s: %d, want 403 Not allowed\n%s", what, r.Status, r.Body)
		}
		if strings.Contains(r.Body, "Globex plans") || strings.Contains(r.Body, "secret plans") {
			t.Errorf("%s leaked globex's record", what)
		}
	}
	forbidden("GET /orgs/globex/records", ann.Get(e.appURL+"/orgs/globex/records"))
	forbidden("GET globex's record", ann.Get(e.appURL+"/orgs/globex/records/"+gid))
	// acme's own form, with its CSRF token, aimed at globex.
	atGlobex := e2etest.Form{Action: e.appURL + "/orgs/globex/records", Values: add.Values}
	forbidden("POST /orgs/globex/records", ann.Submit(atGlobex, map[string]string{"title": "planted", "text": "by ann"}))
	// An org field does not choose the partition: the URL's org does.
	if r := ann.Submit(add, map[string]string{"title": "Second", "org": "globex"}); r.Status != http.StatusSeeOther {
		t.Errorf("POST with org=globex: %d", r.Status)
	}
	// Spellings of another org or record are never globex's records.
	for _, target := range []string{
		"/orgs/%67lobex/records", "/orgs/globex/records/", "/orgs/acme/../globex/records", "/orgs/acme/records/../../globex/records",
		"/orgs/globex%2Frecords", "/orgs/acme/records/" + gid, "/orgs/acme/records/" + strings.ToUpper(gid), "/orgs/GLOBEX/records",
	} {
		r := ann.Get(e.appURL + target)
		for r.Status == http.StatusMovedPermanently || r.Status == http.StatusTemporaryRedirect { // ServeMux cleaning the path
			r = ann.Get(r.LocationStatus(t, http.StatusMovedPermanently, http.StatusTemporaryRedirect).String())
		}
		if r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 403 or 404", target, r.Status)
		}
		if strings.Contains(r.Body, "Globex plans") {
			t.Errorf("GET %s leaked globex's record", target)
		}
	}
	if n := countRecords("globex"); n != 1 {
		t.Errorf("globex has %d records, want 1: ann wrote into globex's partition", n)
	}
	if n := countRecords("acme"); n != 2 {
		t.Errorf("acme has %d records, want 2", n)
	}

	// A POST without the session's CSRF token writes nothing.
	for name, fields := range map[string]map[string]string{
		"no token":    {"csrf": ""},
		"wrong token": {"csrf": "x" + add.Values.Get("csrf")},
	} {
		r := ann.Submit(add, mergeFields(fields, map[string]string{"title": "csrf " + name}))
		if r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
			t.Errorf("POST with %s: %d, want 400 or 403", name, r.Status)
		}
	}
	if n := countRecords("acme"); n != 2 {
		t.Errorf("acme has %d records after the CSRF attempts, want 2", n)
	}

	// gus of globex sees globex's records only, and not acme's.
	gus := e2etest.NewBrowser(t)
	p = signIn(t, gus, e.appURL, "globex", "gus", gusPassword)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Records of globex") || !strings.Contains(p.Body, "Globex plans") {
		t.Fatalf("gus's records: %d\n%s", p.Status, p.Body)
	}
	if strings.Contains(p.Body, "note") || strings.Contains(p.Body, "Second") {
		t.Errorf("gus sees acme's records:\n%s", p.Body)
	}
	if r := gus.Submit(p.FormAt(t, "/orgs/globex/records"), map[string]string{"title": "Globex minutes"}); r.Status != http.StatusSeeOther {
		t.Errorf("gus adds a record: %d %s", r.Status, r.Body)
	}
	if n := countRecords("globex"); n != 2 {
		t.Errorf("globex has %d records, want 2", n)
	}
	if r := gus.Get(e.appURL + "/orgs/acme/records"); r.Status != http.StatusForbidden || strings.Contains(r.Body, "note") {
		t.Errorf("gus GET /orgs/acme/records: %d", r.Status)
	}

	// Logout ends the app's session and Latch's: the next visit signs in
	// again, from the organization step.
	p = ann.Get(e.appURL + "/orgs/acme/records")
	p = ann.Submit(p.FormAt(t, "/logout"), nil)
	out := p.Location(t)
	if got := out.Scheme + "://" + out.Host + out.Path; got != e.latchURL+"/oauth2/logout" || out.Query().Get("id_token_hint") == "" ||
		out.Query().Get("post_logout_redirect_uri") != e.appURL+"/" {
		t.Fatalf("logout redirected to %s", out)
	}
	p = ann.Get(out.String())
	// (Latch writes an empty query, "/?", which is the same page.)
	if loc := p.Location(t); loc.Scheme+"://"+loc.Host+loc.Path != e.appURL+"/" || loc.RawQuery != "" {
		t.Fatalf("Latch's logout redirected to %s, want the app's home", loc)
	}
	if p = ann.Get(e.appURL + "/"); p.Status != http.StatusOK || !strings.Contains(p.Body, `href="/login"`) {
		t.Errorf("home after logout: %d\n%s", p.Status, p.Body)
	}
	if loc := ann.Get(e.appURL + "/orgs/acme/records").Location(t); loc.String() != e.appURL+"/login" {
		t.Errorf("after logout, the records redirect to %s, want /login", loc)
	}
	p = ann.Get(ann.Get(e.appURL + "/login").Location(t).String())
	if !p.HasForm("org") {
		t.Errorf("after logout, Latch did not ask for the organization again: %d\n%s", p.Status, p.Body)
	}
}

// TestSignInToAnUnknownOrganization: Latch answers an organization that
// does not exist exactly like a wrong password.
func TestSignInToAnUnknownOrganization(t *testing.T) {
	e := startRecords(t, nil)
	b := e2etest.NewBrowser(t)
	p := b.Get(b.Get(e.appURL + "/login").Location(t).String())
	p = b.Submit(p.Form(t, "org"), map[string]string{"organization": "initech"})
	p = b.Submit(p.Form(t, "password"), map[string]string{"username": "ann", "password": annPassword})
	if p.Status != http.StatusOK || !strings.Contains(html.UnescapeString(p.Body), badLogin) {
		t.Errorf("unknown org: %d\n%s", p.Status, p.Body)
	}
}

func checkHeaders(t *testing.T, p e2etest.Page) {
	t.Helper()
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self' "} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if p.Header.Get("Cache-Control") != "no-store" || p.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", p.Header)
	}
}

func mergeFields(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// signIn goes from /login through Latch's two steps and the callback to
// the records page of the user's org.
func signIn(t *testing.T, b *e2etest.Browser, appURL, org, username, password string) e2etest.Page {
	t.Helper()
	p := b.Get(b.Get(appURL + "/login").Location(t).String())
	p = b.Submit(p.Form(t, "org"), map[string]string{"organization": org})
	p = b.Submit(p.Form(t, "password"), map[string]string{"username": username, "password": password})
	p = b.Get(p.Location(t).String()) // the callback
	return b.Get(p.Location(t).String())
}
