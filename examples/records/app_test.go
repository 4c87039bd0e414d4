package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latch.dev/latch/middleware"
)

// decision is one call the app made to its Decider.
type decision struct{ token, method, path string }

// newTestApp is the app with a scripted Decider and a signed-in session
// (its cookie and CSRF token); sign-in itself is the end-to-end test's.
func newTestApp(t *testing.T, answer func(decision) (middleware.Decision, error)) (*App, *[]decision, *http.Cookie, string) {
	t.Helper()
	store, err := openBolt(filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var calls []decision
	d := middleware.DeciderFunc(func(_ context.Context, token, method, path string) (middleware.Decision, error) {
		c := decision{token, method, path}
		calls = append(calls, c)
		return answer(c)
	})
	a, err := newApp(Config{Issuer: "http://latch.test", PublicURL: "http://records.test", ClientID: "records-app", Decider: d, Store: store}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := a.sessions.create(session{Sub: "ann", Org: "acme", Username: "ann", AccessToken: "ann-token", Expires: time.Now().Add(time.Hour)})
	sess, _ := a.sessions.get(id)
	return a, &calls, &http.Cookie{Name: "records_session", Value: id}, sess.CSRF
}

func serve(a *App, method, target string, cookie *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func allowIf(org string) func(decision) (middleware.Decision, error) {
	return func(c decision) (middleware.Decision, error) {
		return middleware.Decision{Allow: strings.HasPrefix(c.path, "/orgs/"+org+"/"), Org: org}, nil
	}
}

func TestOrgPagesAskLatch(t *testing.T) {
	a, calls, cookie, csrf := newTestApp(t, allowIf("acme"))
	ctx := context.Background()

	w := serve(a, "POST", "/orgs/acme/records", cookie, url.Values{"csrf": {csrf}, "title": {"t1"}, "org": {"globex"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("allowed POST: %d %s", w.Code, w.Body)
	}
	if len(*calls) == 0 {
		t.Fatal("the app did not ask Latch")
	}
	if got, want := (*calls)[0], (decision{"ann-token", "POST", "/orgs/acme/records"}); got != want {
		t.Errorf("asked Latch %+v, want %+v", got, want)
	}
	if recs, _ := a.cfg.Store.List(ctx, "acme", 10); len(recs) != 1 || recs[0].Title != "t1" {
		t.Errorf("acme's partition %+v", recs)
	}

	// Refused: 403, and nothing read or written in globex's partition.
	if _, err := a.cfg.Store.Add(ctx, "globex", Record{Title: "Globex plans"}); err != nil {
		t.Fatal(err)
	}
	w = serve(a, "POST", "/orgs/globex/records", cookie, url.Values{"csrf": {csrf}, "title": {"planted"}})
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Not allowed") {
		t.Errorf("refused POST: %d %s", w.Code, w.Body)
	}
	w = serve(a, "GET", "/orgs/globex/records", cookie, nil)
	if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "Globex plans") {
		t.Errorf("refused GET: %d %s", w.Code, w.Body)
	}
	if recs, _ := a.cfg.Store.List(ctx, "globex", 10); len(recs) != 1 {
		t.Errorf("globex's partition has %d records, want 1", len(recs))
	}
	if got, want := (*calls)[len(*calls)-1], (decision{"ann-token", "GET", "/orgs/globex/records"}); len(*calls) != 3 || got != want {
		t.Errorf("asked Latch %+v, want %+v", got, want)
	}
}

func TestOrgPagesWithoutLatchsYes(t *testing.T) {
	for _, c := range []struct {
		name     string
		answer   middleware.Decision
		err      error
		status   int
		location string
	}{
		{"token refused", middleware.Decision{Unauthorized: true}, nil, http.StatusSeeOther, "/login"},
		{"denied", middleware.Decision{}, nil, http.StatusForbidden, ""},
		{"Latch unreachable", middleware.Decision{Allow: true}, errors.New("connection refused"), http.StatusServiceUnavailable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _, cookie, csrf := newTestApp(t, func(decision) (middleware.Decision, error) { return c.answer, c.err })
			for _, method := range []string{"GET", "POST"} {
				var form url.Values
				if method == "POST" {
					form = url.Values{"csrf": {csrf}, "title": {"x"}}
				}
				w := serve(a, method, "/orgs/acme/records", cookie, form)
				if w.Code != c.status || w.Header().Get("Location") != c.location {
					t.Errorf("%s: %d to %q, want %d to %q", method, w.Code, w.Header().Get("Location"), c.status, c.location)
				}
			}
			if recs, _ := a.cfg.Store.List(context.Background(), "acme", 10); len(recs) != 0 {
				t.Errorf("written without Latch's yes: %+v", recs)
			}
		})
	}
	// A refused token ends the app's session.
	a, _, cookie, _ := newTestApp(t, func(decision) (middleware.Decision, error) { return middleware.Decision{Unauthorized: true}, nil })
	serve(a, "GET", "/orgs/acme/records", cookie, nil)
	if _, ok := a.sessions.get(cookie.Value); ok {
		t.Error("the session survived a refused token")
	}
}

// TestOrgPagesRefusedBeforeLatch: what the app refuses itself, Latch is
// not even asked about.
func TestOrgPagesRefusedBeforeLatch(t *testing.T) {
	a, calls, cookie, csrf := newTestApp(t, func(decision) (middleware.Decision, error) { return middleware.Decision{Allow: true}, nil })
	for _, c := range []struct {
		name, method, target string
		cookie               *http.Cookie
		form                 url.Values
		status               int
	}{
		{"no session", "GET", "/orgs/acme/records", nil, nil, http.StatusSeeOther},
		{"unknown session", "GET", "/orgs/acme/records", &http.Cookie{Name: "records_session", Value: "x"}, nil, http.StatusSeeOther},
		{"no CSRF token", "POST", "/orgs/acme/records", cookie, url.Values{"title": {"x"}}, http.StatusBadRequest},
		{"wrong CSRF token", "POST", "/orgs/acme/records", cookie, url.Values{"csrf": {csrf + "x"}, "title": {"x"}}, http.StatusBadRequest},
		{"encoded org", "GET", "/orgs/%61cme/records", cookie, nil, http.StatusNotFound},
		{"invalid org", "GET", "/orgs/-acme/records", cookie, nil, http.StatusNotFound},
		{"invalid record id", "GET", "/orgs/acme/records/1", cookie, nil, http.StatusNotFound},
		{"upper-case record id", "GET", "/orgs/acme/records/0000000000000001DEADBEEF", cookie, nil, http.StatusNotFound},
	} {
		w := serve(a, c.method, c.target, c.cookie, c.form)
		if w.Code != c.status {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.status)
		}
	}
	if len(*calls) != 0 {
		t.Errorf("Latch was asked %v", *calls)
	}
	if recs, _ := a.cfg.Store.List(context.Background(), "acme", 10); len(recs) != 0 {
		t.Errorf("written: %+v", recs)
	}
}

func TestAddRecordChecksTheForm(t *testing.T) {
	a, _, cookie, csrf := newTestApp(t, allowIf("acme"))
	for _, f := range []url.Values{
		{"title": {"  "}},
		{"title": {strings.Repeat("x", maxTitle+1)}},
		{"title": {"t"}, "text": {strings.Repeat("x", maxText+1)}},
		{"title": {"\xff"}},
	} {
		f.Set("csrf", csrf)
		if w := serve(a, "POST", "/orgs/acme/records", cookie, f); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `role="alert"`) {
			t.Errorf("%v: %d", f, w.Code)
		}
	}
	if recs, _ := a.cfg.Store.List(context.Background(), "acme", 10); len(recs) != 0 {
		t.Errorf("written: %+v", recs)
	}
}

