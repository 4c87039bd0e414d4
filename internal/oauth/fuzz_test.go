package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseForm: any body and content type give a form or a client error,
// never a panic or a 5xx, and an accepted form never has a repeated key.
func FuzzParseForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a%2Fb")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "a=1&a=2")
	f.Add("application/json", `{"a":1}`)
	f.Add("application/x-www-form-urlencoded", "%zz=1;x")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		form, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			if oe := toOAuthError(err); oe.Status >= 500 {
				t.Fatalf("status %d for bad input", oe.Status)
			}
			return
		}
		for k, v := range form {
			if v == "" {
				t.Fatalf("empty value kept for %q", k)
			}
		}
	})
}

// FuzzClientCredentials: any Authorization header gives credentials or a
// client error, never a panic.
func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic bWFjaGluZTpzZWNyZXQ=", "")
	f.Add("Basic !!!", "client_id=x")
	f.Add("basic Zm9vJTJ6OmJhcg==", "client_secret=y")
	f.Add("Bearer x", "")
	f.Fuzz(func(t *testing.T, authz, bodyID string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		r.Header.Set("Authorization", authz)
		_, _, _, _, err := clientCredentials(r, form{"client_id": bodyID})
		if err != nil && toOAuthError(err).Status >= 500 {
			t.Fatalf("status %d", toOAuthError(err).Status)
		}
	})
}

// FuzzBearerToken: an accepted token is never empty and never holds a
// space or a control character.
func FuzzBearerToken(f *testing.F) {
	f.Add("Bearer abc.def.ghi")
	f.Add("Bearer  x")
	f.Add("bearer\tx")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		tok, ok := BearerToken(r)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t\r\n\x00")) {
			t.Fatalf("accepted %q", tok)
		}
	})
}
