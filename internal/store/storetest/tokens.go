package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"latch.dev/latch"
)

const (
	day   = 24 * time.Hour
	month = 30 * day
)

func testFamilies(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"CreateGet": func(t *testing.T, e *env) {
			f := newFamily(e, "f1", month)
			must(t, e.s.CreateFamily(e.ctx, f), "CreateFamily")
			got, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily")
			same(t, "GetFamily", got, f)
			if got.Revoked() {
				t.Error("a new family is revoked")
			}
		},
		"CreateConflict": func(t *testing.T, e *env) {
			f := newFamily(e, "f1", month)
			must(t, e.s.CreateFamily(e.ctx, f), "CreateFamily")
			again := newFamily(e, "f1", day)
			again.Subject = "someone-else"
			wantCode(t, e.s.CreateFamily(e.ctx, again), latch.ECONFLICT, "CreateFamily of an existing id")
			got, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily")
			same(t, "family after a refused create", got, f)
		},
		"GetMissing": func(t *testing.T, e *env) {
			_, err := e.s.GetFamily(e.ctx, "missing")
			wantCode(t, err, latch.ENOTFOUND, "GetFamily of a missing id")
		},
		"Expiry": func(t *testing.T, e *env) {
			must(t, e.s.CreateFamily(e.ctx, newFamily(e, "f1", 10*time.Second)), "CreateFamily")
			e.clock.Advance(9 * time.Second)
			_, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily before expiry")
			e.clock.Advance(time.Second) // now == ExpiresAt
			_, err = e.s.GetFamily(e.ctx, "f1")
			wantCode(t, err, latch.ENOTFOUND, "GetFamily at its expiry")
		},
	})
}

// family creates a live family f1 (30 days) and returns it.
func family(t *testing.T, e *env, id string) latch.Family {
	t.Helper()
	f := newFamily(e, id, month)
	must(t, e.s.CreateFamily(e.ctx, f), "CreateFamily "+id)
	return f
}

func testRefreshTokens(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"CreateGet": func(t *testing.T, e *env) {
			family(t, e, "f1")
			rt := newRefresh(e, "d1", "f1", day)
			must(t, e.s.CreateRefreshToken(e.ctx, rt), "CreateRefreshToken")
			got, err := e.s.GetRefreshToken(e.ctx, "d1")
			must(t, err, "GetRefreshToken")
			same(t, "GetRefreshToken", got, rt)
			if got.Rotated() {
				t.Error("a new refresh token is rotated")
			}
		},
		"CreateConflict": func(t *testing.T, e *env) {
			family(t, e, "f1")
			rt := newRefresh(e, "d1", "f1", day)
			must(t, e.s.CreateRefreshToken(e.ctx, rt), "CreateRefreshToken")
			again := newRefresh(e, "d1", "f1", time.Hour)
			again.Subject = "someone-else"
			wantCode(t, e.s.CreateRefreshToken(e.ctx, again), latch.ECONFLICT, "CreateRefreshToken of an existing digest")
			got, err := e.s.GetRefreshToken(e.ctx, "d1")
			must(t, err, "GetRefreshToken")
			same(t, "token after a refused create", got, rt)
		},
		"GetMissing": func(t *testing.T, e *env) {
			_, err := e.s.GetRefreshToken(e.ctx, "missing")
			wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken of a missing digest")
		},
		"CreateNeedsLiveFamily": func(t *testing.T, e *env) {
			must(t, e.s.CreateFamily(e.ctx, newFamily(e, "short", 10*time.Second)), "CreateFamily short")
			family(t, e, "revoked")
			must(t, e.s.RevokeFamily(e.ctx, "revoked"), "RevokeFamily")
			e.clock.Advance(10 * time.Second)
			for _, fam := range []string{"missing", "revoked", "short"} {
				digest := "in-" + fam
				wantCode(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, digest, fam, day)), latch.ENOTFOUND,
					"CreateRefreshToken in a "+fam+" family")
				_, err := e.s.GetRefreshToken(e.ctx, digest)
				wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken of a refused token")
			}
		},
		"Expiry": func(t *testing.T, e *env) {
			family(t, e, "f1")
			must(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "d1", "f1", time.Hour)), "CreateRefreshToken")
			e.clock.Advance(time.Hour - time.Second)
			_, err := e.s.GetRefreshToken(e.ctx, "d1")
			must(t, err, "GetRefreshToken before expiry")
			e.clock.Advance(time.Second)
			_, err = e.s.GetRefreshToken(e.ctx, "d1")
			wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken at its expiry")
		},
		"GetIgnoresFamily": func(t *testing.T, e *env) {
			family(t, e, "f1")
			rt := newRefresh(e, "d1", "f1", day)
			must(t, e.s.CreateRefreshToken(e.ctx, rt), "CreateRefreshToken")
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")
			got, err := e.s.GetRefreshToken(e.ctx, "d1")
			must(t, err, "GetRefreshToken of a revoked family's token")
			same(t, "GetRefreshToken of a revoked family's token", got, rt)
		},
	})
}

