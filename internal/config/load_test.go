package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// exported returns f without what Load records for the validator, so that
// files can be compared.
func exported(f *File) File {
	return File{Orgs: f.Orgs, Audiences: f.Audiences, Roles: f.Roles, Users: f.Users, Clients: f.Clients}
}

func ptr[T any](v T) *T { return &v }

func TestLoadShapes(t *testing.T) {
	yaml := `
orgs:
  - id: payroll
    name: Payroll
    signup: ${SIGNUP}
    default_roles: [employee]
  - {id: acme, signup: false}
audiences:
  - id: api
    scopes:
      read: ["GET /x/**"]
      none: []
roles:
  - id: employee
    org: payroll
    allow:
      - GET /api/employee/{sub}/**
users:
  - id: 5
    org: payroll
    username: alice
    password: ${PW_A}
    attributes:
      team: payroll
      reports: ["6", 7]
    disabled: true
  - id: 007
    org: payroll
    username: bond
    password_hash: $argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5
    roles: []
clients:
  - {id: a, org: payroll, grants: [password], login_orgs: "*"}
  - {id: b, org: payroll, grants: [password], login_orgs: ["*"], disabled: false}
  - {id: c, org: payroll, grants: [password], login_orgs: acme, access_token_format: opaque}
  - id: d
    org: payroll
    name: |
      multi
      line
    secret: ${SECRET_A}
    grants: [client_credentials]
`
	e := testEnv()
	e["SIGNUP"] = "true"
	got := exported(mustLoad(t, yaml, e))
	want := File{
		Orgs: []Org{
			{ID: "payroll", Name: "Payroll", Signup: true, DefaultRoles: []string{"employee"}},
			{ID: "acme"},
		},
		Audiences: []Audience{{ID: "api", Scopes: map[string][]string{"read": {"GET /x/**"}, "none": {}}}},
		Roles:     []Role{{ID: "employee", Org: "payroll", Allow: []string{"GET /api/employee/{sub}/**"}}},
		Users: []User{
			{
				ID: "5", Org: "payroll", Username: "alice", Password: pwA,
				Attributes: map[string][]string{"team": {"payroll"}, "reports": {"6", "7"}},
				Disabled:   ptr(true),
			},
			// 007 is the id as written, not the number 7.
			{ID: "007", Org: "payroll", Username: "bond", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5", Roles: []string{}},
		},
		Clients: []Client{
			{ID: "a", Org: "payroll", Grants: []string{"password"}, LoginOrgs: []string{"*"}},
			{ID: "b", Org: "payroll", Grants: []string{"password"}, LoginOrgs: []string{"*"}, Disabled: ptr(false)},
			{ID: "c", Org: "payroll", Grants: []string{"password"}, LoginOrgs: []string{"acme"}, AccessTokenFormat: "opaque"},
			{ID: "d", Org: "payroll", Name: "multi\nline\n", Secret: secretA, Grants: []string{"client_credentials"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n%#v\nwant\n%#v", got, want)
	}
}

func TestLoadJSON(t *testing.T) {
	f := mustLoad(t, `{"orgs": [{"id": "payroll", "signup": true}], "users": [{"id": "5", "org": "payroll", "username": "alice", "password": "${PW_A}"}]}`, testEnv())
	if got, want := f.Orgs[0], (Org{ID: "payroll", Signup: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("org %+v, want %+v", got, want)
	}
	if got, want := f.Users[0].Password, pwA; got != want {
		t.Errorf("password %q, want %q", got, want)
	}
}

func TestLoadEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		f, err := Load([]byte(in), nil)
		if err != nil {
			t.Errorf("Load(%q): %v", in, err)
			continue
		}
		if got := exported(f); !reflect.DeepEqual(got, File{}) {
			t.Errorf("Load(%q) = %+v, want an empty file", in, got)
		}
		if err := f.Validate(); err != nil {
			t.Errorf("Validate of %q: %v", in, err)
		}
	}
}

// Load reports every problem of the file's shape at once, with its line.
func TestLoadProblems(t *testing.T) {
	userFields := "id, org, username, email, password, password_hash, roles, attributes, allow, deny, disabled"
	tests := []struct {
		name string
		yaml string
		want []string // Problem.String()
	}{
		{"unknown top-level key", "userz: []\norgs: []\n", []string{`userz: unknown field (did you mean "users"?) (line 1)`}},
		{"not a mapping", "- a\n- b\n", []string{"expected a mapping of fields (orgs, audiences, roles, users, clients) (line 1)"}},
		{"scalar document", "hello\n", []string{"expected a mapping of fields (orgs, audiences, roles, users, clients) (line 1)"}},
		{"list expected", "orgs: {id: a}\n", []string{"orgs: expected a list (line 1)"}},
		{"entry not a mapping", "users:\n  - alice\n", []string{"users[0]: expected a mapping of fields (" + userFields + ") (line 2)"}},
		{
			name: "wrong shapes in one user",
			yaml: `users:
  - id: [5]
    roles: admin
    attributes: [a]
    disabled: maybe
    allow:
      - GET /x
      - [nested]
      -
    passwrod: x
    colour: blue
  - attributes:
      x: {a: b}
`,
			want: []string{
				"users[0].id: expected a string (line 2)",
				"users[0].roles: expected a list of strings (line 3)",
				"users[0].attributes: expected a mapping (line 4)",
				"users[0].disabled: expected true or false (line 5)",
				"users[0].allow[1]: expected a string (line 8)",
				"users[0].allow[2]: empty item (line 9)",
				`users[0].passwrod: unknown field (did you mean "password"?) (line 10)`,
				"users[0].colour: unknown field (line 11)",
				"users[1].attributes.x: expected a string or a list of strings (line 13)",
			},
		},
		{
			name: "anchors, aliases, tags and merge keys",
			yaml: `orgs:
  - &o {id: a}
  - *o
  - id: !!str 5
  - <<: {id: b}
`,
			want: []string{
				"orgs[0]: anchors and aliases are not supported (line 2)",
				"orgs[1]: anchors and aliases are not supported (line 3)",
				"orgs[2].id: tags are not supported (line 4)",
				"orgs[3]: merge keys (<<) are not supported (line 5)",
			},
		},
		{"two documents", "orgs: []\n---\nusers: []\n", []string{"only one YAML document is allowed (line 3)"}},
		{"deep nesting", strings.Repeat("[", 100000), []string{"nested more than 64 levels deep"}},
		{"deep indentation", strings.Repeat("- ", 100) + "a\n", []string{"nested more than 64 levels deep"}},
		{"too large", strings.Repeat("#", MaxFileBytes+1), []string{"the file is larger than 8 MiB; split it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.yaml), nil)
			problems(t, err) // checks the type and code
			var got []string
			if err != nil {
				for _, p := range err.(*ValidationError).Problems {
					got = append(got, p.String())
				}
			}
			if !sameList(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", lines(got), lines(tt.want))
			}
		})
	}
}

// Syntax errors come from the parser: they carry a line, and no source.
func TestLoadSyntaxError(t *testing.T) {
	for _, in := range []string{
		"orgs:\n  - id: a\n    name: [unclosed\n",
		"orgs:\n  - id: a\n  - id: b\n    id: c\n", // duplicate key
		"orgs:\n  - id: \"unterminated\n",
		"users:\n  - {id: 5, password: ${PW}}\n", // ${...} unquoted in a flow mapping
	} {
		_, err := Load([]byte(in), testEnv().get)
		if err == nil {
			t.Errorf("Load(%q) succeeded", in)
			continue
		}
		ve := err.(*ValidationError)
		if len(ve.Problems) != 1 || ve.Problems[0].Line == 0 || ve.Problems[0].Message == "" {
			t.Errorf("Load(%q): %#v, want one problem with a line", in, ve.Problems)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%q): the error quotes the source: %q", in, err)
		}
	}
}

func TestLoadEnv(t *testing.T) {
	tricky := "a #b \"c' \n d: e ${NOT_EXPANDED} $$ [x]"
	yaml := `
# Comments are not substituted: ${UNDEFINED} is fine here.
orgs:
  - id: payroll
    name: "${A}-${B}"
users:
  - id: "1"
    org: payroll
    username: a
    password: ${TRICKY}
    password_hash: $argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5
    email: price$$5@example.com
    allow:
      - "$${LITERAL} $x $"
    attributes:
      "${KEY}": v
`
	e := env{"A": "left", "B": "right", "TRICKY": tricky}
	f := mustLoad(t, yaml, e)
	u := f.Users[0]
	for _, c := range []struct{ name, got, want string }{
		{"two variables", f.Orgs[0].Name, "left-right"},
		{"a value is never parsed", u.Password, tricky},
		{"a lone $ is kept", u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5"},
		{"$$ is $", u.Email, "price$5@example.com"},
		{"$${X} is ${X}", u.Allow[0], "${LITERAL} $x $"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, ok := u.Attributes["${KEY}"]; !ok {
		t.Errorf("keys must not be substituted: %v", u.Attributes)
	}
	if len(f.Users) != 1 || len(u.Allow) != 1 {
		t.Errorf("a value changed the structure: %+v", f)
	}

	// Without getenv nothing is substituted.
	raw, err := Load([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := raw.Orgs[0].Name, "${A}-${B}"; got != want {
		t.Errorf("nil getenv: name %q, want %q", got, want)
	}
	if got, want := raw.Users[0].Email, "price$$5@example.com"; got != want {
		t.Errorf("nil getenv: email %q, want %q", got, want)
	}
}

func TestLoadEnvProblems(t *testing.T) {
	yaml := `orgs:
  - id: ${ORG}
    name: ${MISSING_NAME}
users:
  - id: "1"
    password: ${MISSING_PASSWORD}-${EMPTY}-${SECRET}
    email: ${1BAD}
    username: ${}
clients:
  - id: ${UNTERMINATED
`
	e := env{"ORG": "payroll", "EMPTY": "", "SECRET": "s3cr3t-value-that-must-not-leak"}
	_, err := Load([]byte(yaml), e.get)
	var got []string
	if ve, ok := err.(*ValidationError); ok {
		for _, p := range ve.Problems {
			got = append(got, p.String())
		}
	}
	want := []string{
		"orgs[0].name: environment variable MISSING_NAME is not set (or is empty) (line 3)",
		"users[0].password: environment variable MISSING_PASSWORD is not set (or is empty) (line 6)",
		"users[0].password: environment variable EMPTY is not set (or is empty) (line 6)",
		`users[0].email: invalid environment variable name "1BAD" in ${...} (line 7)`,
		`users[0].username: invalid environment variable name "" in ${...} (line 8)`,
		"clients[0].id: unterminated ${ (write $$ for a literal '$') (line 10)",
	}
	if !sameList(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	if strings.Contains(err.Error(), e["SECRET"]) || strings.Contains(err.Error(), "payroll") {
		t.Errorf("the error shows a value: %v", err)
	}
}

// A loaded file marshalled to JSON (what `latch apply --endpoint` may send)
// loads again, without substitution, to the same file.
func TestJSONRoundTrip(t *testing.T) {
	f := loadExample(t)
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Load(data, nil)
	if err != nil {
		t.Fatalf("Load(JSON): %v", err)
	}
	if !reflect.DeepEqual(normalize(exported(f)), normalize(exported(g))) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", exported(g), exported(f))
	}
}

// normalize makes empty lists and maps nil, as JSON's omitempty does.
func normalize(f File) File {
	list := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		return l
	}
	lm := func(m map[string][]string) map[string][]string {
		if len(m) == 0 {
			return nil
		}
		out := map[string][]string{}
		for k, v := range m {
			out[k] = list(v)
		}
		return out
	}
	var g File
	for _, o := range f.Orgs {
		o.DefaultRoles = list(o.DefaultRoles)
		g.Orgs = append(g.Orgs, o)
	}
	for _, a := range f.Audiences {
		a.Scopes = lm(a.Scopes)
		g.Audiences = append(g.Audiences, a)
	}
	for _, r := range f.Roles {
		r.Allow, r.Deny = list(r.Allow), list(r.Deny)
		g.Roles = append(g.Roles, r)
	}
	for _, u := range f.Users {
		u.Roles, u.Allow, u.Deny, u.Attributes = list(u.Roles), list(u.Allow), list(u.Deny), lm(u.Attributes)
		g.Users = append(g.Users, u)
	}
	for _, c := range f.Clients {
		c.Grants, c.Scopes, c.Roles, c.Allow, c.Deny = list(c.Grants), list(c.Scopes), list(c.Roles), list(c.Allow), list(c.Deny)
		c.RedirectURIs, c.LoginOrgs = list(c.RedirectURIs), list(c.LoginOrgs)
		g.Clients = append(g.Clients, c)
	}
	return g
}
