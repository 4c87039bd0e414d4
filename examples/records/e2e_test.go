package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
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

	ann := newBrowser(t)
	// Signed out, the records send the browser to /login, and /login to
	// Latch with PKCE S256, state and nonce.
	p := ann.get(e.appURL + "/orgs/acme/records")
	if loc := p.location(t); loc.String() != e.appURL+"/login" {
		t.Fatalf("signed out: redirected to %s, want /login", loc)
	}
	p = ann.get(e.appURL + "/login")
	authz := p.location(t)
	q := authz.Query()
	if got := authz.Scheme + "://" + authz.Host + authz.Path; got != e.latchURL+"/oauth2/authorize" {
		t.Fatalf("/login redirected to %s", got)
	}
	if q.Get("client_id") != "records-app" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != e.appURL+"/callback" || q.Get("scope") != "openid records/read records/write" {
		t.Errorf("authorization request %v", q)
	}

	// Latch asks for the organization first, then the credentials.
	p = ann.get(authz.String())
	p = ann.submit(p.form(t, "org"), map[string]string{"organization": "acme"})
	pw := p.form(t, "password")
	// A wrong password and an unknown organization get Latch's one
	// generic answer.
	bad := ann.submit(pw, map[string]string{"username": "ann", "password": "not ann's password"})
	if bad.status != http.StatusOK || !strings.Contains(html.UnescapeString(bad.body), badLogin) {
		t.Errorf("wrong password: %d, want Latch's generic error %q\n%s", bad.status, badLogin, bad.body)
	}
	p = ann.submit(bad.form(t, "password"), map[string]string{"username": "ann", "password": annPassword})
	cb := p.location(t)
	if !strings.HasPrefix(cb.String(), e.appURL+"/callback?") {
		t.Fatalf("Latch redirected to %s, want the app's callback", cb)
	}
	p = ann.get(cb.String())
	if loc := p.location(t); loc.Path != "/orgs/acme/records" {
		t.Fatalf("after the callback: redirected to %s, want /orgs/acme/records", loc)
	}
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "records_session=") && (!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax")) {
			t.Errorf("session cookie %q, want HttpOnly and SameSite=Lax", c)
		}
	}
	// The callback is single-use: the same code and state again fail.
	if again := ann.get(cb.String()); again.status != http.StatusBadRequest {
		t.Errorf("callback replayed: %d, want 400", again.status)
	}

	p = ann.get(e.appURL + "/orgs/acme/records")
	if p.status != http.StatusOK || !strings.Contains(p.body, "Records of acme") || !strings.Contains(p.body, "ann") {
		t.Fatalf("acme's records: %d\n%s", p.status, p.body)
	}
	checkHeaders(t, p)

	// Add a record; the list shows it, escaped.
	add := p.formAt(t, "/orgs/acme/records")
	p = ann.submit(add, map[string]string{"title": "First <b>note</b>", "text": "hello from acme"})
	if loc := p.location(t); loc.Path != "/orgs/acme/records" {
		t.Fatalf("after adding: redirected to %s", loc)
	}
	p = ann.get(e.appURL + "/orgs/acme/records")
	if !strings.Contains(p.body, "First &lt;b&gt;note&lt;/b&gt;") || !strings.Contains(p.body, "1 record<") {
		t.Fatalf("the new record is not listed:\n%s", p.body)
	}
	acme, err := e.store.List(ctx, "acme", 10)
	if err != nil || len(acme) != 1 || acme[0].Author != "ann" || acme[0].Text != "hello from acme" {
		t.Fatalf("acme's partition: %+v, %v", acme, err)
	}
	if r := ann.get(e.appURL + "/orgs/acme/records/" + acme[0].ID); r.status != http.StatusOK || !strings.Contains(r.body, "hello from acme") {
		t.Errorf("acme's record page: %d\n%s", r.status, r.body)
	}

	// globex's partition, before ann tries it.
	if _, err := e.store.Add(ctx, "globex", Record{Title: "Globex plans", Text: "secret plans", Author: "gus"}); err != nil {
		t.Fatal(err)
	}
	globex, _ := e.store.List(ctx, "globex", 10)
	gid := globex[0].ID

	// ann is refused globex's records, however she asks.
	forbidden := func(what string, r webPage) {
		t.Helper()
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "Not allowed") {
			t.Errorf("%s: %d, want 403 Not allowed\n%s", what, r.status, r.body)
		}
		if strings.Contains(r.body, "Globex plans") || strings.Contains(r.body, "secret plans") {
			t.Errorf("%s leaked globex's record", what)
		}
	}
	forbidden("GET /orgs/globex/records", ann.get(e.appURL+"/orgs/globex/records"))
	forbidden("GET globex's record", ann.get(e.appURL+"/orgs/globex/records/"+gid))
	// acme's own form, with its CSRF token, aimed at globex.
	atGlobex := htmlForm{action: e.appURL + "/orgs/globex/records", values: add.values}
	forbidden("POST /orgs/globex/records", ann.submit(atGlobex, map[string]string{"title": "planted", "text": "by ann"}))
	// An org field does not choose the partition: the URL's org does.
	if r := ann.submit(add, map[string]string{"title": "Second", "org": "globex"}); r.status != http.StatusSeeOther {
		t.Errorf("POST with org=globex: %d", r.status)
	}
	// Spellings of another org or record are never globex's records.
	for _, target := range []string{
		"/orgs/%67lobex/records", "/orgs/globex/records/", "/orgs/acme/../globex/records", "/orgs/acme/records/../../globex/records",
		"/orgs/globex%2Frecords", "/orgs/acme/records/" + gid, "/orgs/acme/records/" + strings.ToUpper(gid), "/orgs/GLOBEX/records",
	} {
		r := ann.get(e.appURL + target)
		for r.status == http.StatusMovedPermanently || r.status == http.StatusTemporaryRedirect { // ServeMux cleaning the path
			r = ann.get(r.location(t).String())
		}
		if r.status != http.StatusForbidden && r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 403 or 404", target, r.status)
		}
		if strings.Contains(r.body, "Globex plans") {
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
		"wrong token": {"csrf": "x" + add.values.Get("csrf")},
	} {
		r := ann.submit(add, mergeFields(fields, map[string]string{"title": "csrf " + name}))
		if r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
			t.Errorf("POST with %s: %d, want 400 or 403", name, r.status)
		}
	}
	if n := countRecords("acme"); n != 2 {
		t.Errorf("acme has %d records after the CSRF attempts, want 2", n)
	}

	// gus of globex sees globex's records only, and not acme's.
	gus := newBrowser(t)
	p = gus.signIn(t, e.appURL, "globex", "gus", gusPassword)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Records of globex") || !strings.Contains(p.body, "Globex plans") {
		t.Fatalf("gus's records: %d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, "note") || strings.Contains(p.body, "Second") {
		t.Errorf("gus sees acme's records:\n%s", p.body)
	}
	if r := gus.submit(p.formAt(t, "/orgs/globex/records"), map[string]string{"title": "Globex minutes"}); r.status != http.StatusSeeOther {
		t.Errorf("gus adds a record: %d %s", r.status, r.body)
	}
	if n := countRecords("globex"); n != 2 {
		t.Errorf("globex has %d records, want 2", n)
	}
	if r := gus.get(e.appURL + "/orgs/acme/records"); r.status != http.StatusForbidden || strings.Contains(r.body, "note") {
		t.Errorf("gus GET /orgs/acme/records: %d", r.status)
	}

	// Logout ends the app's session and Latch's: the next visit signs in
	// again, from the organization step.
	p = ann.get(e.appURL + "/orgs/acme/records")
	p = ann.submit(p.formAt(t, "/logout"), nil)
	out := p.location(t)
	if got := out.Scheme + "://" + out.Host + out.Path; got != e.latchURL+"/oauth2/logout" || out.Query().Get("id_token_hint") == "" ||
		out.Query().Get("post_logout_redirect_uri") != e.appURL+"/" {
		t.Fatalf("logout redirected to %s", out)
	}
	p = ann.get(out.String())
	// (Latch writes an empty query, "/?", which is the same page.)
	if loc := p.location(t); loc.Scheme+"://"+loc.Host+loc.Path != e.appURL+"/" || loc.RawQuery != "" {
		t.Fatalf("Latch's logout redirected to %s, want the app's home", loc)
	}
	if p = ann.get(e.appURL + "/"); p.status != http.StatusOK || !strings.Contains(p.body, `href="/login"`) {
		t.Errorf("home after logout: %d\n%s", p.status, p.body)
	}
	if loc := ann.get(e.appURL + "/orgs/acme/records").location(t); loc.String() != e.appURL+"/login" {
		t.Errorf("after logout, the records redirect to %s, want /login", loc)
	}
	p = ann.get(ann.get(e.appURL + "/login").location(t).String())
	if _, ok := p.forms()["org"]; !ok {
		t.Errorf("after logout, Latch did not ask for the organization again: %d\n%s", p.status, p.body)
	}
}