func testRotate(t *testing.T, open Opener) {
	// setup creates family f1 and its token "old" (one day).
	setup := func(t *testing.T, e *env) latch.RefreshToken {
		t.Helper()
		family(t, e, "f1")
		old := newRefresh(e, "old", "f1", day)
		must(t, e.s.CreateRefreshToken(e.ctx, old), "CreateRefreshToken")
		return old
	}
	absent := func(t *testing.T, e *env, digest, why string) {
		t.Helper()
		_, err := e.s.GetRefreshToken(e.ctx, digest)
		wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken of the next token after "+why)
	}
	// rotatedOnce checks that old is marked rotated at `at` (by the first successor).
	rotatedOnce := func(t *testing.T, e *env, at time.Time, by string) latch.RefreshToken {
		t.Helper()
		got, err := e.s.GetRefreshToken(e.ctx, "old")
		must(t, err, "GetRefreshToken of the rotated token")
		if !got.Rotated() || !got.RotatedAt.Equal(at) {
			t.Errorf("old token RotatedAt = %v, want %v", got.RotatedAt, at)
		}
		if by != "" && got.ReplacedBy != by {
			t.Errorf("old token ReplacedBy = %q, want %q", got.ReplacedBy, by)
		}
		return got
	}

	subtests(t, open, map[string]func(t *testing.T, e *env){
		"Rotates": func(t *testing.T, e *env) {
			old := setup(t, e)
			e.clock.Advance(time.Minute)
			next := newRefresh(e, "n1", "f1", day)
			got, err := e.s.RotateRefreshToken(e.ctx, "old", next, 0)
			must(t, err, "RotateRefreshToken")
			same(t, "RotateRefreshToken result", got, next)
			stored, err := e.s.GetRefreshToken(e.ctx, "n1")
			must(t, err, "GetRefreshToken of the next token")
			same(t, "next token as stored", stored, next)
			marked := rotatedOnce(t, e, e.now(), "n1")
			old.RotatedAt, old.ReplacedBy = marked.RotatedAt, marked.ReplacedBy
			same(t, "old token after rotation (only RotatedAt and ReplacedBy change)", marked, old)
		},
		"ChainContinues": func(t *testing.T, e *env) {
			setup(t, e)
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), 0)
			must(t, err, "first rotation")
			e.clock.Advance(time.Hour)
			_, err = e.s.RotateRefreshToken(e.ctx, "n1", newRefresh(e, "n2", "f1", day), 0)
			must(t, err, "rotation of the successor")
			if _, err := e.s.GetRefreshToken(e.ctx, "n2"); err != nil {
				t.Fatalf("GetRefreshToken of the third token: %v", err)
			}
		},
		"RotatedAlreadyConflict": func(t *testing.T, e *env) {
			setup(t, e)
			at := e.now()
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), 0)
			must(t, err, "first rotation")
			for _, wait := range []time.Duration{0, time.Second, time.Hour} {
				e.clock.Advance(wait)
				got, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n2", "f1", day), 0)
				wantCode(t, err, latch.ECONFLICT, "second rotation with grace 0")
				if got.Digest != "old" || !got.RotatedAt.Equal(at) || got.ReplacedBy != "n1" {
					t.Errorf("ECONFLICT returned %+v, want the old token as stored (rotated at %v by n1)", got, at)
				}
				absent(t, e, "n2", "a refused rotation")
			}
			rotatedOnce(t, e, at, "n1")
		},
		"GraceSibling": func(t *testing.T, e *env) {
			setup(t, e)
			at := e.now()
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), 10*time.Second)
			must(t, err, "first rotation")
			e.clock.Advance(5 * time.Second)
			sibling := newRefresh(e, "n2", "f1", day)
			got, err := e.s.RotateRefreshToken(e.ctx, "old", sibling, 10*time.Second)
			must(t, err, "retry within the grace window")
			same(t, "sibling", got, sibling)
			for _, d := range []string{"n1", "n2"} {
				tok, err := e.s.GetRefreshToken(e.ctx, d)
				must(t, err, "GetRefreshToken "+d)
				if tok.Rotated() {
					t.Errorf("%s is rotated, want both siblings usable", d)
				}
			}
			rotatedOnce(t, e, at, "") // the retry must not move RotatedAt, or grace never ends
			e.clock.Advance(6 * time.Second)
			got, err = e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n3", "f1", day), 10*time.Second)
			wantCode(t, err, latch.ECONFLICT, "retry 11s after rotation with a 10s grace")
			if got.Digest != "old" || !got.RotatedAt.Equal(at) {
				t.Errorf("ECONFLICT returned %+v, want the old token rotated at %v", got, at)
			}
			absent(t, e, "n3", "the grace window ended")
		},
		"GraceZeroAllowsNoRetry": func(t *testing.T, e *env) {
			setup(t, e)
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), 0)
			must(t, err, "first rotation")
			_, err = e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n2", "f1", day), 0)
			wantCode(t, err, latch.ECONFLICT, "retry at the same instant with grace 0")
			absent(t, e, "n2", "a refused retry")
		},
		"Missing": func(t *testing.T, e *env) {
			setup(t, e)
			_, err := e.s.RotateRefreshToken(e.ctx, "missing", newRefresh(e, "n1", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken of a missing token")
			absent(t, e, "n1", "rotating a missing token")
		},
		"Expired": func(t *testing.T, e *env) {
			setup(t, e)
			e.clock.Advance(day)
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken of a token at its expiry")
			absent(t, e, "n1", "rotating an expired token")
		},
		"FamilyRevoked": func(t *testing.T, e *env) {
			setup(t, e)
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken in a revoked family")
			absent(t, e, "n1", "rotating in a revoked family")
			got, err := e.s.GetRefreshToken(e.ctx, "old")
			must(t, err, "GetRefreshToken")
			if got.Rotated() {
				t.Error("a refused rotation marked the old token rotated")
			}
		},
		"FamilyRevokedWithinGrace": func(t *testing.T, e *env) {
			setup(t, e)
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), time.Minute)
			must(t, err, "first rotation")
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")
			e.clock.Advance(time.Second)
			_, err = e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n2", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "retry within grace in a revoked family")
			absent(t, e, "n2", "a retry in a revoked family")
		},
		"FamilyExpired": func(t *testing.T, e *env) {
			must(t, e.s.CreateFamily(e.ctx, newFamily(e, "f1", time.Hour)), "CreateFamily")
			must(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "old", "f1", day)), "CreateRefreshToken")
			e.clock.Advance(time.Hour)
			_, err := e.s.RotateRefreshToken(e.ctx, "old", newRefresh(e, "n1", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken in an expired family")
			absent(t, e, "n1", "rotating in an expired family")
		},
	})
}

