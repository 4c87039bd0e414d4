package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"latch.dev/latch"
	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/store/bolt"
)

const (
	testIssuer = "https://auth.latch.test"
	testSecret = "s3cret-s3cret-s3cret-s3cret-s3cret"
	// testMethodARN is a request the seeded client may make.
	testMethodARN = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/prod/GET/premium/report"
	// testDeniedARN is one it may not make.
	testDeniedARN = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/prod/DELETE/premium/report"
)

// testConfig is the seed of both the unit and the end-to-end tests.
const testConfig = `
orgs:
  - id: acme
    name: Acme
audiences:
  - id: premium
    scopes:
      read: ["GET /premium/**"]
clients:
  - id: reader
    org: acme
    secret: ${SECRET}
    grants: [client_credentials]
    scopes: [premium/read]
`

// seed applies testConfig to store.
func seed(t *testing.T, store latch.Store) {
	t.Helper()
	f, err := config.Load([]byte(testConfig), func(k string) string {
		if k == "SECRET" {
			return testSecret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(context.Background(), store, f, config.ApplyOptions{Hasher: password.NewTestHasher()}); err != nil {
		t.Fatal(err)
	}
}

// newTestApp builds the cold-start state on a bolt store (tests only: the
// binary links no bolt).
func newTestApp(t *testing.T, s settings) *app {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, store)
	a, err := newApp(context.Background(), store, nil, s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	return a
}

func invoke(t *testing.T, fn any, payload string) ([]byte, error) {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	return awslambda.NewHandler(fn).Invoke(ctx, []byte(payload))
}

func basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("reader:"+testSecret))
}

// tokenRESTEvent is a REST proxy event asking for a client_credentials token.
func tokenRESTEvent() string {
	b, _ := json.Marshal(events.APIGatewayProxyRequest{
		Resource: "/oauth2/token", Path: "/oauth2/token", HTTPMethod: "POST",
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic(), "Host": "auth.latch.test"},
		MultiValueHeaders: map[string][]string{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basic()}, "Host": {"auth.latch.test"},
		},
		Body:            base64.StdEncoding.EncodeToString([]byte("grant_type=client_credentials&scope=premium%2Fread")),
		IsBase64Encoded: true,
		RequestContext:  events.APIGatewayProxyRequestContext{Stage: "prod", Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.7"}},
	})
	return string(b)
}

func tokenV2Event() string {
	b, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: "/oauth2/token",
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded", "authorization": basic(), "host": "abc.lambda-url.eu-west-1.on.aws"},
		Body:    "grant_type=client_credentials&scope=premium%2Fread",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/oauth2/token", SourceIP: "203.0.113.7"},
		},
	})
	return string(b)
}

func authorizerEvents(token string) (tok, req, http2 string) {
	b, _ := json.Marshal(events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer " + token, MethodArn: testMethodARN})
	tok = string(b)
	b, _ = json.Marshal(events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: testMethodARN, Resource: "/premium/{proxy+}", Path: "/premium/report", HTTPMethod: "GET",
		Headers:           map[string]string{"Authorization": "Bearer " + token},
		MultiValueHeaders: map[string][]string{"Authorization": {"Bearer " + token}},
	})
	req = string(b)
	b, _ = json.Marshal(events.APIGatewayV2CustomAuthorizerV2Request{
		Version: "2.0", Type: "REQUEST", RouteArn: "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/$default/GET/premium/report",
		RouteKey: "GET /premium/{proxy+}", RawPath: "/premium/report",
		Headers: map[string]string{"authorization": "Bearer " + token},
	})
	http2 = string(b)
	return
}

// accessToken reads the access token of a token endpoint response body.
func accessToken(t *testing.T, status int, body string) string {
	t.Helper()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	return tr.AccessToken
}

// checkAllow asserts that an IAM response allows the ARN.
func checkAllow(t *testing.T, raw []byte, arn string) {
	t.Helper()
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	for _, st := range resp.PolicyDocument.Statement {
		for _, r := range st.Resource {
			if st.Effect == "Allow" && (r == arn || strings.HasSuffix(r, "*") && strings.HasPrefix(arn, strings.TrimSuffix(r, "*"))) {
				if resp.Context["org_id"] != "acme" || resp.Context["sub"] != "reader" {
					t.Errorf("context: %v", resp.Context)
				}
				return
			}
		}
	}
	t.Fatalf("no Allow for %s in %s", arn, raw)
}

