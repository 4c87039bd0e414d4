package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/policy"
)

// AdminScope is the scope of Latch's own admin API. It is built in: a client
// may list it without any audience defining it, and no audience may be
// called "latch".
const AdminScope = "latch/admin"

// DecideScope lets a client call the decision API (POST /v1/decisions).
// Built in like AdminScope.
const DecideScope = "latch/decide"

// reservedAudience is the audience part of AdminScope.
const reservedAudience = "latch"

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path locates the value, e.g. users[2].roles[0]; "" means the whole
	// file.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Line is the line of the file the value is on, when the File came
	// from Load; 0 otherwise.
	Line int `json:"line,omitempty"`
}

// String formats the problem as "path: message (line N)".
func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// ValidationError lists every problem found in a configuration. It is an
// EINVALID latch error: latch.ErrorCode reports EINVALID and
// latch.ErrorMessage the whole list, which never contains a password, a
// secret or a value taken from the environment.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// As makes a *ValidationError a *latch.Error with code EINVALID, so that each
// edge maps it like any other invalid input.
func (e *ValidationError) As(target any) bool {
	if t, ok := target.(**latch.Error); ok {
		*t = &latch.Error{Code: latch.EINVALID, Message: e.Error()}
		return true
	}
	return false
}

// invalid returns problems as an error, or nil if there are none.
func invalid(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

// Validate checks the file on its own: every reference must point at
// something defined in the file. It returns every problem at once as a
// *ValidationError, or nil. Apply validates again against the store, where a
// reference may also point at an item the store holds already.
func (f *File) Validate() error {
	return invalid(f.check(nil))
}

// check returns the problems of f. With a store view, references may point
// at stored items, and stored users and clients that would make the apply
// fail half-way (a username taken by another user, a client of another org)
// are problems too.
func (f *File) check(st *storeView) []Problem {
	v := &validator{
		f:         f,
		st:        st,
		orgs:      map[string]bool{},
		roles:     map[orgID]bool{},
		audiences: map[string]Audience{},
	}
	// What the file defines, for references; duplicates and bad ids are
	// reported below, in file order.
	for _, o := range f.Orgs {
		v.orgs[o.ID] = true
	}
	for _, r := range f.Roles {
		v.roles[orgID{r.Org, r.ID}] = true
	}
	for _, a := range f.Audiences {
		if _, dup := v.audiences[a.ID]; !dup {
			v.audiences[a.ID] = a
		}
	}
	v.checkOrgs()
	v.checkAudiences()
	v.checkRoles()
	v.checkUsers()
	v.checkClients()
	return v.problems
}

type orgID struct{ org, id string }

type validator struct {
	f        *File
	st       *storeView
	problems []Problem

	orgs      map[string]bool
	roles     map[orgID]bool
	audiences map[string]Audience
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: v.line(path)})
}