func testRevokeFamily(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"Revokes": func(t *testing.T, e *env) {
			f := family(t, e, "f1")
			e.clock.Advance(time.Minute)
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")
			got, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily of a revoked family")
			if !got.Revoked() || !got.RevokedAt.Equal(e.now()) {
				t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, e.now())
			}
			f.RevokedAt = got.RevokedAt
			same(t, "revoked family", got, f)
		},
		"AgainChangesNothing": func(t *testing.T, e *env) {
			family(t, e, "f1")
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")
			first, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily")
			e.clock.Advance(time.Hour)
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily of a revoked family")
			again, err := e.s.GetFamily(e.ctx, "f1")
			must(t, err, "GetFamily")
			same(t, "family revoked twice", again, first)
		},
		"Missing": func(t *testing.T, e *env) {
			wantCode(t, e.s.RevokeFamily(e.ctx, "missing"), latch.ENOTFOUND, "RevokeFamily of a missing family")
		},
		"RefusesEverythingIssuedFromIt": func(t *testing.T, e *env) {
			family(t, e, "f1")
			family(t, e, "f2")
			must(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "r1", "f1", day)), "CreateRefreshToken f1")
			must(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "r2", "f2", day)), "CreateRefreshToken f2")
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a1", "f1", time.Hour)), "CreateAccessToken f1")
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a2", "f2", time.Hour)), "CreateAccessToken f2")
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a3", "", time.Hour)), "CreateAccessToken without family")
			must(t, e.s.RevokeFamily(e.ctx, "f1"), "RevokeFamily")

			_, err := e.s.RotateRefreshToken(e.ctx, "r1", newRefresh(e, "r1b", "f1", day), time.Minute)
			wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken of a revoked family's token")
			wantCode(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, "r1c", "f1", day)), latch.ENOTFOUND,
				"CreateRefreshToken in a revoked family")
			_, err = e.s.GetAccessToken(e.ctx, "a1")
			wantCode(t, err, latch.ENOTFOUND, "GetAccessToken issued from a revoked family")

			_, err = e.s.RotateRefreshToken(e.ctx, "r2", newRefresh(e, "r2b", "f2", day), 0)
			must(t, err, "RotateRefreshToken in another family")
			for _, d := range []string{"a2", "a3"} {
				if _, err := e.s.GetAccessToken(e.ctx, d); err != nil {
					t.Errorf("GetAccessToken %s, not from the revoked family: %v", d, err)
				}
			}
		},
	})
}

