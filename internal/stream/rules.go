package stream

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"

	"latch.dev/latch"
	"latch.dev/latch/internal/policy"
)

// Rule says what a record of an application table grants: the seed's
//
//	{table: paystubs, org: payroll, principal: "{userId}", allow: ["GET /api/paystubs/{id}"]}
//
// grants user <userId> of org payroll "GET /api/paystubs/<id>" for as long as
// the record exists. In a rule, "{name}" always names an attribute of the
// record (a string or a number); the policy's own placeholders ({sub},
// {attr.*}) are not available, since a grant is about one record.
type Rule struct {
	// Name keeps the grants of two rules on one table apart; it defaults to
	// Table and must be unique.
	Name  string `json:"name,omitempty"`
	Table string `json:"table"`
	// Org is the principal's org: an org id, or a template such as "{orgId}".
	Org string `json:"org"`
	// Principal is the user's id, a template such as "{userId}".
	Principal string   `json:"principal"`
	Allow     []string `json:"allow,omitempty"`
	Deny      []string `json:"deny,omitempty"`
}

// MaxRules bounds a rule set; MaxStatementsPerRule bounds one rule.
const (
	MaxRules             = 100
	MaxStatementsPerRule = 32
)

// ParseRules reads a rule list in YAML or JSON and validates it. Errors are
// latch.EINVALID and name the rule (by index) and the field.
func ParseRules(text string) ([]Rule, error) {
	var rules []Rule
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	if err := yaml.UnmarshalWithOptions([]byte(text), &rules, yaml.Strict()); err != nil {
		return nil, latch.Errorf(latch.EINVALID, "grant rules: %s", yaml.FormatError(err, false, false))
	}
	if err := Validate(rules); err != nil {
		return nil, err
	}
	for i := range rules {
		if rules[i].Name == "" {
			rules[i].Name = rules[i].Table
		}
	}
	return rules, nil
}

// Validate checks a rule list.
func Validate(rules []Rule) error {
	if len(rules) > MaxRules {
		return latch.Errorf(latch.EINVALID, "grant rules: at most %d rules", MaxRules)
	}
	names := map[string]int{}
	for i, r := range rules {
		fail := func(field, format string, args ...any) error {
			return latch.Errorf(latch.EINVALID, "grant rules[%d].%s: %s", i, field, fmt.Sprintf(format, args...))
		}
		if !validTableName(r.Table) {
			return fail("table", "want a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .), not %q", r.Table)
		}
		name := r.Name
		if name == "" {
			name = r.Table
		}
		if !latch.ValidID(name) {
			return fail("name", "%q is not a valid name (letters, digits, '.', '_', '-')", name)
		}
		if j, ok := names[name]; ok {
			return fail("name", "%q is also the name of rule %d; give one of them another name", name, j)
		}
		names[name] = i
		for _, f := range []struct{ field, tmpl string }{{"org", r.Org}, {"principal", r.Principal}} {
			if f.tmpl == "" {
				return fail(f.field, "required")
			}
			if _, err := parseTemplate(f.tmpl); err != nil {
				return fail(f.field, "%v", err)
			}
			if !latch.ValidID(fill(f.tmpl, "x")) {
				return fail(f.field, "%q does not make an id (letters, digits, '.', '_', '-')", f.tmpl)
			}
		}
		if len(r.Allow)+len(r.Deny) == 0 {
			return fail("allow", "a rule needs at least one allow or deny statement")
		}
		if len(r.Allow)+len(r.Deny) > MaxStatementsPerRule {
			return fail("allow", "at most %d statements per rule", MaxStatementsPerRule)
		}
		for _, list := range []struct {
			field string
			stmts []string
		}{{"allow", r.Allow}, {"deny", r.Deny}} {
			for k, s := range list.stmts {
				if _, err := parseTemplate(s); err != nil {
					return fail(fmt.Sprintf("%s[%d]", list.field, k), "%v", err)
				}
				st, err := policy.Parse(fill(s, "x"))
				if err != nil {
					return fail(fmt.Sprintf("%s[%d]", list.field, k), "%v", latch.ErrorMessage(err))
				}
				if st.HasPlaceholders() {
					return fail(fmt.Sprintf("%s[%d]", list.field, k), "unexpected placeholder")
				}
			}
		}
	}
	return nil
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// template is a string with "{attribute}" placeholders, split into
// literals (even indexes) and attribute names (odd indexes).
type template []string

func parseTemplate(s string) (template, error) {
	var t template
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, fmt.Errorf("unmatched '}' in %q", s)
			}
			return append(t, s), nil
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed '{' in %q", s)
		}
		name := s[open+1 : open+end]
		if name == "" || strings.ContainsAny(name, "{ \t") {
			return nil, fmt.Errorf("placeholder %q: want {attribute}", s[open:open+end+1])
		}
		if strings.IndexByte(s[:open], '}') >= 0 {
			return nil, fmt.Errorf("unmatched '}' in %q", s)
		}
		t = append(t, s[:open], name)
		s = s[open+end+1:]
	}
}

// fill replaces every placeholder of s with v (validation only).
func fill(s, v string) string {
	t, err := parseTemplate(s)
	if err != nil {
		return s
	}
	var b strings.Builder
	for i, part := range t {
		if i%2 == 0 {
			b.WriteString(part)
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}

// expand fills t from attrs, which must hold a value for every placeholder;
// a value must be one canonical path segment without '*', so that a record
// can neither widen a statement nor step out of its path.
func (t template) expand(attrs map[string]string) (string, error) {
	var b strings.Builder
	for i, part := range t {
		if i%2 == 0 {
			b.WriteString(part)
			continue
		}
		v, ok := attrs[part]
		if !ok {
			return "", fmt.Errorf("the record has no string or number attribute %q", part)
		}
		if strings.IndexByte(v, '*') >= 0 || !policy.ValidSegment(v) {
			return "", fmt.Errorf("attribute %q: %q is not a single path segment", part, clip(v))
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
