package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// MaxBodyBytes bounds every form body: larger bodies get 413 before parsing.
const MaxBodyBytes = 64 << 10

var errTooLarge = &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}

// form is a parsed application/x-www-form-urlencoded body in which every
// parameter appeared at most once. An empty value counts as absent.
type form map[string]string

func (f form) get(k string) string { return f[k] }

// parseForm reads a POST body strictly: POST only, the form content type only,
// at most MaxBodyBytes, valid percent-encoding, and no parameter twice
// (RFC 6749 §3.2). The query string is never read, so credentials placed
// there are ignored.
func parseForm(w http.ResponseWriter, r *http.Request) (form, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, invalidRequest("could not read the request body")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("the body is not valid form encoding")
	}
	f := make(form, len(values))
	for k, vs := range values {
		if len(vs) > 1 {
			return nil, invalidRequest("a parameter was sent more than once")
		}
		if vs[0] != "" {
			f[k] = vs[0]
		}
	}
	return f, nil
}
