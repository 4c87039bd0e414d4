package config

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
	"latch.dev/latch/internal/password/passwordtest"
)

// writeCounter counts the writes Apply makes through the Store.
type writeCounter struct {
	latch.Store
	writes atomic.Int64
}

func (w *writeCounter) CreateOrg(ctx context.Context, o latch.Org) error {
	w.writes.Add(1)
	return w.Store.CreateOrg(ctx, o)
}

func (w *writeCounter) UpdateOrg(ctx context.Context, id string, fn func(*latch.Org) error) (latch.Org, error) {
	w.writes.Add(1)
	return w.Store.UpdateOrg(ctx, id, fn)
}

func (w *writeCounter) CreateAudience(ctx context.Context, a latch.Audience) error {
	w.writes.Add(1)
	return w.Store.CreateAudience(ctx, a)
}

func (w *writeCounter) UpdateAudience(ctx context.Context, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
	w.writes.Add(1)
	return w.Store.UpdateAudience(ctx, id, fn)
}

func (w *writeCounter) CreateRole(ctx context.Context, r latch.Role) error {
	w.writes.Add(1)
	return w.Store.CreateRole(ctx, r)
}

func (w *writeCounter) UpdateRole(ctx context.Context, org, id string, fn func(*latch.Role) error) (latch.Role, error) {
	w.writes.Add(1)
	return w.Store.UpdateRole(ctx, org, id, fn)
}

func (w *writeCounter) CreateUser(ctx context.Context, u latch.User) error {
	w.writes.Add(1)
	return w.Store.CreateUser(ctx, u)
}

func (w *writeCounter) UpdateUser(ctx context.Context, org, id string, fn func(*latch.User) error) (latch.User, error) {
	w.writes.Add(1)
	return w.Store.UpdateUser(ctx, org, id, fn)
}

func (w *writeCounter) CreateClient(ctx context.Context, c latch.Client) error {
	w.writes.Add(1)
	return w.Store.CreateClient(ctx, c)
}

func (w *writeCounter) UpdateClient(ctx context.Context, id string, fn func(*latch.Client) error) (latch.Client, error) {
	w.writes.Add(1)
	return w.Store.UpdateClient(ctx, id, fn)
}

// snapshot is everything Apply may touch, Versions included.
type snapshot struct {
	Orgs      []latch.Org
	Audiences []latch.Audience
	Roles     []latch.Role
	Users     []latch.User
	Clients   []latch.Client
}

