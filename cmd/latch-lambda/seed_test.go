package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/go-jose/go-jose/v4"

	"latch.dev/latch"
	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/e2etest"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/policy"
	"latch.dev/latch/internal/redistest"
	"latch.dev/latch/internal/store/dynamodb"
	"latch.dev/latch/internal/store/dynamodb/streamtest"
)

const seedAPI = "arn:aws:execute-api:us-east-1:111122223333:payrollapi/prod"

// seedExtra is what the seed flow adds to examples/latch.yaml: a machine
// client of the payroll API (the seed's client_credentials reporting job).
const seedExtra = `
clients:
  - id: payroll-reports
    org: payroll
    secret: ${PAYROLL_REPORTS_SECRET}
    grants: [client_credentials]
    scopes: [payroll-api/read]
`

// restTokenEvent is a REST proxy event to the token endpoint.
func restTokenEvent(client, secret string, form url.Values) string {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(client)+":"+url.QueryEscape(secret)))
	b, _ := json.Marshal(events.APIGatewayProxyRequest{
		Resource: "/oauth2/{proxy+}", Path: "/oauth2/token", HTTPMethod: "POST",
		Headers:           map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth},
		MultiValueHeaders: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {auth}},
		Body:              form.Encode(),
		RequestContext:    events.APIGatewayProxyRequestContext{Stage: "prod", Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.9"}},
	})
	return string(b)
}

// requestEvent is a REST REQUEST authorizer event for method and path.
func requestEvent(token, method, path string) (ev, arn string) {
	arn = seedAPI + "/" + method + path
	b, _ := json.Marshal(events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: arn, Resource: path, Path: path, HTTPMethod: method,
		Headers:           map[string]string{"Authorization": "Bearer " + token},
		MultiValueHeaders: map[string][]string{"Authorization": {"Bearer " + token}},
		RequestContext:    events.APIGatewayCustomAuthorizerRequestTypeRequestContext{Stage: "prod", HTTPMethod: method, Path: "/prod" + path},
	})
	return string(b), arn
}

// effect is what an authorizer response means for arn, as API Gateway
// reads it: Deny if a Deny statement covers it, Allow if an Allow does,
// else Deny. "Unauthorized" for a 401.
func effect(t *testing.T, res result, arn string) string {
	t.Helper()
	if res.errorMsg == "Unauthorized" {
		return "Unauthorized"
	}
	if res.errorMsg != "" {
		t.Fatalf("authorizer error: %s", res.errorMsg)
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(res.body, &resp); err != nil {
		t.Fatal(err)
	}
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		for _, r := range st.Resource {
			if policy.MatchIAMResource(r, arn) {
				if st.Effect == "Deny" {
					return "Deny"
				}
				allowed = allowed || st.Effect == "Allow"
			}
		}
	}
	if allowed {
		return "Allow"
	}
	return "Deny"
}

// localTable is a fresh Latch table on DynamoDB Local for one test, with
// the AWS environment the functions get; the test skips without DynamoDB
// Local (internal/store/dynamodb/testdata/run-local.sh runs these tests).
type localTable struct {
	endpoint, name, storeURL string
	awsEnv                   []string
	client                   *ddb.Client
	store                    *dynamodb.Store
}

func newLocalTable(t *testing.T, prefix string) *localTable {
	t.Helper()
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("LATCH_REQUIRE_DYNAMODB") != "" {
			t.Fatal("LATCH_REQUIRE_DYNAMODB is set but LATCH_TEST_DYNAMODB_ENDPOINT is not")
		}
		t.Skip("needs DynamoDB Local: internal/store/dynamodb/testdata/run-local.sh runs this test")
	}
	lt := &localTable{endpoint: endpoint, name: fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())}
	lt.storeURL = "dynamodb://" + lt.name + "?region=us-east-1&endpoint=" + endpoint
	lt.awsEnv = []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy"}
	for _, kv := range lt.awsEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, _ := dynamodb.ParseURL(lt.storeURL)
	client, err := dynamodb.NewEnvClient(cfg, os.Getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.CreateTable(context.Background(), client, lt.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(lt.name)})
	})
	lt.client, lt.store = client, dynamodb.New(client, lt.name, dynamodb.Options{})
	return lt
}

