package storetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"latch.dev/latch"
)

// floodChanges is how many changes the slow-subscriber test makes without
// reading: more than any backend may buffer per subscriber.
const floodChanges = 1100

// feedWait bounds every wait for a change. Changes normally arrive at once;
// the bound only turns a missing change into a failure instead of a hang.
const feedWait = 10 * time.Second

// await reads ch until a change of kind about id (with the given deleted
// flag) arrives, and returns it. Other changes are skipped: the contract
// does not forbid a backend to publish more than it must.
func await(t *testing.T, ch <-chan latch.Change, kind, id string, deleted bool) latch.Change {
	t.Helper()
	timeout := time.After(feedWait)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change feed closed while waiting for %s %q", kind, id)
			}
			if c.Kind == latch.ChangeReset {
				t.Fatalf("unexpected ChangeReset while waiting for %s %q", kind, id)
			}
			if c.Kind == kind && c.ID == id && c.Deleted == deleted {
				return c
			}
		case <-timeout:
			t.Fatalf("no %s change about %q (deleted=%v) within %s", kind, id, deleted, feedWait)
		}
	}
}

func testWatch(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"EveryKindOfChange": func(t *testing.T, e *env) { watchEveryKind(t, e) },
		"OnlyChangesFromNow": func(t *testing.T, e *env) {
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "before")), "CreateOrg before Watch")
			ch := e.s.Watch(e.ctx)
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "after")), "CreateOrg after Watch")
			timeout := time.After(feedWait)
			for {
				select {
				case c := <-ch:
					if c.Kind == latch.ChangeOrg && c.ID == "before" {
						t.Fatal("Watch delivered a change made before it was called")
					}
					if c.Kind == latch.ChangeOrg && c.ID == "after" {
						return
					}
				case <-timeout:
					t.Fatal("no change for the org created after Watch")
				}
			}
		},
		"EverySubscriberGetsEveryChange": func(t *testing.T, e *env) {
			a, b := e.s.Watch(e.ctx), e.s.Watch(e.ctx)
			for i := range 3 {
				must(t, e.s.CreateOrg(e.ctx, newOrg(e, "o"+strconv.Itoa(i))), "CreateOrg")
			}
			for _, ch := range []<-chan latch.Change{a, b} {
				for i := range 3 {
					await(t, ch, latch.ChangeOrg, "o"+strconv.Itoa(i), false)
				}
			}
		},
		"ClosedWhenContextDone": func(t *testing.T, e *env) {
			ctx, cancel := context.WithCancel(e.ctx)
			ch := e.s.Watch(ctx)
			other := e.s.Watch(e.ctx)
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "o1")), "CreateOrg")
			cancel()
			timeout := time.After(feedWait)
		drain:
			for {
				select {
				case _, ok := <-ch:
					if !ok {
						break drain
					}
				case <-timeout:
					t.Fatal("the Watch channel is still open after its context was cancelled")
				}
			}
			// The store and its other subscribers carry on.
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "o2")), "CreateOrg after a subscriber left")
			await(t, other, latch.ChangeOrg, "o2", false)
		},
		"WatchWithDoneContext": func(t *testing.T, e *env) {
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			ch := e.s.Watch(ctx)
			select {
			case _, ok := <-ch:
				if ok {
					t.Fatal("Watch with a done context delivered a change")
				}
			case <-time.After(feedWait):
				t.Fatal("Watch with a done context returned an open channel")
			}
		},
		"SlowSubscriberGetsReset": func(t *testing.T, e *env) { watchSlow(t, e) },
		"NoChangeForFailedWrites": func(t *testing.T, e *env) {
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "o1")), "CreateOrg")
			ch := e.s.Watch(e.ctx)
			wantCode(t, e.s.CreateOrg(e.ctx, newOrg(e, "o1")), latch.ECONFLICT, "CreateOrg again")
			_, err := e.s.UpdateOrg(e.ctx, "o1", func(*latch.Org) error { return latch.Errorf(latch.EINVALID, "no") })
			wantCode(t, err, latch.EINVALID, "UpdateOrg with a failing fn")
			must(t, e.s.CreateOrg(e.ctx, newOrg(e, "o2")), "CreateOrg o2")
			timeout := time.After(feedWait)
			for {
				select {
				case c := <-ch:
					if c.ID == "o1" {
						t.Fatalf("a refused write was published: %+v", c)
					}
					if c.ID == "o2" {
						return
					}
				case <-timeout:
					t.Fatal("no change for o2")
				}
			}
		},
	})
}

