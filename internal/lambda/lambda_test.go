package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden responses under testdata/responses")

// fakeResolver is a Resolver made of a function.
type fakeResolver struct {
	resolve func(ctx context.Context, bearer string) (authorizer.Principal, *policy.Policy, error)
}

func (f fakeResolver) Resolve(ctx context.Context, bearer string) (authorizer.Principal, *policy.Policy, error) {
	return f.resolve(ctx, bearer)
}

var _ authorizer.Resolver = fakeResolver{}

// seedResolver knows the seed principals' tokens, with policies compiled by
// the real engine.
func seedResolver(t *testing.T) fakeResolver {
	t.Helper()
	employee := latch.Role{Org: "acme", ID: "employee", Allow: []string{"GET /api/employee/{sub}/**"}}
	manager := latch.Role{Org: "acme", ID: "manager", Allow: []string{"GET /api/employee/**"}}
	premium := latch.Audience{ID: "premium", Scopes: map[string][]string{
		"read":  {"GET,HEAD /premium/**"},
		"write": {"POST /premium/**"},
	}}
	type entry struct {
		p  authorizer.Principal
		in policy.Input
	}
	user := func(sub string) authorizer.Principal {
		return authorizer.Principal{Sub: sub, Org: "acme", ClientID: "web", Kind: latch.SubjectUser, Scopes: []string{"openid", "profile"}}
	}
	client := func(id, scope string) authorizer.Principal {
		return authorizer.Principal{Sub: id, Org: "acme", ClientID: id, Kind: latch.SubjectClient, Scopes: []string{scope}}
	}
	entries := map[string]entry{
		"e5-token": {user("5"), policy.Input{Kind: latch.SubjectUser, Sub: "5", Org: "acme", ClientID: "web", Roles: []latch.Role{employee}}},
		"c-token": {user("8"), policy.Input{Kind: latch.SubjectUser, Sub: "8", Org: "acme", ClientID: "web",
			Roles: []latch.Role{employee, manager}, Deny: []string{"/api/employee/7", "/api/employee/7/**"}}},
		"read-token": {client("m2m-read", "premium/read"), policy.Input{Kind: latch.SubjectClient, Org: "acme", ClientID: "m2m-read",
			Scopes: []string{"premium/read"}, Audiences: []latch.Audience{premium}}},
		"write-token": {client("m2m-write", "premium/write"), policy.Input{Kind: latch.SubjectClient, Org: "acme", ClientID: "m2m-write",
			Scopes: []string{"premium/write"}, Audiences: []latch.Audience{premium}}},
		// A single-segment '*' cannot be written in IAM: per-request documents.
		"star-token": {user("9"), policy.Input{Kind: latch.SubjectUser, Sub: "9", Org: "acme", ClientID: "web",
			Allow: []string{"GET /api/employee/*/paystubs"}}},
	}
	policies := map[string]*policy.Policy{}
	for tok, e := range entries {
		p, err := policy.Compile(e.in)
		if err != nil {
			t.Fatal(err)
		}
		policies[tok] = p
	}
	return fakeResolver{func(ctx context.Context, bearer string) (authorizer.Principal, *policy.Policy, error) {
		switch bearer {
		case "down-token":
			return authorizer.Principal{}, nil, latch.Errorf(latch.EUNAVAILABLE, "store unavailable")
		case "panic-token":
			panic("resolver bug")
		case "robot-token":
			return authorizer.Principal{Sub: "r", Kind: "robot"}, policies["e5-token"], nil
		}
		if p, ok := policies[bearer]; ok {
			return entries[bearer].p, p, nil
		}
		return authorizer.Principal{}, nil, &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token"}
	}}
}

const (
	restStage = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/prod/"
	httpStage = "arn:aws:execute-api:eu-west-1:111122223333:f6g7h8i9j0/$default/"
)

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// header is an Authorization header for a case; absent when omit.
type header struct {
	value string
	omit  bool
}

// result is what one event gave, whichever its kind.
type result struct {
	resp    any
	doc     *events.APIGatewayCustomAuthorizerPolicy
	allowed bool // by IAM evaluation of doc against the ARN, or isAuthorized
	arn     string
	err     error
	outcome Outcome
}