// applyExample applies examples/latch.yaml, then each of extra, with the
// example's environment (returned: passwords and secrets).
func (lt *localTable) applyExample(t *testing.T, extra ...string) e2etest.Env {
	t.Helper()
	env := e2etest.ExampleEnv("PAYROLL_REPORTS_SECRET")
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "latch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range append([]string{string(b)}, extra...) {
		f, err := config.Load([]byte(text), func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Apply(context.Background(), lt.store, f, config.ApplyOptions{Hasher: password.NewTestHasher()}); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// functionEnv is the environment every function of the table gets.
func (lt *localTable) functionEnv(extra ...string) []string {
	return append(append(slices.Clone(lt.awsEnv), "LATCH_STORE="+lt.storeURL, "LATCH_ISSUER="+testIssuer), extra...)
}

// TestBootstrapSeedFlow is the seed's system end to end, every function the
// built bootstrap under a Runtime API, on DynamoDB Local: a machine client
// gets a token from the token function and the authorizer function allows
// and denies its payroll requests; a paystub written to the application
// table grants its employee access through the stream function (records
// read from the table's real stream), and removing it revokes the access.
func TestBootstrapSeedFlow(t *testing.T) {
	lt := newLocalTable(t, "latch-seed")
	ctx := context.Background()
	client, store, endpoint := lt.client, lt.store, lt.endpoint
	paystubs := "paystubs-" + strings.TrimPrefix(lt.name, "latch-seed-")
	// The application's table, as the seed has it: the employee's id and
	// the paystub's id, with a stream of new and old images.
	_, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(paystubs), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("userId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("userId"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("id"), KeyType: types.KeyTypeRange},
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(paystubs)})
	})

	// The payroll org of examples/latch.yaml, plus the machine client.
	env := lt.applyExample(t, seedExtra)

	bin := buildBootstrap(t)
	common := lt.functionEnv()
	tokenFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=token")...)
	// A short cache TTL: the bound within which a grant or a revocation
	// written by the stream function reaches a warm authorizer.
	authzFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=authorizer", "LATCH_CACHE_TTL=1s")...)
	rules := fmt.Sprintf(`[{table: %s, org: payroll, principal: "{userId}", allow: ["GET /api/paystubs/{id}"]}]`, paystubs)
	streamFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=stream", "LATCH_GRANT_RULES="+rules)...)

	token := func(client, secret string, form url.Values) string {
		t.Helper()
		res := tokenFn.invoke(t, restTokenEvent(client, secret, form))
		var resp events.APIGatewayProxyResponse
		if res.errorMsg != "" || json.Unmarshal(res.body, &resp) != nil {
			t.Fatalf("token function: %s %s", res.errorMsg, res.body)
		}
		return accessToken(t, resp.StatusCode, resp.Body)
	}
	decide := func(tok, method, path string) string {
		t.Helper()
		ev, arn := requestEvent(tok, method, path)
		return effect(t, authzFn.invoke(t, ev), arn)
	}

	// 1. Machine to machine: the reporting job reads, never writes.
	machine := token("payroll-reports", env["PAYROLL_REPORTS_SECRET"], url.Values{"grant_type": {"client_credentials"}})
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/employee/5", "Allow"},
		{"GET", "/api/employee/6/paystubs", "Allow"},
		{"POST", "/api/employee/5/reviews", "Deny"},
		{"GET", "/premium/report", "Deny"},
	} {
		if got := decide(machine, c.method, c.path); got != c.want {
			t.Errorf("machine client %s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
	if got := decide("garbage", "GET", "/api/employee/5"); got != "Unauthorized" {
		t.Errorf("garbage token: %s", got)
	}

	// 2. Employees: alice (5) sees her own records, not bob's (6).
	login := func(user string) string {
		return token("payroll-app", env["PAYROLL_APP_SECRET"], url.Values{
			"grant_type": {"password"}, "username": {user}, "password": {env["PAYROLL_PASSWORD_"+map[string]string{"alice": "5", "bob": "6"}[user]]},
		})
	}
	alice, bob := login("alice"), login("bob")
	if got := decide(alice, "GET", "/api/employee/5/paystubs"); got != "Allow" {
		t.Errorf("alice's own paystubs: %s", got)
	}
	if got := decide(alice, "GET", "/api/employee/6/paystubs"); got != "Deny" {
		t.Errorf("alice reading bob's paystubs: %s", got)
	}
	if got := decide(alice, "GET", "/api/paystubs/p-100"); got != "Deny" {
		t.Fatalf("a paystub that does not exist yet: %s", got)
	}

	// 3. The application writes a paystub for alice; the stream function
	// reads the real stream record and grants it.
	desc, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(paystubs)})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := streamtest.New(ctx, endpoint, "us-east-1", aws.ToString(desc.Table.LatestStreamArn))
	if err != nil {
		t.Fatal(err)
	}
	feed := func(n int) {
		t.Helper()
		recs, err := reader.Wait(ctx, n, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		res := streamFn.invoke(t, string(streamtest.Event(recs)))
		var resp events.DynamoDBEventResponse
		if res.errorMsg != "" || json.Unmarshal(res.body, &resp) != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("stream function: %s %s", res.errorMsg, res.body)
		}
		// Records arrive at least once: the same batch again changes nothing.
		if again := streamFn.invoke(t, string(streamtest.Event(recs))); again.errorMsg != "" || !strings.Contains(string(again.body), `"batchItemFailures":[]`) {
			t.Fatalf("replayed batch: %s %s", again.errorMsg, again.body)
		}
	}
	item := map[string]types.AttributeValue{
		"userId": &types.AttributeValueMemberS{Value: "5"}, "id": &types.AttributeValueMemberS{Value: "p-100"},
		"amount": &types.AttributeValueMemberN{Value: "4200"},
	}
	if _, err := client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(paystubs), Item: item}); err != nil {
		t.Fatal(err)
	}
	feed(1)
	waitFor := func(tok, path, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := decide(tok, "GET", path)
			if got == want {
				return time.Since(start)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("GET %s is still %s after 5 s, want %s", path, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	granted := waitFor(alice, "/api/paystubs/p-100", "Allow")
	if got := decide(bob, "GET", "/api/paystubs/p-100"); got != "Deny" {
		t.Fatalf("bob reads alice's paystub: %s", got)
	}
	u, err := store.GetUser(ctx, "payroll", "5")
	if err != nil || len(u.RecordGrants) != 1 {
		t.Fatalf("alice's grants after one paystub and a replay: %+v %v", u.RecordGrants, err)
	}

	// 4. The paystub is deleted: the REMOVE record revokes the grant.
	if _, err := client.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: aws.String(paystubs), Key: map[string]types.AttributeValue{"userId": item["userId"], "id": item["id"]}}); err != nil {
		t.Fatal(err)
	}
	feed(1)
	revoked := waitFor(alice, "/api/paystubs/p-100", "Deny")
	if got := decide(alice, "GET", "/api/employee/5/paystubs"); got != "Allow" {
		t.Errorf("revoking the paystub took alice's own records: %s", got)
	}
	t.Logf("grant visible to the warm authorizer after %s, revocation after %s (LATCH_CACHE_TTL=1s)", granted.Round(time.Millisecond), revoked.Round(time.Millisecond))

	// 5. Latch's own table's stream goes through the same function: its
	// records are read as changes, none is a failure.
	own, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(lt.name)})
	if err != nil {
		t.Fatal(err)
	}
	ownReader, err := streamtest.New(ctx, endpoint, "us-east-1", aws.ToString(own.Table.LatestStreamArn))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ownReader.Wait(ctx, 10, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res := streamFn.invoke(t, string(streamtest.Event(recs))); res.errorMsg != "" || !strings.Contains(string(res.body), `"batchItemFailures":[]`) {
		t.Fatalf("Latch's own records: %s %s", res.errorMsg, res.body)
	}
	var _ latch.Store = store
}

