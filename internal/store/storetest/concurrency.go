package storetest

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"latch.dev/latch"
)

// race runs fn(i) for i in [0, n) in n goroutines released together, and
// returns their errors by i.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and every other carries
// ECONFLICT, and returns the winner.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch code := latch.ErrorCode(err); code {
		case "":
			if winner >= 0 {
				t.Fatalf("%s: goroutines %d and %d both succeeded", what, winner, i)
			}
			winner = i
		case latch.ECONFLICT:
		default:
			t.Fatalf("%s: goroutine %d failed with %v, want ECONFLICT", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no goroutine succeeded", what)
	}
	return winner
}

func testConcurrency(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"ConsumeAuthCodeExactlyOnce": func(t *testing.T, e *env) {
			must(t, e.s.CreateAuthCode(e.ctx, newCode(e, "c1", time.Minute)), "CreateAuthCode")
			codes := make([]latch.AuthCode, 50)
			errs := race(50, func(i int) error {
				var err error
				codes[i], err = e.s.ConsumeAuthCode(e.ctx, "c1")
				return err
			})
			winner := oneWinner(t, "50 concurrent ConsumeAuthCode", errs)
			for i, c := range codes {
				if c.Digest != "c1" || c.ConsumedAt.IsZero() {
					t.Errorf("ConsumeAuthCode %d returned %+v, want the consumed code", i, c)
				}
				if !c.ConsumedAt.Equal(codes[winner].ConsumedAt) {
					t.Errorf("ConsumeAuthCode %d sees ConsumedAt %v, the winner set %v", i, c.ConsumedAt, codes[winner].ConsumedAt)
				}
			}
		},
		"RotateRefreshTokenOnce": func(t *testing.T, e *env) {
			family(t, e, "f1")
			must(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "old", "f1", day)), "CreateRefreshToken")
			const n = 20
			errs := race(n, func(i int) error {
				_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "next-"+strconv.Itoa(i), "f1", day), 0)
				return err
			})
			winner := oneWinner(t, "20 concurrent RotateRefreshToken with grace 0", errs)
			for i := range n {
				_, err := e.s.GetRefreshToken(e.ctx, "next-"+strconv.Itoa(i))
				if i == winner {
					must(t, err, "GetRefreshToken of the winner's token")
				} else {
					wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken of a loser's token")
				}
			}
			old, err := e.s.GetRefreshToken(e.ctx, "old")
			must(t, err, "GetRefreshToken old")
			if want := "next-" + strconv.Itoa(winner); old.ReplacedBy != want {
				t.Errorf("old token ReplacedBy = %q, want the winner's %q", old.ReplacedBy, want)
			}
		},
		"CreateUserSameUsername": func(t *testing.T, e *env) {
			orgSetup(t, e)
			const n = 20
			errs := race(n, func(i int) error {
				u := newUser(e, "acme", "u"+strconv.Itoa(i))
				u.Username = "contested"
				return e.s.CreateUser(e.ctx, u)
			})
			winner := oneWinner(t, "20 concurrent CreateUser of one username", errs)
			got, err := e.s.FindUser(e.ctx, "acme", "contested")
			must(t, err, "FindUser")
			if want := "u" + strconv.Itoa(winner); got.ID != want {
				t.Errorf("the username belongs to %s, want the winner %s", got.ID, want)
			}
			l, err := e.s.ListUsers(e.ctx, "acme")
			must(t, err, "ListUsers")
			if len(l) != 1 {
				t.Errorf("ListUsers has %d users, want 1", len(l))
			}
		},
		"CreateOrgSameID": func(t *testing.T, e *env) {
			errs := race(20, func(i int) error {
				o := newOrg(e, "contested")
				o.Name = strconv.Itoa(i)
				return e.s.CreateOrg(e.ctx, o)
			})
			winner := oneWinner(t, "20 concurrent CreateOrg of one id", errs)
			o, err := e.s.GetOrg(e.ctx, "contested")
			must(t, err, "GetOrg")
			if o.Name != strconv.Itoa(winner) {
				t.Errorf("the org is goroutine %s's, want the winner %d's", o.Name, winner)
			}
		},
		"UpdateUserLosesNoUpdate": func(t *testing.T, e *env) {
			orgSetup(t, e)
			u := newUser(e, "acme", "u1")
			u.Roles = nil
			must(t, e.s.CreateUser(e.ctx, u), "CreateUser")
			noLostUpdate(t, func(i int) error {
				_, err := e.s.UpdateUser(e.ctx, "acme", "u1", func(u *latch.User) error {
					u.Roles = append(u.Roles, "role-"+strconv.Itoa(i))
					return nil
				})
				return err
			}, func() ([]string, uint64) {
				u, err := e.s.GetUser(e.ctx, "acme", "u1")
				must(t, err, "GetUser")
				return u.Roles, u.Version
			})
		},
		"UpdateRoleLosesNoUpdate": func(t *testing.T, e *env) {
			orgSetup(t, e)
			r := newRole(e, "acme", "r1")
			r.Allow = nil
			must(t, e.s.CreateRole(e.ctx, r), "CreateRole")
			noLostUpdate(t, func(i int) error {
				_, err := e.s.UpdateRole(e.ctx, "acme", "r1", func(r *latch.Role) error {
					r.Allow = append(r.Allow, "role-"+strconv.Itoa(i))
					return nil
				})
				return err
			}, func() ([]string, uint64) {
				r, err := e.s.GetRole(e.ctx, "acme", "r1")
				must(t, err, "GetRole")
				return r.Allow, r.Version
			})
		},
		"UpdateUserClaimsRace": func(t *testing.T, e *env) {
			// Two users race to rename themselves to one username.
			orgSetup(t, e)
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", "u0")), "CreateUser u0")
			must(t, e.s.CreateUser(e.ctx, newUser(e, "acme", "u1")), "CreateUser u1")
			errs := race(2, func(i int) error {
				_, err := e.s.UpdateUser(e.ctx, "acme", "u"+strconv.Itoa(i), func(u *latch.User) error {
					u.Username = "contested"
					return nil
				})
				return err
			})
			winner := oneWinner(t, "2 concurrent renames to one username", errs)
			got, err := e.s.FindUser(e.ctx, "acme", "contested")
			must(t, err, "FindUser")
			if want := "u" + strconv.Itoa(winner); got.ID != want {
				t.Errorf("the username belongs to %s, want the winner %s", got.ID, want)
			}
			loser := "u" + strconv.Itoa(1-winner)
			if _, err := e.s.FindUser(e.ctx, "acme", loser+".name"); err != nil {
				t.Errorf("the loser lost its own username: %v", err)
			}
		},
		"ReplaceSigningKeysOnce": func(t *testing.T, e *env) {
			must(t, e.s.CreateSigningKey(e.ctx, newKey(e, "k0", latch.KeyCurrent)), "CreateSigningKey")
			old, err := e.s.ListSigningKeys(e.ctx)
			must(t, err, "ListSigningKeys")
			errs := race(10, func(i int) error {
				next := []latch.SigningKey{newKey(e, "k"+strconv.Itoa(i+1), latch.KeyCurrent)}
				return e.s.ReplaceSigningKeys(e.ctx, old, next)
			})
			winner := oneWinner(t, "10 concurrent ReplaceSigningKeys from one read", errs)
			keys, err := e.s.ListSigningKeys(e.ctx)
			must(t, err, "ListSigningKeys")
			if len(keys) != 1 || keys[0].ID != "k"+strconv.Itoa(winner+1) {
				t.Errorf("keys = %+v, want only the winner's k%d", keys, winner+1)
			}
		},
	})
}

// noLostUpdate runs 20 concurrent appends and checks that every append that
// succeeded is in the item, none that failed is, and the version moved once
// per success. The contract lets an update give up with ECONFLICT after
// bounded retries; it never lets one vanish.
func noLostUpdate(t *testing.T, appendOne func(i int) error, read func() ([]string, uint64)) {
	t.Helper()
	const n = 20
	_, v0 := read()
	errs := race(n, appendOne)
	var want []string
	for i, err := range errs {
		switch latch.ErrorCode(err) {
		case "":
			want = append(want, "role-"+strconv.Itoa(i))
		case latch.ECONFLICT:
			t.Logf("append %d gave up with ECONFLICT: %v", i, err)
		default:
			t.Fatalf("append %d failed: %v", i, err)
		}
	}
	if len(want) == 0 {
		t.Fatal("no concurrent update succeeded")
	}
	got, v := read()
	got = slices.Clone(got)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after %d concurrent appends (%d succeeded) the item holds %d: %v", n, len(want), len(got), got)
	}
	if v != v0+uint64(len(want)) {
		t.Errorf("Version = %d after %d successful updates from %d, want %d", v, len(want), v0, v0+uint64(len(want)))
	}
}