const (
	kindToken      = "token"
	kindRequest    = "request"
	kindHTTPSimple = "http-simple"
	kindHTTPIAM    = "http-iam"
)

var allKinds = []string{kindToken, kindRequest, kindHTTPSimple, kindHTTPIAM}

func invoke(t *testing.T, h *Handler, outcomes *[]Outcome, kind string, hd header, method, path string) result {
	t.Helper()
	ctx := context.Background()
	var r result
	n := len(*outcomes)
	switch kind {
	case kindToken:
		var ev events.APIGatewayCustomAuthorizerRequest
		readFixture(t, "rest-token.json", &ev)
		ev.AuthorizationToken = hd.value // a TOKEN event always has the field
		ev.MethodArn = restStage + method + path
		resp, err := h.Token(ctx, ev)
		r = result{resp: resp, doc: &resp.PolicyDocument, arn: ev.MethodArn, err: err}
	case kindRequest:
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		readFixture(t, "rest-request.json", &ev)
		delete(ev.Headers, "Authorization")
		delete(ev.MultiValueHeaders, "Authorization")
		if !hd.omit {
			ev.Headers["Authorization"] = hd.value
			ev.MultiValueHeaders["Authorization"] = []string{hd.value}
		}
		ev.MethodArn = restStage + method + path
		ev.Path, ev.HTTPMethod = path, method
		ev.RequestContext.Path, ev.RequestContext.HTTPMethod = "/prod"+path, method
		resp, err := h.Request(ctx, ev)
		r = result{resp: resp, doc: &resp.PolicyDocument, arn: ev.MethodArn, err: err}
	case kindHTTPSimple, kindHTTPIAM:
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		readFixture(t, "http-v2-request.json", &ev)
		delete(ev.Headers, "authorization")
		ev.IdentitySource = nil
		if !hd.omit {
			ev.Headers["authorization"] = hd.value
			ev.IdentitySource = []string{hd.value}
		}
		ev.RouteArn = httpStage + method + path
		ev.RawPath = path
		ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = method, path
		if kind == kindHTTPSimple {
			resp, err := h.HTTPSimple(ctx, ev)
			r = result{resp: resp, allowed: resp.IsAuthorized, arn: ev.RouteArn, err: err}
		} else {
			resp, err := h.HTTPIAM(ctx, ev)
			r = result{resp: resp, doc: &resp.PolicyDocument, arn: ev.RouteArn, err: err}
		}
	default:
		t.Fatalf("kind %q", kind)
	}
	if r.doc != nil {
		r.allowed = evalIAM(*r.doc, r.arn)
	}
	if len(*outcomes) != n+1 {
		t.Fatalf("%d outcomes logged, want 1", len(*outcomes)-n)
	}
	r.outcome = (*outcomes)[n]
	return r
}

// evalIAM evaluates an authorizer's document for one ARN: an explicit Deny
// wins, then an Allow, else deny; a resource matches the ARN as one string,
// '*' any run of characters and '?' one.
func evalIAM(doc events.APIGatewayCustomAuthorizerPolicy, arn string) bool {
	allowed := false
	for _, st := range doc.Statement {
		for _, r := range st.Resource {
			if policy.MatchIAMResource(r, arn) {
				if st.Effect == "Deny" {
					return false
				}
				allowed = true
			}
		}
	}
	return allowed
}

func newHandler(t *testing.T, opts Options) (*Handler, *[]Outcome) {
	var outcomes []Outcome
	opts.Log = func(_ context.Context, o Outcome) { outcomes = append(outcomes, o) }
	return New(seedResolver(t), opts), &outcomes
}

