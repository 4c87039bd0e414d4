package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"latch.dev/latch"
)

func TestCanonicalizeRawBytes(t *testing.T) {
	for _, p := range []string{"/a\x00", "/a\tb", "/a\nb", "/a\rb", "/a\x7f", "/a\xff", "/a\xc0\xaf", "/\xc2\x85", "/a/\xed\xa0\x80"} {
		if got, ok := Canonicalize(p); ok {
			t.Errorf("Canonicalize(%q) = %q, want rejected", p, got)
		}
	}
}

func TestCanonicalizeAllocations(t *testing.T) {
	for _, c := range []struct {
		path string
		max  float64
	}{
		{"/api/employee/5/paystubs/1", 0},
		{"/api/employee/5?x=1", 0},
		{"/api/employee/%37", 1},
		{"/api/employee/..", 0},
	} {
		if got := testing.AllocsPerRun(100, func() { Canonicalize(c.path) }); got > c.max {
			t.Errorf("Canonicalize(%q): %v allocations, want <= %v", c.path, got, c.max)
		}
	}
}

func TestDecideAllocations(t *testing.T) {
	p, err := Compile(Input{
		Kind: latch.SubjectUser, Sub: "8", Org: "acme",
		Attributes: map[string][]string{"reports": {"5", "6"}},
		Allow:      []string{"GET /api/employee/**", "GET /api/employee/{attr.reports}/paystubs/*"},
		Deny:       []string{"/api/employee/7", "/api/employee/7/**"},
		Scopes:     []string{"payroll/read"},
		Audiences:  []latch.Audience{{ID: "payroll", Scopes: map[string][]string{"read": {"GET,HEAD /api/**"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		max          float64
	}{
		{"GET", "/api/employee/5/paystubs/1", 0},
		{"GET", "/api/employee/7/paystubs/1", 0},
		{"POST", "/api/employee/5", 0},
		{"GET", "/api/employee/%37", 1},
		{"GET", "/api/employee/5/", 0},
		{"get", "/api/employee/5", 0},
	} {
		if got := testing.AllocsPerRun(100, func() { p.Decide(c.method, c.path) }); got > c.max {
			t.Errorf("Decide(%s %s): %v allocations, want <= %v", c.method, c.path, got, c.max)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	big := make([]string, 300)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	for _, c := range []struct {
		name string
		in   Input
		want string
	}{
		{"kind", Input{Kind: "robot"}, `principal kind "robot"`},
		{"no kind", Input{}, `principal kind ""`},
		{"own allow", Input{Kind: latch.SubjectUser, Sub: "5", Allow: []string{"GET /a", "GET /a*"}}, `user "5", allow[1]: statement "GET /a*"`},
		{"own deny", Input{Kind: latch.SubjectUser, Sub: "5", Deny: []string{"get /a"}}, `user "5", deny[0]`},
		{"role", Input{Kind: latch.SubjectClient, ClientID: "m", Roles: []latch.Role{{ID: "r", Deny: []string{"/a/"}}}}, `role "r", deny[0]`},
		{"scope", Input{Kind: latch.SubjectClient, ClientID: "m", Scopes: []string{"p/read"},
			Audiences: []latch.Audience{{ID: "p", Scopes: map[string][]string{"read": {"GET /p/{x}"}}}}}, `scope "p/read", statements[0]`},
		{"expansion", Input{Kind: latch.SubjectUser, Sub: "5", Attributes: map[string][]string{"a": big},
			Allow: []string{"GET /{attr.a}/{attr.a}"}}, "expands to more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.in)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !latch.IsCode(err, latch.EINVALID) || !strings.Contains(latch.ErrorMessage(err), c.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, c.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	p, err := Compile(Input{
		Kind: latch.SubjectUser, Sub: "u1", Org: "acme", ClientID: "web",
		Attributes: map[string][]string{"team": {"red", "blue", "red"}, "site": {"x"}, "empty": {}},
		Allow: []string{
			"GET /orgs/{org}/users/{sub}",
			"GET /teams/{attr.team}/sites/{attr.site}/**",
			"GET /clients/{client_id}",
			"GET /empty/{attr.empty}",
			"GET /missing/{attr.nope}/**",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules() {
		got = append(got, r.Path())
	}
	want := []string{"/orgs/acme/users/u1", "/teams/red/sites/x/**", "/teams/blue/sites/x/**", "/clients/web"}
	if !slices.Equal(got, want) {
		t.Fatalf("rules %q, want %q", got, want)
	}
	for path, allow := range map[string]bool{
		"/orgs/acme/users/u1":       true,
		"/orgs/other/users/u1":      false,
		"/teams/blue/sites/x/a/b/c": true,
		"/teams/green/sites/x":      false,
		"/clients/web":              true,
		"/empty":                    false,
		"/missing":                  false,
		"/missing/x":                false,
	} {
		if d := p.Decide("GET", path); d.Allowed != allow {
			t.Errorf("GET %s: allowed %v, want %v: %s", path, d.Allowed, allow, d.Explain())
		}
	}
}

func TestRulesAndSegments(t *testing.T) {
	p, err := Compile(Input{
		Kind: latch.SubjectUser, Sub: "*",
		Allow: []string{"GET /a/{sub}/*/**"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rules := p.Rules()
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	want := []Segment{{Literal: "a"}, {Literal: "*"}, {Star: true}, {Glob: true}}
	if got := rules[0].Segments(); !slices.Equal(got, want) {
		t.Fatalf("segments %+v, want %+v", got, want)
	}
	if d := p.Decide("GET", "/a/b/c"); d.Allowed {
		t.Fatalf("a substituted \"*\" acted as a wildcard: %s", d.Explain())
	}
	if d := p.Decide("GET", "/a/*/c"); !d.Allowed {
		t.Fatalf("literal \"*\": %s", d.Explain())
	}
	if got := d(p, "GET", "/a/*/c").Rules(); len(got) != 1 || got[0].Statement.String() != "GET /a/{sub}/*/**" {
		t.Fatalf("deciding rules %v", got)
	}
}

func d(p *Policy, m, path string) Decision { return p.Decide(m, path) }

func TestForUserAndForClient(t *testing.T) {
	roles := []latch.Role{
		{Org: "acme", ID: "employee", Allow: []string{"GET /e/{sub}/**"}},
		{Org: "other", ID: "employee", Allow: []string{"* /**"}},
		{Org: "acme", ID: "admin", Allow: []string{"* /**"}},
	}
	u := latch.User{Org: "acme", ID: "5", Roles: []string{"employee"}}
	p, err := Compile(ForUser(u, roles, "web"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Decide("GET", "/e/5/x").Allowed || p.Decide("GET", "/e/6").Allowed || p.Decide("DELETE", "/e/5").Allowed {
		t.Fatal("user policy used a role it does not have or missed its own")
	}
	c := latch.Client{Org: "acme", ID: "5", Roles: []string{"employee"}}
	p, err = Compile(ForClient(c, roles))
	if err != nil {
		t.Fatal(err)
	}
	if p.Decide("GET", "/e/5").Allowed {
		t.Fatal("client 5 got user 5's access")
	}
	if got := p.Principal(); got != (Source{SourceClient, "5"}) {
		t.Fatalf("principal %v", got)
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	d := p.Decide("GET", "/a")
	if d.Allowed || d.Reason != ReasonNoStatements || !strings.Contains(d.Explain(), "no statement allowed it") {
		t.Fatalf("%+v %s", d, d.Explain())
	}
}

// The property test: the compiled matcher agrees with a naive reference that
// substitutes placeholders by text and checks every statement linearly.

type refRule struct {
	eff     Effect
	layer   Layer
	methods []string
	segs    []string
}

func refCompile(in Input) (rules []refRule, principalLayer, scopeLayer bool) {
	principalLayer = len(in.Allow)+len(in.Deny)+len(in.Roles) > 0
	add := func(eff Effect, layer Layer, stmts []string) {
	next:
		for _, s := range stmts {
			subs := map[string]string{}
			if in.Kind == latch.SubjectUser {
				subs["{sub}"] = in.Sub
			}
			subs["{org}"] = in.Org
			subs["{client_id}"] = in.ClientID
			for k, v := range in.Attributes {
				if len(v) > 0 {
					subs["{attr."+k+"}"] = v[0] // the generator gives one value
				}
			}
			st := MustParse(s)
			var segs []string
			if st.Path != "/" {
				segs = strings.Split(st.Path[1:], "/")
			}
			for i, g := range segs {
				if strings.HasPrefix(g, "{") {
					v, ok := subs[g]
					if !ok || !ValidSegment(v) {
						continue next
					}
					segs[i] = "=" + v // mark a literal, so "*" stays literal
				} else if g != "*" && g != "**" {
					segs[i] = "=" + g
				}
			}
			rules = append(rules, refRule{eff, layer, st.Methods, segs})
		}
	}
	add(Allow, LayerPrincipal, in.Allow)
	add(Deny, LayerPrincipal, in.Deny)
	for _, r := range in.Roles {
		add(Allow, LayerPrincipal, r.Allow)
		add(Deny, LayerPrincipal, r.Deny)
	}
	for _, a := range in.Audiences {
		for _, st := range a.Scopes {
			scopeLayer = scopeLayer || len(st) > 0
		}
	}
	seen := map[string]bool{}
	for _, s := range in.Scopes {
		if seen[s] {
			continue
		}
		seen[s] = true
		for _, a := range in.Audiences {
			if st, ok := a.Scopes[strings.TrimPrefix(s, a.ID+"/")]; ok && strings.HasPrefix(s, a.ID+"/") {
				add(Allow, LayerScope, st)
				break
			}
		}
	}
	return rules, principalLayer, scopeLayer
}

func refMatch(r refRule, method string, path []string) bool {
	if r.methods != nil && !slices.Contains(r.methods, method) &&
		!(r.eff == Deny && method == "HEAD" && slices.Contains(r.methods, "GET")) {
		return false
	}
	for i, g := range r.segs {
		if g == "**" {
			return true
		}
		if i >= len(path) || (g != "*" && g[1:] != path[i]) {
			return false
		}
	}
	return len(r.segs) == len(path)
}

func refDecide(in Input, method, rawPath string) Reason {
	if !ValidMethod(method) {
		return ReasonInvalidMethod
	}
	cp, ok := Canonicalize(rawPath)
	if !ok {
		return ReasonInvalidPath
	}
	var path []string
	if cp != "/" {
		path = strings.Split(cp[1:], "/")
	}
	rules, pl, sl := refCompile(in)
	if !pl && !sl {
		return ReasonNoStatements
	}
	var allowP, allowS bool
	for _, r := range rules {
		if !refMatch(r, method, path) {
			continue
		}
		switch {
		case r.eff == Deny:
			return ReasonDenied
		case r.layer == LayerPrincipal:
			allowP = true
		default:
			allowS = true
		}
	}
	switch {
	case pl && !allowP:
		return ReasonNotAllowed
	case sl && !allowS:
		return ReasonScopeNotAllowed
	}
	return ReasonAllowed
}

type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) statement() string {
	n := g.r.IntN(4)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("/" + g.pick("a", "b", "5", "7", "*", "*", "{sub}", "{attr.r}", "{client_id}", "{org}"))
	}
	switch g.r.IntN(3) {
	case 0:
		b.WriteString("/**")
	case 1:
		if n == 0 {
			b.WriteString("/")
		}
	default:
		b.WriteString("/" + g.pick("a", "5", "*"))
	}
	return g.pick("*", "GET", "POST", "GET,HEAD", "HEAD", "") + " " + b.String()
}

func (g gen) statements(max int) []string {
	out := make([]string, g.r.IntN(max+1))
	for i := range out {
		out[i] = strings.TrimSpace(g.statement())
	}
	return out
}

func (g gen) input() Input {
	in := Input{
		Kind:     g.pick(latch.SubjectUser, latch.SubjectClient),
		Sub:      g.pick("5", "7", "a", "*", "", "a/b"),
		Org:      g.pick("a", "b", ""),
		ClientID: g.pick("5", "b", "%37"),
		Allow:    g.statements(3),
		Deny:     g.statements(2),
	}
	if g.r.IntN(2) == 0 {
		in.Attributes = map[string][]string{"r": {g.pick("5", "7", "b", "", "..", "*")}}
	}
	for range g.r.IntN(3) {
		in.Roles = append(in.Roles, latch.Role{ID: g.pick("r1", "r2"), Allow: g.statements(2), Deny: g.statements(1)})
	}
	for _, id := range []string{"x", "y"} {
		if g.r.IntN(2) == 0 {
			in.Audiences = append(in.Audiences, latch.Audience{ID: id, Scopes: map[string][]string{
				"read": g.statements(2), "write": g.statements(2),
			}})
		}
	}
	for range g.r.IntN(4) {
		in.Scopes = append(in.Scopes, g.pick("x/read", "x/write", "y/read", "y/write", "openid", "z/read"))
	}
	return in
}

func (g gen) path() string {
	n := g.r.IntN(6)
	if n == 0 {
		return g.pick("/", "/?q=1", "//", "")
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("/" + g.pick("a", "a", "b", "5", "5", "7", "7", "*", "%37", "%35", "A", "x", g.pick("..", "%2F", "%2e", "%00")))
	}
	if g.r.IntN(20) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

func TestCompiledMatchesReference(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	decisions := map[Reason]int{}
	for i := 0; i < 4000; i++ {
		in := g.input()
		p, err := Compile(in)
		if err != nil {
			t.Fatalf("Compile(%+v): %v", in, err)
		}
		for j := 0; j < 40; j++ {
			method := g.pick("GET", "GET", "GET", "HEAD", "HEAD", "POST", "POST", "DELETE", "PUT", "get")
			path := g.path()
			d := p.Decide(method, path)
			want := refDecide(in, method, path)
			decisions[want]++
			if d.Reason != want || d.Allowed != (want == ReasonAllowed) {
				t.Fatalf("input %+v\n%s %s: engine %v (%d), reference %d\n%s", in, method, path, d.Reason, d.Reason, want, d.Explain())
			}
			_ = d.Explain()
			for _, r := range d.Rules() {
				rr, _, _ := refCompile(Input{Kind: latch.SubjectUser, Allow: []string{r.methodsString() + " " + r.Path()}})
				cp, _ := Canonicalize(path)
				var segs []string
				if cp != "/" {
					segs = strings.Split(cp[1:], "/")
				}
				if len(rr) == 1 && !strings.Contains(r.Path(), "{") && !refMatch(rr[0], method, segs) && !(r.Effect == Deny && method == "HEAD") {
					t.Fatalf("%s %s: deciding rule %s does not match", method, path, r)
				}
			}
		}
	}
	for _, r := range []Reason{ReasonAllowed, ReasonDenied, ReasonNotAllowed, ReasonScopeNotAllowed, ReasonNoStatements, ReasonInvalidPath, ReasonInvalidMethod} {
		if decisions[r] < 50 {
			t.Errorf("only %d decisions with reason %v: the generator misses a case", decisions[r], r)
		}
	}
	for r, n := range decisions {
		t.Logf("%d %v: %d", r, r, n)
	}
}

// keepRaw is the readable definition of rawOK's bit sets.
func keepRaw(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func TestRawOKTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := rawOK(byte(c)), keepRaw(byte(c)); got != want {
			t.Errorf("rawOK(%q) = %v, want %v", rune(c), got, want)
		}
	}
}

func TestConcurrentDecide(t *testing.T) {
	p, err := Compile(Input{Kind: latch.SubjectUser, Sub: "5", Allow: []string{"GET /e/{sub}/**"}, Deny: []string{"/e/5/secret"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && p.Decide("GET", "/e/5/x").Allowed && !p.Decide("GET", "/e/5/secret").Allowed
				_ = p.Decide("GET", "/e/%35").Explain()
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("wrong decision under concurrency")
		}
	}
}
