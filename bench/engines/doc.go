// Package engines compares Latch's policy engine with casbin/v2, OPA (v1/rego)
// and cedar-go on the PAYROLL-ACL v1 workload (shared notes, "Authorization
// engines"), in engines_test.go. It is its own Go module so that the peers
// never become dependencies of Latch; it may import latch.dev/latch/internal/
// because its module path is below latch.dev/latch.
//
// First a test checks that every engine decides as Latch does on the request
// stream, and records where their path semantics differ on purpose; then one
// benchmark per engine and size. About three minutes:
//
//	cd bench/engines && go test -run . -bench . -count 3 -timeout 30m
//
// Casbin costs about 250 ms per decision at 110k rules: the default
// -benchtime=1s then runs it about five times, which is enough (its cost
// does not depend on the request); do not raise -benchtime with an
// iteration count ("-benchtime=10000x") or that benchmark takes 40 minutes.
// See ../README.md, section "Policy engines", for the results.
package engines