func testAccessTokens(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"CreateGet": func(t *testing.T, e *env) {
			family(t, e, "f1")
			for _, at := range []latch.AccessToken{newAccess(e, "a1", "f1", time.Hour), newAccess(e, "a2", "", time.Hour)} {
				must(t, e.s.CreateAccessToken(e.ctx, at), "CreateAccessToken")
				got, err := e.s.GetAccessToken(e.ctx, at.Digest)
				must(t, err, "GetAccessToken")
				same(t, "GetAccessToken", got, at)
			}
		},
		"CreateConflict": func(t *testing.T, e *env) {
			at := newAccess(e, "a1", "", time.Hour)
			must(t, e.s.CreateAccessToken(e.ctx, at), "CreateAccessToken")
			again := newAccess(e, "a1", "", time.Minute)
			again.Subject = "someone-else"
			wantCode(t, e.s.CreateAccessToken(e.ctx, again), latch.ECONFLICT, "CreateAccessToken of an existing digest")
			got, err := e.s.GetAccessToken(e.ctx, "a1")
			must(t, err, "GetAccessToken")
			same(t, "token after a refused create", got, at)
		},
		"GetMissing": func(t *testing.T, e *env) {
			_, err := e.s.GetAccessToken(e.ctx, "missing")
			wantCode(t, err, latch.ENOTFOUND, "GetAccessToken of a missing digest")
		},
		"Expiry": func(t *testing.T, e *env) {
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a1", "", time.Hour)), "CreateAccessToken")
			e.clock.Advance(time.Hour - time.Second)
			_, err := e.s.GetAccessToken(e.ctx, "a1")
			must(t, err, "GetAccessToken before expiry")
			e.clock.Advance(time.Second)
			_, err = e.s.GetAccessToken(e.ctx, "a1")
			wantCode(t, err, latch.ENOTFOUND, "GetAccessToken at its expiry")
		},
		"Revoke": func(t *testing.T, e *env) {
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a1", "", time.Hour)), "CreateAccessToken a1")
			must(t, e.s.CreateAccessToken(e.ctx, newAccess(e, "a2", "", time.Hour)), "CreateAccessToken a2")
			must(t, e.s.RevokeAccessToken(e.ctx, "a1"), "RevokeAccessToken")
			_, err := e.s.GetAccessToken(e.ctx, "a1")
			wantCode(t, err, latch.ENOTFOUND, "GetAccessToken after RevokeAccessToken")
			must(t, e.s.RevokeAccessToken(e.ctx, "a1"), "RevokeAccessToken again")
			must(t, e.s.RevokeAccessToken(e.ctx, "missing"), "RevokeAccessToken of a missing digest")
			if _, err := e.s.GetAccessToken(e.ctx, "a2"); err != nil {
				t.Fatalf("GetAccessToken of another token after a revocation: %v", err)
			}
		},
	})
}