// TestSignInToAnUnknownOrganization: Latch answers an organization that
// does not exist exactly like a wrong password.
func TestSignInToAnUnknownOrganization(t *testing.T) {
	e := startRecords(t, nil)
	b := newBrowser(t)
	p := b.get(b.get(e.appURL + "/login").location(t).String())
	p = b.submit(p.form(t, "org"), map[string]string{"organization": "initech"})
	p = b.submit(p.form(t, "password"), map[string]string{"username": "ann", "password": annPassword})
	if p.status != http.StatusOK || !strings.Contains(html.UnescapeString(p.body), badLogin) {
		t.Errorf("unknown org: %d\n%s", p.status, p.body)
	}
}

func checkHeaders(t *testing.T, p webPage) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self' "} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if p.header.Get("Cache-Control") != "no-store" || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", p.header)
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

// browser is a user agent: a cookie jar, redirects not followed (the test
// follows them, checking each).
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// webPage is a response as a browser sees it.
type webPage struct {
	url    *url.URL
	status int
	header http.Header
	body   string
}

func (p webPage) location(t *testing.T) *url.URL {
	t.Helper()
	switch p.status {
	case http.StatusSeeOther, http.StatusFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
	default:
		t.Fatalf("%s: status %d, want a redirect\n%s", p.url, p.status, p.body)
	}
	u, err := p.url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (b *browser) do(req *http.Request) webPage {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return webPage{url: req.URL, status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(u string) webPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// submit posts form with fields set.
func (b *browser) submit(f htmlForm, fields map[string]string) webPage {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.values {
		v[k] = append([]string(nil), vs...)
	}
	for k, x := range fields {
		v.Set(k, x)
	}
	req, err := http.NewRequest(http.MethodPost, f.action, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn goes from /login through Latch's two steps and the callback to
// the records page of the user's org.
func (b *browser) signIn(t *testing.T, appURL, org, username, password string) webPage {
	t.Helper()
	p := b.get(b.get(appURL + "/login").location(t).String())
	p = b.submit(p.form(t, "org"), map[string]string{"organization": org})
	p = b.submit(p.form(t, "password"), map[string]string{"username": username, "password": password})
	p = b.get(p.location(t).String()) // the callback
	return b.get(p.location(t).String())
}

var (
	formRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?s)<input ([^>]*)>`)
	attrRE  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// htmlForm is a form of a page: its action and its inputs' values.
type htmlForm struct {
	action string
	values url.Values
}

// forms returns the page's forms keyed by their step field (Latch's pages)
// or else their action's path (the app's).
func (p webPage) forms() map[string]htmlForm {
	out := map[string]htmlForm{}
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		action, err := p.url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			continue
		}
		f := htmlForm{action: action.String(), values: url.Values{}}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllStringSubmatch(in[1], -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			if attrs["name"] != "" {
				f.values.Set(attrs["name"], attrs["value"])
			}
		}
		key := f.values.Get("step")
		if key == "" {
			key = action.Path
		}
		out[key] = f
	}
	return out
}

// form returns the form keyed key, failing the test when there is none.
func (p webPage) form(t *testing.T, key string) htmlForm {
	t.Helper()
	f, ok := p.forms()[key]
	if !ok {
		t.Fatalf("no %q form on %s (status %d):\n%s", key, p.url, p.status, p.body)
	}
	return f
}

// formAt is the app's form that posts to path.
func (p webPage) formAt(t *testing.T, path string) htmlForm {
	t.Helper()
	return p.form(t, path)
}