func TestEvents(t *testing.T) {
	bearer := func(tok string) header { return header{value: "Bearer " + tok} }
	for _, c := range []struct {
		name   string
		kinds  []string // default: all
		hd     header
		req    string // "METHOD PATH"
		want   string // allow, deny, unauthorized, error
		pid    string // principalId
		allow  []string
		deny   []string
		golden string
	}{
		{name: "employee 5 reads own paystubs", hd: bearer("e5-token"), req: "GET /api/employee/5/paystubs", want: "allow", pid: "user:acme:5",
			allow:  []string{"GET /api/employee/5", "GET /api/employee/5/paystubs/3"},
			deny:   []string{"GET /api/employee/6", "GET /api/employee/6/paystubs", "POST /api/employee/5", "GET /api/employee/5/../6", "GET /api/employee/5%2F..%2F6", "GET /api/employee/50"},
			golden: "employee5"},
		{name: "employee 5 and employee 6", hd: bearer("e5-token"), req: "GET /api/employee/6/paystubs", want: "deny", pid: "user:acme:5"},
		{name: "employee 5 dot-dot", hd: bearer("e5-token"), req: "GET /api/employee/5/../6/paystubs", want: "deny"},
		{name: "employee 5 encoded slash", hd: bearer("e5-token"), req: "GET /api/employee/5%2F..%2F6", want: "deny"},
		{name: "manager reads 5", hd: bearer("c-token"), req: "GET /api/employee/5", want: "allow", pid: "user:acme:8",
			allow: []string{"GET /api/employee/6/paystubs/4", "GET /api/employee"}},
		{name: "manager and 7", hd: bearer("c-token"), req: "GET /api/employee/7", want: "deny", pid: "user:acme:8",
			allow:  []string{"GET /api/employee/70"},
			deny:   []string{"GET /api/employee/7/paystubs", "HEAD /api/employee/7", "GET /api/employee/%37", "GET /api/employee/%37/paystubs", "GET /api/employee/6/../7", "GET /api/employee/6%2F..%2F7", "GET /api/employee/7/", "GET /api/employee//7"},
			golden: "manager-7"},
		{name: "manager and %37", hd: bearer("c-token"), req: "GET /api/employee/%37", want: "deny"},
		{name: "manager and %37 below", hd: bearer("c-token"), req: "GET /api/employee/%37/paystubs", want: "deny"},
		{name: "manager and 6/../7", hd: bearer("c-token"), req: "GET /api/employee/6/../7", want: "deny"},
		{name: "premium read GET", hd: bearer("read-token"), req: "GET /premium/content", want: "allow", pid: "client:acme:m2m-read",
			allow: []string{"HEAD /premium/content", "GET /premium"}, deny: []string{"POST /premium/content", "GET /premiums"}, golden: "premium-read"},
		{name: "premium read POST", hd: bearer("read-token"), req: "POST /premium/content", want: "deny", pid: "client:acme:m2m-read"},
		{name: "premium write POST", hd: bearer("write-token"), req: "POST /premium/content", want: "allow", pid: "client:acme:m2m-write",
			deny: []string{"GET /premium/content"}},
		{name: "bearer in any case", hd: header{value: "bEaReR e5-token"}, req: "GET /api/employee/5", want: "allow"},
		{name: "per-request fallback", hd: bearer("star-token"), req: "GET /api/employee/6/paystubs", want: "allow", pid: "user:acme:9",
			deny: []string{"GET /api/employee/7/paystubs", "GET /api/employee/6"}, golden: "fallback"},

		{name: "no token", kinds: []string{kindRequest, kindHTTPSimple, kindHTTPIAM}, hd: header{omit: true}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "empty token", hd: header{value: ""}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "Bearer with two spaces", hd: header{value: "Bearer  e5-token"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "trailing space", hd: header{value: "Bearer e5-token "}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "tab", hd: header{value: "Bearer\te5-token"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "Bearer alone", hd: header{value: "Bearer"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "Bearer and a space", hd: header{value: "Bearer "}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "raw token", hd: header{value: "e5-token"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "Basic", hd: header{value: "Basic ZTU6dG9rZW4="}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "two tokens", hd: header{value: "Bearer e5-token, Bearer c-token"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "junk in the token", hd: header{value: "Bearer e5-token;x"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "padding inside", hd: header{value: "Bearer e5=token"}, req: "GET /api/employee/5", want: "unauthorized"},
		{name: "refused token", hd: bearer("forged-token"), req: "GET /api/employee/5", want: "unauthorized"},

		{name: "store unavailable", hd: bearer("down-token"), req: "GET /api/employee/5", want: "error"},
		{name: "resolver panics", hd: bearer("panic-token"), req: "GET /api/employee/5", want: "error"},
		{name: "unknown principal kind", hd: bearer("robot-token"), req: "GET /api/employee/5", want: "error"},
	} {
		kinds := c.kinds
		if kinds == nil {
			kinds = allKinds
		}
		for _, kind := range kinds {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				h, outcomes := newHandler(t, Options{})
				method, path, _ := strings.Cut(c.req, " ")
				r := invoke(t, h, outcomes, kind, c.hd, method, path)
				checkResult(t, c.want, c.pid, r)
				if r.err != nil || r.doc == nil {
					return
				}
				stage := restStage
				if kind == kindHTTPIAM {
					stage = httpStage
				}
				for _, req := range c.allow {
					m, p, _ := strings.Cut(req, " ")
					if !evalIAM(*r.doc, stage+m+p) {
						t.Errorf("the document denies %s, want allow", req)
					}
				}
				for _, req := range c.deny {
					m, p, _ := strings.Cut(req, " ")
					if evalIAM(*r.doc, stage+m+p) {
						t.Errorf("the document allows %s, want deny", req)
					}
				}
				if c.golden != "" && (kind == kindToken || kind == kindHTTPIAM) {
					checkGolden(t, c.golden+"-"+kind, r.resp)
				}
			})
		}
	}
}

func checkResult(t *testing.T, want, pid string, r result) {
	t.Helper()
	if r.outcome.Err != r.err {
		t.Errorf("logged error %v, returned %v", r.outcome.Err, r.err)
	}
	switch want {
	case "unauthorized":
		if r.err != ErrUnauthorized || r.err.Error() != "Unauthorized" {
			t.Fatalf("err = %v, want exactly Unauthorized", r.err)
		}
	case "error":
		if r.err == nil || r.err.Error() == "Unauthorized" || errors.Is(r.err, ErrUnauthorized) {
			t.Fatalf("err = %v, want an error other than Unauthorized", r.err)
		}
	default:
		if r.err != nil {
			t.Fatalf("err = %v", r.err)
		}
		if got := r.allowed; got != (want == "allow") {
			t.Fatalf("allowed = %v, want %s (decision: %s)", got, want, r.outcome.Decision.Explain())
		}
		if r.outcome.Decision.Allowed != (want == "allow") {
			t.Errorf("logged decision %s, want %s", r.outcome.Decision.Explain(), want)
		}
	}
	if r.err != nil {
		// Nothing but the zero response, and certainly no Allow.
		b, _ := json.Marshal(r.resp)
		if r.allowed || bytes.Contains(b, []byte("Allow")) || bytes.Contains(b, []byte(`"isAuthorized":true`)) {
			t.Errorf("error %v with response %s", r.err, b)
		}
		return
	}
	checkShape(t, pid, r.resp)
}

// checkShape checks the JSON API Gateway receives: the keys it documents,
// string context values, a real boolean isAuthorized.
func checkShape(t *testing.T, pid string, resp any) {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ctxJSON json.RawMessage
	if _, simple := resp.(events.APIGatewayV2CustomAuthorizerSimpleResponse); simple {
		if !slices.Equal(keys, []string{"context", "isAuthorized"}) {
			t.Errorf("simple response keys %v", keys)
		}
		if s := string(m["isAuthorized"]); s != "true" && s != "false" {
			t.Errorf("isAuthorized = %s, want a JSON boolean", s)
		}
		ctxJSON = m["context"]
	} else {
		if !slices.Equal(keys, []string{"context", "policyDocument", "principalId"}) {
			t.Errorf("IAM response keys %v", keys)
		}
		var id string
		_ = json.Unmarshal(m["principalId"], &id)
		if id == "" || pid != "" && id != pid {
			t.Errorf("principalId = %q, want %q", id, pid)
		}
		var doc struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		}
		dec := json.NewDecoder(bytes.NewReader(m["policyDocument"]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil || doc.Version != policy.IAMVersion || len(doc.Statement) == 0 || len(doc.Statement) > 2 {
			t.Errorf("policyDocument %s: %v", m["policyDocument"], err)
		}
		ctxJSON = m["context"]
	}
	var c map[string]any
	if err := json.Unmarshal(ctxJSON, &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{ContextSub, ContextSubType, ContextOrg, ContextClientID, ContextScope} {
		if _, ok := c[k].(string); !ok {
			t.Errorf("context[%q] = %#v, want a string", k, c[k])
		}
	}
	if len(c) != 5 {
		t.Errorf("context %v: want 5 keys", c)
	}
}

func checkGolden(t *testing.T, name string, resp any) {
	t.Helper()
	got, err := json.MarshalIndent(resp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	file := filepath.Join("testdata", "responses", name+".json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got\n%s", file, got)
	}
}

func TestContextValues(t *testing.T) {
	h, outcomes := newHandler(t, Options{})
	r := invoke(t, h, outcomes, kindToken, header{value: "Bearer read-token"}, "GET", "/premium/content")
	resp := r.resp.(events.APIGatewayCustomAuthorizerResponse)
	want := map[string]any{"sub": "m2m-read", "sub_type": "client", "org_id": "acme", "client_id": "m2m-read", "scope": "premium/read"}
	if b1, b2 := mustJSON(t, resp.Context), mustJSON(t, want); b1 != b2 {
		t.Errorf("context %s, want %s", b1, b2)
	}
	r = invoke(t, h, outcomes, kindHTTPSimple, header{value: "Bearer e5-token"}, "GET", "/api/employee/5")
	simple := r.resp.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
	want = map[string]any{"sub": "5", "sub_type": "user", "org_id": "acme", "client_id": "web", "scope": "openid profile"}
	if b1, b2 := mustJSON(t, simple.Context), mustJSON(t, want); b1 != b2 {
		t.Errorf("context %s, want %s", b1, b2)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOutcomes(t *testing.T) {
	h, outcomes := newHandler(t, Options{})
	r := invoke(t, h, outcomes, kindToken, header{value: "Bearer e5-token"}, "GET", "/api/employee/5")
	o := r.outcome
	if o.Event != "TOKEN" || o.ARN != restStage+"GET/api/employee/5" || o.PrincipalID != "user:acme:5" || o.Principal.Sub != "5" ||
		o.IAM == nil || !o.IAM.Whole || !o.IAM.DocumentAllows || !o.Decision.Allowed {
		t.Errorf("outcome %+v", o)
	}
	// A whole document's guard denies a path the engine allows; the
	// outcome says so.
	r = invoke(t, h, outcomes, kindToken, header{value: "Bearer e5-token"}, "GET", "/api/employee/5/%61")
	if o := r.outcome; r.allowed || !o.Decision.Allowed || o.IAM.DocumentAllows || !o.IAM.Whole {
		t.Errorf("guarded request: allowed %v, outcome %+v", r.allowed, o)
	}
	r = invoke(t, h, outcomes, kindRequest, header{value: "Bearer star-token"}, "GET", "/api/employee/6/paystubs")
	if o := r.outcome; o.IAM == nil || o.IAM.Whole || !strings.Contains(o.IAM.Fallback, "single-segment") {
		t.Errorf("fallback outcome %+v", o.IAM)
	}
	doc := r.doc
	if len(doc.Statement) != 1 || !slices.Equal(doc.Statement[0].Resource, []string{r.arn}) || doc.Statement[0].Effect != "Allow" {
		t.Errorf("fallback document %+v, want Allow of %s alone", doc, r.arn)
	}
	r = invoke(t, h, outcomes, kindHTTPSimple, header{value: "Bearer e5-token"}, "GET", "/api/employee/5")
	if o := r.outcome; o.Event != "HTTP" || o.IAM != nil || !o.Decision.Allowed {
		t.Errorf("simple outcome %+v", o)
	}
	r = invoke(t, h, outcomes, kindToken, header{value: "Bearer panic-token"}, "GET", "/api/employee/5")
	if o := r.outcome; o.Err == nil || o.IAM != nil || !strings.Contains(o.Err.Error(), "panic") {
		t.Errorf("panic outcome %+v", o)
	}
	r = invoke(t, h, outcomes, kindToken, header{value: "Bearer down-token"}, "GET", "/api/employee/5")
	if o := r.outcome; !latch.IsCode(o.Err, latch.EUNAVAILABLE) {
		t.Errorf("unavailable outcome: %v (code %s)", o.Err, latch.ErrorCode(o.Err))
	}
}

func TestPerRequest(t *testing.T) {
	h, outcomes := newHandler(t, Options{PerRequest: true})
	for _, c := range []struct {
		tok, req string
		effect   string
	}{
		{"e5-token", "GET /api/employee/5/paystubs", "Allow"},
		{"e5-token", "GET /api/employee/6", "Deny"},
		{"c-token", "GET /api/employee/%37", "Deny"},
	} {
		method, path, _ := strings.Cut(c.req, " ")
		r := invoke(t, h, outcomes, kindRequest, header{value: "Bearer " + c.tok}, method, path)
		if r.err != nil {
			t.Fatal(r.err)
		}
		st := r.doc.Statement
		if len(st) != 1 || st[0].Effect != c.effect || !slices.Equal(st[0].Resource, []string{r.arn}) {
			t.Errorf("%s %s: document %+v, want %s of the ARN alone", c.tok, c.req, r.doc, c.effect)
		}
		if r.outcome.IAM.Whole || r.outcome.IAM.Fallback != "" {
			t.Errorf("%s %s: outcome %+v", c.tok, c.req, r.outcome.IAM)
		}
	}
}

func TestBadARN(t *testing.T) {
	h, outcomes := newHandler(t, Options{})
	ctx := context.Background()
	for _, arn := range []string{
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/", // the console's test invocation
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET",
		"",
	} {
		_, err := h.Token(ctx, events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer e5-token", MethodArn: arn})
		if err == nil || err == ErrUnauthorized {
			t.Errorf("%q: err = %v, want an internal error", arn, err)
		}
		// Without a token it is still Unauthorized.
		if _, err := h.Token(ctx, events.APIGatewayCustomAuthorizerRequest{MethodArn: arn}); err != ErrUnauthorized {
			t.Errorf("%q without a token: err = %v", arn, err)
		}
	}
	if len(*outcomes) != 6 {
		t.Errorf("%d outcomes", len(*outcomes))
	}
}

func TestRequestHeaders(t *testing.T) {
	h, outcomes := newHandler(t, Options{})
	ctx := context.Background()
	base := func() events.APIGatewayCustomAuthorizerRequestTypeRequest {
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		readFixture(t, "rest-request.json", &ev)
		return ev
	}
	// The fixture as it is.
	if resp, err := h.Request(ctx, base()); err != nil || !evalIAM(resp.PolicyDocument, base().MethodArn) {
		t.Errorf("fixture: %v, %+v", err, resp)
	}
	for _, c := range []struct {
		name string
		edit func(*events.APIGatewayCustomAuthorizerRequestTypeRequest)
		ok   bool
	}{
		{"lower-case name", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) {
			delete(ev.Headers, "Authorization")
			delete(ev.MultiValueHeaders, "Authorization")
			ev.Headers["authorization"] = "Bearer e5-token"
		}, true},
		{"headers only", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) { ev.MultiValueHeaders = nil }, true},
		{"twice in multiValueHeaders", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) {
			ev.MultiValueHeaders["Authorization"] = []string{"Bearer e5-token", "Bearer c-token"}
		}, false},
		{"twice, in two spellings", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) {
			ev.MultiValueHeaders = nil
			ev.Headers["AUTHORIZATION"] = "Bearer c-token"
		}, false},
		{"token in the query string only", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) {
			delete(ev.Headers, "Authorization")
			delete(ev.MultiValueHeaders, "Authorization")
			ev.QueryStringParameters = map[string]string{"access_token": "e5-token"}
			ev.MultiValueQueryStringParameters = map[string][]string{"access_token": {"e5-token"}}
		}, false},
		{"path field ignored", func(ev *events.APIGatewayCustomAuthorizerRequestTypeRequest) {
			ev.Path = "/api/employee/6/paystubs" // the ARN decides
		}, true},
	} {
		ev := base()
		c.edit(&ev)
		resp, err := h.Request(ctx, ev)
		switch {
		case c.ok && (err != nil || !evalIAM(resp.PolicyDocument, ev.MethodArn)):
			t.Errorf("%s: %v, %+v", c.name, err, resp)
		case !c.ok && err != ErrUnauthorized:
			t.Errorf("%s: err = %v, want Unauthorized", c.name, err)
		}
	}
	_ = outcomes
}

func TestUnauthorizedText(t *testing.T) {
	if ErrUnauthorized.Error() != "Unauthorized" {
		t.Fatalf("ErrUnauthorized = %q", ErrUnauthorized)
	}
}