// TestBootstrapCognito is the Cognito variant of the seed, with the built
// bootstrap: the signup function (a post-confirmation trigger) creates the
// confirmed person's Latch user with the org's default roles, and the
// authorizer function accepts that person's user-pool access token
// (verified against the pool's JWKS, served here on loopback) and decides
// with their Latch ACL.
func TestBootstrapCognito(t *testing.T) {
	lt := newLocalTable(t, "latch-cognito")
	ctx := context.Background()
	store := lt.store
	lt.applyExample(t)

	// The user pool: a signing key and its JWKS.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "pool-key-1", Algorithm: "RS256", Use: "sig"}}})
	pool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(pool.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "pool-key-1"))
	if err != nil {
		t.Fatal(err)
	}
	cognitoToken := func(sub, clientID string) string {
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{
			"sub": sub, "iss": pool.URL, "client_id": clientID, "origin_jti": "o-" + sub, "event_id": "e-" + sub,
			"token_use": "access", "scope": "aws.cognito.signin.user.admin", "auth_time": now, "exp": now + 3600,
			"iat": now, "jti": "j-" + sub, "username": "erin",
		})
		sig, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := sig.CompactSerialize()
		return s
	}

	bin := buildBootstrap(t)
	common := lt.functionEnv()
	signupFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=signup", "LATCH_SIGNUP_ORG=payroll")...)
	trusted := fmt.Sprintf(`[{"issuer": %q, "org": "payroll", "client_ids": ["pool-app"]}]`, pool.URL)
	authzFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=authorizer", "LATCH_TRUSTED_ISSUERS="+trusted)...)
	decide := func(tok, method, path string) string {
		t.Helper()
		ev, arn := requestEvent(tok, method, path)
		return effect(t, authzFn.invoke(t, ev), arn)
	}

	const sub = "7d3e9a1c-40b2-4c55-9f0e-2b6c1d8e4f10"
	tok := cognitoToken(sub, "pool-app")
	// Before the confirmation there is no such Latch user: refused.
	if got := decide(tok, "GET", "/api/employee/"+sub+"/paystubs"); got != "Unauthorized" {
		t.Fatalf("a Cognito user Latch does not know: %s", got)
	}
	ev := `{"version":"1","region":"us-east-1","userPoolId":"us-east-1_Pool","userName":"erin",
	  "callerContext":{"awsSdkVersion":"aws-sdk-unknown-unknown","clientId":"pool-app"},
	  "triggerSource":"PostConfirmation_ConfirmSignUp",
	  "request":{"userAttributes":{"sub":"` + sub + `","email_verified":"true","email":"erin@payroll.example.com"}},"response":{}}`
	res := signupFn.invoke(t, ev)
	if res.errorMsg != "" || !strings.Contains(string(res.body), `"triggerSource":"PostConfirmation_ConfirmSignUp"`) {
		t.Fatalf("signup function: %s %s", res.errorMsg, res.body)
	}
	u, err := store.GetUser(ctx, "payroll", sub)
	if err != nil || u.Username != "erin" || len(u.Roles) != 1 || u.Roles[0] != "employee" {
		t.Fatalf("the confirmed user: %+v %v", u, err)
	}
	// The new employee reads their own records, and nobody else's. The
	// authorizer may have cached the absence for its cache TTL: wait.
	deadline := time.Now().Add(10 * time.Second)
	for decide(tok, "GET", "/api/employee/"+sub+"/paystubs") != "Allow" {
		if time.Now().After(deadline) {
			t.Fatal("the confirmed Cognito user is not allowed their own paystubs")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := decide(tok, "GET", "/api/employee/5/paystubs"); got != "Deny" {
		t.Errorf("a Cognito user reads employee 5: %s", got)
	}
	// A token of another app client of the pool, and one signed by another key, are refused.
	if got := decide(cognitoToken(sub, "other-app"), "GET", "/api/employee/"+sub+"/paystubs"); got != "Unauthorized" {
		t.Errorf("another app client's token: %s", got)
	}
	forged := tok[:strings.LastIndexByte(tok, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	if got := decide(forged, "GET", "/api/employee/"+sub+"/paystubs"); got != "Unauthorized" {
		t.Errorf("a forged signature: %s", got)
	}
}

// TestBootstrapRedis: the functions share a Redis cache. The authorizer runs
// with a one-hour in-process TTL, so only Redis can tell it of a change in
// time: a token revoked through the token function is refused within a
// second; a change written to the table by something that knows nothing of
// Redis (here, the store itself) reaches it through the stream function,
// which reads the table's real stream and invalidates.
func TestBootstrapRedis(t *testing.T) {
	lt := newLocalTable(t, "latch-redis")
	redis := redistest.Start(t)
	ctx := context.Background()
	client, store, endpoint, table := lt.client, lt.store, lt.endpoint, lt.name
	env := lt.applyExample(t, seedExtra)
	bin := buildBootstrap(t)
	common := lt.functionEnv("LATCH_CACHE=" + redis.URL())
	tokenFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=token")...)
	authzFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=authorizer", "LATCH_CACHE_TTL=1h")...)
	streamFn := startBootstrap(t, bin, append(common, "LATCH_LAMBDA_HANDLER=stream")...)

	token := func() string {
		t.Helper()
		res := tokenFn.invoke(t, restTokenEvent("payroll-reports", env["PAYROLL_REPORTS_SECRET"], url.Values{"grant_type": {"client_credentials"}}))
		var resp events.APIGatewayProxyResponse
		if res.errorMsg != "" || json.Unmarshal(res.body, &resp) != nil {
			t.Fatalf("token function: %s %s", res.errorMsg, res.body)
		}
		return accessToken(t, resp.StatusCode, resp.Body)
	}
	decide := func(tok string) string {
		t.Helper()
		ev, arn := requestEvent(tok, "GET", "/api/employee/5")
		return effect(t, authzFn.invoke(t, ev), arn)
	}
	within := func(what, tok, want string, bound time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			if got := decide(tok); got == want {
				return time.Since(start)
			}
			if time.Since(start) > bound {
				t.Fatalf("%s: not %s within %s", what, want, bound)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 1. A revocation through the token function reaches the warm authorizer.
	tok := token()
	if got := decide(tok); got != "Allow" {
		t.Fatalf("fresh token: %s", got)
	}
	revoke := restTokenEvent("payroll-reports", env["PAYROLL_REPORTS_SECRET"], url.Values{"token": {tok}})
	revoke = strings.Replace(revoke, `"path":"/oauth2/token"`, `"path":"/oauth2/revoke"`, 1)
	if res := tokenFn.invoke(t, revoke); res.errorMsg != "" || !strings.Contains(string(res.body), `"statusCode":200`) {
		t.Fatalf("revoke: %s %s", res.errorMsg, res.body)
	}
	took := within("a revoked token", tok, "Unauthorized", time.Second)

	// 2. A change that bypasses every cache: disable the client in the
	// table itself. The authorizer keeps its (one-hour) entry until the
	// stream function reads the record and tells every replica.
	tok = token()
	if got := decide(tok); got != "Allow" {
		t.Fatalf("second token: %s", got)
	}
	if _, err := store.UpdateClient(ctx, "payroll-reports", func(c *latch.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := decide(tok); got != "Allow" {
		t.Fatalf("the authorizer learned of a write nobody published (%s): the test cannot tell the stream's part", got)
	}
	own, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := streamtest.New(ctx, endpoint, "us-east-1", aws.ToString(own.Table.LatestStreamArn))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := reader.Wait(ctx, 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res := streamFn.invoke(t, string(streamtest.Event(recs))); res.errorMsg != "" || !strings.Contains(string(res.body), `"batchItemFailures":[]`) {
		t.Fatalf("stream function: %s %s", res.errorMsg, res.body)
	}
	viaStream := within("a client disabled in the table", tok, "Unauthorized", time.Second)
	t.Logf("revocation through the token function honoured after %s; a table write, through the stream function, after %s",
		took.Round(time.Millisecond), viaStream.Round(time.Millisecond))
}
