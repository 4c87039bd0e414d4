package main

// Benchmarks of the deployed bootstrap on DynamoDB Local: cold start, and the
// DynamoDB requests an authorization or a token costs. They measure and
// assert nothing about timings. bench/lambda.sh runs them; by hand, inside a
// network namespace that runs DynamoDB Local on port 8000:
//
//	LATCH_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 go test -run '^$' \
//	    -bench . -benchtime 20x ./cmd/latch-lambda
//
// Every bootstrap reaches DynamoDB through ddbCounter, a reverse proxy that
// counts requests by operation (X-Amz-Target), so that no counting code is
// needed in the store. The per-operation metrics are named after the
// operation ("GetItem/op"); ddb-requests/op is their sum.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/store/dynamodb"
)

// benchConfig is testConfig plus a user with a role, who signs in with a
// password through a confidential client that also gets refresh tokens (so
// the user's access tokens belong to a refresh family), for the user-token
// cases.
const benchConfig = testConfig + `
  - id: app
    org: acme
    secret: ${SECRET}
    grants: [password, refresh_token]
    scopes: [premium/read]
roles:
  - id: staff
    org: acme
    allow: ["GET /premium/{sub}/**"]
users:
  - id: "5"
    org: acme
    username: alice
    password: ${PASSWORD}
    roles: [staff]
`

const benchPassword = "correct horse battery staple 5"

// ddbCounter is a reverse proxy in front of DynamoDB that counts requests
// by operation (ops), and by operation and kind of item (detail:
// "GetItem[JTI]", "TransactWriteItems[FAMILY+REFRESH]", "Query[KEYS]").
type ddbCounter struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ops    map[string]int
	detail map[string]int
}