func testJTI(t *testing.T, open Opener) {
	revoked := func(t *testing.T, e *env, jti string, want bool) {
		t.Helper()
		got, err := e.s.JTIRevoked(e.ctx, jti)
		must(t, err, "JTIRevoked "+jti)
		if got != want {
			t.Fatalf("JTIRevoked(%s) = %v at %v, want %v", jti, got, e.now(), want)
		}
	}
	rev := func(e *env, jti string, ttl time.Duration) latch.Revocation {
		return latch.Revocation{JTI: jti, Org: "acme", ExpiresAt: e.now().Add(ttl)}
	}
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"Revoked": func(t *testing.T, e *env) {
			revoked(t, e, "j1", false)
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", time.Hour)), "RevokeJTI")
			revoked(t, e, "j1", true)
			revoked(t, e, "j2", false)
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", time.Hour)), "RevokeJTI again")
			revoked(t, e, "j1", true)
		},
		"Expiry": func(t *testing.T, e *env) {
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", 10*time.Second)), "RevokeJTI")
			e.clock.Advance(9 * time.Second)
			revoked(t, e, "j1", true)
			e.clock.Advance(time.Second)
			revoked(t, e, "j1", false)
		},
		"Extend": func(t *testing.T, e *env) {
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", 10*time.Second)), "RevokeJTI")
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", 20*time.Second)), "RevokeJTI with a later expiry")
			e.clock.Advance(15 * time.Second)
			revoked(t, e, "j1", true)
			e.clock.Advance(5 * time.Second)
			revoked(t, e, "j1", false)
		},
		"AfterExpiry": func(t *testing.T, e *env) {
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", time.Second)), "RevokeJTI")
			e.clock.Advance(time.Minute)
			must(t, e.s.RevokeJTI(e.ctx, rev(e, "j1", time.Hour)), "RevokeJTI after the first expired")
			revoked(t, e, "j1", true)
		},
	})
}

