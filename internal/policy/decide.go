package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Reason says why a decision came out as it did.
type Reason uint8

// Reasons.
const (
	ReasonAllowed         Reason = iota + 1 // no deny matched and every layer allowed
	ReasonDenied                            // a deny statement matched
	ReasonNotAllowed                        // no statement of the principal or its roles allowed it
	ReasonScopeNotAllowed                   // no statement of the token's scopes allowed it
	ReasonNoStatements                      // neither layer exists (or no policy)
	ReasonInvalidPath                       // the path is not canonical: denied whatever the ACL says
	ReasonInvalidMethod                     // the method is not an upper-case method token
)

// String returns the reason's name, for logs and metrics: allowed, denied,
// not_allowed, scope_not_allowed, no_statements, invalid_path or
// invalid_method. Decision.Explain gives the sentence.
func (r Reason) String() string {
	switch r {
	case ReasonAllowed:
		return "allowed"
	case ReasonDenied:
		return "denied"
	case ReasonNotAllowed:
		return "not_allowed"
	case ReasonScopeNotAllowed:
		return "scope_not_allowed"
	case ReasonNoStatements:
		return "no_statements"
	case ReasonInvalidPath:
		return "invalid_path"
	case ReasonInvalidMethod:
		return "invalid_method"
	}
	return "unknown"
}

// Decision is the answer for one request. Explain says which statements
// decided; it is computed only when called.
type Decision struct {
	Allowed bool
	Reason  Reason
	Method  string
	Path    string // the canonical path; the raw one when ReasonInvalidPath

	policy *Policy
}

// Decide decides whether the policy's principal may make the request. path
// is the raw (escaped) request path; Decide canonicalizes it and drops a
// query string. It does not allocate unless the path needs rewriting into
// canonical form, and costs O(depth of the path) whatever the number of
// statements. A nil policy denies.
func (p *Policy) Decide(method, path string) Decision {
	r, cp := p.decide(method, path)
	// One composite literal: the compiler returns it in registers.
	return Decision{Allowed: r == ReasonAllowed, Reason: r, Method: method, Path: cp, policy: p}
}

// decide returns the reason and the path Decide reports: the canonical one,
// or path itself when it cannot be canonicalized.
func (p *Policy) decide(method, path string) (Reason, string) {
	// Read the policy before checking the request: among many cached
	// policies it is a cache miss, which the checks below then overlap.
	var principal, scope bool
	var cols, root int
	if p != nil {
		principal, scope = p.principalLayer, p.scopeLayer
		if principal || scope {
			cols, root = p.m.header()
		}
	}
	if !ValidMethod(method) {
		return ReasonInvalidMethod, path
	}
	cp, ok := Canonicalize(path)
	if !ok {
		return ReasonInvalidPath, path
	}
	if !principal && !scope {
		return ReasonNoStatements, cp
	}
	f := p.m.match(method, cp[1:], cols, root)
	switch {
	case f&fDeny != 0:
		return ReasonDenied, cp
	case principal && f&fAllowPrincipal == 0:
		return ReasonNotAllowed, cp
	case scope && f&fAllowScope == 0:
		return ReasonScopeNotAllowed, cp
	}
	return ReasonAllowed, cp
}

// Rules returns the rules that decided: the first matching deny rule, or the
// first matching allow rule of each existing layer (allowed), or the first
// matching rules of the layer that did allow (when the other did not).
func (d Decision) Rules() []Rule {
	deny, principal, scope := d.deciders()
	var out []Rule
	for _, r := range []*Rule{deny, principal, scope} {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

func (d Decision) deciders() (deny, principal, scope *Rule) {
	p := d.policy
	if p == nil || d.Reason == ReasonInvalidPath || d.Reason == ReasonInvalidMethod || d.Reason == ReasonNoStatements {
		return nil, nil, nil
	}
	var idx []int32
	p.m.collect(d.Path[1:], &idx)
	slices.Sort(idx)
	for _, i := range idx {
		r := &p.rules[i]
		if !r.matchesMethod(d.Method) {
			continue
		}
		switch {
		case r.Effect == Deny:
			if deny == nil {
				deny = r
			}
		case r.Layer == LayerPrincipal:
			if principal == nil {
				principal = r
			}
		case r.Layer == LayerScope:
			if scope == nil {
				scope = r
			}
		}
	}
	if d.Reason == ReasonDenied {
		return deny, nil, nil
	}
	return nil, principal, scope
}

// Explain says in one line why the request was allowed or denied, naming the
// statement of the user, client, role or scope that decided, or saying that
// no statement allowed it.
func (d Decision) Explain() string {
	req := fmt.Sprintf("%s %s", d.Method, d.Path)
	p := d.policy
	switch d.Reason {
	case ReasonInvalidMethod:
		return fmt.Sprintf("DENY %q %s: invalid method (methods are upper-case tokens such as GET)", d.Method, d.Path)
	case ReasonInvalidPath:
		return fmt.Sprintf("DENY %s %q: the path is not canonical (an encoded '/' or '\\', a dot or empty segment, a trailing slash, a control character, a bad escape or invalid UTF-8), so it is denied whatever the ACL says", d.Method, d.Path)
	case ReasonNoStatements:
		if p == nil {
			return "DENY " + req + ": no statement allowed it (no policy)"
		}
		return fmt.Sprintf("DENY %s: no statement allowed it (%s has no statements or roles, and the token's audiences map no scopes to statements)", req, p.principal)
	}
	deny, principal, scope := d.deciders()
	switch d.Reason {
	case ReasonDenied:
		if deny == nil {
			return "DENY " + req + ": denied by a statement"
		}
		return fmt.Sprintf("DENY %s: %s", req, deny)
	case ReasonNotAllowed:
		s := fmt.Sprintf("DENY %s: no statement allowed it (no statement of %s%s)", req, p.principal, p.rolesText())
		if scope != nil {
			s += fmt.Sprintf("; the token's scopes would: %s", scope)
		}
		return s
	case ReasonScopeNotAllowed:
		s := fmt.Sprintf("DENY %s: no statement allowed it (no statement of the token's scopes %s)", req, p.scopesText())
		if principal != nil {
			s += fmt.Sprintf("; the principal's statements would: %s", principal)
		}
		return s
	case ReasonAllowed:
		var by []string
		for _, r := range []*Rule{principal, scope} {
			if r != nil {
				by = append(by, r.String())
			}
		}
		return fmt.Sprintf("ALLOW %s: %s", req, strings.Join(by, "; and "))
	}
	return "DENY " + req
}

func (d Decision) String() string { return d.Explain() }

func (p *Policy) rolesText() string {
	if len(p.roles) == 0 {
		return ""
	}
	return fmt.Sprintf(" or its roles %q", p.roles)
}

func (p *Policy) scopesText() string {
	if len(p.scopes) == 0 {
		return "(the token has no scope that its audiences map to statements)"
	}
	return fmt.Sprintf("%q", p.scopes)
}
