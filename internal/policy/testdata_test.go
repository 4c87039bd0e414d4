package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"latch.dev/latch"
)

// decisionFile is the shape of testdata/*.yaml files that hold cases.
type decisionFile struct {
	Roles []struct {
		ID    string   `yaml:"id"`
		Allow []string `yaml:"allow"`
		Deny  []string `yaml:"deny"`
	} `yaml:"roles"`
	Audiences []struct {
		ID     string              `yaml:"id"`
		Scopes map[string][]string `yaml:"scopes"`
	} `yaml:"audiences"`
	Principals map[string]struct {
		Kind       string                 `yaml:"kind"`
		Sub        string                 `yaml:"sub"`
		Org        string                 `yaml:"org"`
		ClientID   string                 `yaml:"client_id"`
		Roles      []string               `yaml:"roles"`
		Attributes map[string][]string    `yaml:"attributes"`
		Allow      []string               `yaml:"allow"`
		Deny       []string               `yaml:"deny"`
		Grants     map[string]latch.Grant `yaml:"grants"`
		Scopes     []string               `yaml:"scopes"`
		Audiences  []string               `yaml:"audiences"`
	} `yaml:"principals"`
	Cases []struct {
		As      string `yaml:"as"`
		Req     string `yaml:"req"`
		Allow   bool   `yaml:"allow"`
		Reason  string `yaml:"reason"`
		Explain string `yaml:"explain"`
		Note    string `yaml:"note"`
	} `yaml:"cases"`
}

var reasonNames = func() map[string]Reason {
	m := map[string]Reason{}
	for r := ReasonAllowed; r <= ReasonInvalidMethod; r++ {
		m[r.String()] = r
	}
	return m
}()

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalWithOptions(b, v, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestDecisionFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range files {
		switch filepath.Base(name) {
		case "statements.yaml", "paths.yaml":
			continue
		}
		n++
		t.Run(filepath.Base(name), func(t *testing.T) {
			var f decisionFile
			readYAML(t, name, &f)
			policies := map[string]*Policy{}
			for pname, pr := range f.Principals {
				in := Input{
					Kind: pr.Kind, Sub: pr.Sub, Org: pr.Org, ClientID: pr.ClientID,
					Attributes: pr.Attributes, Allow: pr.Allow, Deny: pr.Deny, Scopes: pr.Scopes,
					Grants: pr.Grants,
				}
				for _, id := range pr.Roles {
					found := false
					for _, r := range f.Roles {
						if r.ID == id {
							in.Roles = append(in.Roles, latch.Role{Org: pr.Org, ID: r.ID, Allow: r.Allow, Deny: r.Deny})
							found = true
						}
					}
					if !found {
						t.Fatalf("principal %s: no role %q", pname, id)
					}
				}
				for _, id := range pr.Audiences {
					found := false
					for _, a := range f.Audiences {
						if a.ID == id {
							in.Audiences = append(in.Audiences, latch.Audience{ID: a.ID, Scopes: a.Scopes})
							found = true
						}
					}
					if !found {
						t.Fatalf("principal %s: no audience %q", pname, id)
					}
				}
				p, err := Compile(in)
				if err != nil {
					t.Fatalf("principal %s: %v", pname, err)
				}
				policies[pname] = p
			}
			if len(f.Cases) == 0 {
				t.Fatal("no cases")
			}
			for _, c := range f.Cases {
				p, ok := policies[c.As]
				if !ok {
					t.Fatalf("case %q: no principal %q", c.Req, c.As)
				}
				method, path, ok := strings.Cut(c.Req, " ")
				if !ok {
					t.Fatalf("case %q: want \"METHOD PATH\"", c.Req)
				}
				d := p.Decide(method, path)
				ctx := c.As + " " + c.Req
				if c.Note != "" {
					ctx += " (" + c.Note + ")"
				}
				if d.Allowed != c.Allow {
					t.Errorf("%s: allowed = %v, want %v; %s", ctx, d.Allowed, c.Allow, d.Explain())
					continue
				}
				if c.Reason != "" {
					want, ok := reasonNames[c.Reason]
					if !ok {
						t.Fatalf("%s: unknown reason %q", ctx, c.Reason)
					}
					if d.Reason != want {
						t.Errorf("%s: reason = %v (%d), want %s; %s", ctx, d.Reason, d.Reason, c.Reason, d.Explain())
					}
				}
				if c.Explain != "" && !strings.Contains(d.Explain(), c.Explain) {
					t.Errorf("%s: explanation %q does not contain %q", ctx, d.Explain(), c.Explain)
				}
				if prefix := map[bool]string{true: "ALLOW ", false: "DENY "}[d.Allowed]; !strings.HasPrefix(d.Explain(), prefix) {
					t.Errorf("%s: explanation %q does not start with %q", ctx, d.Explain(), prefix)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no decision files")
	}
}

func TestStatementFile(t *testing.T) {
	var f struct {
		Valid []struct {
			In   string `yaml:"in"`
			Out  string `yaml:"out"`
			Note string `yaml:"note"`
		} `yaml:"valid"`
		Invalid []struct {
			In  string `yaml:"in"`
			Err string `yaml:"err"`
		} `yaml:"invalid"`
	}
	readYAML(t, "testdata/statements.yaml", &f)
	for _, c := range f.Valid {
		st, err := Parse(c.In)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.In, err)
			continue
		}
		if got := st.String(); got != c.Out {
			t.Errorf("Parse(%q) = %q, want %q", c.In, got, c.Out)
		}
		again, err := Parse(st.String())
		if err != nil || again.String() != st.String() {
			t.Errorf("Parse(%q) = %q, %v: not stable", st.String(), again.String(), err)
		}
	}
	for _, c := range f.Invalid {
		_, err := Parse(c.In)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", c.In, c.Err)
			continue
		}
		if got := latch.ErrorCode(err); got != latch.EINVALID {
			t.Errorf("Parse(%q): code %q, want %q", c.In, got, latch.EINVALID)
		}
		msg := latch.ErrorMessage(err)
		if !strings.Contains(msg, c.Err) {
			t.Errorf("Parse(%q): %q does not contain %q", c.In, msg, c.Err)
		}
		if !strings.Contains(msg, "(column ") && !strings.Contains(msg, "longer than") {
			t.Errorf("Parse(%q): %q names no column", c.In, msg)
		}
		if !strings.Contains(msg, "statement ") {
			t.Errorf("Parse(%q): %q does not name the statement", c.In, msg)
		}
	}
}

func TestPathFile(t *testing.T) {
	var f struct {
		Cases []struct {
			In     string `yaml:"in"`
			Out    string `yaml:"out"`
			Reject bool   `yaml:"reject"`
			Note   string `yaml:"note"`
		} `yaml:"cases"`
	}
	readYAML(t, "testdata/paths.yaml", &f)
	for _, c := range f.Cases {
		got, ok := Canonicalize(c.In)
		if c.Reject {
			if ok {
				t.Errorf("Canonicalize(%q) = %q, want rejected (%s)", c.In, got, c.Note)
			}
			continue
		}
		if !ok || got != c.Out {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", c.In, got, ok, c.Out)
			continue
		}
		if again, ok := Canonicalize(got); !ok || again != got {
			t.Errorf("Canonicalize(%q) = %q, %v: not idempotent", got, again, ok)
		}
	}
}