func testAuthCodes(t *testing.T, open Opener) {
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"ConsumeOnce": func(t *testing.T, e *env) {
			c := newCode(e, "c1", time.Minute)
			must(t, e.s.CreateAuthCode(e.ctx, c), "CreateAuthCode")
			e.clock.Advance(5 * time.Second)
			at := e.now()
			got, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			must(t, err, "ConsumeAuthCode")
			if !got.ConsumedAt.Equal(at) {
				t.Errorf("ConsumedAt = %v, want %v", got.ConsumedAt, at)
			}
			want := c
			want.ConsumedAt = got.ConsumedAt
			same(t, "ConsumeAuthCode result", got, want)

			e.clock.Advance(time.Second)
			again, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			wantCode(t, err, latch.ECONFLICT, "second ConsumeAuthCode")
			same(t, "second ConsumeAuthCode returns the code as stored", again, want)
		},
		"SetFamily": func(t *testing.T, e *env) {
			must(t, e.s.CreateAuthCode(e.ctx, newCode(e, "c1", time.Minute)), "CreateAuthCode")
			_, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			must(t, err, "ConsumeAuthCode")
			must(t, e.s.SetAuthCodeFamily(e.ctx, "c1", "f1"), "SetAuthCodeFamily")
			got, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			wantCode(t, err, latch.ECONFLICT, "ConsumeAuthCode after SetAuthCodeFamily")
			if got.FamilyID != "f1" {
				t.Fatalf("a replayed code names family %q, want f1 (so the caller can revoke it)", got.FamilyID)
			}
		},
		"CreateConflict": func(t *testing.T, e *env) {
			c := newCode(e, "c1", time.Minute)
			must(t, e.s.CreateAuthCode(e.ctx, c), "CreateAuthCode")
			again := newCode(e, "c1", time.Hour)
			again.RedirectURI = "https://evil.example.com/cb"
			wantCode(t, e.s.CreateAuthCode(e.ctx, again), latch.ECONFLICT, "CreateAuthCode of an existing digest")
			got, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			must(t, err, "ConsumeAuthCode")
			if got.RedirectURI != c.RedirectURI || !got.ExpiresAt.Equal(c.ExpiresAt) {
				t.Fatalf("code after a refused create = %+v, want the first", got)
			}
		},
		"Missing": func(t *testing.T, e *env) {
			_, err := e.s.ConsumeAuthCode(e.ctx, "missing")
			wantCode(t, err, latch.ENOTFOUND, "ConsumeAuthCode of a missing digest")
			wantCode(t, e.s.SetAuthCodeFamily(e.ctx, "missing", "f1"), latch.ENOTFOUND, "SetAuthCodeFamily of a missing digest")
		},
		"Expiry": func(t *testing.T, e *env) {
			must(t, e.s.CreateAuthCode(e.ctx, newCode(e, "fresh", time.Minute)), "CreateAuthCode fresh")
			must(t, e.s.CreateAuthCode(e.ctx, newCode(e, "used", time.Minute)), "CreateAuthCode used")
			_, err := e.s.ConsumeAuthCode(e.ctx, "used")
			must(t, err, "ConsumeAuthCode")
			e.clock.Advance(time.Minute)
			_, err = e.s.ConsumeAuthCode(e.ctx, "fresh")
			wantCode(t, err, latch.ENOTFOUND, "ConsumeAuthCode at its expiry")
			_, err = e.s.ConsumeAuthCode(e.ctx, "used")
			wantCode(t, err, latch.ENOTFOUND, "ConsumeAuthCode of a consumed code at its expiry")
			wantCode(t, e.s.SetAuthCodeFamily(e.ctx, "used", "f1"), latch.ENOTFOUND, "SetAuthCodeFamily at its expiry")
		},
		"BeforeExpiry": func(t *testing.T, e *env) {
			must(t, e.s.CreateAuthCode(e.ctx, newCode(e, "c1", time.Minute)), "CreateAuthCode")
			e.clock.Advance(time.Minute - time.Second)
			_, err := e.s.ConsumeAuthCode(e.ctx, "c1")
			must(t, err, "ConsumeAuthCode a second before expiry")
		},
	})
}

