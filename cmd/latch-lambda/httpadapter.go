package main

// The HTTP adapter: API Gateway REST proxy events and HTTP API / function
// URL (payload format 2.0) events to http.Request, and responses back. It
// buffers the response (function URLs in the BUFFERED invoke mode; the
// aws-lambda-go lambdaurl package needs RESPONSE_STREAM and serves function
// URLs only).

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// maxBody bounds a request body (API Gateway's own limit is 10 MB; the
// OAuth2 endpoints take small forms).
const maxBody = 1 << 20

// ServeProxy serves a REST proxy (or HTTP API payload 1.0) event with h.
func ServeProxy(ctx context.Context, h http.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	header := http.Header{}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			header.Add(k, v)
		}
	}
	query := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			query[k] = append(query[k], vs...)
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			query.Set(k, v)
		}
	}
	u := &url.URL{Path: ev.Path, RawQuery: query.Encode()}
	r, status := newRequest(ctx, ev.HTTPMethod, u, header, ev.Body, ev.IsBase64Encoded, ev.RequestContext.Identity.SourceIP)
	if r == nil {
		return events.APIGatewayProxyResponse{StatusCode: status}
	}
	rec := serve(h, r)
	body, b64 := encodeBody(rec.body.Bytes())
	return events.APIGatewayProxyResponse{StatusCode: rec.status, MultiValueHeaders: rec.header, Body: body, IsBase64Encoded: b64}
}

// ServeV2 serves an HTTP API payload 2.0 or function URL event with h.
func ServeV2(ctx context.Context, h http.Handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	header := http.Header{}
	for k, v := range ev.Headers {
		// Payload 2.0 joins repeated headers with commas.
		header.Add(k, v)
	}
	if len(ev.Cookies) > 0 {
		header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	u := &url.URL{RawQuery: ev.RawQueryString}
	p, err := url.PathUnescape(path)
	if err != nil || !strings.HasPrefix(path, "/") {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest}
	}
	u.Path, u.RawPath = p, path
	r, status := newRequest(ctx, ev.RequestContext.HTTP.Method, u, header, ev.Body, ev.IsBase64Encoded, ev.RequestContext.HTTP.SourceIP)
	if r == nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: status}
	}
	rec := serve(h, r)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: rec.status, Headers: map[string]string{}}
	for k, vs := range rec.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	resp.Body, resp.IsBase64Encoded = encodeBody(rec.body.Bytes())
	return resp
}

// newRequest builds the request, or returns nil and the status to answer.
func newRequest(ctx context.Context, method string, u *url.URL, header http.Header, body string, b64 bool, sourceIP string) (*http.Request, int) {
	if method == "" {
		return nil, http.StatusBadRequest
	}
	raw := []byte(body)
	if b64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return nil, http.StatusBadRequest
		}
	}
	if len(raw) > maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	r, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(raw))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Header = header
	r.Host = header.Get("Host")
	r.ContentLength = int64(len(raw))
	if len(raw) == 0 {
		r.Body = http.NoBody
	}
	if sourceIP != "" {
		r.RemoteAddr = net.JoinHostPort(sourceIP, "0")
	}
	return r, 0
}

// recorder is a buffering http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func serve(h http.Handler, r *http.Request) *recorder {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, r)
	_, _ = io.Copy(io.Discard, r.Body)
	return rec
}

// encodeBody returns text bodies as they are and others in base64.
func encodeBody(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	return base64.StdEncoding.EncodeToString(b), true
}
