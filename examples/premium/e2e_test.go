package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latch.dev/latch/internal/e2etest"
)

// The end-to-end harness (internal/e2etest) builds and runs the real
// binaries on random loopback ports and talks to them with raw HTTP/1.1
// requests.
func TestMain(m *testing.M) { e2etest.Main(m) }

// TestPremiumEndToEnd runs the machine-to-machine scenario against the real
// binaries: latch serve (examples/latch.yaml plus latch-service.yaml) and
// this service with the Go middleware asking Latch's decision API.
func TestPremiumEndToEnd(t *testing.T) {
	env := e2etest.ExampleEnv("PREMIUM_SERVICE_SECRET")
	latchURL := e2etest.StartExampleLatch(t, env).URL
	_, appURL := e2etest.Start(t, e2etest.Command{Name: "premium", Path: e2etest.BuildBinary(t, "."), Env: env.Environ(), Ready: "premium listening on ",
		Args: []string{"--addr", "127.0.0.1:0", "--latch", latchURL, "--client-id", "premium-service"}})

	readerSecret, writerSecret := env["PREMIUM_READER_SECRET"], env["PREMIUM_WRITER_SECRET"]
	reader := e2etest.ClientToken(t, latchURL, "premium-reader", readerSecret, "premium/read")
	writer := e2etest.ClientToken(t, latchURL, "premium-writer", writerSecret, "") // every scope it may have: read and write
	writeOnly := e2etest.ClientToken(t, latchURL, "premium-writer", writerSecret, "premium/write")

	const article = `{"title":"New premium report","body":"Only for subscribers."}`
	jsonBody := func(tok string) map[string]string {
		h := e2etest.Bearer(tok)
		h["Content-Type"] = "application/json"
		return h
	}
	count := func() int {
		t.Helper()
		r := e2etest.RawRequest(t, appURL, "GET", "/premium/articles", e2etest.Bearer(reader), "")
		var out struct{ Articles []Article }
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &out) != nil {
			t.Fatalf("list: %d %s", r.Status, r.Body)
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
		r := e2etest.RawRequest(t, appURL, c.method, c.target, h, "")
		if r.Status != 401 || !e2etest.IsMessage(r.Body, "Unauthorized") || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s (%.20q): %d %v %s, want 401 {\"message\":\"Unauthorized\"}", c.method, c.target, c.auth, r.Status, r.Header, r.Body)
		}
	}

	// premium/read may GET ...
	for _, target := range []string{"/premium/articles", "/premium/articles/1", "/premium/articles/2?x=1"} {
		if r := e2etest.RawRequest(t, appURL, "GET", target, e2etest.Bearer(reader), ""); r.Status != 200 || !strings.Contains(r.Body, `"title":`) {
			t.Errorf("reader GET %s: %d %s", target, r.Status, r.Body)
		}
	}
	// ... and not POST.
	before := count()
	if r := e2etest.RawRequest(t, appURL, "POST", "/premium/articles", jsonBody(reader), article); r.Status != 403 || !e2etest.IsMessage(r.Body, "Forbidden") {
		t.Errorf("reader POST: %d %s, want 403 {\"message\":\"Forbidden\"}", r.Status, r.Body)
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
	r := e2etest.RawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writer), article)
	if r.Status != 201 || !strings.Contains(r.Body, `"author":"premium-writer"`) {
		t.Fatalf("writer POST: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	if r := e2etest.RawRequest(t, appURL, "GET", loc, e2etest.Bearer(reader), ""); r.Status != 200 || !strings.Contains(r.Body, "New premium report") {
		t.Errorf("reader GET %s after the POST: %d %s", loc, r.Status, r.Body)
	}
	if r := e2etest.RawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writeOnly), article); r.Status != 201 {
		t.Errorf("write-only token POST: %d %s", r.Status, r.Body)
	}
	// A token with only premium/write may not GET.
	if r := e2etest.RawRequest(t, appURL, "GET", "/premium/articles", e2etest.Bearer(writeOnly), ""); r.Status != 403 || !e2etest.IsMessage(r.Body, "Forbidden") {
		t.Errorf("write-only token GET: %d %s, want 403", r.Status, r.Body)
	}
	// Other methods are in no scope.
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if r := e2etest.RawRequest(t, appURL, m, "/premium/articles/1", jsonBody(writer), article); r.Status != 403 {
			t.Errorf("writer %s: %d %s, want 403", m, r.Status, r.Body)
		}
	}
	// Paths outside /premium/ and non-canonical ones get nothing.
	for _, target := range []string{"/premium", "/premium/articles/%31", "/premium/articles/01", "/premium/articles/1/",
		"/premium/articles/..%2F..%2Fadmin", "/premium/../admin", "/PREMIUM/articles", "/admin/v1/orgs"} {
		r := e2etest.RawRequest(t, appURL, "GET", target, e2etest.Bearer(reader), "")
		if r.Status != 403 && r.Status != 404 {
			t.Errorf("reader GET %s: %d %s, want 403 or 404", target, r.Status, r.Body)
		}
	}

	// Revoking the writer's opaque token stops it at once.
	if status, body := e2etest.PostForm(t, latchURL+"/oauth2/revoke", url.Values{"token": {writer}}, "premium-writer", writerSecret); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if r := e2etest.RawRequest(t, appURL, "POST", "/premium/articles", jsonBody(writer), article); r.Status != 401 || !e2etest.IsMessage(r.Body, "Unauthorized") {
		t.Errorf("revoked token POST: %d %s, want 401", r.Status, r.Body)
	}

	// A user of another org (payroll) is not a client of this API.
	user := e2etest.Token(t, latchURL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {env["PAYROLL_PASSWORD_5"]}},
		"payroll-app", env["PAYROLL_APP_SECRET"])
	if r := e2etest.RawRequest(t, appURL, "GET", "/premium/articles", e2etest.Bearer(user), ""); r.Status != 401 && r.Status != 403 {
		t.Errorf("payroll user GET: %d %s, want 401 or 403", r.Status, r.Body)
	}
}

func tokenStatus(t *testing.T, latchURL, id, secret, scope string) int {
	t.Helper()
	status, _ := e2etest.PostForm(t, latchURL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, id, secret)
	return status
}

func basic(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