func testSigningKeys(t *testing.T, open Opener) {
	list := func(t *testing.T, e *env) []latch.SigningKey {
		t.Helper()
		keys, err := e.s.ListSigningKeys(e.ctx)
		must(t, err, "ListSigningKeys")
		return keys
	}
	// twoKeys stores k2 (current) and k1 (previous), in that order.
	twoKeys := func(t *testing.T, e *env) []latch.SigningKey {
		t.Helper()
		k2 := newKey(e, "k2", latch.KeyCurrent)
		k1 := newKey(e, "k1", latch.KeyPrevious)
		k1.RetiredAt, k1.ExpiresAt = e.now(), e.now().Add(day)
		must(t, e.s.CreateSigningKey(e.ctx, k2), "CreateSigningKey k2")
		must(t, e.s.CreateSigningKey(e.ctx, k1), "CreateSigningKey k1")
		return []latch.SigningKey{k1, k2}
	}
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"CreateList": func(t *testing.T, e *env) {
			if keys := list(t, e); len(keys) != 0 {
				t.Fatalf("ListSigningKeys of an empty store has %d keys", len(keys))
			}
			want := twoKeys(t, e)
			same(t, "ListSigningKeys (sorted by kid)", list(t, e), want)
		},
		"CreateConflict": func(t *testing.T, e *env) {
			want := twoKeys(t, e)
			again := newKey(e, "k1", latch.KeyCurrent)
			wantCode(t, e.s.CreateSigningKey(e.ctx, again), latch.ECONFLICT, "CreateSigningKey of an existing kid")
			same(t, "keys after a refused create", list(t, e), want)
		},
		"ReplaceFromEmpty": func(t *testing.T, e *env) {
			next := []latch.SigningKey{newKey(e, "k1", latch.KeyCurrent)}
			must(t, e.s.ReplaceSigningKeys(e.ctx, nil, next), "ReplaceSigningKeys of an empty set")
			same(t, "keys after replace", list(t, e), next)
		},
		"Replace": func(t *testing.T, e *env) {
			twoKeys(t, e)
			old := list(t, e)
			e.clock.Advance(time.Hour)
			k2 := old[1]
			k2.State, k2.RetiredAt, k2.ExpiresAt = latch.KeyPrevious, e.now(), e.now().Add(day)
			next := []latch.SigningKey{k2, newKey(e, "k3", latch.KeyCurrent)} // k1 leaves
			must(t, e.s.ReplaceSigningKeys(e.ctx, old, next), "ReplaceSigningKeys")
			same(t, "keys after replace", list(t, e), next)
		},
		"ReplaceIgnoresOrder": func(t *testing.T, e *env) {
			twoKeys(t, e)
			old := list(t, e)
			reversed := []latch.SigningKey{old[1], old[0]}
			next := []latch.SigningKey{newKey(e, "k9", latch.KeyCurrent)}
			must(t, e.s.ReplaceSigningKeys(e.ctx, reversed, next), "ReplaceSigningKeys with old in another order")
			same(t, "keys after replace", list(t, e), next)
		},
		"ReplaceStale": func(t *testing.T, e *env) {
			want := twoKeys(t, e)
			next := []latch.SigningKey{newKey(e, "k9", latch.KeyCurrent)}
			k1, k2 := want[0], want[1]
			k2prev := k2
			k2prev.State = latch.KeyPrevious
			for name, old := range map[string][]latch.SigningKey{
				"nothing":        nil,
				"a key missing":  {k2},
				"an extra key":   {k1, k2, newKey(e, "k3", latch.KeyPrevious)},
				"another state":  {k1, k2prev},
				"another kid":    {k1, newKey(e, "k3", latch.KeyCurrent)},
				"a repeated key": {k2, k2},
			} {
				wantCode(t, e.s.ReplaceSigningKeys(e.ctx, old, next), latch.ECONFLICT, "ReplaceSigningKeys with "+name+" read")
				same(t, "keys after a refused replace ("+name+")", list(t, e), want)
			}
		},
		"SecondReplaceLoses": func(t *testing.T, e *env) {
			twoKeys(t, e)
			old := list(t, e)
			first := []latch.SigningKey{newKey(e, "k3", latch.KeyCurrent)}
			second := []latch.SigningKey{newKey(e, "k4", latch.KeyCurrent)}
			must(t, e.s.ReplaceSigningKeys(e.ctx, old, first), "first ReplaceSigningKeys")
			wantCode(t, e.s.ReplaceSigningKeys(e.ctx, old, second), latch.ECONFLICT, "second ReplaceSigningKeys from the same read")
			same(t, "keys after two rotations from one read", list(t, e), first)
		},
	})
}

