// Package storetest is the conformance suite of latch.Store: the contract in
// store.go, made executable. Every backend runs all of it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock latch.Clock) latch.Store { ... })
//	}
//
// It is imported only by tests (it imports clocktest and testing).
//
// Besides the contract's own words, the suite pins down these readings of it,
// so that every backend behaves alike:
//   - An item whose expiry is at or before the clock's now is gone.
//   - Create sets Version to a non-zero value; Update sets it to the previous
//     one plus one, whatever fn put there.
//   - Delete* and RevokeFamily of an absent item fail with ENOTFOUND.
//   - Usernames and emails share one namespace per org: a user's username
//     cannot be another user's email (a user's own may be equal).
//   - A client's org cannot be changed by UpdateClient, like its id.
//   - RotateRefreshToken returns the new token on success and the old one on
//     ECONFLICT; grace 0 allows no retry at all.
//   - GetAccessToken refuses a token issued from a revoked family.
//   - A family id reused once its family expired is listed by ListFamilies
//     under its new subject only.
//   - The change feed buffers fewer than floodChanges changes per subscriber.
package storetest

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
)

// Opener returns a new, empty store that reads time from clock. Run closes
// every store it opens.
type Opener func(t *testing.T, clock latch.Clock) latch.Store

// t0 is where every test's clock starts. Times in the suite are whole seconds
// so that backends storing coarser timestamps still compare equal.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// env is one test's store and clock.
type env struct {
	s     latch.Store
	clock *clocktest.Clock
	ctx   context.Context
}

func newEnv(t *testing.T, open Opener) *env {
	t.Helper()
	clock := clocktest.New(t0)
	s := open(t, clock)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() { _ = s.Close() })
	return &env{s: s, clock: clock, ctx: t.Context()}
}

func (e *env) now() time.Time { return e.clock.Now() }

// Run runs the whole suite against the stores open returns: each subtest
// opens its own.
func Run(t *testing.T, open func(t *testing.T, clock latch.Clock) latch.Store) {
	groups := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"Org", testOrgs},
		{"User", testUsers},
		{"Role", testRoles},
		{"Client", testClients},
		{"Audience", testAudiences},
		{"Isolation", testIsolation},
		{"Family", testFamilies},
		{"ListFamilies", testListFamilies},
		{"RefreshToken", testRefreshTokens},
		{"Rotate", testRotate},
		{"RevokeFamily", testRevokeFamily},
		{"AccessToken", testAccessTokens},
		{"JTI", testJTI},
		{"AuthCode", testAuthCodes},
		{"SigningKey", testSigningKeys},
		{"Watch", testWatch},
		{"Concurrency", testConcurrency},
		{"Ping", testPing},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// subtests runs each case with its own fresh store.
func subtests(t *testing.T, open Opener, cases map[string]func(t *testing.T, e *env)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		fn := cases[name]
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, open)) })
	}
}

func testPing(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
}

// must fails the test if err is not nil.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := latch.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// same reports a difference between got and want, ignoring what storage
// cannot be expected to keep: nil versus empty slices and maps, time zones
// and monotonic clock readings.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(reflect.ValueOf(got)), normalize(reflect.ValueOf(want))
	if !reflect.DeepEqual(g.Interface(), w.Interface()) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func normalize(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			return reflect.ValueOf(t.UTC().Round(0))
		}
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), normalize(it.Value()))
		}
		return out
	}
	return v
}

// Fixtures: every field set, so that a backend that drops one is caught.

func newOrg(e *env, id string) latch.Org {
	return latch.Org{
		ID: id, Name: "Org " + id, Signup: true, DefaultRoles: []string{"member"},
		CreatedAt: e.now(), UpdatedAt: e.now(),
	}
}

func newUser(e *env, org, id string) latch.User {
	return latch.User{
		Org: org, ID: id, Username: id + ".name", Email: id + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + id,
		Roles:        []string{"member"},
		Attributes:   map[string][]string{"dept": {"eng", "ops"}},
		Allow:        []string{"records:read:/x"},
		Deny:         []string{"records:write:/x"},
		RecordGrants: map[string]latch.Grant{"paystubs/" + id + "/1": {Allow: []string{"GET /api/paystubs/1"}}},
		CreatedAt:    e.now(), UpdatedAt: e.now(),
	}
}

func newRole(e *env, org, id string) latch.Role {
	return latch.Role{
		Org: org, ID: id, Allow: []string{"payroll:read:/employees/*"}, Deny: []string{"payroll:write:/"},
		CreatedAt: e.now(), UpdatedAt: e.now(),
	}
}

func newClient(e *env, org, id string) latch.Client {
	return latch.Client{
		ID: id, Org: org, Name: "Client " + id, SecretHash: "hmac-sha256:" + id,
		Grants:            []string{latch.GrantClientCredentials, latch.GrantRefreshToken},
		Scopes:            []string{"payroll/read"},
		Roles:             []string{"service"},
		Allow:             []string{"payroll:read:/"},
		Deny:              []string{"payroll:delete:/"},
		AccessTokenFormat: latch.TokenFormatOpaque,
		RedirectURIs:      []string{"https://app.example.com/cb"},
		LoginOrgs:         []string{org, "partner"},
		CreatedAt:         e.now(), UpdatedAt: e.now(),
	}
}

func newAudience(e *env, id string) latch.Audience {
	return latch.Audience{
		ID: id, Name: "Audience " + id,
		Scopes:    map[string][]string{"read": {id + ":read:/"}, "write": {id + ":write:/"}},
		CreatedAt: e.now(), UpdatedAt: e.now(),
	}
}

func newFamily(e *env, id string, ttl time.Duration) latch.Family {
	return latch.Family{
		ID: id, Org: "acme", ClientID: "web", Subject: "u1",
		Kind: latch.FamilyCode, SessionID: "login-" + id,
		CreatedAt: e.now(), ExpiresAt: e.now().Add(ttl),
	}
}

func newRefresh(e *env, digest, family string, ttl time.Duration) latch.RefreshToken {
	return latch.RefreshToken{
		Digest: digest, FamilyID: family, Org: "acme", ClientID: "web", Subject: "u1",
		Scopes: []string{"payroll/read"}, Audience: []string{"payroll"},
		IssuedAt: e.now(), ExpiresAt: e.now().Add(ttl), FamilyEndAt: e.now().Add(30 * 24 * time.Hour),
	}
}

func newAccess(e *env, digest, family string, ttl time.Duration) latch.AccessToken {
	return latch.AccessToken{
		Digest: digest, JTI: "jti-" + digest, Org: "acme", ClientID: "web", Subject: "u1",
		SubjectKind: latch.SubjectUser, Scopes: []string{"payroll/read"}, Audience: []string{"payroll"},
		FamilyID: family, IssuedAt: e.now(), ExpiresAt: e.now().Add(ttl),
	}
}

func newCode(e *env, digest string, ttl time.Duration) latch.AuthCode {
	return latch.AuthCode{
		Digest: digest, Org: "acme", ClientID: "web", Subject: "u1",
		RedirectURI: "https://app.example.com/cb", Scopes: []string{"openid", "payroll/read"},
		Audience: []string{"payroll"}, CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce: "n-0S6_WzA2Mj", AuthTime: e.now(), ExpiresAt: e.now().Add(ttl),
	}
}

func newKey(e *env, kid, state string) latch.SigningKey {
	return latch.SigningKey{
		ID: kid, Algorithm: "ES256", PrivateKey: []byte{0x30, 0x81, 0x87, 0x02, 0x01, 0x00, byte(len(kid))},
		State: state, CreatedAt: e.now(),
	}
}
