package policy

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"latch.dev/latch"
)

// Tests of the matcher's encoding (trie.go): wide nodes (hashed), chains of
// segments folded into one edge, long keys, many methods, large policies, and
// the rules an explanation names.

// wideGen generates inputs whose tries have wide nodes, long chains, long
// segments and many methods, for the reference comparison.
type wideGen struct {
	gen
	long string
}

func (g wideGen) seg() string {
	switch g.r.IntN(12) {
	case 0:
		return "*"
	case 1:
		return g.pick("{sub}", "{attr.r}", "{org}")
	case 2:
		if g.r.IntN(10) == 0 {
			return g.long + strconv.Itoa(g.r.IntN(3))
		}
	case 3, 4:
		return g.pick("a", "b", "5")
	}
	return "s" + strconv.Itoa(g.r.IntN(40))
}

func (g wideGen) methods() string {
	all := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "X-1", "X-2", "PURGE"}
	switch g.r.IntN(4) {
	case 0:
		return "*"
	case 1:
		return g.pick(all...)
	}
	var ms []string
	for range 1 + g.r.IntN(4) {
		ms = append(ms, g.pick(all...))
	}
	return strings.Join(ms, ",")
}

func (g wideGen) statement() string {
	var b strings.Builder
	for range g.r.IntN(5) {
		b.WriteString("/" + g.seg())
	}
	switch g.r.IntN(4) {
	case 0:
		b.WriteString("/**")
	case 1:
		if b.Len() == 0 {
			b.WriteString("/")
		}
	default:
		b.WriteString("/" + g.seg())
	}
	return g.methods() + " " + b.String()
}

func (g wideGen) statements(max int) []string {
	out := make([]string, g.r.IntN(max+1))
	for i := range out {
		out[i] = g.statement()
	}
	return out
}

func (g wideGen) input() Input {
	in := Input{
		Kind: latch.SubjectUser, Sub: g.pick("5", "a", "s7"), Org: g.pick("a", "s1"),
		Attributes: map[string][]string{"r": {g.pick("b", "s3", g.long+"1")}},
		Allow:      g.statements(g.r.IntN(60)),
		Deny:       g.statements(g.r.IntN(15)),
	}
	if g.r.IntN(2) == 0 {
		in.Roles = []latch.Role{{ID: "r", Allow: g.statements(20), Deny: g.statements(5)}}
	}
	if g.r.IntN(2) == 0 {
		in.Audiences = []latch.Audience{{ID: "x", Scopes: map[string][]string{"read": g.statements(20)}}}
		in.Scopes = []string{"x/read"}
	}
	return in
}

func (g wideGen) path() string {
	n := g.r.IntN(6)
	if n == 0 {
		return "/"
	}
	var b strings.Builder
	for range n {
		s := g.seg()
		if strings.HasPrefix(s, "{") {
			s = g.pick("5", "a", "s7", "s1", "b", "s3", g.long+"1")
		}
		b.WriteString("/" + s)
	}
	return b.String()
}

// refDeciders is Decision.deciders by a linear scan of the rules.
func refDeciders(p *Policy, method, path string) (deny, principal, scope *Rule) {
	cp, _ := Canonicalize(path)
	var segs []string
	if cp != "/" {
		segs = strings.Split(cp[1:], "/")
	}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matchesMethod(method) || !segsMatch(r.segs, segs) {
			continue
		}
		switch {
		case r.Effect == Deny && deny == nil:
			deny = r
		case r.Effect == Allow && r.Layer == LayerPrincipal && principal == nil:
			principal = r
		case r.Effect == Allow && r.Layer == LayerScope && scope == nil:
			scope = r
		}
	}
	return deny, principal, scope
}

// maxFanout returns the largest number of literal children of a node of p's
// trie.
func maxFanout(p *Policy) int {
	var b builder
	for i := range p.rules {
		b.insert(p.rules[i].segs, &p.rules[i], int32(i))
	}
	var walk func(n *bnode) int
	walk = func(n *bnode) int {
		m := len(n.keys)
		for _, k := range n.kids {
			m = max(m, walk(k))
		}
		if n.star != nil {
			m = max(m, walk(n.star))
		}
		return m
	}
	return walk(&b.root)
}

func segsMatch(pat []patSeg, path []string) bool {
	for i, g := range pat {
		switch {
		case g.kind == segGlob:
			return true
		case i >= len(path):
			return false
		case g.kind == segLiteral && g.text != path[i]:
			return false
		}
	}
	return len(pat) == len(path)
}

func TestEncodingMatchesReference(t *testing.T) {
	g := wideGen{gen{rand.New(rand.NewPCG(3, 4))}, strings.Repeat("L", 300)}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "X-1", "X-2", "PURGE", "TRACE"}
	decisions := map[Reason]int{}
	hashed, small, large := 0, 0, 0
	for range 400 {
		in := g.input()
		p, err := Compile(in)
		if err != nil {
			t.Fatal(err)
		}
		if maxFanout(p) > maxLinearEdges {
			hashed++
		}
		if len(p.m.b) > 1024-policySize {
			large++
		} else {
			small++
		}
		for range 60 {
			method, path := g.pick(methods...), g.path()
			d := p.Decide(method, path)
			want := refDecide(in, method, path)
			decisions[want]++
			if d.Reason != want {
				t.Fatalf("input %+v\n%s %s: engine %v, reference %v", in, method, path, d.Reason, want)
			}
			deny, principal, scope := d.deciders()
			rd, rp, rs := refDeciders(p, method, path)
			if d.Reason == ReasonDenied {
				rp, rs = nil, nil
			} else {
				rd = nil
			}
			if deny != rd || principal != rp || scope != rs {
				t.Fatalf("input %+v\n%s %s: deciding rules %v %v %v, want %v %v %v", in, method, path, deny, principal, scope, rd, rp, rs)
			}
		}
	}
	for _, r := range []Reason{ReasonAllowed, ReasonDenied, ReasonNotAllowed, ReasonScopeNotAllowed} {
		if decisions[r] < 100 {
			t.Errorf("only %d decisions with reason %v", decisions[r], r)
		}
	}
	if large < 50 || small < 50 {
		t.Errorf("%d policies share their object with their trie, %d do not: the generator misses a case", small, large)
	}
	if hashed < 50 {
		t.Errorf("only %d policies with a hashed node", hashed)
	}
	t.Logf("decisions %v; %d policies with a hashed node; %d small, %d large", decisions, hashed, small, large)
}