// line finds the line of path, or of its closest parent that has one.
func (v *validator) line(path string) int {
	for path != "" {
		if l, ok := v.f.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// q quotes a value for a message, unless it came from the environment: such
// a value may be a secret and is never shown.
func (v *validator) q(path, s string) string {
	if v.f.fromEnv[path] {
		return "(value from the environment)"
	}
	return strconv.Quote(truncate(s, 64))
}

// id checks an identifier and reports whether it is usable.
func (v *validator) id(path, s string) bool {
	switch {
	case s == "":
		v.add(path, "is required")
		return false
	case !latch.ValidID(s):
		v.add(path, "invalid id %s (1-%d letters, digits, '.', '_' or '-', not starting with '.' or '-')", v.q(path, s), latch.MaxIDLength)
		return false
	}
	return true
}

// orgRef checks that the org exists, in the file or in the store. The
// system org always does: `latch serve` creates it before it applies
// --config.
func (v *validator) orgRef(path, org string) bool {
	if !v.id(path, org) {
		return false
	}
	if org != latch.SystemOrg && !v.orgs[org] && (v.st == nil || !v.st.org(org)) {
		v.add(path, "unknown org %s", v.q(path, org))
		return false
	}
	return true
}

// roleRefs checks a list of role names of one org.
func (v *validator) roleRefs(path, org string, roles []string, orgOK bool) {
	seen := map[string]bool{}
	for i, r := range roles {
		p := index(path, i)
		switch {
		case r == "":
			v.add(p, "is empty")
		case v.repeated(seen, p, "role", r):
		case orgOK && !v.roles[orgID{org, r}] && (v.st == nil || !v.st.role(org, r)):
			v.add(p, "unknown role %s", v.q(p, r))
		}
	}
}

func (v *validator) statements(path string, list []string) {
	for i, s := range list {
		p := index(path, i)
		if _, err := policy.Parse(s); err != nil {
			if v.f.fromEnv[p] {
				v.add(p, "invalid statement (value from the environment)")
			} else {
				v.add(p, "%s", latch.ErrorMessage(err))
			}
		}
	}
}

// repeated reports whether s was seen already in a list, and reports it as a
// duplicate if so.
func (v *validator) repeated(seen map[string]bool, path, what, s string) bool {
	if seen[s] {
		v.add(path, "duplicate %s %s", what, v.q(path, s))
		return true
	}
	seen[s] = true
	return false
}

func (v *validator) checkOrgs() {
	first := map[string]string{}
	for i, o := range v.f.Orgs {
		p := index("orgs", i)
		ok := v.id(p+".id", o.ID)
		if ok {
			if at, dup := first[o.ID]; dup {
				v.add(p+".id", "duplicate org %s (also %s)", v.q(p+".id", o.ID), at)
			} else {
				first[o.ID] = p
			}
		}
		v.roleRefs(p+".default_roles", o.ID, o.DefaultRoles, ok)
	}
}

func (v *validator) checkAudiences() {
	first := map[string]string{}
	for i, a := range v.f.Audiences {
		p := index("audiences", i)
		if v.id(p+".id", a.ID) {
			if a.ID == reservedAudience {
				v.add(p+".id", "%q is reserved for Latch's own scope %s", reservedAudience, AdminScope)
			} else if at, dup := first[a.ID]; dup {
				v.add(p+".id", "duplicate audience %s (also %s)", v.q(p+".id", a.ID), at)
			} else {
				first[a.ID] = p
			}
		}
		for _, name := range sortedKeys(a.Scopes) {
			sp := joinKey(p+".scopes", name)
			if !latch.ValidID(name) {
				v.add(sp, "invalid scope name (1-%d letters, digits, '.', '_' or '-', not starting with '.' or '-')", latch.MaxIDLength)
			}
			v.statements(sp, a.Scopes[name])
		}
	}
}

func (v *validator) checkRoles() {
	first := map[orgID]string{}
	for i, r := range v.f.Roles {
		p := index("roles", i)
		idOK := v.id(p+".id", r.ID)
		orgOK := v.orgRef(p+".org", r.Org)
		if idOK && orgOK {
			if at, dup := first[orgID{r.Org, r.ID}]; dup {
				v.add(p+".id", "duplicate role %s in org %s (also %s)", v.q(p+".id", r.ID), v.q(p+".org", r.Org), at)
			} else {
				first[orgID{r.Org, r.ID}] = p
			}
		}
		v.statements(p+".allow", r.Allow)
		v.statements(p+".deny", r.Deny)
	}
}

func (v *validator) checkUsers() {
	first := map[orgID]string{}
	logins := map[orgID]string{} // (org, canonical username or email) -> user path
	for i, u := range v.f.Users {
		p := index("users", i)
		idOK := v.id(p+".id", u.ID)
		orgOK := v.orgRef(p+".org", u.Org)
		if idOK && orgOK {
			if at, dup := first[orgID{u.Org, u.ID}]; dup {
				v.add(p+".id", "duplicate user %s in org %s (also %s)", v.q(p+".id", u.ID), v.q(p+".org", u.Org), at)
			} else {
				first[orgID{u.Org, u.ID}] = p
			}
		}

		login := func(field, what, value string, canonical func(string) (string, error)) {
			fp := p + "." + field
			c, err := canonical(value)
			if err != nil {
				v.add(fp, "%s", latch.ErrorMessage(err))
				return
			}
			if !orgOK {
				return
			}
			if at, taken := logins[orgID{u.Org, c}]; taken {
				v.add(fp, "%s %s is already used by %s", what, v.q(fp, c), at)
				return
			}
			logins[orgID{u.Org, c}] = p
			if v.st != nil && idOK {
				if holder, found := v.st.findUser(u.Org, c); found && holder.ID != u.ID {
					v.add(fp, "%s %s already belongs to user %s of org %s in the store", what, v.q(fp, c), strconv.Quote(holder.ID), v.q(p+".org", u.Org))
				}
			}
		}
		if u.Username == "" {
			v.add(p+".username", "is required")
		} else {
			login("username", "username", u.Username, password.CanonicalUsername)
		}
		if u.Email != "" {
			login("email", "email", u.Email, password.CanonicalEmail)
		}

		switch {
		case u.Password != "" && u.PasswordHash != "":
			v.add(p, "password and password_hash are mutually exclusive")
		case u.Password == "" && u.PasswordHash == "":
			v.add(p, "one of password or password_hash is required")
		case u.Password != "":
			if err := password.CheckNew(u.Password); err != nil {
				v.add(p+".password", "%s", latch.ErrorMessage(err))
			}
		default:
			if err := password.CheckHash(u.PasswordHash); err != nil {
				v.add(p+".password_hash", "not an Argon2id or bcrypt hash in PHC format")
			}
		}

		v.roleRefs(p+".roles", u.Org, u.Roles, orgOK)
		for _, name := range sortedKeys(u.Attributes) {
			ap := joinKey(p+".attributes", name)
			if !latch.ValidID(name) {
				v.add(ap, "invalid attribute name (1-%d letters, digits, '.', '_' or '-', not starting with '.' or '-')", latch.MaxIDLength)
			}
			values := u.Attributes[name]
			if len(values) == 0 {
				v.add(ap, "at least one value is required")
			}
			for j, val := range values {
				if msg := attributeValueProblem(val); msg != "" {
					v.add(index(ap, j), "%s", msg)
				}
			}
		}
		v.statements(p+".allow", u.Allow)
		v.statements(p+".deny", u.Deny)
	}
}

// attributeValueProblem refuses attribute values that could not stand for
// one path segment when a statement substitutes them ({attr.name}).
func attributeValueProblem(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if s == "." || s == ".." || strings.ContainsAny(s, "/\\*{}?#") {
		return `must be usable as one path segment (no '/', '\', '*', '{', '}', '?', '#', "." or "..")`
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

var knownGrants = []string{latch.GrantClientCredentials, latch.GrantPassword, latch.GrantRefreshToken, latch.GrantAuthorizationCode}

func (v *validator) checkClients() {
	first := map[string]string{}
	for i, c := range v.f.Clients {
		p := index("clients", i)
		if v.id(p+".id", c.ID) {
			if at, dup := first[c.ID]; dup {
				v.add(p+".id", "duplicate client %s (also %s)", v.q(p+".id", c.ID), at)
			} else {
				first[c.ID] = p
			}
		}
		orgOK := v.orgRef(p+".org", c.Org)
		if orgOK && v.st != nil && latch.ValidID(c.ID) {
			if stored, found := v.st.client(c.ID); found && stored.Org != c.Org {
				v.add(p+".org", "client %s belongs to org %s in the store; apply cannot move a client to another org", v.q(p+".id", c.ID), strconv.Quote(stored.Org))
			}
		}

		switch {
		case c.Secret != "" && c.SecretHash != "":
			v.add(p, "secret and secret_hash are mutually exclusive")
		case c.Secret != "":
			if err := password.CheckConfigSecret(c.Secret); err != nil {
				v.add(p+".secret", "%s", latch.ErrorMessage(err))
			}
		case c.SecretHash != "":
			if !password.ValidClientSecretHash(c.SecretHash) {
				v.add(p+".secret_hash", "not a client secret hash (hmac-sha256$<key>$<mac>, as printed by `latch client create`)")
			}
		}
		confidential := c.Secret != "" || c.SecretHash != ""

		if len(c.Grants) == 0 {
			v.add(p+".grants", "at least one grant is required")
		}
		has := map[string]bool{}
		for _, g := range c.Grants {
			has[g] = true
		}
		seen := map[string]bool{}
		for j, g := range c.Grants {
			gp := index(p+".grants", j)
			if v.repeated(seen, gp, "grant", g) {
				continue
			}
			switch g {
			case latch.GrantClientCredentials:
				if !confidential {
					v.add(gp, "client_credentials needs a secret or secret_hash (a public client cannot authenticate)")
				}
			case latch.GrantRefreshToken:
				if !has[latch.GrantPassword] && !has[latch.GrantAuthorizationCode] {
					v.add(gp, "refresh_token needs the password or authorization_code grant")
				}
			case latch.GrantPassword, latch.GrantAuthorizationCode:
			default:
				v.add(gp, "unknown grant %s (%s)", v.q(gp, g), strings.Join(knownGrants, ", "))
			}
		}
		if has[latch.GrantAuthorizationCode] && len(c.RedirectURIs) == 0 {
			v.add(p+".redirect_uris", "the authorization_code grant needs at least one redirect URI")
		}

		seen = map[string]bool{}
		for j, s := range c.Scopes {
			if sp := index(p+".scopes", j); !v.repeated(seen, sp, "scope", s) {
				v.scope(sp, s)
			}
		}
		v.roleRefs(p+".roles", c.Org, c.Roles, orgOK)
		v.statements(p+".allow", c.Allow)
		v.statements(p+".deny", c.Deny)

		switch c.AccessTokenFormat {
		case "", latch.TokenFormatJWT, latch.TokenFormatOpaque:
		default:
			v.add(p+".access_token_format", "must be %s or %s", latch.TokenFormatJWT, latch.TokenFormatOpaque)
		}

		seen = map[string]bool{}
		for j, s := range c.RedirectURIs {
			rp := index(p+".redirect_uris", j)
			if v.repeated(seen, rp, "redirect URI", s) {
				continue
			}
			if msg := redirectURIProblem(s); msg != "" {
				v.add(rp, "%s", msg)
			}
		}

		seen = map[string]bool{}
		for j, o := range c.LoginOrgs {
			lp := index(p+".login_orgs", j)
			if v.repeated(seen, lp, "org", o) {
				continue
			}
			if o == latch.AnyOrg {
				if len(c.LoginOrgs) > 1 {
					v.add(lp, "%q must be the only entry", latch.AnyOrg)
				}
				continue
			}
			v.orgRef(lp, o)
		}
	}
}

// scope checks "<audience>/<scope>" against the audiences of the file, or
// of the store for an audience the file does not define.
func (v *validator) scope(path, s string) {
	if s == AdminScope || s == DecideScope {
		return
	}
	aud, name, ok := strings.Cut(s, "/")
	if !ok || aud == "" || name == "" || strings.Contains(name, "/") {
		v.add(path, "invalid scope %s (want <audience>/<scope>)", v.q(path, s))
		return
	}
	scopes, found := map[string][]string(nil), false
	if a, ok := v.audiences[aud]; ok {
		scopes, found = a.Scopes, true
	} else if v.st != nil {
		if a, ok := v.st.audience(aud); ok {
			scopes, found = a.Scopes, true
		}
	}
	if !found {
		v.add(path, "unknown audience %s", v.q(path, aud))
		return
	}
	if _, ok := scopes[name]; !ok {
		v.add(path, "audience %s has no scope %s", v.q(path, aud), v.q(path, name))
	}
}

// redirectURIProblem enforces RFC 6749 §3.1.2 and RFC 8252 §8.3: an absolute
// URI without a fragment, over https, or over http to a loopback address.
func redirectURIProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return "must be an absolute URI"
	case strings.Contains(s, "#"):
		return "must not contain a fragment"
	case u.User != nil:
		return "must not contain user information"
	case u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())):
		return "must use https (http only for a loopback host)"
	case u.Host == "":
		return "must have a host"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
