package storetest

import (
	"errors"
	"testing"
	"time"

	"latch.dev/latch"
)

// crud describes one kind of versioned item so that the rules shared by orgs,
// users, roles, clients and audiences are tested once.
type crud[T any] struct {
	setup    func(t *testing.T, e *env)
	make     func(e *env, id string) T
	key      func(*T) string // every key field, e.g. "acme/u1"
	meta     func(*T) (version *uint64, updatedAt *time.Time)
	mutate   func(*T) // a visible change that keeps the keys
	moveKeys func(*T) // what a careless fn does: change the key fields
	// notMoved checks that no item appeared where moveKeys pointed.
	notMoved func(t *testing.T, e *env, id string)
	create   func(e *env, v T) error
	get      func(e *env, id string) (T, error)
	list     func(e *env) ([]T, error)
	update   func(e *env, id string, fn func(*T) error) (T, error)
	del      func(e *env, id string) error
}

func testCRUD[T any](t *testing.T, open Opener, c crud[T]) {
	fresh := func(t *testing.T) *env {
		e := newEnv(t, open)
		if c.setup != nil {
			c.setup(t, e)
		}
		return e
	}
	// stored creates id and returns it as the store holds it.
	stored := func(t *testing.T, e *env, id string) T {
		t.Helper()
		must(t, c.create(e, c.make(e, id)), "Create "+id)
		v, err := c.get(e, id)
		must(t, err, "Get "+id)
		return v
	}

	t.Run("CreateGet", func(t *testing.T) {
		e := fresh(t)
		v := c.make(e, "a1")
		must(t, c.create(e, v), "Create")
		got, err := c.get(e, "a1")
		must(t, err, "Get")
		version, _ := c.meta(&got)
		if *version == 0 {
			t.Errorf("Version after Create is 0, want non-zero")
		}
		want := v
		wv, _ := c.meta(&want)
		*wv = *version
		same(t, "Get after Create", got, want)
	})

	t.Run("CreateConflict", func(t *testing.T) {
		e := fresh(t)
		before := stored(t, e, "a1")
		again := c.make(e, "a1")
		c.mutate(&again)
		wantCode(t, c.create(e, again), latch.ECONFLICT, "Create of an existing id")
		got, err := c.get(e, "a1")
		must(t, err, "Get")
		same(t, "item after a refused Create", got, before)
	})

	t.Run("GetMissing", func(t *testing.T) {
		e := fresh(t)
		_, err := c.get(e, "missing")
		wantCode(t, err, latch.ENOTFOUND, "Get of a missing id")
	})

	t.Run("ListSorted", func(t *testing.T) {
		e := fresh(t)
		l, err := c.list(e)
		must(t, err, "List of an empty store")
		if len(l) != 0 {
			t.Fatalf("List of an empty store has %d items", len(l))
		}
		want := map[string]T{}
		for _, id := range []string{"c", "a", "b-2", "b"} {
			want[id] = stored(t, e, id)
		}
		l, err = c.list(e)
		must(t, err, "List")
		order := []string{"a", "b", "b-2", "c"}
		if len(l) != len(order) {
			t.Fatalf("List has %d items, want %d", len(l), len(order))
		}
		for i, id := range order {
			w := want[id]
			if got, wantKey := c.key(&l[i]), c.key(&w); got != wantKey {
				t.Errorf("List[%d] is %s, want %s (sorted by key)", i, got, wantKey)
			}
			same(t, "List item "+id, l[i], w)
		}
	})

	t.Run("Update", func(t *testing.T) {
		e := fresh(t)
		before := stored(t, e, "a1")
		e.clock.Advance(time.Minute)
		calls := 0
		got, err := c.update(e, "a1", func(v *T) error {
			calls++
			same(t, "fn's argument", *v, before)
			c.mutate(v)
			version, _ := c.meta(v)
			*version = 999 // the store owns Version
			return nil
		})
		must(t, err, "Update")
		if calls == 0 {
			t.Fatal("Update did not call fn")
		}
		bv, _ := c.meta(&before)
		gv, gu := c.meta(&got)
		if *gv != *bv+1 {
			t.Errorf("Version after Update = %d, want %d", *gv, *bv+1)
		}
		if !gu.Equal(e.now()) {
			t.Errorf("UpdatedAt after Update = %v, want the clock's %v", *gu, e.now())
		}
		want := before
		c.mutate(&want)
		wv, wu := c.meta(&want)
		*wv, *wu = *gv, *gu
		same(t, "Update result", got, want)
		after, err := c.get(e, "a1")
		must(t, err, "Get after Update")
		same(t, "Get after Update", after, got)

		// A second update bumps again.
		got2, err := c.update(e, "a1", func(*T) error { return nil })
		must(t, err, "second Update")
		if v2, _ := c.meta(&got2); *v2 != *gv+1 {
			t.Errorf("Version after a second Update = %d, want %d", *v2, *gv+1)
		}
	})

	t.Run("UpdateFnError", func(t *testing.T) {
		e := fresh(t)
		before := stored(t, e, "a1")
		boom := latch.Errorf(latch.EINVALID, "rejected by fn")
		_, err := c.update(e, "a1", func(v *T) error {
			c.mutate(v) // changes to the copy must not leak
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error as is", err)
		}
		after, err := c.get(e, "a1")
		must(t, err, "Get")
		same(t, "item after fn failed", after, before)
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		e := fresh(t)
		called := false
		_, err := c.update(e, "missing", func(*T) error { called = true; return nil })
		wantCode(t, err, latch.ENOTFOUND, "Update of a missing id")
		if called {
			t.Error("Update called fn for a missing item")
		}
		_, err = c.get(e, "missing")
		wantCode(t, err, latch.ENOTFOUND, "Get after Update of a missing id")
	})

	t.Run("UpdateKeepsKeys", func(t *testing.T) {
		e := fresh(t)
		before := stored(t, e, "a1")
		got, err := c.update(e, "a1", func(v *T) error {
			c.moveKeys(v)
			c.mutate(v)
			return nil
		})
		after, gerr := c.get(e, "a1")
		must(t, gerr, "Get of the original key after fn changed the keys")
		if err == nil {
			if k, want := c.key(&got), c.key(&before); k != want {
				t.Errorf("Update moved the item to %s, want it kept at %s", k, want)
			}
			same(t, "Get after an Update whose fn changed the keys", after, got)
		} else {
			same(t, "item after a refused key change", after, before)
		}
		c.notMoved(t, e, "a1")
	})

	t.Run("Delete", func(t *testing.T) {
		e := fresh(t)
		stored(t, e, "a1")
		keep := stored(t, e, "a2")
		must(t, c.del(e, "a1"), "Delete")
		_, err := c.get(e, "a1")
		wantCode(t, err, latch.ENOTFOUND, "Get after Delete")
		l, err := c.list(e)
		must(t, err, "List after Delete")
		if len(l) != 1 || c.key(&l[0]) != c.key(&keep) {
			t.Errorf("List after Delete has %d items, want only %s", len(l), c.key(&keep))
		}
		wantCode(t, c.del(e, "a1"), latch.ENOTFOUND, "Delete of a deleted id")
		wantCode(t, c.del(e, "missing"), latch.ENOTFOUND, "Delete of a missing id")
		_, err = c.update(e, "a1", func(*T) error { return nil })
		wantCode(t, err, latch.ENOTFOUND, "Update after Delete")
		must(t, c.create(e, c.make(e, "a1")), "Create again after Delete")
	})
}

func orgSetup(t *testing.T, e *env) {
	t.Helper()
	for _, id := range []string{"acme", "other"} {
		must(t, e.s.CreateOrg(e.ctx, newOrg(e, id)), "CreateOrg "+id)
	}
}

func testOrgs(t *testing.T, open Opener) {
	testCRUD(t, open, crud[latch.Org]{
		make: newOrg,
		key:  func(o *latch.Org) string { return o.ID },
		meta: func(o *latch.Org) (*uint64, *time.Time) { return &o.Version, &o.UpdatedAt },
		mutate: func(o *latch.Org) {
			o.Name += " renamed"
			o.Disabled = true
			o.Signup = false
			o.DefaultRoles = append(o.DefaultRoles, "reader")
		},
		moveKeys: func(o *latch.Org) { o.ID = "moved" },
		notMoved: func(t *testing.T, e *env, _ string) {
			_, err := e.s.GetOrg(e.ctx, "moved")
			wantCode(t, err, latch.ENOTFOUND, "GetOrg at the id fn set")
		},
		create: func(e *env, o latch.Org) error { return e.s.CreateOrg(e.ctx, o) },
		get:    func(e *env, id string) (latch.Org, error) { return e.s.GetOrg(e.ctx, id) },
		list:   func(e *env) ([]latch.Org, error) { return e.s.ListOrgs(e.ctx) },
		update: func(e *env, id string, fn func(*latch.Org) error) (latch.Org, error) {
			return e.s.UpdateOrg(e.ctx, id, fn)
		},
		del: func(e *env, id string) error { return e.s.DeleteOrg(e.ctx, id) },
	})

	subtests(t, open, map[string]func(t *testing.T, e *env){
		"DeleteRefusedWhileNotEmpty": func(t *testing.T, e *env) {
			orgSetup(t, e)
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", "u1")), "CreateUser")
			must(t, e.s.CreateRole(e.ctx, newRole(e, "acme", "r1")), "CreateRole")
			must(t, e.s.CreateClient(e.ctx, newClient(e, "acme", "c1")), "CreateClient")
			for _, step := range []struct {
				what   string
				remove func() error
			}{
				{"user", func() error { return e.s.DeleteUser(e.ctx, "acme", "u1") }},
				{"role", func() error { return e.s.DeleteRole(e.ctx, "acme", "r1") }},
				{"client", func() error { return e.s.DeleteClient(e.ctx, "c1") }},
			} {
				wantCode(t, e.s.DeleteOrg(e.ctx, "acme"), latch.ECONFLICT, "DeleteOrg while it has a "+step.what)
				if _, err := e.s.GetOrg(e.ctx, "acme"); err != nil {
					t.Fatalf("GetOrg after a refused DeleteOrg: %v", err)
				}
				must(t, step.remove(), "delete the "+step.what)
			}
			must(t, e.s.DeleteOrg(e.ctx, "acme"), "DeleteOrg once empty")
			_, err := e.s.GetOrg(e.ctx, "acme")
			wantCode(t, err, latch.ENOTFOUND, "GetOrg after DeleteOrg")
		},
		"DeleteRefusedForEachKind": func(t *testing.T, e *env) {
			for _, kind := range []string{"user", "role", "client"} {
				id := "org-" + kind
				must(t, e.s.CreateOrg(e.ctx, newOrg(e, id)), "CreateOrg")
				switch kind {
				case "user":
					must(t, e.s.CreateUser(e.ctx, newUser(e, id, "u1")), "CreateUser")
				case "role":
					must(t, e.s.CreateRole(e.ctx, newRole(e, id, "r1")), "CreateRole")
				case "client":
					must(t, e.s.CreateClient(e.ctx, newClient(e, id, "c1")), "CreateClient")
				}
				wantCode(t, e.s.DeleteOrg(e.ctx, id), latch.ECONFLICT, "DeleteOrg of an org with only a "+kind)
			}
		},
		"DeleteIgnoresOtherOrgs": func(t *testing.T, e *env) {
			orgSetup(t, e)
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", "u1")), "CreateUser")
			must(t, e.s.CreateClient(e.ctx, newClient(e, "acme", "c1")), "CreateClient")
			must(t, e.s.DeleteOrg(e.ctx, "other"), "DeleteOrg of an empty org beside a full one")
		},
	})
}

func testUsers(t *testing.T, open Opener) {
	testCRUD(t, open, crud[latch.User]{
		setup: orgSetup,
		make:  func(e *env, id string) latch.User { return newUser(e, "acme", id) },
		key:   func(u *latch.User) string { return u.Org + "/" + u.ID },
		meta:  func(u *latch.User) (*uint64, *time.Time) { return &u.Version, &u.UpdatedAt },
		mutate: func(u *latch.User) {
			u.Roles = append(u.Roles, "admin")
			u.Attributes["level"] = []string{"3"}
			u.RecordGrants["paystubs/2"] = latch.Grant{Deny: []string{"GET /api/paystubs/2"}}
			u.Disabled = true
			u.PasswordHash += "-rehashed"
		},
		moveKeys: func(u *latch.User) { u.Org, u.ID = "other", "moved" },
		notMoved: func(t *testing.T, e *env, id string) {
			for _, k := range [][2]string{{"other", "moved"}, {"other", id}, {"acme", "moved"}} {
				_, err := e.s.GetUser(e.ctx, k[0], k[1])
				wantCode(t, err, latch.ENOTFOUND, "GetUser "+k[0]+"/"+k[1]+" after fn changed the keys")
			}
			l, err := e.s.ListUsers(e.ctx, "other")
			must(t, err, "ListUsers")
			if len(l) != 0 {
				t.Errorf("ListUsers(other) has %d users after fn changed the org", len(l))
			}
		},
		create: func(e *env, u latch.User) error { return e.s.CreateUser(e.ctx, u) },
		get:    func(e *env, id string) (latch.User, error) { return e.s.GetUser(e.ctx, "acme", id) },
		list:   func(e *env) ([]latch.User, error) { return e.s.ListUsers(e.ctx, "acme") },
		update: func(e *env, id string, fn func(*latch.User) error) (latch.User, error) {
			return e.s.UpdateUser(e.ctx, "acme", id, fn)
		},
		del: func(e *env, id string) error { return e.s.DeleteUser(e.ctx, "acme", id) },
	})

	// users creates the named users of acme.
	users := func(t *testing.T, e *env, ids ...string) {
		t.Helper()
		orgSetup(t, e)
		for _, id := range ids {
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", id)), "CreateUser "+id)
		}
	}
	// finds checks that login finds user id of acme ("" for none).
	finds := func(t *testing.T, e *env, login, id string) {
		t.Helper()
		u, err := e.s.FindUser(e.ctx, "acme", login)
		if id == "" {
			wantCode(t, err, latch.ENOTFOUND, "FindUser "+login)
			return
		}
		must(t, err, "FindUser "+login)
		if u.ID != id || u.Org != "acme" {
			t.Fatalf("FindUser %s found %s/%s, want acme/%s", login, u.Org, u.ID, id)
		}
	}
	update := func(e *env, id string, fn func(u *latch.User)) (latch.User, error) {
		return e.s.UpdateUser(e.ctx, "acme", id, func(u *latch.User) error { fn(u); return nil })
	}

	subtests(t, open, map[string]func(t *testing.T, e *env){
		"PasswordHashKept": func(t *testing.T, e *env) {
			users(t, e, "u1")
			u, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser")
			if want := newUser(e, "acme", "u1").PasswordHash; u.PasswordHash != want {
				t.Fatalf("PasswordHash = %q, want %q (the store must keep it though JSON hides it)", u.PasswordHash, want)
			}
			u, err = e.s.FindUser(e.ctx, "acme", "u1.name")
			must(t, err, "FindUser")
			if u.PasswordHash == "" {
				t.Fatal("FindUser returned no PasswordHash")
			}
		},
		"FindByUsernameOrEmail": func(t *testing.T, e *env) {
			users(t, e, "u1", "u2")
			want, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser")
			for _, login := range []string{"u1.name", "u1@example.com"} {
				got, err := e.s.FindUser(e.ctx, "acme", login)
				must(t, err, "FindUser "+login)
				same(t, "FindUser "+login, got, want)
			}
			finds(t, e, "u2@example.com", "u2")
			finds(t, e, "nobody", "")
			finds(t, e, "", "")
			finds(t, e, "u1", "") // an id is not a login
		},
		"CreateClaimsAtomically": func(t *testing.T, e *env) {
			users(t, e, "u1")
			cases := []struct {
				name string
				u    latch.User
			}{
				{"same id", latch.User{Org: "acme", ID: "u1", Username: "fresh.a", Email: "fresh.a@example.com"}},
				{"same username", latch.User{Org: "acme", ID: "n2", Username: "u1.name", Email: "fresh.b@example.com"}},
				{"same email", latch.User{Org: "acme", ID: "n3", Username: "fresh.c", Email: "u1@example.com"}},
				{"username is another's email", latch.User{Org: "acme", ID: "n4", Username: "u1@example.com", Email: "fresh.d@example.com"}},
				{"email is another's username", latch.User{Org: "acme", ID: "n5", Username: "fresh.e", Email: "u1.name"}},
			}
			for _, c := range cases {
				wantCode(t, e.s.CreateUser(e.ctx, c.u), latch.ECONFLICT, "CreateUser with "+c.name)
				if c.u.ID != "u1" {
					_, err := e.s.GetUser(e.ctx, "acme", c.u.ID)
					wantCode(t, err, latch.ENOTFOUND, "GetUser after a refused CreateUser ("+c.name+")")
				}
				// Nothing of the refused user may stay claimed.
				for _, login := range []string{c.u.Username, c.u.Email} {
					if login != "u1.name" && login != "u1@example.com" {
						finds(t, e, login, "")
					}
				}
			}
			finds(t, e, "u1.name", "u1")
			finds(t, e, "u1@example.com", "u1")
			l, err := e.s.ListUsers(e.ctx, "acme")
			must(t, err, "ListUsers")
			if len(l) != 1 {
				t.Fatalf("ListUsers has %d users after refused creates, want 1", len(l))
			}
		},
		"UsernameMayBeOwnEmail": func(t *testing.T, e *env) {
			orgSetup(t, e)
			u := newUser(e, "acme", "u1")
			u.Username, u.Email = "ann@example.com", "ann@example.com"
			must(t, e.s.CreateUser(e.ctx, u), "CreateUser whose username is its email")
			finds(t, e, "ann@example.com", "u1")
			_, err := update(e, "u1", func(u *latch.User) { u.Email = "ann@new.example.com" })
			must(t, err, "UpdateUser of the email")
			finds(t, e, "ann@example.com", "u1")
			finds(t, e, "ann@new.example.com", "u1")
		},
		"EmailOptional": func(t *testing.T, e *env) {
			orgSetup(t, e)
			for _, id := range []string{"u1", "u2"} {
				u := newUser(e, "acme", id)
				u.Email = ""
				must(t, e.s.CreateUser(e.ctx, u), "CreateUser without email "+id)
			}
			finds(t, e, "", "")
			finds(t, e, "u2.name", "u2")
		},
		"SameLoginsInTwoOrgs": func(t *testing.T, e *env) {
			orgSetup(t, e)
			a, b := newUser(e, "acme", "u1"), newUser(e, "other", "u1")
			b.Roles = []string{"guest"}
			must(t, e.s.CreateUser(e.ctx, a), "CreateUser in acme")
			must(t, e.s.CreateUser(e.ctx, b), "CreateUser with the same id, username and email in other")
			got, err := e.s.FindUser(e.ctx, "other", "u1@example.com")
			must(t, err, "FindUser in other")
			if got.Org != "other" || len(got.Roles) != 1 || got.Roles[0] != "guest" {
				t.Fatalf("FindUser in other found %+v, want other's user", got)
			}
		},
		"UpdateReclaimsUsername": func(t *testing.T, e *env) {
			users(t, e, "u1", "u2")
			got, err := update(e, "u1", func(u *latch.User) { u.Username = "u1.renamed" })
			must(t, err, "UpdateUser renaming")
			if got.Username != "u1.renamed" {
				t.Fatalf("Username after UpdateUser = %q", got.Username)
			}
			finds(t, e, "u1.renamed", "u1")
			finds(t, e, "u1.name", "")
			finds(t, e, "u1@example.com", "u1")
			n := newUser(e, "acme", "u3")
			n.Username = "u1.name"
			must(t, e.s.CreateUser(e.ctx, n), "CreateUser with the released username")
			finds(t, e, "u1.name", "u3")
		},
		"UpdateRefusesTakenLogins": func(t *testing.T, e *env) {
			users(t, e, "u1", "u2")
			before, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser")
			for name, fn := range map[string]func(u *latch.User){
				"username taken":              func(u *latch.User) { u.Username = "u2.name" },
				"email taken":                 func(u *latch.User) { u.Email = "u2@example.com" },
				"username is another's email": func(u *latch.User) { u.Username = "u2@example.com" },
				"both, one taken":             func(u *latch.User) { u.Username = "u1.fresh"; u.Email = "u2@example.com" },
			} {
				_, err := update(e, "u1", fn)
				wantCode(t, err, latch.ECONFLICT, "UpdateUser with "+name)
			}
			after, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser")
			same(t, "user after refused updates", after, before)
			finds(t, e, "u1.name", "u1")
			finds(t, e, "u1@example.com", "u1")
			finds(t, e, "u2.name", "u2")
			finds(t, e, "u2@example.com", "u2")
			finds(t, e, "u1.fresh", "")
		},
		"UpdateDropsEmail": func(t *testing.T, e *env) {
			users(t, e, "u1")
			_, err := update(e, "u1", func(u *latch.User) { u.Email = "" })
			must(t, err, "UpdateUser dropping the email")
			finds(t, e, "u1@example.com", "")
			n := newUser(e, "acme", "u2")
			n.Email = "u1@example.com"
			must(t, e.s.CreateUser(e.ctx, n), "CreateUser with the released email")
		},
		"UpdateSwapsOwnLogins": func(t *testing.T, e *env) {
			users(t, e, "u1")
			_, err := update(e, "u1", func(u *latch.User) {
				u.Username, u.Email = "u1@example.com", "u1.name"
			})
			must(t, err, "UpdateUser swapping its own username and email")
			finds(t, e, "u1@example.com", "u1")
			finds(t, e, "u1.name", "u1")
		},
		"DeleteReleasesLogins": func(t *testing.T, e *env) {
			users(t, e, "u1")
			must(t, e.s.DeleteUser(e.ctx, "acme", "u1"), "DeleteUser")
			finds(t, e, "u1.name", "")
			finds(t, e, "u1@example.com", "")
			n := newUser(e, "acme", "u9")
			n.Username, n.Email = "u1.name", "u1@example.com"
			must(t, e.s.CreateUser(e.ctx, n), "CreateUser with a deleted user's logins")
			finds(t, e, "u1.name", "u9")
		},
	})
}

func testRoles(t *testing.T, open Opener) {
	testCRUD(t, open, crud[latch.Role]{
		setup:    orgSetup,
		make:     func(e *env, id string) latch.Role { return newRole(e, "acme", id) },
		key:      func(r *latch.Role) string { return r.Org + "/" + r.ID },
		meta:     func(r *latch.Role) (*uint64, *time.Time) { return &r.Version, &r.UpdatedAt },
		mutate:   func(r *latch.Role) { r.Allow = append(r.Allow, "payroll:write:/self") },
		moveKeys: func(r *latch.Role) { r.Org, r.ID = "other", "moved" },
		notMoved: func(t *testing.T, e *env, id string) {
			for _, k := range [][2]string{{"other", "moved"}, {"other", id}, {"acme", "moved"}} {
				_, err := e.s.GetRole(e.ctx, k[0], k[1])
				wantCode(t, err, latch.ENOTFOUND, "GetRole "+k[0]+"/"+k[1]+" after fn changed the keys")
			}
		},
		create: func(e *env, r latch.Role) error { return e.s.CreateRole(e.ctx, r) },
		get:    func(e *env, id string) (latch.Role, error) { return e.s.GetRole(e.ctx, "acme", id) },
		list:   func(e *env) ([]latch.Role, error) { return e.s.ListRoles(e.ctx, "acme") },
		update: func(e *env, id string, fn func(*latch.Role) error) (latch.Role, error) {
			return e.s.UpdateRole(e.ctx, "acme", id, fn)
		},
		del: func(e *env, id string) error { return e.s.DeleteRole(e.ctx, "acme", id) },
	})
}

func testClients(t *testing.T, open Opener) {
	testCRUD(t, open, crud[latch.Client]{
		setup: orgSetup,
		make:  func(e *env, id string) latch.Client { return newClient(e, "acme", id) },
		key:   func(c *latch.Client) string { return c.Org + "/" + c.ID },
		meta:  func(c *latch.Client) (*uint64, *time.Time) { return &c.Version, &c.UpdatedAt },
		mutate: func(c *latch.Client) {
			c.Name += " v2"
			c.SecretHash = "hmac-sha256:rotated"
			c.Grants = append(c.Grants, latch.GrantPassword)
			c.Disabled = true
		},
		moveKeys: func(c *latch.Client) { c.ID, c.Org = "moved", "other" },
		notMoved: func(t *testing.T, e *env, _ string) {
			_, err := e.s.GetClient(e.ctx, "moved")
			wantCode(t, err, latch.ENOTFOUND, "GetClient at the id fn set")
			l, err := e.s.ListClients(e.ctx, "other")
			must(t, err, "ListClients")
			if len(l) != 0 {
				t.Errorf("ListClients(other) has %d clients after fn changed the org", len(l))
			}
		},
		create: func(e *env, c latch.Client) error { return e.s.CreateClient(e.ctx, c) },
		get:    func(e *env, id string) (latch.Client, error) { return e.s.GetClient(e.ctx, id) },
		list:   func(e *env) ([]latch.Client, error) { return e.s.ListClients(e.ctx, "acme") },
		update: func(e *env, id string, fn func(*latch.Client) error) (latch.Client, error) {
			return e.s.UpdateClient(e.ctx, id, fn)
		},
		del: func(e *env, id string) error { return e.s.DeleteClient(e.ctx, id) },
	})

	subtests(t, open, map[string]func(t *testing.T, e *env){
		"SecretHashKept": func(t *testing.T, e *env) {
			orgSetup(t, e)
			must(t, e.s.CreateClient(e.ctx, newClient(e, "acme", "web")), "CreateClient")
			c, err := e.s.GetClient(e.ctx, "web")
			must(t, err, "GetClient")
			if want := newClient(e, "acme", "web").SecretHash; c.SecretHash != want {
				t.Fatalf("SecretHash = %q, want %q (the store must keep it though JSON hides it)", c.SecretHash, want)
			}
			pub := newClient(e, "acme", "spa")
			pub.SecretHash = ""
			must(t, e.s.CreateClient(e.ctx, pub), "CreateClient public")
			c, err = e.s.GetClient(e.ctx, "spa")
			must(t, err, "GetClient public")
			if !c.Public() {
				t.Fatal("a public client came back with a secret")
			}
		},
		"IDsAreGlobal": func(t *testing.T, e *env) {
			orgSetup(t, e)
			must(t, e.s.CreateClient(e.ctx, newClient(e, "acme", "web")), "CreateClient")
			wantCode(t, e.s.CreateClient(e.ctx, newClient(e, "other", "web")), latch.ECONFLICT,
				"CreateClient of a client id taken in another org")
		},
		"ListByOrg": func(t *testing.T, e *env) {
			orgSetup(t, e)
			for _, c := range [][2]string{{"acme", "c1"}, {"other", "c2"}, {"acme", "c0"}, {"other", "b9"}} {
				must(t, e.s.CreateClient(e.ctx, newClient(e, c[0], c[1])), "CreateClient "+c[1])
			}
			for org, want := range map[string][]string{
				"acme": {"c0", "c1"}, "other": {"b9", "c2"}, "": {"b9", "c0", "c1", "c2"}, "nobody": nil,
			} {
				l, err := e.s.ListClients(e.ctx, org)
				must(t, err, "ListClients "+org)
				var got []string
				for _, c := range l {
					got = append(got, c.ID)
				}
				same(t, "ListClients("+org+")", got, want)
			}
		},
	})
}

func testAudiences(t *testing.T, open Opener) {
	testCRUD(t, open, crud[latch.Audience]{
		make: newAudience,
		key:  func(a *latch.Audience) string { return a.ID },
		meta: func(a *latch.Audience) (*uint64, *time.Time) { return &a.Version, &a.UpdatedAt },
		mutate: func(a *latch.Audience) {
			a.Name += " v2"
			a.Scopes["admin"] = []string{a.ID + ":*:/"}
		},
		moveKeys: func(a *latch.Audience) { a.ID = "moved" },
		notMoved: func(t *testing.T, e *env, _ string) {
			_, err := e.s.GetAudience(e.ctx, "moved")
			wantCode(t, err, latch.ENOTFOUND, "GetAudience at the id fn set")
		},
		create: func(e *env, a latch.Audience) error { return e.s.CreateAudience(e.ctx, a) },
		get:    func(e *env, id string) (latch.Audience, error) { return e.s.GetAudience(e.ctx, id) },
		list:   func(e *env) ([]latch.Audience, error) { return e.s.ListAudiences(e.ctx) },
		update: func(e *env, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
			return e.s.UpdateAudience(e.ctx, id, fn)
		},
		del: func(e *env, id string) error { return e.s.DeleteAudience(e.ctx, id) },
	})
}

// testIsolation: nothing of one org can be read, changed or deleted through
// another org's name.
func testIsolation(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"NothingLivesInAMissingOrg": func(t *testing.T, e *env) {
			wantCode(t, e.s.CreateUser(e.ctx, newUser(e, "ghost", "u1")), latch.ENOTFOUND, "CreateUser in a missing org")
			wantCode(t, e.s.CreateRole(e.ctx, newRole(e, "ghost", "r1")), latch.ENOTFOUND, "CreateRole in a missing org")
			wantCode(t, e.s.CreateClient(e.ctx, newClient(e, "ghost", "c1")), latch.ENOTFOUND, "CreateClient in a missing org")
			if _, err := e.s.FindUser(e.ctx, "ghost", "u1.name"); !latch.IsCode(err, latch.ENOTFOUND) {
				t.Errorf("a user was created in a missing org: %v", err)
			}
		},
		"StoreDoesNotLeakAcrossOrgs": func(t *testing.T, e *env) {
			orgSetup(t, e)
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", "u1")), "CreateUser")
			must(t, e.s.CreateRole(e.ctx, newRole(e, "acme", "r1")), "CreateRole")
			must(t, e.s.CreateClient(e.ctx, newClient(e, "acme", "c1")), "CreateClient")
			before, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser")

			_, err = e.s.GetUser(e.ctx, "other", "u1")
			wantCode(t, err, latch.ENOTFOUND, "GetUser(other, acme's id)")
			for _, login := range []string{"u1.name", "u1@example.com"} {
				_, err = e.s.FindUser(e.ctx, "other", login)
				wantCode(t, err, latch.ENOTFOUND, "FindUser(other, acme's login)")
			}
			called := false
			_, err = e.s.UpdateUser(e.ctx, "other", "u1", func(*latch.User) error { called = true; return nil })
			wantCode(t, err, latch.ENOTFOUND, "UpdateUser(other, acme's id)")
			if called {
				t.Error("UpdateUser called fn with another org's user")
			}
			wantCode(t, e.s.DeleteUser(e.ctx, "other", "u1"), latch.ENOTFOUND, "DeleteUser(other, acme's id)")
			_, err = e.s.GetRole(e.ctx, "other", "r1")
			wantCode(t, err, latch.ENOTFOUND, "GetRole(other, acme's id)")
			_, err = e.s.UpdateRole(e.ctx, "other", "r1", func(*latch.Role) error { called = true; return nil })
			wantCode(t, err, latch.ENOTFOUND, "UpdateRole(other, acme's id)")
			wantCode(t, e.s.DeleteRole(e.ctx, "other", "r1"), latch.ENOTFOUND, "DeleteRole(other, acme's id)")
			if called {
				t.Error("UpdateRole called fn with another org's role")
			}
			if l, err := e.s.ListUsers(e.ctx, "other"); err != nil || len(l) != 0 {
				t.Errorf("ListUsers(other) = %d users, %v; want none", len(l), err)
			}
			if l, err := e.s.ListRoles(e.ctx, "other"); err != nil || len(l) != 0 {
				t.Errorf("ListRoles(other) = %d roles, %v; want none", len(l), err)
			}
			if l, err := e.s.ListClients(e.ctx, "other"); err != nil || len(l) != 0 {
				t.Errorf("ListClients(other) = %d clients, %v; want none", len(l), err)
			}
			after, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser(acme) after another org's attempts")
			same(t, "acme's user after another org's attempts", after, before)
			if _, err := e.s.GetRole(e.ctx, "acme", "r1"); err != nil {
				t.Errorf("GetRole(acme) after another org's attempts: %v", err)
			}
		},
		"SameIDsAreIndependent": func(t *testing.T, e *env) {
			orgSetup(t, e)
			for _, org := range []string{"acme", "other"} {
				must(t, e.s.CreateUser(e.ctx, newUser(e, org, "u1")), "CreateUser in "+org)
				must(t, e.s.CreateRole(e.ctx, newRole(e, org, "r1")), "CreateRole in "+org)
			}
			_, err := e.s.UpdateUser(e.ctx, "other", "u1", func(u *latch.User) error {
				u.Roles = []string{"other-only"}
				return nil
			})
			must(t, err, "UpdateUser in other")
			_, err = e.s.UpdateRole(e.ctx, "other", "r1", func(r *latch.Role) error {
				r.Allow = []string{"other:only:/"}
				return nil
			})
			must(t, err, "UpdateRole in other")
			u, err := e.s.GetUser(e.ctx, "acme", "u1")
			must(t, err, "GetUser acme")
			if len(u.Roles) != 1 || u.Roles[0] != "member" {
				t.Errorf("acme's user changed with other's: %+v", u)
			}
			r, err := e.s.GetRole(e.ctx, "acme", "r1")
			must(t, err, "GetRole acme")
			same(t, "acme's role after other's changed", r.Allow, newRole(e, "acme", "r1").Allow)
			must(t, e.s.DeleteUser(e.ctx, "other", "u1"), "DeleteUser in other")
			if _, err := e.s.GetUser(e.ctx, "acme", "u1"); err != nil {
				t.Errorf("GetUser acme after deleting other's: %v", err)
			}
		},
	})
}
