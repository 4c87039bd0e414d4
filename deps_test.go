package latch_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// isStd reports whether an import path is in the standard library (no dot in
// its first element).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// TestImportRules makes ARCHITECTURE.md's layering executable: dependencies
// point inwards, the domain and the policy engine know no adapter, and only
// cmd/ chooses a store. Test support (clocktest, e2etest, redistest,
// sharedcachetest) stays out of non-test code: go list's Imports leave out
// what only _test.go files import.
func TestImportRules(t *testing.T) {
	const mod = "latch.dev/latch"
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			switch {
			case p.ImportPath == mod && !isStd(imp):
				t.Errorf("the domain package imports %s; it may import only the standard library", imp)
			case p.ImportPath == mod+"/internal/policy" && !isStd(imp) && imp != mod:
				t.Errorf("internal/policy imports %s; the policy engine is pure", imp)
			case strings.HasPrefix(imp, mod+"/internal/store/") && imp != mod+"/internal/store/storetest" && imp != mod+"/internal/store/feed" && !strings.HasPrefix(p.ImportPath, mod+"/cmd/") &&
				!strings.HasPrefix(p.ImportPath, imp+"/"):
				t.Errorf("%s imports the store backend %s; only cmd/ chooses a store", p.ImportPath, imp)
			case strings.HasPrefix(imp, mod+"/internal/clocktest") && p.ImportPath != mod+"/internal/store/storetest" && p.ImportPath != mod+"/internal/sharedcache/sharedcachetest":
				t.Errorf("%s imports clocktest, which is for tests", p.ImportPath)
			case strings.HasPrefix(imp, mod+"/internal/e2etest"):
				t.Errorf("%s imports e2etest, which is for tests", p.ImportPath)
			case imp == mod+"/internal/redistest" || imp == mod+"/internal/sharedcache/sharedcachetest":
				t.Errorf("%s imports %s, which is for tests", p.ImportPath, imp)
			case imp == mod+"/internal/store/dynamodb/streamtest":
				t.Errorf("%s imports streamtest, which is for tests", p.ImportPath)
			case p.ImportPath == mod+"/internal/console" && strings.HasPrefix(imp, mod+"/") && imp != mod:
				// The console reaches Latch only through the admin API, with
				// the administrator's token: no store, no server internals.
				t.Errorf("internal/console imports %s; it may use only the admin API (an http.Handler) and the domain types", imp)
			case (p.ImportPath == mod+"/internal/token" || p.ImportPath == mod+"/internal/password") &&
				(strings.HasPrefix(imp, mod+"/internal/server") || strings.HasPrefix(imp, mod+"/internal/oauth") || strings.HasPrefix(imp, mod+"/internal/store")):
				t.Errorf("%s imports %s: it must not know the HTTP layer or a store backend", p.ImportPath, imp)
			}
		}
	}
}

// TestEveryPackageHasADocComment: a package says what it is for.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestLambdaBinaryLinksNoBolt: the Lambda bootstrap runs on DynamoDB only;
// bbolt (and the bolt store) must not reach its binary, built as deployed
// (tags lambda.norpc and latch.lambda). Nor must the Prometheus client: a
// function is never scraped, and internal/metrics is a no-op with
// latch.lambda. Nor html/template and the console. Test-only imports are not
// in `go list -deps`.
func TestLambdaBinaryLinksNoBolt(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "lambda.norpc,latch.lambda", "-deps", "./cmd/latch-lambda").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found only %d packages", len(deps))
	}
	for _, d := range deps {
		// Nor the SDK's configuration loader (and the STS, SSO and IMDS
		// clients it brings): Lambda's credentials are in the environment,
		// and the bootstrap must stay small (see the README's figures).
		if d == "go.etcd.io/bbolt" || strings.HasPrefix(d, "go.etcd.io/bbolt/") || d == "latch.dev/latch/internal/store/bolt" ||
			d == "github.com/aws/aws-sdk-go-v2/config" || strings.HasPrefix(d, "github.com/aws/aws-sdk-go-v2/service/sts") ||
			strings.HasPrefix(d, "github.com/prometheus/") ||
			// Nor the pages (the hosted login's and the console's): executing
			// html/template keeps every exported method alive, some 10 MB.
			d == "html/template" || d == "latch.dev/latch/internal/console" {
			t.Errorf("cmd/latch-lambda depends on %s", d)
		}
	}
}
