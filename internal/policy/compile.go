package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"latch.dev/latch"
)

// MaxExpansion bounds how many statements one statement may become once its
// placeholders are replaced (the cross product of its list attributes).
const MaxExpansion = 1 << 16

// Input is what a policy is compiled from: a verified principal, the roles it
// has, and the token's scopes with the audiences that give them meaning.
type Input struct {
	// Kind is latch.SubjectUser or latch.SubjectClient.
	Kind string
	// Sub is the user's id (Kind user). It replaces {sub}; for a client
	// principal {sub} matches nothing, whatever Sub holds.
	Sub string
	// Org is the principal's organization; it replaces {org}.
	Org string
	// ClientID is the token's client (for a client principal, the principal
	// itself); it replaces {client_id}.
	ClientID string
	// Attributes replace {attr.NAME}: one statement per value.
	Attributes map[string][]string
	// Allow and Deny are the principal's own statements.
	Allow, Deny []string
	// Grants are the statements application records grant the principal,
	// by grant key (latch.User.RecordGrants).
	Grants map[string]latch.Grant
	// Roles are the principal's roles, already resolved by the caller.
	Roles []latch.Role
	// Scopes are the token's scope strings, "<audience id>/<scope name>";
	// others (such as "openid") take no part.
	Scopes []string
	// Audiences are the token's audiences; their Scopes maps give the scope
	// layer its statements.
	Audiences []latch.Audience
}

// ForUser returns the input for a user acting through the client clientID.
// Only the roles the user has (by id, within the user's organization) are
// used; others are ignored. Set Scopes and Audiences from the token.
func ForUser(u latch.User, roles []latch.Role, clientID string) Input {
	return Input{
		Kind:       latch.SubjectUser,
		Sub:        u.ID,
		Org:        u.Org,
		ClientID:   clientID,
		Attributes: u.Attributes,
		Allow:      u.Allow,
		Deny:       u.Deny,
		Grants:     u.RecordGrants,
		Roles:      ownRoles(u.Org, u.Roles, roles),
	}
}

// ForClient returns the input for a client acting for itself
// (client_credentials). Only the client's own roles (by id, within its
// organization) are used. Set Scopes and Audiences from the token.
func ForClient(c latch.Client, roles []latch.Role) Input {
	return Input{
		Kind:     latch.SubjectClient,
		Org:      c.Org,
		ClientID: c.ID,
		Allow:    c.Allow,
		Deny:     c.Deny,
		Roles:    ownRoles(c.Org, c.Roles, roles),
	}
}

func ownRoles(org string, ids []string, roles []latch.Role) []latch.Role {
	var out []latch.Role
	for _, r := range roles {
		if r.Org == org && slices.Contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out
}

// Effect is what a statement does when it matches.
type Effect uint8

// Effects.
const (
	Allow Effect = iota + 1
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "unknown"
}

// Layer is the layer an allow statement belongs to; deny statements belong to
// the principal layer.
type Layer uint8

// Layers.
const (
	LayerPrincipal Layer = iota + 1 // the principal's own statements and its roles'
	LayerScope                      // the statements of the token's scopes
)

// Source kinds: who wrote a statement.
const (
	SourceUser   = "user"
	SourceClient = "client"
	SourceRole   = "role"
	SourceGrant  = "grant" // an application record's grant; ID is its grant key
	SourceScope  = "scope"
)

// Source names who wrote a statement: a user, a client, a role, or a scope
// ("<audience id>/<scope name>").
type Source struct {
	Kind string
	ID   string
}

func (s Source) String() string { return fmt.Sprintf("%s %q", s.Kind, s.ID) }

// Segment is one segment of a compiled rule's path: a literal (which may be
// "*" when a placeholder's value was "*"), or a wildcard.
type Segment struct {
	Literal string
	Star    bool // exactly one segment
	Glob    bool // final: zero or more segments
}

// Rule is one compiled statement, placeholders replaced.
type Rule struct {
	Effect    Effect
	Layer     Layer
	Source    Source
	Statement Statement // as written (canonical spelling), placeholders intact

	segs []patSeg // literal, star or glob only
}

// Methods returns the methods the rule covers, nil for every method. A deny
// rule naming GET also matches HEAD (see the package documentation).
func (r Rule) Methods() []string { return r.Statement.Methods }

// Path returns the rule's path after substitution, for display: a literal
// segment that reads "*" is not told apart from a wildcard here; Segments
// does.
func (r Rule) Path() string {
	if !r.Statement.HasPlaceholders() {
		return r.Statement.Path
	}
	return patternString(r.segs)
}

// Segments returns the rule's path, segment by segment.
func (r Rule) Segments() []Segment {
	out := make([]Segment, len(r.segs))
	for i, g := range r.segs {
		switch g.kind {
		case segStar:
			out[i].Star = true
		case segGlob:
			out[i].Glob = true
		default:
			out[i].Literal = g.text
		}
	}
	return out
}

// String describes the rule: `deny "GET /a/{sub}" of role "x" (as "GET /a/5")`.
func (r Rule) String() string {
	s := fmt.Sprintf("%s %q of %s", r.Effect, r.Statement.String(), r.Source)
	if r.Statement.HasPlaceholders() {
		s += fmt.Sprintf(" (as %q)", r.methodsString()+" "+r.Path())
	}
	return s
}

func (r Rule) methodsString() string {
	if r.Statement.Methods == nil {
		return "*"
	}
	return strings.Join(r.Statement.Methods, ",")
}

func (r *Rule) matchesMethod(m string) bool {
	ms := r.Statement.Methods
	return ms == nil || slices.Contains(ms, m) || r.Effect == Deny && m == "HEAD" && slices.Contains(ms, "GET")
}

// Policy is a principal's compiled policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	principal Source
	roles     []string
	scopes    []string // the token's scopes that the audiences map
	rules     []Rule
	// The fields Decide reads come last, just before the encoded trie when
	// newPolicy allocates both in one object.
	principalLayer bool
	scopeLayer     bool
	m              matcher
}

