package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestPremiumEndToEnd runs the machine-to-machine scenario against the real
// binaries: latch serve (examples/latch.yaml plus latch-service.yaml) and
// this service with the Go middleware asking Latch's decision API.
func TestPremiumEndToEnd(t *testing.T) {
	env := newLatchEnv()
	extra, _ := filepath.Abs("latch-service.yaml")
	latchURL := startLatch(t, env, extra)
	_, appURL := start(t, "premium", binary(t, "premium", "."), env.environ(), "premium listening on ",
		"--addr", "127.0.0.1:0", "--latch", latchURL, "--client-id", "premium-service")

	readerSecret, writerSecret := env.vars["PREMIUM_READER_SECRET"], env.vars["PREMIUM_WRITER_SECRET"]
	reader := clientToken(t, latchURL, "premium-reader", readerSecret, "premium/read")
	writer := clientToken(t, latchURL, "premium-writer", writerSecret, "") // every scope it may have: read and write
	writeOnly := clientToken(t, latchURL, "premium-writer", writerSecret, "premium/write")

	const article = `{"title":"New premium report","body":"Only for subscribers."}`
	jsonBody := func(tok string) map[string]string {
		h := bearer(tok)
		h["Content-Type"] = "application/json"
		return h
	}
	count := func() int {
		t.Helper()
		r := rawRequest(t, appURL, "GET", "/premium/articles", bearer(reader), "")
		var out struct{ Articles []Article }
		if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		return len(out.Articles)
	}

	// No token, or not a token: 401 {"message":"Unauthorized"}.
	for _, c := range []struct{ method, target, auth string }{
		{"GET", "/premium/articles", ""},
		{"GET", "/premium/articles/1", ""},
		{"POST", "/premium/articles", ""},
		{"GET", "/premium/articles", "Bearer not-a-token"},
		{"GET", "/premium/articles", "Bearer " + reader[:len(reader)-4] + "AAAA"}, // bad signature
		{"GET", "/premium/articles", "Basic " + basic("premium-reader", readerSecret)},
		{"GET", "/premium/articles?access_token=" + reader, ""},
	} {
		h := jsonBody("")
		if c.auth != "" {
			h["Authorization"] = c.auth
		}
		r := rawRequest(t, appURL, c.method, c.target, h, "")
		if r.status != 401 || !isMessage(r.body, "Unauthorized") || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s (%.20q): %d %v %s, want 401 {\"message\":\"Unauthorized\"}", c.method, c.target, c.auth, r.status, r.header, r.body)
		}
	}

	// premium/read may GET ...
	for _, target := range []string{"/premium/articles", "/premium/articles/1", "/premium/articles/2?x=1"} {
		if r := rawRequest(t, appURL, "GET", target, bearer(reader), ""); r.status != 200 || !strings.Contains(r.body, `"title":`) {
			t.Errorf("reader GET %s: %d %s", target, r.status, r.body)
		}
	}
	// ... and not POST.
	before := count()
	if r := rawRequest(t, appURL, "POST", "/premium/articles", jsonBody(reader), article); r.status != 403 || !isMessage(r.body, "Forbidden") {
		t.Errorf("reader POST: %d %s, want 403 {\"message\":\"Forbidden\"}", r.status, r.body)
	}
	if n := count(); n != before {
		t.Errorf("a refused POST published something: %d articles, was %d", n, before)
	}
	// A reader cannot get the write scope.
	if st := tokenStatus(t, latchURL, "premium-reader", readerSecret, "premium/write"); st != 400 {
		t.Errorf("premium-reader asking for premium/write: %d, want 400 invalid_scope", st)
	}

	// premium/write may POST (the writer's tokens are opaque: the decision
	// API looks each one up).
	r := rawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writer), article)
	if r.status != 201 || !strings.Contains(r.body, `"author":"premium-writer"`) {
		t.Fatalf("writer POST: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	if r := rawRequest(t, appURL, "GET", loc, bearer(reader), ""); r.status != 200 || !strings.Contains(r.body, "New premium report") {
		t.Errorf("reader GET %s after the POST: %d %s", loc, r.status, r.body)
	}
	if r := rawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writeOnly), article); r.status != 201 {
		t.Errorf("write-only token POST: %d %s", r.status, r.body)
	}
	// A token with only premium/write may not GET.
	if r := rawRequest(t, appURL, "GET", "/premium/articles", bearer(writeOnly), ""); r.status != 403 || !isMessage(r.body, "Forbidden") {
		t.Errorf("write-only token GET: %d %s, want 403", r.status, r.body)
	}
	// Other methods are in no scope.
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if r := rawRequest(t, appURL, m, "/premium/articles/1", jsonBody(writer), article); r.status != 403 {
			t.Errorf("writer %s: %d %s, want 403", m, r.status, r.body)
		}
	}
	// Paths outside /premium/ and non-canonical ones get nothing.
	for _, target := range []string{"/premium", "/premium/articles/%31", "/premium/articles/01", "/premium/articles/1/",
		"/premium/articles/..%2F..%2Fadmin", "/premium/../admin", "/PREMIUM/articles", "/admin/v1/orgs"} {
		r := rawRequest(t, appURL, "GET", target, bearer(reader), "")
		if r.status != 403 && r.status != 404 {
			t.Errorf("reader GET %s: %d %s, want 403 or 404", target, r.status, r.body)
		}
	}

	// Revoking the writer's opaque token stops it at once.
	revoke := url.Values{"token": {writer}}
	req, _ := http.NewRequest("POST", latchURL+"/oauth2/revoke", strings.NewReader(revoke.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("premium-writer", writerSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if r := rawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writer), article); r.status != 401 || !isMessage(r.body, "Unauthorized") {
		t.Errorf("revoked token POST: %d %s, want 401", r.status, r.body)
	}

	// A user of another org (payroll) is not a client of this API.
	user := tokenRequest(t, latchURL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {env.vars["PAYROLL_PASSWORD_5"]}},
		"payroll-app", env.vars["PAYROLL_APP_SECRET"])
	if r := rawRequest(t, appURL, "GET", "/premium/articles", bearer(user), ""); r.status != 401 && r.status != 403 {
		t.Errorf("payroll user GET: %d %s, want 401 or 403", r.status, r.body)
	}
}

func tokenStatus(t *testing.T, latchURL, id, secret, scope string) int {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest("POST", latchURL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func basic(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
