package policy

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"latch.dev/latch"
)

// payroll builds the PAYROLL-ACL v1 workload (notes/anchors.md) for n users:
// each employee i is allowed /employee/{i} and everything below it; every
// tenth is a manager with /employee/** through a role and a deny on its boss
// (employee i-10) and everything below. It returns one compiled policy per
// user and the number of statements.
func payroll(b *testing.B, n int) ([]*Policy, int) {
	b.Helper()
	manager := latch.Role{Org: "acme", ID: "manager", Allow: []string{"GET /employee/**"}}
	policies := make([]*Policy, n)
	rules := 1 // the manager role's statement
	for i := range n {
		id := strconv.Itoa(i)
		in := Input{
			Kind: latch.SubjectUser, Sub: id, Org: "acme",
			Allow: []string{"GET /employee/" + id, "GET /employee/" + id + "/**"},
		}
		rules += 2
		if i%10 == 0 && i >= 10 {
			boss := strconv.Itoa(i - 10)
			in.Roles = []latch.Role{manager}
			in.Deny = []string{"/employee/" + boss, "/employee/" + boss + "/**"}
			rules += 2
		}
		p, err := Compile(in)
		if err != nil {
			b.Fatal(err)
		}
		policies[i] = p
	}
	return policies, rules
}

type request struct {
	p      *Policy
	method string
	path   string
}

func BenchmarkDecide(b *testing.B) {
	// PAYROLL-ACL: mixed requests by random users for random employees.
	for _, n := range []int{50, 5000, 50000} {
		policies, rules := payroll(b, n)
		r := rand.New(rand.NewPCG(1, uint64(n)))
		reqs := make([]request, 4096)
		for i := range reqs {
			target := strconv.Itoa(r.IntN(n))
			path := "/employee/" + target
			if r.IntN(2) == 0 {
				path += "/paystubs/" + strconv.Itoa(r.IntN(12))
			}
			reqs[i] = request{policies[r.IntN(n)], "GET", path}
		}
		b.Run(fmt.Sprintf("payroll/rules=%d", rules), func(b *testing.B) {
			b.ReportAllocs()
			allowed := 0
			i := 0
			for b.Loop() {
				q := reqs[i&(len(reqs)-1)]
				if q.p.Decide(q.method, q.path).Allowed {
					allowed++
				}
				i++
			}
			b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
		})
	}
	// One principal with n statements: the cost must not grow with n.
	for _, n := range []int{10, 1000, 100000} {
		in := Input{Kind: latch.SubjectUser, Sub: "u", Org: "acme"}
		for i := range n {
			if i%10 == 9 {
				in.Deny = append(in.Deny, "/employee/"+strconv.Itoa(i)+"/**")
				continue
			}
			in.Allow = append(in.Allow, "GET,HEAD /employee/"+strconv.Itoa(i)+"/**")
		}
		in.Allow = append(in.Allow, "GET /employee/*/public", "GET /docs/**")
		p, err := Compile(in)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(2, uint64(n)))
		paths := make([]string, 4096)
		for i := range paths {
			paths[i] = "/employee/" + strconv.Itoa(r.IntN(n+n/10)) + "/paystubs/" + strconv.Itoa(r.IntN(12))
		}
		b.Run(fmt.Sprintf("principal/statements=%d", n+2), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.Decide("GET", paths[i&(len(paths)-1)])
				i++
			}
		})
	}
	// A path that needs rewriting into canonical form: the one allocation.
	policies, _ := payroll(b, 100)
	b.Run("payroll/escaped-path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			policies[30].Decide("GET", "/employee/%32%30/paystubs/1")
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	manager := Input{
		Kind: latch.SubjectUser, Sub: "8", Org: "acme", ClientID: "web",
		Attributes: map[string][]string{"reports": {"5", "6", "9", "12"}},
		Roles: []latch.Role{
			{Org: "acme", ID: "employee", Allow: []string{"GET /api/employee/{sub}/**"}},
			{Org: "acme", ID: "manager", Allow: []string{"GET /api/employee/{attr.reports}/**"}},
		},
		Deny:      []string{"/api/employee/7", "/api/employee/7/**"},
		Scopes:    []string{"payroll/read"},
		Audiences: []latch.Audience{{ID: "payroll", Scopes: map[string][]string{"read": {"GET,HEAD /api/**"}}}},
	}
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(manager); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{1000, 100000} {
		in := Input{Kind: latch.SubjectUser, Sub: "u"}
		for i := range n {
			in.Allow = append(in.Allow, "GET /employee/"+strconv.Itoa(i)+"/**")
		}
		b.Run(fmt.Sprintf("statements=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	for _, p := range []string{"/api/employee/5/paystubs/1", "/api/employee/%35/paystubs/1?x=1"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Canonicalize(p)
			}
		})
	}
}

// BenchmarkPolicyMemory reports the heap a compiled PAYROLL-ACL policy keeps
// (an employee's or a manager's), averaged over 10,000 principals.
func BenchmarkPolicyMemory(b *testing.B) {
	const n = 10000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		policies, _ := payroll(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/policy")
		runtime.KeepAlive(policies)
	}
}