// newPolicy allocates a Policy and n bytes for its matcher, in one heap
// object unless n is large: a decision then reads one object, from the
// Policy's last fields into the bytes after them. The objects are sized to
// fill the runtime's size classes (192 bytes, 224, ...).
func newPolicy(n int) (*Policy, []byte) {
	switch {
	case n <= 192-policySize:
		return withBytes(n, func(b *[max(192-policySize, 0)]byte) []byte { return b[:] })
	case n <= 224-policySize:
		return withBytes(n, func(b *[max(224-policySize, 0)]byte) []byte { return b[:] })
	case n <= 256-policySize:
		return withBytes(n, func(b *[max(256-policySize, 0)]byte) []byte { return b[:] })
	case n <= 288-policySize:
		return withBytes(n, func(b *[max(288-policySize, 0)]byte) []byte { return b[:] })
	case n <= 352-policySize:
		return withBytes(n, func(b *[max(352-policySize, 0)]byte) []byte { return b[:] })
	case n <= 512-policySize:
		return withBytes(n, func(b *[max(512-policySize, 0)]byte) []byte { return b[:] })
	case n <= 768-policySize:
		return withBytes(n, func(b *[max(768-policySize, 0)]byte) []byte { return b[:] })
	case n <= 1024-policySize:
		return withBytes(n, func(b *[max(1024-policySize, 0)]byte) []byte { return b[:] })
	}
	return new(Policy), make([]byte, n)
}

const policySize = int(unsafe.Sizeof(Policy{}))

func withBytes[B any](n int, bytes func(*B) []byte) (*Policy, []byte) {
	w := new(struct {
		p Policy
		b B
	})
	return &w.p, bytes(&w.b)[:n:n]
}

// Rules returns the compiled rules in order: the principal's allow and deny
// statements, then each role's, then each granted scope's; one rule per
// placeholder value. Statements that match nothing have no rule.
func (p *Policy) Rules() []Rule { return slices.Clone(p.rules) }

// PrincipalLayer reports whether the principal layer exists: the principal
// has a statement or a role.
func (p *Policy) PrincipalLayer() bool { return p.principalLayer }

// ScopeLayer reports whether the scope layer exists: a token audience maps a
// scope to statements.
func (p *Policy) ScopeLayer() bool { return p.scopeLayer }

// Principal names the principal the policy was compiled for.
func (p *Policy) Principal() Source { return p.principal }

