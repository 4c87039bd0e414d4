package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"latch.dev/latch"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/iam")

const testStage = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3/prod/"

func testARN(t testing.TB, method, path string) ARN {
	t.Helper()
	a, err := ParseARN(testStage + method + path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustCompile(t testing.TB, in Input) *Policy {
	t.Helper()
	p, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The seed principals.
var (
	roleEmployee = latch.Role{Org: "acme", ID: "employee", Allow: []string{"GET /api/employee/{sub}/**"}}
	roleManager  = latch.Role{Org: "acme", ID: "manager", Allow: []string{"GET /api/employee/**"}}
	audPremium   = latch.Audience{ID: "premium", Scopes: map[string][]string{
		"read":  {"GET,HEAD /premium/**"},
		"write": {"POST /premium/**"},
	}}
	audPayroll = latch.Audience{ID: "payroll", Scopes: map[string][]string{"read": {"GET /api/**"}}}
)

func seedInputs() map[string]Input {
	return map[string]Input{
		"employee5": {Kind: latch.SubjectUser, Sub: "5", Org: "acme", ClientID: "web", Roles: []latch.Role{roleEmployee}},
		"manager": {Kind: latch.SubjectUser, Sub: "8", Org: "acme", ClientID: "web",
			Roles: []latch.Role{roleEmployee, roleManager},
			Deny:  []string{"/api/employee/7", "/api/employee/7/**"}},
		"premium-read":  {Kind: latch.SubjectClient, Org: "acme", ClientID: "m2m-read", Scopes: []string{"premium/read"}, Audiences: []latch.Audience{audPremium}},
		"premium-write": {Kind: latch.SubjectClient, Org: "acme", ClientID: "m2m-write", Scopes: []string{"premium/write"}, Audiences: []latch.Audience{audPremium}},
		// Both layers: the role allows every method on the user's subtree, the
		// token's scope GET below /api; IAM gets the intersection.
		"both-layers": {Kind: latch.SubjectUser, Sub: "5", Org: "acme", ClientID: "web",
			Roles:  []latch.Role{{Org: "acme", ID: "owner", Allow: []string{"* /api/employee/{sub}/**"}}},
			Scopes: []string{"payroll/read"}, Audiences: []latch.Audience{audPayroll}},
		// Every method on its own subtree: one resource per API Gateway method.
		"all-methods": {Kind: latch.SubjectUser, Sub: "5", Org: "acme", Allow: []string{"* /api/employee/{sub}/**"}},
		// A denied name with a percent escape is also denied decoded.
		"escaped-deny": {Kind: latch.SubjectUser, Sub: "5", Org: "acme", Allow: []string{"GET /files/**"}, Deny: []string{"GET /files/a%20b"}},
		// A single-segment '*' cannot be written: per-request fallback.
		"fallback-star": {Kind: latch.SubjectUser, Sub: "9", Org: "acme", Allow: []string{"GET /api/employee/*/paystubs"}},
		// A team lead with many reports: over budget, per-request fallback.
		"fallback-budget": {Kind: latch.SubjectUser, Sub: "9", Org: "acme",
			Attributes: map[string][]string{"reports": numbers(40)},
			Allow:      []string{"GET /api/employee/{attr.reports}/**"}},
		// Neither layer: everything denied.
		"nobody": {Kind: latch.SubjectUser, Sub: "13", Org: "acme"},
	}
}

func numbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i + 100)
	}
	return out
}

type goldenIAM struct {
	Request        string    `json:"request"`
	Whole          bool      `json:"whole"`
	Fallback       string    `json:"fallback,omitempty"`
	Decision       string    `json:"decision"`
	DocumentAllows bool      `json:"documentAllows"`
	Bytes          int       `json:"bytes"`
	PolicyDocument IAMPolicy `json:"policyDocument"`
}

func TestIAMGolden(t *testing.T) {
	requests := map[string]string{
		"employee5":       "GET /api/employee/5/paystubs",
		"manager":         "GET /api/employee/7",
		"premium-read":    "GET /premium/content",
		"premium-write":   "POST /premium/content",
		"both-layers":     "POST /api/employee/5",
		"all-methods":     "DELETE /api/employee/5/paystubs/1",
		"escaped-deny":    "GET /files/a%20b",
		"fallback-star":   "GET /api/employee/6/paystubs",
		"fallback-budget": "GET /api/employee/101",
		"nobody":          "GET /",
	}
	for name, in := range seedInputs() {
		t.Run(name, func(t *testing.T) {
			p := mustCompile(t, in)
			method, path, _ := strings.Cut(requests[name], " ")
			req := testARN(t, method, path)
			r := p.IAM(req, IAMBudget{})
			g := goldenIAM{req.String(), r.Whole, r.Fallback, r.Decision.Explain(), r.DocumentAllows, r.Bytes, r.Document}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", "iam", name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it); got\n%s", file, got)
			}
			checkDocument(t, req, r)
		})
	}
}