// watchEveryKind makes each kind of change the contract lists and checks that
// it is published with its org, id, version and deletion, after the write is
// visible.
func watchEveryKind(t *testing.T, e *env) {
	ch := e.s.Watch(e.ctx)
	s, ctx := e.s, e.ctx
	noop := func(string) {}

	// check waits for the change and compares it; visible checks that a read
	// made on receipt already sees the write.
	check := func(kind, org, id string, version uint64, deleted bool, visible func(string)) {
		t.Helper()
		c := await(t, ch, kind, id, deleted)
		if org != "*" && c.Org != org {
			t.Errorf("%s change about %q: Org = %q, want %q", kind, id, c.Org, org)
		}
		if version != 0 && c.Version != version {
			t.Errorf("%s change about %q: Version = %d, want %d", kind, id, c.Version, version)
		}
		visible(id)
	}
	gone := func(get func(id string) error) func(string) {
		return func(id string) {
			t.Helper()
			wantCode(t, get(id), latch.ENOTFOUND, "read on receipt of a deletion")
		}
	}
	atVersion := func(get func(id string) (uint64, error)) func(want uint64) func(string) {
		return func(want uint64) func(string) {
			return func(id string) {
				t.Helper()
				v, err := get(id)
				must(t, err, "read on receipt of a change")
				if v < want {
					t.Errorf("read on receipt of the change to %q sees version %d, want %d", id, v, want)
				}
			}
		}
	}

	// Orgs: the change's Org may name the org itself or be empty.
	orgAt := atVersion(func(id string) (uint64, error) { o, err := s.GetOrg(ctx, id); return o.Version, err })
	must(t, s.CreateOrg(ctx, newOrg(e, "acme")), "CreateOrg")
	o, err := s.GetOrg(ctx, "acme")
	must(t, err, "GetOrg")
	check(latch.ChangeOrg, "*", "acme", o.Version, false, orgAt(o.Version))
	o, err = s.UpdateOrg(ctx, "acme", func(o *latch.Org) error { o.Name = "Acme Inc"; return nil })
	must(t, err, "UpdateOrg")
	check(latch.ChangeOrg, "*", "acme", o.Version, false, orgAt(o.Version))
	must(t, s.CreateOrg(ctx, newOrg(e, "gone")), "CreateOrg gone")
	must(t, s.DeleteOrg(ctx, "gone"), "DeleteOrg")
	check(latch.ChangeOrg, "*", "gone", 0, true, gone(func(id string) error { _, err := s.GetOrg(ctx, id); return err }))

	// Users.
	userAt := atVersion(func(id string) (uint64, error) { u, err := s.GetUser(ctx, "acme", id); return u.Version, err })
	must(t, s.CreateUser(ctx, newUser(e, "acme", "u1")), "CreateUser")
	u, err := s.GetUser(ctx, "acme", "u1")
	must(t, err, "GetUser")
	check(latch.ChangeUser, "acme", "u1", u.Version, false, userAt(u.Version))
	u, err = s.UpdateUser(ctx, "acme", "u1", func(u *latch.User) error { u.Disabled = true; return nil })
	must(t, err, "UpdateUser")
	check(latch.ChangeUser, "acme", "u1", u.Version, false, userAt(u.Version))
	must(t, s.DeleteUser(ctx, "acme", "u1"), "DeleteUser")
	check(latch.ChangeUser, "acme", "u1", 0, true, gone(func(id string) error { _, err := s.GetUser(ctx, "acme", id); return err }))

	// Roles.
	roleAt := atVersion(func(id string) (uint64, error) { r, err := s.GetRole(ctx, "acme", id); return r.Version, err })
	must(t, s.CreateRole(ctx, newRole(e, "acme", "r1")), "CreateRole")
	r, err := s.GetRole(ctx, "acme", "r1")
	must(t, err, "GetRole")
	check(latch.ChangeRole, "acme", "r1", r.Version, false, roleAt(r.Version))
	r, err = s.UpdateRole(ctx, "acme", "r1", func(r *latch.Role) error { r.Deny = nil; return nil })
	must(t, err, "UpdateRole")
	check(latch.ChangeRole, "acme", "r1", r.Version, false, roleAt(r.Version))
	must(t, s.DeleteRole(ctx, "acme", "r1"), "DeleteRole")
	check(latch.ChangeRole, "acme", "r1", 0, true, gone(func(id string) error { _, err := s.GetRole(ctx, "acme", id); return err }))

	// Clients.
	clientAt := atVersion(func(id string) (uint64, error) { c, err := s.GetClient(ctx, id); return c.Version, err })
	must(t, s.CreateClient(ctx, newClient(e, "acme", "web")), "CreateClient")
	c, err := s.GetClient(ctx, "web")
	must(t, err, "GetClient")
	check(latch.ChangeClient, "acme", "web", c.Version, false, clientAt(c.Version))
	c, err = s.UpdateClient(ctx, "web", func(c *latch.Client) error { c.Disabled = true; return nil })
	must(t, err, "UpdateClient")
	check(latch.ChangeClient, "acme", "web", c.Version, false, clientAt(c.Version))
	must(t, s.DeleteClient(ctx, "web"), "DeleteClient")
	check(latch.ChangeClient, "acme", "web", 0, true, gone(func(id string) error { _, err := s.GetClient(ctx, id); return err }))

	// Audiences have no org.
	audAt := atVersion(func(id string) (uint64, error) { a, err := s.GetAudience(ctx, id); return a.Version, err })
	must(t, s.CreateAudience(ctx, newAudience(e, "payroll")), "CreateAudience")
	a, err := s.GetAudience(ctx, "payroll")
	must(t, err, "GetAudience")
	check(latch.ChangeAudience, "", "payroll", a.Version, false, audAt(a.Version))
	a, err = s.UpdateAudience(ctx, "payroll", func(a *latch.Audience) error { a.Name = "Payroll"; return nil })
	must(t, err, "UpdateAudience")
	check(latch.ChangeAudience, "", "payroll", a.Version, false, audAt(a.Version))
	must(t, s.DeleteAudience(ctx, "payroll"), "DeleteAudience")
	check(latch.ChangeAudience, "", "payroll", 0, true, gone(func(id string) error { _, err := s.GetAudience(ctx, id); return err }))

	// Signing keys: a created key by kid; a replaced set as one change.
	must(t, s.CreateSigningKey(ctx, newKey(e, "k1", latch.KeyCurrent)), "CreateSigningKey")
	check(latch.ChangeSigningKey, "", "k1", 0, false, noop)
	old, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	must(t, s.ReplaceSigningKeys(ctx, old, []latch.SigningKey{newKey(e, "k2", latch.KeyCurrent)}), "ReplaceSigningKeys")
	awaitKind(t, ch, latch.ChangeSigningKey, func() {
		keys, err := s.ListSigningKeys(ctx)
		must(t, err, "ListSigningKeys on receipt")
		if len(keys) != 1 || keys[0].ID != "k2" {
			t.Errorf("keys on receipt of the change = %+v, want the new set", keys)
		}
	})

	// Revocations.
	must(t, s.CreateFamily(ctx, newFamily(e, "f1", month)), "CreateFamily")
	must(t, s.RevokeFamily(ctx, "f1"), "RevokeFamily")
	check(latch.ChangeFamily, "acme", "f1", 0, false, func(id string) {
		f, err := s.GetFamily(ctx, id)
		must(t, err, "GetFamily on receipt")
		if !f.Revoked() {
			t.Error("family not revoked on receipt of the change")
		}
	})
	must(t, s.CreateAccessToken(ctx, newAccess(e, "a1", "", time.Hour)), "CreateAccessToken")
	must(t, s.RevokeAccessToken(ctx, "a1"), "RevokeAccessToken")
	c2 := awaitToken(t, ch, "a1")
	if c2.Org != "acme" {
		t.Errorf("access token revocation: Org = %q, want acme", c2.Org)
	}
	if _, err := s.GetAccessToken(ctx, "a1"); latch.ErrorCode(err) != latch.ENOTFOUND {
		t.Errorf("GetAccessToken on receipt of its revocation: %v, want ENOTFOUND", err)
	}
	must(t, s.RevokeJTI(ctx, latch.Revocation{JTI: "j1", Org: "acme", ExpiresAt: e.now().Add(time.Hour)}), "RevokeJTI")
	c3 := awaitToken(t, ch, "j1")
	if c3.Org != "acme" {
		t.Errorf("jti revocation: Org = %q, want acme", c3.Org)
	}
	if ok, err := s.JTIRevoked(ctx, "j1"); err != nil || !ok {
		t.Errorf("JTIRevoked on receipt of the change = %v, %v", ok, err)
	}
}