func snap(t *testing.T, s latch.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var err error
	if sn.Orgs, err = s.ListOrgs(ctx); err != nil {
		t.Fatal(err)
	}
	if sn.Audiences, err = s.ListAudiences(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range sn.Orgs {
		roles, err := s.ListRoles(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		sn.Roles = append(sn.Roles, roles...)
		users, err := s.ListUsers(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		sn.Users = append(sn.Users, users...)
	}
	if sn.Clients, err = s.ListClients(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return sn
}

// baseYAML is a file touching every kind and every field Apply compares.
const baseYAML = `
orgs:
  - {id: payroll, name: Payroll, signup: true, default_roles: [employee]}
  - {id: acme}
audiences:
  - id: payroll-api
    name: Payroll API
    scopes:
      read: ["GET /api/employee/**"]
      write: ["POST /api/employee/**"]
roles:
  - {id: employee, org: payroll, allow: ["GET /api/employee/{sub}/**"]}
  - {id: auditor, org: payroll, allow: ["GET /api/**"], deny: ["* /api/secret/**"]}
users:
  - id: "5"
    org: payroll
    username: Alice
    email: Alice@Example.com
    password: ${PW_A}
    roles: [employee]
    attributes: {team: payroll, reports: ["6", "7"]}
    allow: ["GET /x"]
    deny: ["GET /y"]
  - {id: "6", org: payroll, username: bob, password_hash: "${HASH}", roles: [employee, auditor], disabled: false}
clients:
  - id: app
    org: payroll
    name: App
    secret: ${SECRET_A}
    grants: [password, refresh_token, client_credentials]
    scopes: [payroll-api/read]
    roles: [auditor]
    allow: ["GET /a"]
    deny: ["GET /b"]
    access_token_format: opaque
    login_orgs: [acme]
  - {id: web, org: payroll, secret_hash: "${CHASH}", grants: [authorization_code], redirect_uris: ["https://app.example.com/cb"], login_orgs: "*"}
  - {id: public, org: acme, grants: [password], scopes: [latch/admin]}
`

type fixture struct {
	env    env
	hasher *passwordtest.Counter
	opts   ApplyOptions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := &passwordtest.Counter{}
	hash, err := h.Hash(pwB)
	if err != nil {
		t.Fatal(err)
	}
	chash, err := password.HashClientSecret(secretB)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	e := testEnv()
	e["HASH"], e["CHASH"] = hash, chash
	return &fixture{env: e, hasher: h, opts: ApplyOptions{Hasher: h}}
}

func (fx *fixture) load(t *testing.T, yaml string) *File {
	t.Helper()
	return mustLoad(t, yaml, fx.env)
}

func actions(res Result) []string {
	var out []string
	for _, c := range res.Changes {
		out = append(out, c.String())
	}
	return out
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := &writeCounter{Store: newStore(t)}
	f := fx.load(t, baseYAML)

	res, err := Apply(ctx, st, f, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"created   org      payroll",
		"created   org      acme",
		"created   audience payroll-api",
		"created   role     payroll/employee",
		"created   role     payroll/auditor",
		"created   user     payroll/5",
		"created   user     payroll/6",
		"created   client   app",
		"created   client   web",
		"created   client   public",
	}
	if got := actions(res); !sameList(got, want) {
		t.Errorf("first apply:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	if got, want := fx.hasher.Hashes(), int64(1); got != want {
		t.Errorf("%d password hashes, want %d (one plaintext password)", got, want)
	}
	before := snap(t, st)
	writes := st.writes.Load()
	fx.hasher.Reset()

	res, err = Apply(ctx, st, f, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Changes {
		if c.Action != Unchanged {
			t.Errorf("second apply: %s", c)
		}
	}
	if got, want := len(res.Changes), len(want); got != want {
		t.Errorf("second apply lists %d items, want %d", got, want)
	}
	if got := st.writes.Load() - writes; got != 0 {
		t.Errorf("second apply made %d writes", got)
	}
	if got := fx.hasher.Hashes(); got != 0 {
		t.Errorf("second apply hashed %d passwords", got)
	}
	if after := snap(t, st); !reflect.DeepEqual(before, after) {
		t.Errorf("second apply changed the store:\n%+v\n%+v", before, after)
	}
	if got, want := res.String(), "unchanged org      payroll\n"; !strings.HasPrefix(got, want) {
		t.Errorf("Result.String() = %q, want it to start with %q", got, want)
	}
	if got, want := res.String(), "0 created, 0 updated, 10 unchanged\n"; !strings.HasSuffix(got, want) {
		t.Errorf("Result.String() = %q, want it to end with %q", got, want)
	}

	// What was stored is what the file says, canonicalised.
	u, err := st.GetUser(ctx, "payroll", "5")
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || u.Email != "alice@example.com" || !sameStrings(u.Attributes["reports"], []string{"6", "7"}) {
		t.Errorf("user 5 stored as %+v", u)
	}
	if ok, _, _ := fx.hasher.Verify(u.PasswordHash, pwA); !ok {
		t.Error("user 5's password does not verify")
	}
	if u6, _ := st.GetUser(ctx, "payroll", "6"); u6.PasswordHash != fx.env["HASH"] {
		t.Error("user 6's password_hash was not stored as given")
	}
	c, err := st.GetClient(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !password.VerifyClientSecret(c.SecretHash, secretA) || c.AccessTokenFormat != "opaque" || !sameStrings(c.LoginOrgs, []string{"acme"}) {
		t.Errorf("client app stored as %+v", c)
	}
	if c, _ := st.GetClient(ctx, "web"); c.SecretHash != fx.env["CHASH"] || c.AccessTokenFormat != "jwt" || !c.AllowsLoginOrg("acme") {
		t.Errorf("client web stored as %+v", c)
	}
	if c, _ := st.GetClient(ctx, "public"); !c.Public() {
		t.Errorf("client public stored as %+v", c)
	}
}

func TestApplyUpdatesWhatChanged(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := &writeCounter{Store: newStore(t)}
	if _, err := Apply(ctx, st, fx.load(t, baseYAML), fx.opts); err != nil {
		t.Fatal(err)
	}
	before := snap(t, st)

	changed := strings.NewReplacer(
		`allow: ["GET /api/**"], deny`, `allow: ["GET /api/**", "HEAD /api/**"], deny`, // role auditor
		"password: ${PW_A}", "password: ${PW_B}", // user 5
		"secret: ${SECRET_A}", "secret: ${SECRET_B}", // client app
		"login_orgs: \"*\"", "login_orgs: [acme]", // client web
	).Replace(baseYAML)
	fx.hasher.Reset()
	res, err := Apply(ctx, st, fx.load(t, changed), fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"unchanged org      payroll",
		"unchanged org      acme",
		"unchanged audience payroll-api",
		"unchanged role     payroll/employee",
		"updated   role     payroll/auditor",
		"updated   user     payroll/5",
		"unchanged user     payroll/6",
		"updated   client   app",
		"updated   client   web",
		"unchanged client   public",
	}
	if got := actions(res); !sameList(got, want) {
		t.Errorf("apply:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	after := snap(t, st)
	for i := range before.Orgs {
		if after.Orgs[i].Version != before.Orgs[i].Version {
			t.Errorf("org %s: version %d -> %d", after.Orgs[i].ID, before.Orgs[i].Version, after.Orgs[i].Version)
		}
	}
	u, _ := st.GetUser(ctx, "payroll", "5")
	if ok, _, _ := fx.hasher.Verify(u.PasswordHash, pwB); !ok {
		t.Error("user 5's new password does not verify")
	}
	if u.Version != 2 {
		t.Errorf("user 5 version %d, want 2", u.Version)
	}
	c, _ := st.GetClient(ctx, "app")
	if !password.VerifyClientSecret(c.SecretHash, secretB) || password.VerifyClientSecret(c.SecretHash, secretA) {
		t.Error("client app's secret was not replaced")
	}
	if c, _ := st.GetClient(ctx, "web"); c.AllowsLoginOrg("other") {
		t.Errorf("client web still lets every org in: %v", c.LoginOrgs)
	}
	if got := fx.hasher.Hashes(); got != 1 {
		t.Errorf("%d password hashes, want 1", got)
	}
}

// A field left out of the file is emptied, except disabled, which is kept.
func TestApplyDisabledIsKeptUnlessSet(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := newStore(t)
	f := fx.load(t, baseYAML)
	if _, err := Apply(ctx, st, f, fx.opts); err != nil {
		t.Fatal(err)
	}
	// An admin disables user 5 (no disabled in the file) and user 6
	// (disabled: false in the file), and client app.
	for _, id := range []string{"5", "6"} {
		if _, err := st.UpdateUser(ctx, "payroll", id, func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.UpdateClient(ctx, "app", func(c *latch.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, st, f, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Action{}
	for _, c := range res.Changes {
		got[c.Kind+" "+c.ID] = c.Action
	}
	if got["user 5"] != Unchanged || got["user 6"] != Updated || got["client app"] != Unchanged {
		t.Errorf("actions %v", got)
	}
	u5, _ := st.GetUser(ctx, "payroll", "5")
	u6, _ := st.GetUser(ctx, "payroll", "6")
	app, _ := st.GetClient(ctx, "app")
	if !u5.Disabled || u6.Disabled || !app.Disabled {
		t.Errorf("disabled: user 5 %v (want true), user 6 %v (want false), client app %v (want true)", u5.Disabled, u6.Disabled, app.Disabled)
	}

	// Dropping a field from the file empties it.
	dropped := strings.Replace(baseYAML, `    allow: ["GET /x"]`+"\n", "", 1)
	if _, err := Apply(ctx, st, fx.load(t, dropped), fx.opts); err != nil {
		t.Fatal(err)
	}
	if u5, _ := st.GetUser(ctx, "payroll", "5"); len(u5.Allow) != 0 {
		t.Errorf("user 5 still allows %v", u5.Allow)
	}
}

func TestApplyInvalidFileAppliesNothing(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := &writeCounter{Store: newStore(t)}

	// One problem, in the last item: nothing before it may be applied.
	bad := strings.Replace(baseYAML, "scopes: [latch/admin]", "scopes: [payroll-api/delete]", 1)
	_, err := Apply(ctx, st, fx.load(t, bad), fx.opts)
	checkProblems(t, err, []string{`clients[2].scopes[0]: audience "payroll-api" has no scope "delete"`})
	if n := st.writes.Load(); n != 0 {
		t.Errorf("%d writes", n)
	}
	if sn := snap(t, st); len(sn.Orgs)+len(sn.Audiences)+len(sn.Clients) != 0 {
		t.Errorf("the store is not empty: %+v", sn)
	}

	// Over a populated store: changes and one problem leave it as it was.
	if _, err := Apply(ctx, st, fx.load(t, baseYAML), fx.opts); err != nil {
		t.Fatal(err)
	}
	before, writes := snap(t, st), st.writes.Load()
	bad = strings.NewReplacer(
		"name: Payroll,", "name: Payroll Inc,",
		"roles: [employee, auditor]", "roles: [employee, manger]",
	).Replace(baseYAML)
	_, err = Apply(ctx, st, fx.load(t, bad), fx.opts)
	checkProblems(t, err, []string{`users[1].roles[1]: unknown role "manger"`})
	if got := st.writes.Load() - writes; got != 0 {
		t.Errorf("%d writes", got)
	}
	if after := snap(t, st); !reflect.DeepEqual(before, after) {
		t.Errorf("the store changed")
	}
}

// References may point at items the store holds already; Validate alone,
// which sees only the file, refuses them.
func TestApplyReferencesStoredItems(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := newStore(t)
	if _, err := Apply(ctx, st, fx.load(t, baseYAML), fx.opts); err != nil {
		t.Fatal(err)
	}
	more := fx.load(t, `
roles:
  - {id: manager, org: payroll, allow: ["GET /api/employee/**"]}
users:
  - {id: "8", org: payroll, username: erin, password: "${PW_B}", roles: [employee, manager]}
clients:
  - {id: batch, org: acme, secret: "${SECRET_B}", grants: [client_credentials], scopes: [payroll-api/write], login_orgs: [payroll]}
`)
	checkProblems(t, more.Validate(), []string{
		`roles[0].org: unknown org "payroll"`,
		`users[0].org: unknown org "payroll"`,
		`clients[0].org: unknown org "acme"`,
		`clients[0].scopes[0]: unknown audience "payroll-api"`,
		`clients[0].login_orgs[0]: unknown org "payroll"`,
	})
	res, err := Apply(ctx, st, more, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"created   role     payroll/manager",
		"created   user     payroll/8",
		"created   client   batch",
	}
	if got := actions(res); !sameList(got, want) {
		t.Errorf("apply:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	// Apply never deletes: what the second file does not mention stays.
	if sn := snap(t, st); len(sn.Users) != 3 || len(sn.Roles) != 3 || len(sn.Clients) != 4 {
		t.Errorf("store after the second file: %d users, %d roles, %d clients", len(sn.Users), len(sn.Roles), len(sn.Clients))
	}

	// Unknown in the file and in the store.
	_, err = Apply(ctx, st, fx.load(t, `
users:
  - {id: "9", org: payroll, username: fred, password: "${PW_B}", roles: [boss]}
`), fx.opts)
	checkProblems(t, err, []string{`users[0].roles[0]: unknown role "boss"`})
}

// What would make the store refuse a write half-way is found up front.
func TestApplyStoreConflicts(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := newStore(t)
	if _, err := Apply(ctx, st, fx.load(t, baseYAML), fx.opts); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(ctx, st, fx.load(t, `
users:
  - {id: "9", org: payroll, username: ALICE, password: "${PW_B}"}
  - {id: "10", org: payroll, username: zed, email: alice@example.com, password: "${PW_B}"}
  - {id: "5", org: payroll, username: alice, password: "${PW_B}"}
clients:
  - {id: app, org: acme, grants: [password]}
`), fx.opts)
	checkProblems(t, err, []string{
		`users[0].username: username "alice" already belongs to user "5" of org "payroll" in the store`,
		`users[1].email: email "alice@example.com" already belongs to user "5" of org "payroll" in the store`,
		`users[2].username: username "alice" is already used by users[0]`,
		`clients[0].org: client "app" belongs to org "payroll" in the store; apply cannot move a client to another org`,
	})
}

func TestApplyDryRun(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := &writeCounter{Store: newStore(t)}
	f := fx.load(t, baseYAML)
	opts := fx.opts
	opts.DryRun = true
	res, err := Apply(ctx, st, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Count(Created), 10; got != want || !res.DryRun {
		t.Errorf("dry run: %d created, want %d:\n%s", got, want, res)
	}
	if !strings.HasSuffix(res.String(), "10 created, 0 updated, 0 unchanged (dry run: nothing was written)\n") {
		t.Errorf("Result.String() = %q", res.String())
	}
	if n := st.writes.Load(); n != 0 {
		t.Errorf("dry run made %d writes", n)
	}
	if fx.hasher.Hashes() != 0 {
		t.Error("dry run hashed a password")
	}

	// After a real apply, a dry run of a changed file reports the change
	// and writes nothing.
	if _, err := Apply(ctx, st, f, fx.opts); err != nil {
		t.Fatal(err)
	}
	writes := st.writes.Load()
	res, err = Apply(ctx, st, fx.load(t, strings.Replace(baseYAML, "password: ${PW_A}", "password: ${PW_B}", 1)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Count(Updated); got != 1 {
		t.Errorf("dry run: %d updated, want 1:\n%s", got, res)
	}
	if st.writes.Load() != writes {
		t.Error("dry run wrote")
	}
}

func TestApplyNeedsAHasherForPasswords(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	st := &writeCounter{Store: newStore(t)}
	_, err := Apply(ctx, st, fx.load(t, baseYAML), ApplyOptions{})
	if !latch.IsCode(err, latch.EINTERNAL) {
		t.Errorf("err = %v, want EINTERNAL", err)
	}
	if st.writes.Load() != 0 {
		t.Error("wrote without a hasher")
	}
	// A file without plaintext passwords needs none.
	if _, err := Apply(ctx, st, fx.load(t, "orgs: [{id: acme}]\n"), ApplyOptions{}); err != nil {
		t.Error(err)
	}
}

// failingStore fails every read, as an unreachable store does.
type failingStore struct{ latch.Store }

var errDown = latch.Errorf(latch.EUNAVAILABLE, "store down")

func (failingStore) ListOrgs(context.Context) ([]latch.Org, error) { return nil, errDown }
func (failingStore) GetOrg(context.Context, string) (latch.Org, error) {
	return latch.Org{}, errDown
}

func TestApplyStoreFailure(t *testing.T) {
	fx := newFixture(t)
	// The file refers to an org it does not define, so validation asks the
	// store, which fails: the failure is reported, not "unknown org".
	f := fx.load(t, "roles: [{id: r, org: payroll}]\n")
	_, err := Apply(context.Background(), failingStore{newStore(t)}, f, fx.opts)
	if !errors.Is(err, errDown) || !latch.IsCode(err, latch.EUNAVAILABLE) {
		t.Errorf("err = %v, want the store's failure", err)
	}
	// A failure while applying names the item.
	f = fx.load(t, "orgs: [{id: payroll}]\n")
	_, err = Apply(context.Background(), failingStore{newStore(t)}, f, fx.opts)
	if !errors.Is(err, errDown) || !strings.Contains(err.Error(), "org payroll") {
		t.Errorf("err = %v, want the store's failure for org payroll", err)
	}
}