// checkDocument checks the shape every document must have.
func checkDocument(t *testing.T, req ARN, r IAMResult) {
	t.Helper()
	doc := r.Document
	if doc.Version != IAMVersion || len(doc.Statement) == 0 || len(doc.Statement) > 2 {
		t.Fatalf("document %+v: want version %s and one or two statements", doc, IAMVersion)
	}
	b, _ := json.Marshal(doc)
	if r.Bytes != len(b) {
		t.Errorf("Bytes = %d, want %d", r.Bytes, len(b))
	}
	if r.Whole && r.Bytes > DefaultIAMMaxBytes {
		t.Errorf("whole document of %d bytes, over the default budget", r.Bytes)
	}
	if r.Whole != (r.Fallback == "") {
		t.Errorf("Whole = %v with Fallback %q", r.Whole, r.Fallback)
	}
	for _, st := range doc.Statement {
		if !slices.Equal(st.Action, []string{IAMAction}) || st.Effect != "Allow" && st.Effect != "Deny" || len(st.Resource) == 0 {
			t.Errorf("bad statement %+v", st)
		}
		for _, res := range st.Resource {
			if len(res) > MaxIAMResourceLength {
				t.Errorf("resource of %d characters", len(res))
			}
			if !strings.HasPrefix(res, req.stagePrefix()) {
				t.Errorf("resource %q is not below the stage %q", res, req.stagePrefix())
			}
		}
	}
}

// The seed scenarios through the IAM evaluation of the whole documents.
func TestIAMSeedScenarios(t *testing.T) {
	inputs := seedInputs()
	for _, c := range []struct {
		who, req string
		allow    bool
	}{
		{"employee5", "GET /api/employee/5", true},
		{"employee5", "GET /api/employee/5/paystubs", true},
		{"employee5", "GET /api/employee/5/paystubs/3", true},
		{"employee5", "GET /api/employee/6", false},
		{"employee5", "GET /api/employee/6/paystubs", false},
		{"employee5", "GET /api/employee/50", false},
		{"employee5", "GET /api/employee/05", false},
		{"employee5", "POST /api/employee/5", false},
		{"employee5", "HEAD /api/employee/5", false},
		{"employee5", "GET /api/employee/5/../6", false},
		{"employee5", "GET /api/employee/5/%2e%2e/6", false},
		{"employee5", "GET /api/employee/5%2F..%2F6", false},
		{"employee5", "GET /api/employee/5/", false},
		{"employee5", "GET /api/employee/5//x", false},
		{"employee5", "GET /api/employee/5/%zz", false},
		{"employee5", "GET /api/employee/5/a:b", false},
		{"manager", "GET /api/employee/5", true},
		{"manager", "GET /api/employee/6/paystubs/4", true},
		{"manager", "GET /api/employee", true},
		{"manager", "GET /api/employee/70", true},
		{"manager", "GET /api/employee/7", false},
		{"manager", "HEAD /api/employee/7", false},
		{"manager", "GET /api/employee/7/paystubs", false},
		{"manager", "GET /api/employee/%37", false},
		{"manager", "GET /api/employee/%37/paystubs", false},
		{"manager", "GET /api/employee/6/../7", false},
		{"manager", "GET /api/employee/6%2F..%2F7", false},
		{"manager", "GET /api/employee/7%2F", false},
		{"manager", "GET /api/employee//7", false},
		{"manager", "GET /api/employee/7/", false},
		{"manager", "GET /API/employee/7", false},
		{"manager", "POST /api/employee/5", false},
		{"premium-read", "GET /premium/content", true},
		{"premium-read", "HEAD /premium/content", true},
		{"premium-read", "GET /premium", true},
		{"premium-read", "POST /premium/content", false},
		{"premium-read", "GET /premiums", false},
		{"premium-write", "POST /premium/content", true},
		{"premium-write", "GET /premium/content", false},
		{"both-layers", "GET /api/employee/5/paystubs", true},
		{"both-layers", "POST /api/employee/5", false},
		{"both-layers", "GET /api/employee/6", false},
		{"all-methods", "DELETE /api/employee/5/x", true},
		{"all-methods", "PATCH /api/employee/5", true},
		{"all-methods", "GET /x/api/employee/5", false},
		{"escaped-deny", "GET /files/a", true},
		{"escaped-deny", "GET /files/a%20b", false},
		{"escaped-deny", "GET /files/a b", false},
		{"escaped-deny", "HEAD /files/a b", false},
		{"escaped-deny", "GET /files/a%2520b", false},
		{"nobody", "GET /", false},
	} {
		p := mustCompile(t, inputs[c.who])
		method, path, _ := strings.Cut(c.req, " ")
		r := p.IAM(testARN(t, "GET", "/"), IAMBudget{})
		if !r.Whole {
			t.Fatalf("%s: not a whole document: %s", c.who, r.Fallback)
		}
		arn := testStage + method + path
		if got := evalIAM(r.Document, arn); got != c.allow {
			t.Errorf("%s %s: IAM allows = %v, want %v\n%s", c.who, c.req, got, c.allow, docString(r.Document))
		}
		if d := p.Decide(method, path); c.allow && !d.Allowed {
			t.Errorf("%s %s: the case says allow but the engine says %s", c.who, c.req, d.Explain())
		}
	}
}

