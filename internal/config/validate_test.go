package config

import (
	"strings"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/policy"
)

const idRule = "(1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-')"

// stmtErr is the message policy.Parse gives for a bad statement; the
// validator must pass it through unchanged.
func stmtErr(t *testing.T, s string) string {
	t.Helper()
	_, err := policy.Parse(s)
	if err == nil {
		t.Fatalf("policy.Parse(%q) succeeded; the test needs a bad statement", s)
	}
	return latch.ErrorMessage(err)
}

func canonErr(t *testing.T, fn func(string) (string, error), s string) string {
	t.Helper()
	_, err := fn(s)
	if err == nil {
		t.Fatalf("%q canonicalised; the test needs a bad one", s)
	}
	return latch.ErrorMessage(err)
}

// header defines what the cases refer to.
const header = `
orgs:
  - id: payroll
    default_roles: [employee]
  - id: acme
audiences:
  - id: premium
    scopes:
      read: [GET /premium/**]
      write: [POST /premium/**]
roles:
  - id: employee
    org: payroll
    allow: ["GET /api/employee/{sub}/**"]
`

func TestValidate(t *testing.T) {
	h := password.NewTestHasher()
	argon, err := h.Hash(pwA)
	if err != nil {
		t.Fatal(err)
	}
	chash, err := password.HashClientSecret(secretA)
	if err != nil {
		t.Fatal(err)
	}
	e := testEnv()
	e["HASH"] = argon
	e["CHASH"] = chash

	tests := []struct {
		name string
		yaml string
		env  env // added to e
		want []string
	}{
		{
			name: "valid",
			yaml: header + `
users:
  - {id: "5", org: payroll, username: alice, email: alice@example.com, password: "${PW_A}", roles: [employee]}
  - id: "6"
    org: payroll
    username: bob
    password_hash: ${HASH}
    roles: [employee]
    attributes: {team: payroll, reports: ["5", "7"]}
    allow: ["GET /api/employee/{attr.reports}/**"]
    deny: ["* /api/employee/7/**"]
    disabled: false
  - {id: "5", org: acme, username: alice, password: "${PW_B}"}
clients:
  - {id: app, org: payroll, secret: "${SECRET_A}", grants: [password, refresh_token], scopes: [premium/read]}
  - {id: reader, org: acme, secret_hash: "${CHASH}", grants: [client_credentials], scopes: [premium/read, premium/write, latch/admin], access_token_format: opaque}
  - id: web
    org: payroll
    grants: [authorization_code, refresh_token]
    redirect_uris: [https://app.example.com/cb, http://127.0.0.1:8080/cb, "http://[::1]/cb", http://localhost/cb]
    login_orgs: "*"
  - {id: web2, org: payroll, grants: [password], login_orgs: ["*"]}
  - {id: web3, org: payroll, grants: [password], login_orgs: [acme]}
`,
		},
		{
			name: "empty file",
			yaml: "",
		},
		{
			name: "the issue's example",
			yaml: header + `
users:
  - {id: "5", org: payroll, username: alice, password: "${PW_A}", roles: [employee]}
  - {id: "6", org: payroll, username: bob, password: "${PW_A}", roles: [employee]}
  - {id: c, org: payroll, username: carol, password: "${PW_A}", roles: [manger]}
`,
			want: []string{`users[2].roles[0]: unknown role "manger"`},
		},
		{
			name: "ids and duplicates",
			yaml: `
orgs:
  - id: "bad id"
  - id: payroll
  - id: payroll
  - {}
audiences:
  - id: latch
    scopes: {admin: ["*"]}
  - id: ".hidden"
  - id: api
  - id: api
roles:
  - {id: "-x", org: payroll}
  - {id: employee, org: payroll}
  - {id: employee, org: payroll}
  - {id: employee, org: nowhere}
  - {id: r}
users:
  - {id: "", org: payroll, username: a, password: "${PW_A}"}
  - {id: "1", org: payroll, username: b, password: "${PW_A}"}
  - {id: "1", org: payroll, username: c, password: "${PW_A}"}
clients:
  - {id: "a/b", org: payroll, grants: [password]}
  - {id: c, org: payroll, grants: [password]}
  - {id: c, org: payroll, grants: [password]}
`,
			want: []string{
				`orgs[0].id: invalid id "bad id" ` + idRule,
				`orgs[2].id: duplicate org "payroll" (also orgs[1])`,
				`orgs[3].id: is required`,
				`audiences[0].id: "latch" is reserved for Latch's own scope latch/admin`,
				`audiences[1].id: invalid id ".hidden" ` + idRule,
				`audiences[3].id: duplicate audience "api" (also audiences[2])`,
				`roles[0].id: invalid id "-x" ` + idRule,
				`roles[2].id: duplicate role "employee" in org "payroll" (also roles[1])`,
				`roles[3].org: unknown org "nowhere"`,
				`roles[4].org: is required`,
				`users[0].id: is required`,
				`users[2].id: duplicate user "1" in org "payroll" (also users[1])`,
				`clients[0].id: invalid id "a/b" ` + idRule,
				`clients[2].id: duplicate client "c" (also clients[1])`,
			},
		},
		{
			name: "references",
			yaml: `
orgs:
  - {id: payroll, default_roles: [employee, boss, employee, ""]}
roles:
  - {id: employee, org: payroll}
  - {id: boss, org: acme}
users:
  - {id: "5", org: nowhere, username: alice, password: "${PW_A}", roles: [employee]}
  - {id: "6", org: payroll, username: bob, password: "${PW_A}", roles: [employee, boss, employee]}
clients:
  - {id: app, org: nowhere, grants: [password], roles: [employee]}
  - {id: app2, org: payroll, grants: [password], roles: [boss], login_orgs: [payroll2, "*"]}
  - {id: app3, org: payroll, grants: [password], login_orgs: [payroll, payroll]}
`,
			want: []string{
				`orgs[0].default_roles[1]: unknown role "boss"`,
				`orgs[0].default_roles[2]: duplicate role "employee"`,
				`orgs[0].default_roles[3]: is empty`,
				`roles[1].org: unknown org "acme"`,
				`users[0].org: unknown org "nowhere"`,
				`users[1].roles[1]: unknown role "boss"`,
				`users[1].roles[2]: duplicate role "employee"`,
				`clients[0].org: unknown org "nowhere"`,
				`clients[1].roles[0]: unknown role "boss"`,
				`clients[1].login_orgs[0]: unknown org "payroll2"`,
				`clients[1].login_orgs[1]: "*" must be the only entry`,
				`clients[2].login_orgs[1]: duplicate org "payroll"`,
			},
		},
		{
			name: "usernames and emails",
			yaml: `
orgs: [{id: payroll}, {id: acme}]
users:
  - {id: "1", org: payroll, username: Alice, email: Alice@Example.com, password: "${PW_A}"}
  - {id: "2", org: payroll, username: alice, password: "${PW_A}"}
  - {id: "3", org: acme, username: alice, email: alice@example.com, password: "${PW_A}"}
  - {id: "4", org: payroll, username: dave, email: ALICE@example.COM, password: "${PW_A}"}
  - {id: "5", org: payroll, password: "${PW_A}"}
  - {id: "6", org: payroll, username: "has space", email: not-an-email, password: "${PW_A}"}
`,
			want: []string{
				`users[1].username: username "alice" is already used by users[0]`,
				`users[3].email: email "alice@example.com" is already used by users[0]`,
				`users[4].username: is required`,
				`users[5].username: ` + canonErr(t, password.CanonicalUsername, "has space"),
				`users[5].email: ` + canonErr(t, password.CanonicalEmail, "not-an-email"),
			},
		},
		{
			name: "passwords",
			yaml: `
orgs: [{id: payroll}]
users:
  - {id: "1", org: payroll, username: a, password: "${PW_A}", password_hash: "${HASH}"}
  - {id: "2", org: payroll, username: b}
  - {id: "3", org: payroll, username: c, password: "12345678"}
  - {id: "4", org: payroll, username: d, password: short}
  - {id: "5", org: payroll, username: e, password_hash: "$argon2id$v=19$m=1,t=1,p=1$xx$yy"}
  - {id: "6", org: payroll, username: f, password_hash: "${HASH}"}
  - {id: "7", org: payroll, username: g, password_hash: "md5:5f4dcc3b5aa765d61d8327deb882cf99"}
`,
			want: []string{
				`users[0]: password and password_hash are mutually exclusive`,
				`users[1]: one of password or password_hash is required`,
				`users[2].password: password is one of the most commonly used passwords; choose another`,
				`users[3].password: password must be at least 8 characters`,
				`users[4].password_hash: not an Argon2id or bcrypt hash in PHC format`,
				`users[6].password_hash: not an Argon2id or bcrypt hash in PHC format`,
			},
		},
		{
			name: "client secrets and grants",
			yaml: `
orgs: [{id: payroll}]
clients:
  - {id: a, org: payroll, secret: "${SECRET_A}", secret_hash: "${CHASH}", grants: [client_credentials]}
  - {id: b, org: payroll, secret: too-short-secret, grants: [client_credentials]}
  - {id: c, org: payroll, secret_hash: "hmac-sha256$nope$nope", grants: [client_credentials]}
  - {id: d, org: payroll, grants: [client_credentials, implicit, password, password]}
  - {id: e, org: payroll, grants: []}
  - {id: f, org: payroll}
  - {id: g, org: payroll, grants: [refresh_token]}
  - {id: h, org: payroll, grants: [authorization_code, refresh_token]}
`,
			want: []string{
				`clients[0]: secret and secret_hash are mutually exclusive`,
				"clients[1].secret: client secret must be at least 32 characters; generate one with `latch client create`",
				"clients[2].secret_hash: not a client secret hash (hmac-sha256$<key>$<mac>, as printed by `latch client create`)",
				`clients[3].grants[0]: client_credentials needs a secret or secret_hash (a public client cannot authenticate)`,
				`clients[3].grants[1]: unknown grant "implicit" (client_credentials, password, refresh_token, authorization_code)`,
				`clients[3].grants[3]: duplicate grant "password"`,
				`clients[4].grants: at least one grant is required`,
				`clients[5].grants: at least one grant is required`,
				`clients[6].grants[0]: refresh_token needs the password or authorization_code grant`,
				`clients[7].redirect_uris: the authorization_code grant needs at least one redirect URI`,
			},
		},
		{
			name: "scopes, token format and redirect URIs",
			yaml: header + `
clients:
  - id: a
    org: payroll
    secret: ${SECRET_A}
    grants: [client_credentials]
    scopes: [premium/read, latch/admin, premium, nope/read, premium/delete, premium/read, /read, premium/a/b, latch/other]
    access_token_format: paseto
  - id: b
    org: payroll
    grants: [authorization_code]
    redirect_uris:
      - https://app.example.com/cb
      - http://127.0.0.1:8080/cb
      - http://localhost/cb
      - http://[::1]:9000/cb
      - http://app.example.com/cb
      - https://app.example.com/cb#frag
      - /relative/cb
      - https://user:pw@app.example.com/cb
      - com.example.app:/cb
      - https:/cb
      - https://app.example.com/cb
`,
			want: []string{
				`clients[0].scopes[2]: invalid scope "premium" (want <audience>/<scope>)`,
				`clients[0].scopes[3]: unknown audience "nope"`,
				`clients[0].scopes[4]: audience "premium" has no scope "delete"`,
				`clients[0].scopes[5]: duplicate scope "premium/read"`,
				`clients[0].scopes[6]: invalid scope "/read" (want <audience>/<scope>)`,
				`clients[0].scopes[7]: invalid scope "premium/a/b" (want <audience>/<scope>)`,
				`clients[0].scopes[8]: unknown audience "latch"`,
				`clients[0].access_token_format: must be jwt or opaque`,
				`clients[1].redirect_uris[4]: must use https (http only for a loopback host)`,
				`clients[1].redirect_uris[5]: must not contain a fragment`,
				`clients[1].redirect_uris[6]: must be an absolute URI`,
				`clients[1].redirect_uris[7]: must not contain user information`,
				`clients[1].redirect_uris[8]: must use https (http only for a loopback host)`,
				`clients[1].redirect_uris[9]: must have a host`,
				`clients[1].redirect_uris[10]: duplicate redirect URI "https://app.example.com/cb"`,
			},
		},
		{
			name: "statements and attributes",
			yaml: `
orgs: [{id: payroll}]
audiences:
  - id: api
    scopes:
      "bad scope": [GET /x]
      read: [GET api/x]
roles:
  - {id: r, org: payroll, allow: ["GET /ok/**", "get /x"], deny: ["/a/**/b"]}
users:
  - id: "1"
    org: payroll
    username: a
    password: ${PW_A}
    attributes:
      "bad name": x
      empty: []
      list: [ok, "", "5/6", ".."]
    allow: ["get /x"]
    deny: ["GET /x extra"]
clients:
  - {id: c, org: payroll, grants: [password], allow: ["GET /x*"], deny: [""]}
`,
			want: []string{
				`audiences[0].scopes["bad scope"]: invalid scope name ` + idRule,
				`audiences[0].scopes.read[0]: ` + stmtErr(t, "GET api/x"),
				`roles[0].allow[1]: ` + stmtErr(t, "get /x"),
				`roles[0].deny[0]: ` + stmtErr(t, "/a/**/b"),
				`users[0].attributes["bad name"]: invalid attribute name ` + idRule,
				`users[0].attributes.empty: at least one value is required`,
				`users[0].attributes.list[1]: must not be empty`,
				`users[0].attributes.list[2]: must be usable as one path segment (no '/', '\', '*', '{', '}', '?', '#', "." or "..")`,
				`users[0].attributes.list[3]: must be usable as one path segment (no '/', '\', '*', '{', '}', '?', '#', "." or "..")`,
				`users[0].allow[0]: ` + stmtErr(t, "get /x"),
				`users[0].deny[0]: ` + stmtErr(t, "GET /x extra"),
				`clients[0].allow[0]: ` + stmtErr(t, "GET /x*"),
				`clients[0].deny[0]: ` + stmtErr(t, ""),
			},
		},
		{
			name: "values from the environment are never shown",
			yaml: header + `
users:
  - {id: "1", org: "${ORG}", username: a, password: "${PW_A}"}
clients:
  - id: c
    org: payroll
    secret: ${SHORT}
    grants: [client_credentials]
    scopes: ["${SCOPE}"]
    allow: ["${STMT}"]
    redirect_uris: ["${URI}"]
    login_orgs: ["${ORG}"]
`,
			env: env{
				"ORG":   "secret-org",
				"SHORT": "hunter2-short",
				"SCOPE": "secret-aud/x",
				"STMT":  "GET secret-statement",
				"URI":   "http://secret.example.com/",
			},
			want: []string{
				`users[0].org: unknown org (value from the environment)`,
				"clients[0].secret: client secret must be at least 32 characters; generate one with `latch client create`",
				`clients[0].scopes[0]: unknown audience (value from the environment)`,
				`clients[0].allow[0]: invalid statement (value from the environment)`,
				`clients[0].redirect_uris[0]: must use https (http only for a loopback host)`,
				`clients[0].login_orgs[0]: unknown org (value from the environment)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := env{}
			for k, v := range e {
				all[k] = v
			}
			for k, v := range tt.env {
				all[k] = v
			}
			f := mustLoad(t, tt.yaml, all)
			err := f.Validate()
			checkProblems(t, err, tt.want)
			if err == nil {
				return
			}
			msg := err.Error() + latch.ErrorMessage(err)
			for name, v := range all {
				if strings.Contains(msg, v) {
					t.Errorf("the error shows the value of %s:\n%s", name, msg)
				}
			}
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	yaml := header + `
users:
  - id: "5"
    org: payroll
    username: alice
    password: ${PW_A}
    roles: [manger]
  - id: "6"
    org: payroll
    username: bob
    password: ${PW_A}
    roles:
      - employee
      - boss
`
	err := mustLoad(t, yaml, testEnv()).Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := "invalid configuration (2 problems):\n" +
		`users[0].roles[0]: unknown role "manger" (line 21)` + "\n" +
		`users[1].roles[1]: unknown role "boss" (line 28)`
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got, want := latch.ErrorCode(err), latch.EINVALID; got != want {
		t.Errorf("code %q, want %q", got, want)
	}
	if got := latch.ErrorMessage(err); got != want {
		t.Errorf("ErrorMessage =\n%s\nwant\n%s", got, want)
	}

	one := &ValidationError{Problems: []Problem{{Path: "orgs[0].id", Message: "is required"}}}
	if got, want := one.Error(), "invalid configuration: orgs[0].id: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// A File built in Go, not loaded, validates the same way, without lines.
func TestValidateBuiltFile(t *testing.T) {
	f := &File{
		Orgs:  []Org{{ID: "payroll"}},
		Users: []User{{ID: "5", Org: "payroll", Username: "alice", Password: pwA, Roles: []string{"manger"}}},
		Clients: []Client{{
			ID: "app", Org: "payroll", Secret: "short-secret-value",
			Grants: []string{"client_credentials"}, LoginOrgs: []string{"*"},
		}},
	}
	err := f.Validate()
	checkProblems(t, err, []string{
		`users[0].roles[0]: unknown role "manger"`,
		"clients[0].secret: client secret must be at least 32 characters; generate one with `latch client create`",
	})
	if strings.Contains(err.Error(), "short-secret-value") || strings.Contains(err.Error(), pwA) {
		t.Errorf("the error shows a secret: %v", err)
	}
	if strings.Contains(err.Error(), "(line") {
		t.Errorf("a built file has no lines: %v", err)
	}
}

// A client of the system org is valid in a file applied at start-up: `latch
// serve` creates that org before it applies --config. Another unknown org is
// still refused.
func TestSystemOrgIsKnown(t *testing.T) {
	f := &File{Clients: []Client{
		{ID: "decider", Org: latch.SystemOrg, Secret: strings.Repeat("s", 32), Grants: []string{"client_credentials"}, Scopes: []string{DecideScope}},
		{ID: "other", Org: "nowhere", Secret: strings.Repeat("s", 32), Grants: []string{"client_credentials"}},
	}}
	checkProblems(t, f.Validate(), []string{`clients[1].org: unknown org "nowhere"`})
}
