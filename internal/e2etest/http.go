package e2etest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Response is what came back for one RawRequest.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// RawRequest sends one HTTP/1.1 request to base with target written exactly
// as given (no client library normalises it: "%37", "5/../7" and "//" reach
// the server as written) and reads the answer. The Host header is base's
// unless header sets another. A POST, or a request with a body, gets a
// Content-Length.
func RawRequest(t testing.TB, base, method, target string, header map[string]string, body string) Response {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	host := u.Host
	if h, ok := header["Host"]; ok {
		host = h
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, v := range header {
		if k != "Host" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if body != "" || method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(rb)}
}

// Bearer is a header map with "Authorization: Bearer tok", or an empty one
// for tok "".
func Bearer(tok string) map[string]string {
	if tok == "" {
		return map[string]string{}
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

// IsMessage reports whether body is exactly the JSON {"message": msg}.
func IsMessage(body, msg string) bool {
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return false
	}
	return len(m) == 1 && m["message"] == msg
}

// PostForm posts form to u with HTTP Basic authentication as id and secret
// (as they are: no form encoding) and returns the status and the body.
func PostForm(t testing.TB, u string, form url.Values, id, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// Token asks latchURL's token endpoint for an access token with form,
// authenticating as client id with secret (form-encoded first, as RFC 6749
// section 2.3.1 says), and fails the test if there is none.
func Token(t testing.TB, latchURL string, form url.Values, id, secret string) string {
	t.Helper()
	status, body := PostForm(t, latchURL+"/oauth2/token", form, url.QueryEscape(id), url.QueryEscape(secret))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s (%s): %d %s", id, form.Get("grant_type"), status, body)
	}
	return tok.AccessToken
}

// ClientToken is a client_credentials access token for client id, with
// scope ("" for every scope the client may have).
func ClientToken(t testing.TB, latchURL, id, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return Token(t, latchURL, form, id, secret)
}