func docString(doc IAMPolicy) string {
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

func TestIAMFallback(t *testing.T) {
	p := mustCompile(t, Input{Kind: latch.SubjectUser, Sub: "9", Org: "acme",
		Allow: []string{"GET /api/employee/*/paystubs", "GET /x/**"}})
	for _, c := range []struct {
		req    string
		effect string
	}{
		{"GET /api/employee/6/paystubs", "Allow"},
		{"GET /api/employee/6/7/paystubs", "Deny"},
		{"POST /api/employee/6/paystubs", "Deny"},
		{"GET /x/*", "Deny"}, // the engine allows the literal '*', IAM would read a wildcard
		{"GET /x/a?b", "Deny"},
		{"GET /x/" + strings.Repeat("a", 600), "Deny"},
	} {
		method, path, _ := strings.Cut(c.req, " ")
		req := testARN(t, method, path)
		r := p.IAM(req, IAMBudget{})
		if r.Whole || !strings.Contains(r.Fallback, "single-segment '*'") {
			t.Errorf("%s: Whole %v, Fallback %q", c.req, r.Whole, r.Fallback)
		}
		checkDocument(t, req, r)
		st := r.Document.Statement
		if len(st) != 1 || st[0].Effect != c.effect || len(st[0].Resource) != 1 {
			t.Errorf("%s: document %s, want one %s", c.req, docString(r.Document), c.effect)
			continue
		}
		if c.effect == "Allow" && st[0].Resource[0] != req.String() {
			t.Errorf("%s: allows %q, want the requested ARN", c.req, st[0].Resource[0])
		}
		if r.DocumentAllows != (c.effect == "Allow") {
			t.Errorf("%s: DocumentAllows = %v", c.req, r.DocumentAllows)
		}
	}

	// Budgets.
	many := mustCompile(t, seedInputs()["fallback-budget"])
	if r := many.IAM(testARN(t, "GET", "/"), IAMBudget{}); r.Whole || !strings.Contains(r.Fallback, "resources (budget 64)") {
		t.Errorf("40 reports: Whole %v, Fallback %q", r.Whole, r.Fallback)
	}
	if r := many.IAM(testARN(t, "GET", "/"), IAMBudget{MaxResources: 200, MaxBytes: 100_000}); !r.Whole {
		t.Errorf("40 reports, larger budget: %s", r.Fallback)
	}
	if r := many.IAM(testARN(t, "GET", "/"), IAMBudget{MaxResources: 200}); r.Whole || !strings.Contains(r.Fallback, "bytes (budget 4096)") {
		t.Errorf("40 reports, byte budget: Whole %v, Fallback %q", r.Whole, r.Fallback)
	}
	long := mustCompile(t, Input{Kind: latch.SubjectUser, Sub: "1", Org: "acme", Allow: []string{"GET /" + strings.Repeat("a", 500) + "/**"}})
	if r := long.IAM(testARN(t, "GET", "/"), IAMBudget{}); r.Whole || !strings.Contains(r.Fallback, "limit is 512") {
		t.Errorf("long resource: Whole %v, Fallback %q", r.Whole, r.Fallback)
	}
	// A literal "*" from an attribute would be a wildcard in IAM.
	star := mustCompile(t, Input{Kind: latch.SubjectUser, Sub: "1", Org: "acme", Attributes: map[string][]string{"r": {"*"}}, Allow: []string{"GET /e/{attr.r}"}})
	if r := star.IAM(testARN(t, "GET", "/e/*"), IAMBudget{}); r.Whole || r.DocumentAllows || !strings.Contains(r.Fallback, "would be a wildcard") {
		t.Errorf("literal '*': Whole %v, allows %v, Fallback %q", r.Whole, r.DocumentAllows, r.Fallback)
	}
	// An invalid request ARN (built by hand) gets a denying document.
	bad := ARN{Partition: "aws", Region: "*", Account: "1", APIID: "a", Stage: "prod", Method: "GET", Path: "/"}
	if r := many.IAM(bad, IAMBudget{}); r.Whole || r.DocumentAllows || r.Document.Statement[0].Effect != "Deny" {
		t.Errorf("invalid ARN: %+v", r)
	}
}

func TestIAMGuardsOnlyWithWildcards(t *testing.T) {
	p := mustCompile(t, Input{Kind: latch.SubjectUser, Sub: "1", Org: "acme", Allow: []string{"GET /a/b", "POST /"}, Deny: []string{"/a/*"}})
	r := p.IAM(testARN(t, "GET", "/a/b"), IAMBudget{})
	if !r.Whole {
		t.Fatal(r.Fallback)
	}
	want := IAMPolicy{Version: IAMVersion, Statement: []IAMStatement{
		{Action: []string{IAMAction}, Effect: "Allow", Resource: []string{testStage + "GET/a/b", testStage + "POST/"}},
		{Action: []string{IAMAction}, Effect: "Deny", Resource: []string{testStage + "*/a/*"}},
	}}
	if got := docString(r.Document); got != docString(want) {
		t.Errorf("got %s\nwant %s", got, docString(want))
	}
	// A literal allow with a ':' that a deny reaches through an inner '*'.
	p = mustCompile(t, Input{Kind: latch.SubjectUser, Sub: "1", Org: "acme", Allow: []string{"GET /a/x:y/b"}, Deny: []string{"GET /a/*/b"}})
	r = p.IAM(testARN(t, "GET", "/a/x:y/b"), IAMBudget{})
	if !slices.Contains(r.Document.Statement[1].Resource, testStage+"*:*") || r.DocumentAllows {
		t.Errorf("colon guard missing: %s", docString(r.Document))
	}
}

func TestIAMIntersection(t *testing.T) {
	seg := func(s string) []Segment {
		st := MustParse(s)
		r := Rule{Statement: st, segs: st.segs}
		return r.Segments()
	}
	for _, c := range []struct{ a, b, want string }{
		{"* /api/employee/5/**", "GET /api/**", "GET /api/employee/5/**"},
		{"GET /a/*/c", "GET /a/b/*", "GET /a/b/c"},
		{"GET /a/**", "GET /a", "GET /a"},
		{"GET /a/*/**", "GET /a/b/c/**", "GET /a/b/c/**"},
		{"GET,POST /**", "POST,PUT /x", "POST /x"},
		{"GET /a", "POST /a", ""},
		{"GET /a/b", "GET /a/c", ""},
		{"GET /a/b/c", "GET /a/b", ""},
		{"GET /a/b/**", "GET /a", ""},
	} {
		a := iamEntry{methods: MustParse(c.a).Methods, segs: seg(c.a)}
		b := iamEntry{methods: MustParse(c.b).Methods, segs: seg(c.b)}
		for _, order := range [][2]iamEntry{{a, b}, {b, a}} {
			e, ok := intersectEntries(order[0], order[1])
			if c.want == "" {
				if ok {
					t.Errorf("%s ∩ %s: got %v, want none", c.a, c.b, e.segs)
				}
				continue
			}
			w := MustParse(c.want)
			if !ok || !slices.Equal(e.methods, w.Methods) || !slices.Equal(e.segs, seg(c.want)) {
				t.Errorf("%s ∩ %s = %v %v (%v), want %s", c.a, c.b, e.methods, e.segs, ok, c.want)
			}
		}
	}
}

func TestParseARN(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ARN
	}{
		{"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET/", ARN{"aws", "us-west-2", "123456789012", "ymy8tbxw7b", "prod", "GET", "/"}},
		{"arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request", ARN{"aws", "us-east-1", "123456789012", "s4x3opwd6i", "test", "GET", "/request"}},
		{"arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/POST/a/b:c/d", ARN{"aws", "us-east-1", "123456789012", "abcdef123", "$default", "POST", "/a/b:c/d"}},
		{"arn:aws-cn:execute-api:cn-north-1:123456789012:abc/v1_2-x/DELETE/a//b/%2F..", ARN{"aws-cn", "cn-north-1", "123456789012", "abc", "v1_2-x", "DELETE", "/a//b/%2F.."}},
	} {
		got, err := ParseARN(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseARN(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
	for _, in := range []string{
		"",
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/", // the console's test stage
		"arn:aws:execute-api:*:123456789012:ymy8tbxw7b/prod/GET/",
		"arn:aws:execute-api:us-west-2:*:ymy8tbxw7b/prod/GET/",
		"arn:aws:execute-api:us-west-2:123456789012:*/prod/GET/",
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/*/",
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET",
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod",
		"arn:aws:lambda:us-west-2:123456789012:ymy8tbxw7b/prod/GET/",
		"arn:gcp:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET/",
		"arn:aws:execute-api:us-west-2:123456789012",
		"arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/pr?d/GET/",
	} {
		if a, err := ParseARN(in); err == nil || latch.ErrorCode(err) != latch.EINVALID {
			t.Errorf("ParseARN(%q) = %+v, %v; want an EINVALID error", in, a, err)
		}
	}
}

func TestDecideARN(t *testing.T) {
	p := mustCompile(t, seedInputs()["employee5"])
	for _, c := range []struct {
		path string
		want Reason
	}{
		{"/api/employee/5", ReasonAllowed},
		{"/api/employee/5?x", ReasonInvalidPath},
		{"/api/employee/5#x", ReasonInvalidPath},
		{"/api/employee/5/%3F", ReasonAllowed},
	} {
		if d := p.DecideARN(testARN(t, "GET", c.path)); d.Reason != c.want {
			t.Errorf("DecideARN(%s) = %v, want %v", c.path, d.Reason, c.want)
		}
	}
}

// The IAM matcher of the property test, written apart from the generator's:
// an Allow matches the ARN as one string; a Deny must also match colon
// segment by colon segment, where only a '*' ending the pattern's last
// segment runs over further colons. This is the most permissive reading of
// IAM, so soundness under it is soundness under either.
type iamMatcher struct {
	allow [][]rune
	deny  [][][]rune // colon segments
}

func newMatcher(doc IAMPolicy) iamMatcher {
	var m iamMatcher
	for _, st := range doc.Statement {
		for _, r := range st.Resource {
			if st.Effect == "Allow" {
				m.allow = append(m.allow, []rune(r))
				continue
			}
			var segs [][]rune
			for _, s := range strings.Split(r, ":") {
				segs = append(segs, []rune(s))
			}
			m.deny = append(m.deny, segs)
		}
	}
	return m
}

func (m iamMatcher) allows(arn string) bool {
	var segs [][]rune
	for _, s := range strings.Split(arn, ":") {
		segs = append(segs, []rune(s))
	}
	for _, d := range m.deny {
		if segmentGlob(d, segs) {
			return false
		}
	}
	whole := []rune(arn)
	for _, a := range m.allow {
		if runeGlob(a, whole) {
			return true
		}
	}
	return false
}

func evalIAM(doc IAMPolicy, arn string) bool { return newMatcher(doc).allows(arn) }

// runeGlob: '*' matches any run of characters, '?' one character.
func runeGlob(p, s []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := 0; i <= len(s); i++ {
				if runeGlob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}

func segmentGlob(ps, as [][]rune) bool {
	switch {
	case len(ps) > len(as):
		return false
	case len(ps) < len(as):
		last := ps[len(ps)-1]
		if len(last) == 0 || last[len(last)-1] != '*' {
			return false
		}
		joined := slices.Clone(as[len(ps)-1])
		for _, s := range as[len(ps):] {
			joined = append(append(joined, ':'), s...)
		}
		as = append(as[:len(ps)-1:len(ps)-1], joined)
	}
	for i := range ps {
		if !runeGlob(ps[i], as[i]) {
			return false
		}
	}
	return true
}

func TestEvalIAM(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		str, seg   bool
	}{
		{"a/*", "a/b/c", true, true},
		{"a/*/c", "a/b/x/c", true, true},
		{"a/?/c", "a/é/c", true, true},
		{"a/?/c", "a/bb/c", false, false},
		{"x:a/*", "x:a/b:c", true, true},
		{"x:a/*/c", "x:a/b:x/c", true, false},
		{"x:a/*/..", "x:a/b:x/..", true, false},
		{"x:a/b", "x:a/b", true, true},
		{"x:a/*", "y:a/b", false, false},
	} {
		if got := runeGlob([]rune(c.pattern), []rune(c.s)); got != c.str {
			t.Errorf("runeGlob(%q, %q) = %v", c.pattern, c.s, got)
		}
		if got := MatchIAMResource(c.pattern, c.s); got != c.str {
			t.Errorf("MatchIAMResource(%q, %q) = %v", c.pattern, c.s, got)
		}
		doc := IAMPolicy{Statement: []IAMStatement{{Effect: "Allow", Resource: []string{"*"}}, {Effect: "Deny", Resource: []string{c.pattern}}}}
		if got := !evalIAM(doc, c.s); got != c.seg {
			t.Errorf("segment-wise deny of %q by %q = %v", c.s, c.pattern, got)
		}
	}
}

// Pools for random policies and paths.
var (
	propLiterals = []string{"api", "employee", "5", "7", "a", "b", "x:y", "a%20b", "%C3%A9", "~u", "a.b"}
	propHostile  = []string{
		"", ".", "..", "%2e", "%2E%2e", ".%2e", "%2F", "a%2fb", "%5C", "%5c", `\`, "#", "%37", "%61", "%7e",
		"a b", "é", "%c3%a9", "%", "%z", "%zz", "%ff", "%c0%ae", ":", "*", "a*", "５", "7;x", "%00", "%0a",
		"%3F", "%25", "%2A", "%20", "7%20", "%2e%2e%2f", "a%3Ab", "%E2%80%8B", "%C2%85",
	}
	propVerbs = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}
)

func randStatement(r *rand.Rand) string {
	var m string
	switch r.IntN(4) {
	case 0:
		m = "*"
	default:
		var ms []string
		for _, v := range []string{"GET", "HEAD", "POST", "DELETE"} {
			if r.IntN(3) == 0 {
				ms = append(ms, v)
			}
		}
		if len(ms) == 0 {
			ms = []string{"GET"}
		}
		m = strings.Join(ms, ",")
	}
	var b strings.Builder
	n := r.IntN(4)
	for range n {
		b.WriteByte('/')
		switch k := r.IntN(20); {
		case k < 14:
			b.WriteString(propLiterals[r.IntN(len(propLiterals))])
		case k < 18:
			b.WriteString("*")
		case k < 19:
			b.WriteString("{attr.v}")
		default:
			b.WriteString("{sub}")
		}
	}
	if r.IntN(3) == 0 || n == 0 && r.IntN(2) == 0 {
		b.WriteString("/**")
	}
	p := b.String()
	if p == "" {
		p = "/"
	}
	return m + " " + p
}

func randStatements(r *rand.Rand, max int) []string {
	out := make([]string, r.IntN(max+1))
	for i := range out {
		out[i] = randStatement(r)
	}
	return out
}

func randInput(r *rand.Rand) Input {
	in := Input{
		Kind: latch.SubjectUser, Sub: "5", Org: "acme", ClientID: "web",
		Attributes: map[string][]string{"v": slices.Clone([]string{"*", "7", "a", "a%20b"}[:r.IntN(5)])},
		Allow:      randStatements(r, 3),
		Deny:       randStatements(r, 2),
	}
	for i := range r.IntN(3) {
		in.Roles = append(in.Roles, latch.Role{Org: "acme", ID: fmt.Sprint("r", i), Allow: randStatements(r, 3), Deny: randStatements(r, 1)})
	}
	if r.IntN(3) == 0 {
		aud := latch.Audience{ID: "aud", Scopes: map[string][]string{"s1": randStatements(r, 2), "s2": randStatements(r, 2)}}
		in.Audiences = []latch.Audience{aud}
		for _, s := range []string{"aud/s1", "aud/s2", "other/s1"} {
			if r.IntN(2) == 0 {
				in.Scopes = append(in.Scopes, s)
			}
		}
	}
	return in
}

// randPath returns a request path: mostly built from the policy's own
// literals, with hostile segments and shapes mixed in; never a raw control
// character, a raw '?' or invalid UTF-8 (outside the soundness rule's
// domain).
func randPath(r *rand.Rand, p *Policy) string {
	var segs []string
	if rules := p.Rules(); len(rules) > 0 && r.IntN(2) == 0 {
		for _, g := range rules[r.IntN(len(rules))].Segments() {
			switch {
			case g.Literal != "":
				segs = append(segs, g.Literal)
			case g.Star:
				segs = append(segs, propLiterals[r.IntN(len(propLiterals))])
			}
		}
		for range r.IntN(3) {
			segs = append(segs, propLiterals[r.IntN(len(propLiterals))])
		}
	} else {
		for range r.IntN(5) {
			segs = append(segs, propLiterals[r.IntN(len(propLiterals))])
		}
	}
	for i := range segs {
		switch r.IntN(6) {
		case 0:
			segs[i] = propHostile[r.IntN(len(propHostile))]
		case 1: // another spelling of the same segment
			segs[i] = respell(r, segs[i])
		}
	}
	if r.IntN(8) == 0 {
		segs = append(segs, propHostile[r.IntN(len(propHostile))])
	}
	path := "/" + strings.Join(segs, "/")
	if r.IntN(12) == 0 {
		path += "/"
	}
	if !utf8.ValidString(path) {
		// ARNs arrive in JSON strings, which hold valid UTF-8 only (a
		// respelling may have decoded half a character).
		return randPath(r, p)
	}
	return path
}

// respell writes a segment differently: an unreserved character
// percent-encoded, an escape decoded or in lower case.
func respell(r *rand.Rand, s string) string {
	if s == "" {
		return s
	}
	if i := strings.IndexByte(s, '%'); i >= 0 && r.IntN(2) == 0 {
		if r.IntN(2) == 0 {
			return s[:i] + strings.ToLower(s[i:i+3]) + s[i+3:]
		}
		return s[:i] + percentDecode(s[i:i+3]) + s[i+3:]
	}
	i := r.IntN(len(s))
	if isUnreserved(s[i]) {
		return s[:i] + fmt.Sprintf("%%%02X", s[i]) + s[i+1:]
	}
	return s
}

// TestIAMSound is the property: on random policies and random (often
// hostile) paths, IAM evaluation of the generated document never allows a
// request that the engine denies.
func TestIAMSound(t *testing.T) {
	seed := uint64(1)
	if s := os.Getenv("LATCH_IAM_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	r := rand.New(rand.NewPCG(seed, 42))
	policies, paths := 3000, 150
	if testing.Short() {
		policies = 300
	}
	var whole, fallback, iamAllowed, engineAllowed, complete, plain, directed int
	for i := range policies {
		in := randInput(r)
		p, err := Compile(in)
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		req := testARN(t, propVerbs[r.IntN(len(propVerbs))], randPath(r, p))
		res := p.IAM(req, IAMBudget{MaxResources: 200, MaxBytes: 32 << 10})
		if res.Whole {
			whole++
		} else {
			fallback++
		}
		checkRes(t, i, in, req, res)
		m := newMatcher(res.Document)
		// DocumentAllows reads a Deny as one string, the test's matcher
		// segment by segment (fewer denies), so it may only allow more.
		if res.DocumentAllows && !m.allows(req.String()) {
			t.Errorf("policy %d: DocumentAllows but the test matcher denies %s", i, req)
		}
		// Denies written exactly: named methods, no '*' segment, no literal
		// "*" (an every-method deny uses the verb '*', which IAM runs into
		// the path; a '*' segment crosses '/').
		exactDenies := true
		for _, rule := range p.Rules() {
			if rule.Effect == Deny && (rule.Methods() == nil || slices.ContainsFunc(rule.Segments(), func(g Segment) bool { return g.Star || strings.Contains(g.Literal, "*") })) {
				exactDenies = false
			}
		}
		// ARNs aimed at the Allow resources: each wildcard filled with
		// ordinary and hostile pieces.
		for _, st := range res.Document.Statement {
			if st.Effect != "Allow" {
				continue
			}
			for _, rs := range st.Resource {
				for range 8 {
					arn := directedARN(r, rs)
					a, err := ParseARN(arn)
					if err != nil || !slices.Contains(propVerbs, a.Method) || strings.ContainsAny(a.Path, "?") || !utf8.ValidString(arn) {
						continue // outside the rule's domain
					}
					if m.allows(arn) && !p.Decide(a.Method, a.Path).Allowed {
						t.Fatalf("UNSOUND: policy %d %s\nIAM allows %s\nengine: %s\ndocument: %s", i, describe(in), arn, p.Decide(a.Method, a.Path).Explain(), docString(res.Document))
					}
					directed++
				}
			}
		}
		for range paths {
			method := propVerbs[r.IntN(len(propVerbs))]
			path := randPath(r, p)
			if r.IntN(10) == 0 {
				path = req.Path // the requested one, for the per-request documents
				method = req.Method
			}
			arn := testStage + method + path
			if r.IntN(50) == 0 {
				arn = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3/prod2/" + method + path
			}
			got := m.allows(arn)
			d := p.Decide(method, path)
			if got && !d.Allowed {
				t.Fatalf("UNSOUND: policy %d %s\nIAM allows %s\nengine: %s\ndocument: %s", i, describe(in), arn, d.Explain(), docString(res.Document))
			}
			if got {
				iamAllowed++
			}
			if d.Allowed {
				engineAllowed++
			}
			// Completeness on ordinary paths: a whole document allows what
			// the engine allows, when its denies are written exactly.
			if res.Whole && d.Allowed && exactDenies && strings.HasPrefix(arn, testStage) && ordinary(path) {
				plain++
				if got {
					complete++
				} else {
					t.Errorf("INCOMPLETE: policy %d %s\nIAM denies %s, engine: %s\ndocument: %s", i, describe(in), arn, d.Explain(), docString(res.Document))
				}
			}
		}
	}
	t.Logf("%d policies (%d whole, %d per-request); IAM allowed %d requests, the engine %d; ordinary allowed requests %d, IAM allowed %d; %d ARNs aimed at Allow resources",
		policies, whole, fallback, iamAllowed, engineAllowed, plain, complete, directed)
	if whole < policies/3 || fallback < policies/20 || iamAllowed < policies || plain < policies {
		t.Errorf("the generator is too narrow: %d whole, %d per-request, %d allowed, %d ordinary", whole, fallback, iamAllowed, plain)
	}
}

// directedARN fills the wildcards of an IAM resource with pieces of paths,
// ordinary and hostile.
func directedARN(r *rand.Rand, resource string) string {
	var b strings.Builder
	for _, c := range resource {
		switch c {
		case '*':
			for range r.IntN(4) {
				if r.IntN(2) == 0 {
					b.WriteByte('/')
				}
				if r.IntN(2) == 0 {
					b.WriteString(propHostile[r.IntN(len(propHostile))])
				} else {
					b.WriteString(propLiterals[r.IntN(len(propLiterals))])
				}
			}
		case '?':
			b.WriteString([]string{"a", "é", "%", "/", ":", ".", "7"}[r.IntN(7)])
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ordinary reports whether a path is canonical and free of the shapes the
// guards deny.
func ordinary(path string) bool {
	c, ok := Canonicalize(path)
	return ok && c == path && !strings.ContainsAny(path, "%:")
}

func checkRes(t *testing.T, i int, in Input, req ARN, res IAMResult) {
	t.Helper()
	if len(res.Document.Statement) == 0 || len(res.Document.Statement) > 2 {
		t.Fatalf("policy %d %s: %d statements", i, describe(in), len(res.Document.Statement))
	}
	for _, st := range res.Document.Statement {
		for _, rs := range st.Resource {
			if len(rs) > MaxIAMResourceLength || !strings.HasPrefix(rs, req.stagePrefix()) {
				t.Fatalf("policy %d: resource %q", i, rs)
			}
		}
	}
}

func describe(in Input) string {
	b, _ := json.Marshal(in)
	return string(b)
}

func BenchmarkIAM(b *testing.B) {
	inputs := seedInputs()
	big := Input{Kind: latch.SubjectUser, Sub: "9", Org: "acme",
		Attributes: map[string][]string{"reports": numbers(20)},
		Allow:      []string{"GET /api/employee/{attr.reports}/**", "GET /api/employee/{sub}/**"},
		Deny:       []string{"/api/employee/7/**", "POST /api/**"},
		Roles:      []latch.Role{roleEmployee, roleManager},
	}
	for _, name := range []string{"employee5", "manager", "premium-read", "both-layers", "fallback-star"} {
		b.Run(name, func(b *testing.B) {
			p := mustCompile(b, inputs[name])
			req := testARN(b, "GET", "/api/employee/5/paystubs")
			b.ReportAllocs()
			for b.Loop() {
				p.IAM(req, IAMBudget{})
			}
		})
	}
	b.Run("manager-20-reports", func(b *testing.B) {
		p := mustCompile(b, big)
		req := testARN(b, "GET", "/api/employee/5/paystubs")
		b.ReportAllocs()
		for b.Loop() {
			p.IAM(req, IAMBudget{})
		}
	})
}
