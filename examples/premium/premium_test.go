package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"latch.dev/latch/middleware"
)

// scopeDecider stands in for Latch: "read" may GET, "write" may POST.
var scopeDecider = middleware.DeciderFunc(func(_ context.Context, bearer, method, path string) (middleware.Decision, error) {
	allow := (bearer == "read" && method == "GET") || (bearer == "write" && method == "POST")
	return middleware.Decision{Allow: allow, Sub: bearer, ClientID: "client-" + bearer, Unauthorized: bearer != "read" && bearer != "write"}, nil
})

func TestHandler(t *testing.T) {
	h := NewHandler(scopeDecider, nil, nil)
	do := func(method, target, tok, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	cases := []struct {
		method, target, tok, body string
		want                      int
	}{
		{"GET", "/premium/articles", "", "", 401},
		{"GET", "/premium/articles", "bogus", "", 401},
		{"GET", "/premium/articles", "read", "", 200},
		{"GET", "/premium/articles/2", "read", "", 200},
		{"GET", "/premium/articles/02", "read", "", 404},
		{"GET", "/premium/articles/%32", "read", "", 404},
		{"GET", "/premium/articles/2/", "read", "", 404},
		{"GET", "/premium/articles/9", "read", "", 404},
		{"POST", "/premium/articles", "read", `{"title":"x"}`, 403},
		{"POST", "/premium/articles", "write", `{"title":"x","body":"y"}`, 201},
		{"POST", "/premium/articles", "write", `{"title":""}`, 400},
		{"POST", "/premium/articles", "write", `not json`, 400},
		{"POST", "/premium/articles/1", "write", `{"title":"x"}`, 405},
	}
	for _, c := range cases {
		if rec := do(c.method, c.target, c.tok, c.body); rec.Code != c.want {
			t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.target, c.tok, rec.Code, rec.Body, c.want)
		}
	}
	rec := do("GET", "/premium/articles/3", "read", "")
	var a Article
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Author != "client-write" || a.Title != "x" {
		t.Errorf("published article: %d %s", rec.Code, rec.Body)
	}
}