// TestWideNode checks a node with many literal children (a hashed node),
// keys that fold several segments, keys of 255 bytes and more, and children
// whose keys share a first segment with the request but not the rest.
func TestWideNode(t *testing.T) {
	in := Input{Kind: latch.SubjectUser, Sub: "u"}
	long := strings.Repeat("k", 254)
	for i := range 300 {
		id := strconv.Itoa(i)
		switch i % 3 {
		case 0:
			in.Allow = append(in.Allow, "GET /e/"+id)
		case 1:
			in.Allow = append(in.Allow, "GET /e/"+id+"/x/y/z")
		default:
			in.Allow = append(in.Allow, "GET /e/"+long+id+"/"+long)
		}
	}
	in.Deny = []string{"/e/*/x/y/z/secret"}
	p, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		id := strconv.Itoa(i)
		var yes, no []string
		switch i % 3 {
		case 0:
			yes = []string{"/e/" + id}
			no = []string{"/e/" + id + "/x", "/e/" + id + "x"}
		case 1:
			yes = []string{"/e/" + id + "/x/y/z"}
			no = []string{"/e/" + id, "/e/" + id + "/x/y", "/e/" + id + "/x/y/z/secret", "/e/" + id + "/x/y/zz", "/e/" + id + "/x/yy/z"}
		default:
			yes = []string{"/e/" + long + id + "/" + long}
			no = []string{"/e/" + long + id, "/e/" + long + id + "/" + long + "k", "/e/" + long + id + "/" + long + "/k"}
		}
		for _, path := range yes {
			if d := p.Decide("GET", path); !d.Allowed {
				t.Errorf("GET %s: %s", path, d.Explain())
			} else if rs := d.Rules(); len(rs) != 1 || rs[0].Path() != path {
				t.Errorf("GET %s: deciding rules %v", path, rs)
			}
		}
		for _, path := range no {
			if d := p.Decide("GET", path); d.Allowed {
				t.Errorf("GET %s: %s", path, d.Explain())
			}
		}
	}
	if d := p.Decide("GET", "/e/1/x/y/z/secret"); d.Reason != ReasonDenied || !strings.Contains(d.Explain(), `"* /e/*/x/y/z/secret"`) {
		t.Errorf("deny: %s", d.Explain())
	}
}

// TestLayoutSizes checks that the PAYROLL policies share one object with
// their trie (the first size classes), and that decisions do not allocate.
func TestLayoutSizes(t *testing.T) {
	for _, c := range []struct {
		in  Input
		max int
	}{
		{latchPayrollInput(12345), 192 - policySize},
		{latchPayrollInput(12340), 256 - policySize},
	} {
		p, err := Compile(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.m.b) > c.max {
			t.Errorf("%s: %d bytes of trie, want <= %d", p.Principal(), len(p.m.b), c.max)
		}
		if got := testing.AllocsPerRun(100, func() { p.Decide("GET", "/employee/12330/paystubs/1") }); got != 0 {
			t.Errorf("%s: %v allocations", p.Principal(), got)
		}
	}
	for n := 0; n <= 2000; n += 7 {
		p, b := newPolicy(n)
		if p == nil || len(b) != n || cap(b) != n {
			t.Fatalf("newPolicy(%d): %d bytes, cap %d", n, len(b), cap(b))
		}
	}
	// A Policy that Compile did not make denies.
	if d := new(Policy).Decide("GET", "/a"); d.Reason != ReasonNoStatements || d.Explain() == "" {
		t.Errorf("zero Policy: %v", d.Reason)
	}
}

func latchPayrollInput(i int) Input {
	id := strconv.Itoa(i)
	in := Input{
		Kind: latch.SubjectUser, Sub: id, Org: "acme",
		Allow: []string{"GET /employee/" + id, "GET /employee/" + id + "/**"},
	}
	if i%10 == 0 {
		boss := strconv.Itoa(i - 10)
		in.Roles = []latch.Role{{Org: "acme", ID: "manager", Allow: []string{"GET /employee/**"}}}
		in.Deny = []string{"/employee/" + boss, "/employee/" + boss + "/**"}
	}
	return in
}

func ExamplePolicy_Decide_layout() {
	p, _ := Compile(latchPayrollInput(20))
	for _, req := range [][2]string{{"GET", "/employee/20/paystubs/1"}, {"GET", "/employee/10"}, {"HEAD", "/employee/31"}, {"GET", "/employee"}} {
		fmt.Println(p.Decide(req[0], req[1]))
	}
	// Output:
	// ALLOW GET /employee/20/paystubs/1: allow "GET /employee/20/**" of user "20"
	// DENY GET /employee/10: deny "* /employee/10" of user "20"
	// DENY HEAD /employee/31: no statement allowed it (no statement of user "20" or its roles ["manager"])
	// ALLOW GET /employee: allow "GET /employee/**" of role "manager"
}