func newDDBCounter(tb testing.TB, upstream string) *ddbCounter {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	c := &ddbCounter{ops: map[string]int{}, detail: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		d := op
		if kinds := itemKinds(body); kinds != "" {
			d += "[" + kinds + "]"
		}
		c.mu.Lock()
		c.ops[op]++
		c.detail[d]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(c.srv.Close)
	return c
}

// itemKinds names the kinds of the items a request reads or writes.
func itemKinds(body []byte) string {
	type key struct {
		PK struct{ S string } `json:"pk"`
		SK struct{ S string } `json:"sk"`
	}
	type one struct {
		Key  *key
		Item *key
	}
	var req struct {
		one
		TransactItems []map[string]one
		// Query
		ExpressionAttributeValues map[string]struct{ S string }
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	kind := func(o one) string {
		k := o.Key
		if k == nil {
			k = o.Item
		}
		if k == nil {
			return "?"
		}
		// USER#5 in ORG#acme, CLIENT in CLIENT#reader, acme in ORGS.
		if kind, _, ok := strings.Cut(k.SK.S, "#"); ok {
			return kind
		}
		if kind, _, ok := strings.Cut(k.PK.S, "#"); ok {
			return kind
		}
		return strings.TrimSuffix(k.PK.S, "S")
	}
	switch {
	case req.Key != nil || req.Item != nil:
		return kind(req.one)
	case req.TransactItems != nil:
		var ks []string
		for _, ti := range req.TransactItems {
			for _, o := range ti {
				ks = append(ks, kind(o))
			}
		}
		return strings.Join(ks, "+")
	case req.ExpressionAttributeValues != nil:
		return req.ExpressionAttributeValues[":pk"].S
	}
	return ""
}

// counts are requests by operation and in detail.
type counts struct{ ops, detail map[string]int }

func (c *ddbCounter) snapshot() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counts{maps.Clone(c.ops), maps.Clone(c.detail)}
}

// since returns the requests made since before.
func (c *ddbCounter) since(before counts) counts {
	return before.to(c.snapshot())
}

// to returns the requests from c to after.
func (c counts) to(after counts) counts {
	diff := func(before, after map[string]int) map[string]int {
		d := map[string]int{}
		for k, v := range after {
			if n := v - before[k]; n != 0 {
				d[k] = n
			}
		}
		return d
	}
	return counts{diff(c.ops, after.ops), diff(c.detail, after.detail)}
}

// add adds o to c.
func (c counts) add(o counts) {
	for k, v := range o.ops {
		c.ops[k] += v
	}
	for k, v := range o.detail {
		c.detail[k] += v
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func formatOps(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// report reports the requests in c per iteration, in all and by
// operation, and logs them in detail.
func report(b *testing.B, c counts, n int) {
	b.ReportMetric(float64(sum(c.ops))/float64(n), "ddb-requests/op")
	for op, v := range c.ops {
		b.ReportMetric(float64(v)/float64(n), op+"/op")
	}
	b.Logf("%d iterations, DynamoDB requests in all: %s", n, formatOps(c.detail))
}

// benchRuntime is a Runtime API for one bootstrap process, one invocation
// at a time. Unlike fakeRuntime it needs no *testing.T and tells when the
// process first asks for an event (the end of its init).
type benchRuntime struct {
	srv     *httptest.Server
	next    chan []byte
	results chan result
	seq     int
	mu      sync.Mutex
	firstAt time.Time
	onFirst func()
}

func newBenchRuntime(onFirst func()) *benchRuntime {
	rt := &benchRuntime{next: make(chan []byte, 1), results: make(chan result, 1), onFirst: onFirst}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		rt.mu.Lock()
		if rt.firstAt.IsZero() {
			rt.firstAt = time.Now()
			if rt.onFirst != nil {
				rt.onFirst()
			}
		}
		rt.seq++
		id := "req-" + strconv.Itoa(rt.seq)
		rt.mu.Unlock()
		select {
		case ev := <-rt.next:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:latch-bench")
			_, _ = w.Write(ev)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		rt.results <- result{body: b}
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		rt.results <- result{errorMsg: "error: " + string(b)}
	})
	rt.srv = httptest.NewServer(mux)
	return rt
}

func (rt *benchRuntime) close() {
	rt.srv.CloseClientConnections()
	rt.srv.Close()
}

// invoke sends one event and waits for its result.
func (rt *benchRuntime) invoke(tb testing.TB, ev string) result {
	rt.next <- []byte(ev)
	select {
	case r := <-rt.results:
		return r
	case <-time.After(30 * time.Second):
		tb.Fatal("no answer from the bootstrap in 30 s")
	}
	return result{}
}

// bootstrapProc is a running bootstrap.
type bootstrapProc struct {
	cmd    *exec.Cmd
	rt     *benchRuntime
	stderr strings.Builder
	once   sync.Once
}

// startProc runs bin under rt with env; stop (or the end of the benchmark)
// kills it.
func startProc(tb testing.TB, bin string, rt *benchRuntime, env []string) *bootstrapProc {
	p := &bootstrapProc{rt: rt}
	tb.Cleanup(p.stop)
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), append(env, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=latch-bench")...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return p
}

func (p *bootstrapProc) stop() {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		p.rt.close()
	})
}

// benchEnv is a seeded table, its counting proxy, the bootstrap and valid
// tokens.
type benchEnv struct {
	bin     string
	counter *ddbCounter
	env     []string // the bootstraps' environment, store through the proxy
	direct  []string // the same, store reached directly
	// clientTok is a client_credentials JWT of "reader", userTok a password
	// grant JWT of user 5 through "app".
	clientTok, userTok string
}

// bootstrapBinary is $LATCH_BENCH_BOOTSTRAP (bench/lambda.sh builds it) or
// the bootstrap built here, as deployed.
func bootstrapBinary(b *testing.B) string {
	if p := os.Getenv("LATCH_BENCH_BOOTSTRAP"); p != "" {
		return p
	}
	bin := filepath.Join(b.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc,latch.lambda", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// newBenchEnv creates and seeds a fresh table on DynamoDB Local and gets a
// client and a user token from a token bootstrap.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		b.Skip("needs DynamoDB Local: bench/lambda.sh runs these benchmarks")
	}
	ctx := context.Background()
	awsEnv := []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy"}
	for _, kv := range awsEnv {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	table := fmt.Sprintf("latch-bench-%d", time.Now().UnixNano())
	cfg, err := dynamodb.ParseURL("dynamodb://" + table + "?region=us-east-1&endpoint=" + endpoint)
	if err != nil {
		b.Fatal(err)
	}
	client, err := dynamodb.NewEnvClient(cfg, os.Getenv, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := dynamodb.CreateTable(ctx, client, table); err != nil {
		b.Fatal(err)
	}
	store := dynamodb.New(client, table, dynamodb.Options{})
	f, err := config.Load([]byte(benchConfig), func(k string) string {
		return map[string]string{"SECRET": testSecret, "PASSWORD": benchPassword}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	// The deployed hasher (Argon2id, default parameters), so that a sign-in
	// costs what it costs in production and upgrades no hash.
	if _, err := config.Apply(ctx, store, f, config.ApplyOptions{Hasher: password.NewHasher()}); err != nil {
		b.Fatal(err)
	}

	e := &benchEnv{bin: bootstrapBinary(b), counter: newDDBCounter(b, endpoint)}
	storeURL := func(endpoint string) string {
		return "LATCH_STORE=dynamodb://" + table + "?region=us-east-1&endpoint=" + endpoint
	}
	e.env = append(slices.Clone(awsEnv), storeURL(e.counter.srv.URL), "LATCH_ISSUER="+testIssuer)
	e.direct = append(slices.Clone(awsEnv), storeURL(endpoint), "LATCH_ISSUER="+testIssuer)
	tok := e.start(b, "token", nil)
	defer tok.stop()
	e.clientTok = tokenFrom(b, tok.rt.invoke(b, tokenRESTEvent()))
	e.userTok = tokenFrom(b, tok.rt.invoke(b, passwordRESTEvent()))
	return e
}

// start runs a bootstrap with the handler and extra environment.
func (e *benchEnv) start(b *testing.B, handler string, extra []string) *bootstrapProc {
	env := append(slices.Clone(e.env), "LATCH_LAMBDA_HANDLER="+handler)
	return startProc(b, e.bin, newBenchRuntime(nil), append(env, extra...))
}

// passwordRESTEvent asks for a token with the password grant.
func passwordRESTEvent() string {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+testSecret))
	body := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {benchPassword}, "scope": {"premium/read"}}.Encode()
	raw, _ := json.Marshal(events.APIGatewayProxyRequest{
		Resource: "/oauth2/token", Path: "/oauth2/token", HTTPMethod: "POST",
		Headers:        map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth, "Host": "auth.latch.test"},
		Body:           body,
		RequestContext: events.APIGatewayProxyRequestContext{Stage: "prod", Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.7"}},
	})
	return string(raw)
}

// tokenFrom reads the access token of a token function's REST response.
func tokenFrom(b *testing.B, r result) string {
	b.Helper()
	var resp events.APIGatewayProxyResponse
	if r.errorMsg != "" || json.Unmarshal(r.body, &resp) != nil {
		b.Fatalf("token function: %s %s", r.errorMsg, r.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &tr) != nil || tr.AccessToken == "" {
		b.Fatalf("token function: %d %s", resp.StatusCode, resp.Body)
	}
	return tr.AccessToken
}

// allowed fails unless r is an IAM policy allowing the request.
func allowed(b *testing.B, r result) {
	if r.errorMsg != "" || !strings.Contains(string(r.body), `"Effect":"Allow"`) {
		b.Fatalf("authorizer: %s %s", r.errorMsg, r.body)
	}
}

// BenchmarkColdStart starts the bootstrap as the authorizer, under a fresh
// Runtime API, with one TOKEN event queued, and measures from starting the
// process to the authorizer's response: what a cold start adds to the first
// request, Lambda's own sandbox set-up excepted. Reported: ms/op (also
// p50-ms and p90-ms), init-ms (process start to the first "next") and the
// size of the binary in bytes; "direct" reaches DynamoDB Local directly,
// "counted" through the counting proxy, and also reports the DynamoDB
// requests of the init (ddb-init/op) and of the first decision
// (ddb-first/op).
func BenchmarkColdStart(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("direct", func(b *testing.B) { benchColdStart(b, e, e.direct) })
	b.Run("counted", func(b *testing.B) { benchColdStart(b, e, e.env) })
}

func benchColdStart(b *testing.B, e *benchEnv, env []string) {
	tokEv, _, _ := authorizerEvents(e.clientTok)
	fi, err := os.Stat(e.bin)
	if err != nil {
		b.Fatal(err)
	}
	var total, initTotal time.Duration
	var all []time.Duration
	initOps, firstOps := counts{map[string]int{}, map[string]int{}}, counts{map[string]int{}, map[string]int{}}
	for b.Loop() {
		b.StopTimer()
		var atInit counts
		rt := newBenchRuntime(func() { atInit = e.counter.snapshot() })
		before := e.counter.snapshot()
		b.StartTimer()
		t0 := time.Now()
		p := startProc(b, e.bin, rt, append(slices.Clone(env), "LATCH_LAMBDA_HANDLER=authorizer"))
		res := rt.invoke(b, tokEv)
		d := time.Since(t0)
		b.StopTimer()
		if res.errorMsg != "" {
			b.Fatalf("%s\n%s", res.errorMsg, p.stderr.String())
		}
		allowed(b, res)
		after := e.counter.snapshot()
		p.stop()
		rt.mu.Lock()
		initD := rt.firstAt.Sub(t0)
		initOps.add(before.to(atInit))
		firstOps.add(atInit.to(after))
		rt.mu.Unlock()
		total += d
		initTotal += initD
		all = append(all, d)
		b.StartTimer()
	}
	b.StopTimer()
	n := len(all)
	slices.Sort(all)
	pct := func(p float64) float64 {
		i := max(0, min(n-1, int(p*float64(n)+0.5)-1))
		return float64(all[i]) / 1e6
	}
	b.ReportMetric(float64(total)/float64(n)/1e6, "ms/op")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(float64(initTotal)/float64(n)/1e6, "init-ms")
	b.ReportMetric(float64(fi.Size()), "bytes")
	ms := make([]string, n)
	for i, d := range all {
		ms[i] = strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64)
	}
	b.Logf("%d cold starts, ms (sorted): %s", n, strings.Join(ms, " "))
	if sum(initOps.ops)+sum(firstOps.ops) > 0 {
		b.ReportMetric(float64(sum(initOps.ops))/float64(n), "ddb-init/op")
		b.ReportMetric(float64(sum(firstOps.ops))/float64(n), "ddb-first/op")
		b.Logf("DynamoDB requests in all: init %s; first decision %s", formatOps(initOps.detail), formatOps(firstOps.detail))
	}
}

// benchAuthorize invokes one authorizer process b.N times with a TOKEN
// event, after one warm-up invocation; with pause > 0 it waits that long
// (timer stopped) before each invocation.
func benchAuthorize(b *testing.B, e *benchEnv, tok string, extra []string, pause time.Duration) {
	p := e.start(b, "authorizer", extra)
	defer p.stop()
	tokEv, _, _ := authorizerEvents(tok)
	allowed(b, p.rt.invoke(b, tokEv))
	before := e.counter.snapshot()
	n := 0
	for b.Loop() {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		allowed(b, p.rt.invoke(b, tokEv))
		n++
	}
	b.StopTimer()
	report(b, e.counter.since(before), n)
}

// BenchmarkAuthorizerWarm: a warm authorizer deciding the same token again
// and again (the in-process cache holds the client, user, roles and
// audiences for LATCH_CACHE_TTL, 5 s by default).
func BenchmarkAuthorizerWarm(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("client", func(b *testing.B) { benchAuthorize(b, e, e.clientTok, nil, 0) })
	b.Run("user", func(b *testing.B) { benchAuthorize(b, e, e.userTok, nil, 0) })
}

// BenchmarkAuthorizerMiss: every decision finds the in-process cache
// expired (LATCH_CACHE_TTL=50ms, 60 ms between decisions), so it reads
// everything its policy and its token's checks are made of, as the first
// decision about a principal does, or the first after the TTL.
func BenchmarkAuthorizerMiss(b *testing.B) {
	e := newBenchEnv(b)
	miss := []string{"LATCH_CACHE_TTL=50ms"}
	b.Run("client", func(b *testing.B) { benchAuthorize(b, e, e.clientTok, miss, 60*time.Millisecond) })
	b.Run("user", func(b *testing.B) { benchAuthorize(b, e, e.userTok, miss, 60*time.Millisecond) })
}

// BenchmarkTokenIssue: a warm token function issuing JWT access tokens,
// with client_credentials and with the password grant (one Argon2id
// verification per token, default parameters; a refresh token too).
func BenchmarkTokenIssue(b *testing.B) {
	e := newBenchEnv(b)
	for _, c := range []struct {
		name, ev string
	}{{"client_credentials", tokenRESTEvent()}, {"password", passwordRESTEvent()}} {
		b.Run(c.name, func(b *testing.B) {
			p := e.start(b, "token", nil)
			defer p.stop()
			tokenFrom(b, p.rt.invoke(b, c.ev))
			before := e.counter.snapshot()
			n := 0
			for b.Loop() {
				tokenFrom(b, p.rt.invoke(b, c.ev))
				n++
			}
			b.StopTimer()
			report(b, e.counter.since(before), n)
		})
	}
}