func TestFlagsAndStoreURL(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"RECORDS_URL": "https://records.example", "RECORDS_STORE": "bolt:///tmp/x.db"}[k]
	}
	o, err := parseFlags([]string{"-addr", "127.0.0.1:9000"}, getenv, io.Discard)
	if err != nil || o.publicURL != "https://records.example" || o.addr != "127.0.0.1:9000" || o.store != "bolt:///tmp/x.db" || o.clientID != "records-app" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for in, want := range map[string]string{"bolt://records.db": "bolt records.db", "dynamodb://t?region=r": "dynamodb dynamodb://t?region=r"} {
		kind, rest, err := parseStoreURL(in)
		if err != nil || kind+" "+rest != want {
			t.Errorf("parseStoreURL(%q) = %s %s, %v", in, kind, rest, err)
		}
	}
	for _, in := range []string{"", "bolt://", "records.db", "redis://x"} {
		if _, _, err := parseStoreURL(in); err == nil {
			t.Errorf("parseStoreURL(%q) succeeded", in)
		}
	}
	err = run(context.Background(), nil, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "RECORDS_DECIDER_SECRET") {
		t.Errorf("run without a secret: %v", err)
	}
}

func TestPendingLoginsAreBoundedAndSingleUse(t *testing.T) {
	s := newSessions()
	p := pendingLogin{State: "s", Expires: time.Now().Add(time.Minute)}
	id := s.startLogin(p)
	if got, ok := s.takeLogin(id); !ok || got.State != "s" {
		t.Fatalf("takeLogin = %+v, %v", got, ok)
	}
	if _, ok := s.takeLogin(id); ok {
		t.Error("a pending login was taken twice")
	}
	for range maxPending {
		if s.startLogin(p) == "" {
			t.Fatal("refused before the bound")
		}
	}
	if s.startLogin(p) != "" {
		t.Error("more pending logins than maxPending")
	}
	s = newSessions()
	if _, ok := s.takeLogin(s.startLogin(pendingLogin{Expires: time.Now().Add(-time.Second)})); ok {
		t.Error("an expired pending login was accepted")
	}
}