func testListFamilies(t *testing.T, open Opener) {
	// create stores a family of subject in org that lives for ttl.
	create := func(t *testing.T, e *env, org, subject, id string, ttl time.Duration) latch.Family {
		t.Helper()
		f := newFamily(e, id, ttl)
		f.Org, f.Subject = org, subject
		must(t, e.s.CreateFamily(e.ctx, f), "CreateFamily "+id)
		return f
	}
	list := func(t *testing.T, e *env, org, subject string) []latch.Family {
		t.Helper()
		got, err := e.s.ListFamilies(e.ctx, org, subject)
		must(t, err, "ListFamilies "+org+"/"+subject)
		return got
	}
	subtests(t, open, map[string]func(t *testing.T, e *env){
		"OnlyTheSubjectsInTheOrg": func(t *testing.T, e *env) {
			mine := create(t, e, "acme", "u1", "f1", month)
			otherOrg := create(t, e, "other", "u1", "f2", month)
			otherSubject := create(t, e, "acme", "u2", "f3", month)
			// An org and subject that, joined without a separator, spell acme and u1.
			joined := create(t, e, "acmeu", "1", "f4", month)
			same(t, "ListFamilies(acme, u1)", list(t, e, "acme", "u1"), []latch.Family{mine})
			same(t, "ListFamilies(other, u1)", list(t, e, "other", "u1"), []latch.Family{otherOrg})
			same(t, "ListFamilies(acme, u2)", list(t, e, "acme", "u2"), []latch.Family{otherSubject})
			same(t, "ListFamilies(acmeu, 1)", list(t, e, "acmeu", "1"), []latch.Family{joined})
		},
		"SortedByID": func(t *testing.T, e *env) {
			var want []latch.Family
			for _, id := range []string{"f3", "f1", "f5", "f2", "f4"} {
				want = append(want, create(t, e, "acme", "u1", id, month))
			}
			slices.SortFunc(want, func(a, b latch.Family) int { return strings.Compare(a.ID, b.ID) })
			same(t, "ListFamilies, sorted by id", list(t, e, "acme", "u1"), want)
		},
		"IncludesRevoked": func(t *testing.T, e *env) {
			live := create(t, e, "acme", "u1", "f1", month)
			revoked := create(t, e, "acme", "u1", "f2", month)
			e.clock.Advance(time.Minute)
			must(t, e.s.RevokeFamily(e.ctx, "f2"), "RevokeFamily")
			revoked.RevokedAt = e.now()
			got := list(t, e, "acme", "u1")
			same(t, "ListFamilies with a revoked family", got, []latch.Family{live, revoked})
			if len(got) == 2 && !got[1].Revoked() {
				t.Error("the revoked family is listed live")
			}
		},
		"ExcludesExpired": func(t *testing.T, e *env) {
			short := create(t, e, "acme", "u1", "f1", 10*time.Second)
			long := create(t, e, "acme", "u1", "f2", month)
			e.clock.Advance(9 * time.Second)
			same(t, "ListFamilies before an expiry", list(t, e, "acme", "u1"), []latch.Family{short, long})
			e.clock.Advance(time.Second) // now == f1's ExpiresAt
			same(t, "ListFamilies at an expiry", list(t, e, "acme", "u1"), []latch.Family{long})
		},
		"KindAndSessionID": func(t *testing.T, e *env) {
			var want []latch.Family
			for _, f := range []latch.Family{
				{ID: "f1", Kind: latch.FamilyLogin},
				{ID: "f2", Kind: latch.FamilyCode, SessionID: "f1"},
				{ID: "f3", Kind: latch.FamilyPassword},
				{ID: "f4"}, // written before Kind existed
			} {
				full := newFamily(e, f.ID, month)
				full.Kind, full.SessionID = f.Kind, f.SessionID
				must(t, e.s.CreateFamily(e.ctx, full), "CreateFamily "+f.ID)
				got, err := e.s.GetFamily(e.ctx, f.ID)
				must(t, err, "GetFamily "+f.ID)
				same(t, "GetFamily "+f.ID, got, full)
				want = append(want, full)
			}
			same(t, "ListFamilies", list(t, e, "acme", "u1"), want)
		},
		"EmptyForUnknown": func(t *testing.T, e *env) {
			if got := list(t, e, "acme", "u1"); len(got) != 0 {
				t.Errorf("ListFamilies of an empty store = %+v", got)
			}
			create(t, e, "acme", "u1", "f1", month)
			for _, k := range [][2]string{{"acme", "nobody"}, {"ghost", "u1"}, {"acme", "u"}, {"acm", "u1"}} {
				if got := list(t, e, k[0], k[1]); len(got) != 0 {
					t.Errorf("ListFamilies(%s, %s) = %+v, want none", k[0], k[1], got)
				}
			}
		},
		"ReusedExpiredID": func(t *testing.T, e *env) {
			create(t, e, "acme", "u1", "f1", 10*time.Second)
			e.clock.Advance(10 * time.Second)
			reused := create(t, e, "acme", "u2", "f1", month)
			if got := list(t, e, "acme", "u1"); len(got) != 0 {
				t.Errorf("ListFamilies of the expired family's subject = %+v, want none", got)
			}
			same(t, "ListFamilies of the new family's subject", list(t, e, "acme", "u2"), []latch.Family{reused})
		},
	})
}
