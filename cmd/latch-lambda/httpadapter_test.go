package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// echo answers with what it received.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Add("Set-Cookie", "a=1")
	w.Header().Add("Set-Cookie", "b=2")
	w.Header().Add("X-Multi", "x")
	w.Header().Add("X-Multi", "y")
	if r.URL.Query().Get("binary") != "" {
		w.WriteHeader(201)
		_, _ = w.Write([]byte{0xff, 0x00, 0xfe})
		return
	}
	w.WriteHeader(202)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "escaped": r.URL.EscapedPath(), "query": r.URL.Query(),
		"host": r.Host, "remote": r.RemoteAddr, "body": string(body), "len": r.ContentLength,
		"x": r.Header.Values("X-Test"), "cookie": r.Header.Get("Cookie"), "uri": r.RequestURI,
	})
})

type echoed struct {
	Method, Path, Escaped, Host, Remote, Body, Cookie, URI string
	Query                                                  map[string][]string
	Len                                                    int64
	X                                                      []string
}

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%v: %q", err, body)
	}
	return e
}

func TestServeProxy(t *testing.T) {
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: "PUT", Path: "/a b/c",
		MultiValueHeaders:               map[string][]string{"X-Test": {"1", "2"}, "Host": {"api.test"}},
		Headers:                         map[string]string{"X-Test": "2", "Host": "api.test"},
		QueryStringParameters:           map[string]string{"q": "2"},
		MultiValueQueryStringParameters: map[string][]string{"q": {"1", "2"}, "r": {"x&y"}},
		Body:                            base64.StdEncoding.EncodeToString([]byte("hello")), IsBase64Encoded: true,
		RequestContext: events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.7"}},
	}
	resp := ServeProxy(context.Background(), echo, ev)
	if resp.StatusCode != 202 || resp.IsBase64Encoded {
		t.Fatalf("%+v", resp)
	}
	e := decodeEcho(t, resp.Body)
	if e.Method != "PUT" || e.Path != "/a b/c" || e.Escaped != "/a%20b/c" || e.Host != "api.test" || e.Remote != "203.0.113.7:0" ||
		e.Body != "hello" || e.Len != 5 || len(e.X) != 2 || len(e.Query["q"]) != 2 || e.Query["r"][0] != "x&y" {
		t.Fatalf("%+v", e)
	}
	if c := resp.MultiValueHeaders["Set-Cookie"]; len(c) != 2 || len(resp.MultiValueHeaders["X-Multi"]) != 2 {
		t.Fatalf("headers: %v", resp.MultiValueHeaders)
	}
	// Single-valued maps only (HTTP API payload 1.0 may send both; REST
	// always does, but tolerate either).
	ev.MultiValueHeaders, ev.MultiValueQueryStringParameters, ev.Body, ev.IsBase64Encoded = nil, nil, "plain", false
	e = decodeEcho(t, ServeProxy(context.Background(), echo, ev).Body)
	if len(e.X) != 1 || e.Query["q"][0] != "2" || e.Body != "plain" {
		t.Fatalf("%+v", e)
	}
	// A bad base64 body is a 400, without calling the handler.
	ev.Body, ev.IsBase64Encoded = "!!!", true
	if r := ServeProxy(context.Background(), echo, ev); r.StatusCode != 400 {
		t.Fatalf("bad base64: %+v", r)
	}
	// A binary response goes back in base64.
	ev.Body, ev.IsBase64Encoded, ev.QueryStringParameters = "", false, map[string]string{"binary": "1"}
	r := ServeProxy(context.Background(), echo, ev)
	if b, _ := base64.StdEncoding.DecodeString(r.Body); r.StatusCode != 201 || !r.IsBase64Encoded || string(b) != "\xff\x00\xfe" {
		t.Fatalf("binary: %+v", r)
	}
}

func TestServeV2(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/a%2Fb/c", RawQueryString: "q=1&q=2&r=x%26y",
		Cookies: []string{"s=1", "t=2"},
		Headers: map[string]string{"x-test": "1,2", "host": "abc.lambda-url.eu-west-1.on.aws"},
		Body:    "hello",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", SourceIP: "2001:db8::1"},
		},
	}
	resp := ServeV2(context.Background(), echo, ev)
	if resp.StatusCode != 202 || resp.IsBase64Encoded {
		t.Fatalf("%+v", resp)
	}
	e := decodeEcho(t, resp.Body)
	if e.Method != "POST" || e.Path != "/a/b/c" || e.Escaped != "/a%2Fb/c" || e.URI != "/a%2Fb/c?q=1&q=2&r=x%26y" ||
		e.Host != "abc.lambda-url.eu-west-1.on.aws" || e.Remote != "[2001:db8::1]:0" || e.Cookie != "s=1; t=2" ||
		len(e.Query["q"]) != 2 || e.Query["r"][0] != "x&y" || e.Body != "hello" || len(e.X) != 1 {
		t.Fatalf("%+v", e)
	}
	if len(resp.Cookies) != 2 || resp.Headers["X-Multi"] != "x, y" || resp.Headers["Set-Cookie"] != "" {
		t.Fatalf("response: %+v", resp)
	}
	ev.RawPath = "/%zz"
	if r := ServeV2(context.Background(), echo, ev); r.StatusCode != 400 {
		t.Fatalf("bad path: %+v", r)
	}
	ev.RawPath, ev.RequestContext.HTTP.Method = "/", ""
	if r := ServeV2(context.Background(), echo, ev); r.StatusCode != 400 {
		t.Fatalf("no method: %+v", r)
	}
}
