package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/middleware"
)

func TestParsePathStrict(t *testing.T) {
	ok := map[string][3]string{
		"/api/employee/5":                {"employee", "5", ""},
		"/api/employee/0":                {"employee", "0", ""},
		"/api/employee/c":                {"employee", "c", ""},
		"/api/employee/5/paystubs":       {"paystubs", "5", ""},
		"/api/employee/50/paystubs/10":   {"paystub", "50", "10"},
		"/api/employee/c/paystubs/0":     {"paystub", "c", "0"},
		"/api/employee/123456789012345":  {"employee", "123456789012345", ""},
		"/api/employee/abcdefghijklmnop": {"employee", "abcdefghijklmnop", ""},
	}
	for raw, want := range ok {
		r, id, stub, found := parsePath(raw)
		if !found || r.String() != want[0] || id != want[1] || stub != want[2] {
			t.Errorf("parsePath(%q) = %v %q %q %v, want %v", raw, r, id, stub, found, want)
		}
	}
	for _, raw := range []string{
		"", "/", "/api/employee", "/api/employee/", "/api/employee/07", "/api/employee/%37", "/api/employee/7/",
		"/api/employee//7", "//api/employee/7", "/API/employee/7", "/api/Employee/7", "/api/employee/C",
		"/api/employee/7;x=1", "/api/employee/7%00", "/api/employee/7%20", "/api/employee/ 7", "/api/employee/+7",
		"/api/employee/-7", "/api/employee/7e0", "/api/employee/0x7", "/api/employee/7.0", "/api/employee/７",
		"/api/employee/%EF%BC%97", "/api/employee/5/../7", "/api/employee/5%2F..%2F7", "/api/employee/..",
		"/api/employee/.", "/api/employee/5/paystubs/01", "/api/employee/5/paystubs/1.0", "/api/employee/5/paystubs/a",
		"/api/employee/5/paystubs/1/", "/api/employee/5/paystubs/1/x", "/api/employee/5/PAYSTUBS",
		"/api/employee/5/paystubs/%31", "/api/employee/1234567890123456789", "/api/employee/c-1", "/api/employee/é",
	} {
		if r, id, stub, found := parsePath(raw); found {
			t.Errorf("parsePath(%q) = %v %q %q, want no match", raw, r, id, stub)
		}
	}
}

// The handler reads the id from the raw path the authorizer saw, never from
// the decoded one: "%37" is not employee 7 even if something let it through.
func TestHandlerUsesRawPath(t *testing.T) {
	h := NewHandler(Config{Mode: Gateway})
	for target, want := range map[string]int{
		"/api/employee/5":            200,
		"/api/employee/%37":          404,
		"/api/employee/5%2F..%2F7":   404,
		"/api/employee/07":           404,
		"/api/employee/8":            404,
		"/api/employee/5/paystubs/3": 404,
	} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("X-Latch-Sub", "c")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want || strings.Contains(rec.Body.String(), "Dave") {
			t.Errorf("GET %s: %d %s, want %d", target, rec.Code, rec.Body, want)
		}
	}
	// Without the gateway's header: 401; other methods: 405.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/employee/5", nil))
	if rec.Code != 401 {
		t.Errorf("no X-Latch-Sub: %d", rec.Code)
	}
	req := httptest.NewRequest("POST", "/api/employee/5", nil)
	req.Header.Set("X-Latch-Sub", "c")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
}

// In middleware mode the decider sees the same raw path the handler parses.
func TestMiddlewareModePassesRawPath(t *testing.T) {
	var seen string
	d := middleware.DeciderFunc(func(_ context.Context, bearer, method, path string) (middleware.Decision, error) {
		seen = path
		return middleware.Decision{Allow: bearer == "good", Sub: "c", Unauthorized: bearer != "good"}, nil
	})
	h := NewHandler(Config{Mode: Middleware, Decider: d})
	req := httptest.NewRequest("GET", "/api/employee/%37/paystubs", nil)
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if seen != "/api/employee/%37/paystubs" || rec.Code != 404 {
		t.Errorf("decider saw %q, answer %d", seen, rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/employee/5", nil))
	if rec.Code != 401 || !e2etest.IsMessage(rec.Body.String(), "Unauthorized") {
		t.Errorf("no token: %d %s", rec.Code, rec.Body)
	}
}

func TestRunRefusesPublicAddressInGatewayMode(t *testing.T) {
	for _, args := range [][]string{
		{"--mode", "gateway", "--addr", "0.0.0.0:0"},
		{"--mode", "gateway", "--addr", ":0"},
		{"--mode", "middleware", "--addr", "127.0.0.1:0"}, // no secret
		{"--mode", "other"},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