// awaitKind waits for any change of kind, then runs visible.
func awaitKind(t *testing.T, ch <-chan latch.Change, kind string, visible func()) {
	t.Helper()
	timeout := time.After(feedWait)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change feed closed while waiting for a %s change", kind)
			}
			if c.Kind == kind {
				visible()
				return
			}
		case <-timeout:
			t.Fatalf("no %s change within %s", kind, feedWait)
		}
	}
}

// awaitToken waits for the token change about id, deleted or not.
func awaitToken(t *testing.T, ch <-chan latch.Change, id string) latch.Change {
	t.Helper()
	timeout := time.After(feedWait)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change feed closed while waiting for the revocation of %q", id)
			}
			if c.Kind == latch.ChangeToken && c.ID == id {
				return c
			}
		case <-timeout:
			t.Fatalf("no token change about %q within %s", id, feedWait)
		}
	}
}

// watchSlow: a subscriber that does not read must not hold writers up; it
// gets a ChangeReset in place of what it missed, and changes again after.
func watchSlow(t *testing.T, e *env) {
	slow := e.s.Watch(e.ctx)
	done := make(chan error, 1)
	go func() {
		for i := range floodChanges {
			r := latch.Revocation{JTI: fmt.Sprintf("flood-%04d", i), Org: "acme", ExpiresAt: e.now().Add(time.Hour)}
			if err := e.s.RevokeJTI(e.ctx, r); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		must(t, err, "RevokeJTI while a subscriber does not read")
	case <-time.After(5 * time.Minute):
		t.Fatalf("%d writes did not finish in 5 minutes: a slow subscriber blocks writers", floodChanges)
	}

	// Drain what was buffered; it must include a reset.
	reset, n := false, 0
	quiet := 500 * time.Millisecond
drain:
	for {
		select {
		case c, ok := <-slow:
			if !ok {
				t.Fatal("the slow subscriber's channel was closed")
			}
			n++
			if c.Kind == latch.ChangeReset {
				reset = true
			}
		case <-time.After(quiet):
			break drain
		}
	}
	if !reset {
		t.Fatalf("a subscriber that read nothing during %d changes got %d changes and no ChangeReset", floodChanges, n)
	}
	if n >= floodChanges {
		t.Errorf("the slow subscriber got %d items for %d changes: nothing was dropped for the reset to cover", n, floodChanges)
	}
	must(t, e.s.RevokeJTI(e.ctx, latch.Revocation{JTI: "after", Org: "acme", ExpiresAt: e.now().Add(time.Hour)}), "RevokeJTI after draining")
	awaitToken(t, slow, "after")
}