// Compile compiles a principal's policy. It fails (latch.EINVALID, naming the
// source and the statement) when a statement does not parse or expands to
// more than MaxExpansion statements, and when Kind is neither user nor
// client; callers deny on error.
func Compile(in Input) (*Policy, error) {
	p := &Policy{} // copied into the object newPolicy allocates
	switch in.Kind {
	case latch.SubjectUser:
		p.principal = Source{SourceUser, in.Sub}
	case latch.SubjectClient:
		p.principal = Source{SourceClient, in.ClientID}
	default:
		return nil, latch.Errorf(latch.EINVALID, "principal kind %q: want %q or %q", in.Kind, latch.SubjectUser, latch.SubjectClient)
	}
	c := compiler{in: &in, p: p}
	p.principalLayer = len(in.Allow) > 0 || len(in.Deny) > 0 || len(in.Roles) > 0 || len(in.Grants) > 0
	if err := c.add(p.principal, "allow", Allow, LayerPrincipal, in.Allow); err != nil {
		return nil, err
	}
	if err := c.add(p.principal, "deny", Deny, LayerPrincipal, in.Deny); err != nil {
		return nil, err
	}
	// Sorted, so that the same input compiles to the same policy.
	for _, key := range slices.Sorted(maps.Keys(in.Grants)) {
		g, src := in.Grants[key], Source{SourceGrant, key}
		if err := c.add(src, "allow", Allow, LayerPrincipal, g.Allow); err != nil {
			return nil, err
		}
		if err := c.add(src, "deny", Deny, LayerPrincipal, g.Deny); err != nil {
			return nil, err
		}
	}
	for _, r := range in.Roles {
		p.roles = append(p.roles, r.ID)
		src := Source{SourceRole, r.ID}
		if err := c.add(src, "allow", Allow, LayerPrincipal, r.Allow); err != nil {
			return nil, err
		}
		if err := c.add(src, "deny", Deny, LayerPrincipal, r.Deny); err != nil {
			return nil, err
		}
	}
	for _, a := range in.Audiences {
		for _, stmts := range a.Scopes {
			if len(stmts) > 0 {
				p.scopeLayer = true
			}
		}
	}
	for _, s := range in.Scopes {
		audID, name, ok := strings.Cut(s, "/")
		if !ok || slices.Contains(p.scopes, s) {
			continue
		}
		for _, a := range in.Audiences {
			if stmts, ok := a.Scopes[name]; ok && a.ID == audID {
				p.scopes = append(p.scopes, s)
				if err := c.add(Source{SourceScope, s}, "statements", Allow, LayerScope, stmts); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	if cap(p.rules) > len(p.rules) {
		p.rules = append([]Rule(nil), p.rules...)
	}
	var b builder
	for i := range p.rules {
		b.insert(p.rules[i].segs, &p.rules[i], int32(i))
	}
	enc, seed := b.encode()
	out, buf := newPolicy(len(enc))
	*out = *p
	copy(buf, enc)
	out.m = matcher{seed: seed, b: buf}
	return out, nil
}

type compiler struct {
	in *Input
	p  *Policy
}

func (c *compiler) add(src Source, list string, eff Effect, layer Layer, stmts []string) error {
	for i, text := range stmts {
		st, err := Parse(text)
		if err != nil {
			return latch.Errorf(latch.EINVALID, "%s, %s[%d]: %s", src, list, i, latch.ErrorMessage(err))
		}
		if err := c.expand(src, eff, layer, st); err != nil {
			return latch.Errorf(latch.EINVALID, "%s, %s[%d]: %s", src, list, i, latch.ErrorMessage(err))
		}
	}
	return nil
}

// expand appends one rule per combination of placeholder values; none when a
// placeholder has no valid value.
func (c *compiler) expand(src Source, eff Effect, layer Layer, st Statement) error {
	values := make([][]string, len(st.segs))
	total := 1
	for i, g := range st.segs {
		if g.kind != segVar {
			continue
		}
		values[i] = c.values(g.text)
		if len(values[i]) == 0 {
			return nil // matches nothing, never everything
		}
		total *= len(values[i])
		if total > MaxExpansion {
			return latch.Errorf(latch.EINVALID, "statement %q expands to more than %d statements", st.String(), MaxExpansion)
		}
	}
	if total == 1 && !st.HasPlaceholders() {
		c.p.rules = append(c.p.rules, Rule{Effect: eff, Layer: layer, Source: src, Statement: st, segs: st.segs})
		return nil
	}
	pick := make([]int, len(st.segs))
	for {
		segs := make([]patSeg, len(st.segs))
		for i, g := range st.segs {
			if g.kind == segVar {
				segs[i] = patSeg{kind: segLiteral, text: values[i][pick[i]]}
			} else {
				segs[i] = g
			}
		}
		c.p.rules = append(c.p.rules, Rule{Effect: eff, Layer: layer, Source: src, Statement: st, segs: segs})
		// next combination, last placeholder fastest
		i := len(pick) - 1
		for ; i >= 0; i-- {
			if st.segs[i].kind != segVar {
				continue
			}
			pick[i]++
			if pick[i] < len(values[i]) {
				break
			}
			pick[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

// values returns the distinct valid values of a placeholder.
func (c *compiler) values(name string) []string {
	var vs []string
	switch name {
	case PlaceholderSub:
		if c.in.Kind == latch.SubjectUser {
			vs = []string{c.in.Sub}
		}
	case PlaceholderOrg:
		vs = []string{c.in.Org}
	case PlaceholderClientID:
		vs = []string{c.in.ClientID}
	default:
		vs = c.in.Attributes[strings.TrimPrefix(name, PlaceholderAttr)]
	}
	var out []string
	var seen map[string]bool // for long lists only
	if len(vs) > 8 {
		seen = make(map[string]bool, len(vs))
	}
	for _, v := range vs {
		if !ValidSegment(v) {
			continue
		}
		if seen != nil {
			if seen[v] {
				continue
			}
			seen[v] = true
		} else if slices.Contains(out, v) {
			continue
		}
		out = append(out, v)
	}
	return out
}