func TestTokenHandlerAndAuthorizerInProcess(t *testing.T) {
	a := newTestApp(t, settings{Issuer: testIssuer, Alg: "ES256", AccessTTL: 3600e9, CacheTTL: 5e9})
	th := a.tokenHandler()

	out, err := invoke(t, th, tokenRESTEvent())
	if err != nil {
		t.Fatal(err)
	}
	var rest events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &rest); err != nil {
		t.Fatal(err)
	}
	tok := accessToken(t, rest.StatusCode, rest.Body)
	if ct := rest.MultiValueHeaders["Content-Type"]; len(ct) != 1 || !strings.HasPrefix(ct[0], "application/json") {
		t.Errorf("content type: %v", rest.MultiValueHeaders)
	}

	out, err = invoke(t, th, tokenV2Event())
	if err != nil {
		t.Fatal(err)
	}
	var v2 events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &v2); err != nil {
		t.Fatal(err)
	}
	accessToken(t, v2.StatusCode, v2.Body)

	// A wrong secret is refused by the endpoint, not by the adapter.
	bad := strings.Replace(tokenV2Event(), basic(), "Basic "+base64.StdEncoding.EncodeToString([]byte("reader:nope")), 1)
	out, err = invoke(t, th, bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &v2); err != nil || v2.StatusCode != 401 {
		t.Fatalf("wrong secret: %s", out)
	}
	if _, err := invoke(t, th, `{"foo":1}`); err == nil {
		t.Fatal("an unknown event was served")
	}

	for _, iam := range []bool{false, true} {
		a.s.HTTPIAM = iam
		ah, err := a.authorizerHandler()
		if err != nil {
			t.Fatal(err)
		}
		tokEv, reqEv, httpEv := authorizerEvents(tok)
		for name, ev := range map[string]string{"TOKEN": tokEv, "REQUEST": reqEv} {
			out, err := invoke(t, ah, ev)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkAllow(t, out, testMethodARN)
		}
		out, err := invoke(t, ah, httpEv)
		if err != nil {
			t.Fatal(err)
		}
		if iam {
			checkAllow(t, out, "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/$default/GET/premium/report")
		} else if !strings.Contains(string(out), `"isAuthorized":true`) {
			t.Fatalf("HTTP simple: %s", out)
		}
		// A garbage token, and no token at all, are Unauthorized (401).
		gTok, gReq, gHTTP := authorizerEvents("garbage")
		for _, ev := range []string{gTok, gReq, gHTTP, strings.Replace(tokEv, "Bearer ", "Basic ", 1)} {
			if _, err := invoke(t, ah, ev); err == nil || err.Error() != "Unauthorized" {
				t.Fatalf("garbage token: %v", err)
			}
		}
		// A request the client may not make is denied.
		denied := strings.Replace(tokEv, testMethodARN, testDeniedARN, 1)
		out, err = invoke(t, ah, denied)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), `"Effect":"Allow","Resource":["`+testDeniedARN) {
			t.Fatalf("denied request allowed: %s", out)
		}
		if _, err := invoke(t, ah, `{"type":"SOMETHING"}`); err == nil || !strings.Contains(err.Error(), "not an API Gateway authorizer event") {
			t.Fatalf("unknown event: %v", err)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{"LATCH_LAMBDA_HANDLER": "authorizer", "LATCH_STORE": "dynamodb://t1?region=eu-west-1", "LATCH_ISSUER": testIssuer, "LATCH_HTTP_IAM": "true", "LATCH_CACHE_TTL": "2s",
		"LATCH_TRUSTED_ISSUERS": `[{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "org": "payroll", "client_ids": ["app1"]}]`}
	s, err := settingsFromEnv(func(k string) string { return env[k] })
	if err != nil || !s.HTTPIAM || s.CacheTTL != 2e9 || s.Alg != "ES256" || len(s.TrustedIssuers) != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	for k, v := range map[string]string{"LATCH_LAMBDA_HANDLER": "tokens", "LATCH_STORE": "", "LATCH_ISSUER": "", "LATCH_HTTP_IAM": "maybe", "LATCH_SIGNING_ALG": "HS256", "LATCH_CACHE_TTL": "-1s",
		"LATCH_TRUSTED_ISSUERS": `[{"issuer": "http://idp.example.com", "org": "payroll", "client_ids": ["app1"]}]`} {
		old := env[k]
		env[k] = v
		if _, err := settingsFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
		env[k] = old
	}
	// The stream and signup handlers need no issuer, but their own settings.
	for _, c := range []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"LATCH_LAMBDA_HANDLER": "stream", "LATCH_STORE": "dynamodb://t1", "LATCH_GRANT_RULES": `[{table: paystubs, org: payroll, principal: "{userId}", allow: ["GET /api/paystubs/{id}"]}]`}, ""},
		{map[string]string{"LATCH_LAMBDA_HANDLER": "stream", "LATCH_STORE": "dynamodb://t1", "LATCH_GRANT_RULES": `[{table: paystubs, org: payroll}]`}, "LATCH_GRANT_RULES"},
		{map[string]string{"LATCH_LAMBDA_HANDLER": "signup", "LATCH_STORE": "dynamodb://t1", "LATCH_SIGNUP_ORG": "payroll"}, ""},
		{map[string]string{"LATCH_LAMBDA_HANDLER": "signup", "LATCH_STORE": "dynamodb://t1"}, "LATCH_SIGNUP_ORG"},
	} {
		_, err := settingsFromEnv(func(k string) string { return c.env[k] })
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%v: %v, want error %q", c.env, err, c.wantErr)
		}
	}
	if _, err := openStore(context.Background(), "bolt:///tmp/x.db"); err == nil || !strings.Contains(err.Error(), "dynamodb://") {
		t.Fatalf("bolt store: %v", err)
	}
}

// The authorizer never writes the table: on a fresh one it starts without a
// signing key and picks up the key the token function then creates.
func TestAuthorizerStartsOnATableWithoutKeys(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	seed(t, store)
	s := settings{Handler: "authorizer", Issuer: testIssuer, Alg: "ES256", AccessTTL: 3600e9, CacheTTL: 5e9}
	az, err := newApp(context.Background(), store, nil, s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("authorizer cold start on a table without keys: %v", err)
	}
	if keys, _ := store.ListSigningKeys(context.Background()); len(keys) != 0 {
		t.Fatalf("the authorizer created a signing key: %d keys", len(keys))
	}
	ah, err := az.authorizerHandler()
	if err != nil {
		t.Fatal(err)
	}
	s.Handler = "token"
	tk, err := newApp(context.Background(), store, nil, s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, tk.tokenHandler(), tokenRESTEvent())
	if err != nil {
		t.Fatal(err)
	}
	var rest events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &rest); err != nil {
		t.Fatal(err)
	}
	tokEv, _, _ := authorizerEvents(accessToken(t, rest.StatusCode, rest.Body))
	out, err = invoke(t, ah, tokEv)
	if err != nil {
		t.Fatalf("the authorizer did not pick up the new key: %v", err)
	}
	checkAllow(t, out, testMethodARN)
}
