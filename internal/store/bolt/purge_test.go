package bolt

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.PurgeInterval == 0 {
		opts.PurgeInterval = -1
	}
	opts.NoSync = true
	s, err := Open(filepath.Join(t.TempDir(), "latch.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// counts returns the number of keys in each named bucket.
func counts(t *testing.T, s *Store, buckets ...[]byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			out[string(b)] = tx.Bucket(b).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var expiring = [][]byte{bFamilies, bFamilySubs, bRefresh, bAccess, bCodes, bRevocations, bExpiries}

func TestPurge(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Clock: clock})
	now := clock.Now()
	short, long := now.Add(10*time.Second), now.Add(time.Hour)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateFamily(ctx, latch.Family{ID: "f-short", ExpiresAt: short}))
	must(s.CreateFamily(ctx, latch.Family{ID: "f-long", ExpiresAt: long}))
	must(s.RevokeFamily(ctx, "f-long")) // revoked families stay until they expire
	must(s.CreateFamily(ctx, latch.Family{ID: "f-live", ExpiresAt: long}))
	must(s.CreateRefreshToken(ctx, latch.RefreshToken{Digest: "r-short", FamilyID: "f-live", ExpiresAt: short}))
	must(s.CreateRefreshToken(ctx, latch.RefreshToken{Digest: "r-long", FamilyID: "f-live", ExpiresAt: long}))
	_, err := s.RotateRefreshToken(ctx, "r-long", latch.RefreshToken{Digest: "r-next", ExpiresAt: long}, 0)
	must(err)
	must(s.CreateAccessToken(ctx, latch.AccessToken{Digest: "a-short", ExpiresAt: short}))
	must(s.CreateAccessToken(ctx, latch.AccessToken{Digest: "a-long", ExpiresAt: long}))
	must(s.CreateAccessToken(ctx, latch.AccessToken{Digest: "a-revoked", ExpiresAt: long}))
	must(s.RevokeAccessToken(ctx, "a-revoked"))
	must(s.CreateAuthCode(ctx, latch.AuthCode{Digest: "c-short", ExpiresAt: short}))
	must(s.CreateAuthCode(ctx, latch.AuthCode{Digest: "c-long", ExpiresAt: long}))
	_, err = s.ConsumeAuthCode(ctx, "c-long")
	must(err)
	must(s.RevokeJTI(ctx, latch.Revocation{JTI: "j-short", ExpiresAt: short}))
	must(s.RevokeJTI(ctx, latch.Revocation{JTI: "j-extended", ExpiresAt: short}))
	must(s.RevokeJTI(ctx, latch.Revocation{JTI: "j-extended", ExpiresAt: long}))

	want := map[string]int{"families": 3, "family_subjects": 3, "refresh_tokens": 3, "access_tokens": 2, "auth_codes": 2, "revocations": 2, "expiries": 12}
	if got := counts(t, s, expiring...); !equalCounts(got, want) {
		t.Fatalf("before purge: %v, want %v", got, want)
	}

	n, err := s.Purge(ctx)
	must(err)
	if n != 0 {
		t.Errorf("Purge before anything expired deleted %d", n)
	}
	clock.Advance(10 * time.Second)
	n, err = s.Purge(ctx)
	must(err)
	if n != 5 {
		t.Errorf("Purge deleted %d items, want 5", n)
	}
	want = map[string]int{"families": 2, "family_subjects": 2, "refresh_tokens": 2, "access_tokens": 1, "auth_codes": 1, "revocations": 1, "expiries": 7}
	if got := counts(t, s, expiring...); !equalCounts(got, want) {
		t.Fatalf("after the first purge: %v, want %v", got, want)
	}
	if ok, err := s.JTIRevoked(ctx, "j-extended"); err != nil || !ok {
		t.Errorf("an extended revocation was purged at its first expiry: %v, %v", ok, err)
	}
	if f, err := s.GetFamily(ctx, "f-long"); err != nil || !f.Revoked() {
		t.Errorf("a revoked, unexpired family was purged: %+v, %v", f, err)
	}

	clock.Advance(time.Hour)
	n, err = s.Purge(ctx)
	must(err)
	if n != 7 {
		t.Errorf("second Purge deleted %d items, want 7", n)
	}
	for name, c := range counts(t, s, expiring...) {
		if c != 0 {
			t.Errorf("bucket %s has %d keys after everything expired", name, c)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPurgeBatches(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Clock: clock})
	const n = 2*purgeBatch + 17
	for i := range n {
		tok := latch.AccessToken{Digest: "a" + strconv.Itoa(i), ExpiresAt: clock.Now().Add(time.Duration(i%7+1) * time.Second)}
		if err := s.CreateAccessToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	got, err := s.Purge(ctx)
	if err != nil || got != n {
		t.Fatalf("Purge = %d, %v; want %d", got, err, n)
	}
	if c := counts(t, s, bAccess, bExpiries); c["access_tokens"] != 0 || c["expiries"] != 0 {
		t.Fatalf("after Purge: %v", c)
	}
}

func TestPurgeInBackground(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Clock: clock, PurgeInterval: 5 * time.Millisecond})
	if err := s.CreateAccessToken(ctx, latch.AccessToken{Digest: "a1", ExpiresAt: clock.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for counts(t, s, bAccess)["access_tokens"] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the background purge did not delete an expired token")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCorruptRecord(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bOrgs).Put([]byte("acme"), []byte("{not json")) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetOrg(ctx, "acme")
	if latch.ErrorCode(err) != latch.EINTERNAL {
		t.Fatalf("GetOrg of a corrupt record: %v, want EINTERNAL", err)
	}
	if msg := latch.ErrorMessage(err); msg != "internal error" {
		t.Errorf("client-facing message = %q, want the generic one", msg)
	}
	if _, err := s.UpdateOrg(ctx, "acme", func(*latch.Org) error { return nil }); latch.ErrorCode(err) != latch.EINTERNAL {
		t.Errorf("UpdateOrg of a corrupt record: %v, want EINTERNAL", err)
	}
	if _, err := s.ListOrgs(ctx); latch.ErrorCode(err) != latch.EINTERNAL {
		t.Errorf("ListOrgs with a corrupt record: %v, want EINTERNAL", err)
	}
}

func TestSetAuthCodeFamily(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Clock: clock})
	if err := s.CreateAuthCode(ctx, latch.AuthCode{Digest: "c1", ExpiresAt: clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAuthCodeFamily(ctx, "c1", "f1"); latch.ErrorCode(err) != latch.ECONFLICT {
		t.Errorf("SetAuthCodeFamily of an unconsumed code: %v, want ECONFLICT", err)
	}
	if _, err := s.ConsumeAuthCode(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAuthCodeFamily(ctx, "c1", "f1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAuthCodeFamily(ctx, "c1", "f1"); err != nil {
		t.Errorf("SetAuthCodeFamily again with the same family: %v", err)
	}
	if err := s.SetAuthCodeFamily(ctx, "c1", "f2"); latch.ErrorCode(err) != latch.ECONFLICT {
		t.Errorf("SetAuthCodeFamily with another family: %v, want ECONFLICT", err)
	}
	if c, _ := s.ConsumeAuthCode(ctx, "c1"); c.FamilyID != "f1" {
		t.Errorf("FamilyID = %q, want f1", c.FamilyID)
	}
}

// TestFamilyIndexFollowsReuse: a family that replaces an expired one of the
// same id takes over its family_subjects entry, which Purge could not find
// any more (it finds entries through the family they name).
func TestFamilyIndexFollowsReuse(t *testing.T) {
	ctx := t.Context()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Clock: clock})
	if err := s.CreateFamily(ctx, latch.Family{ID: "f1", Org: "acme", Subject: "u1", ExpiresAt: clock.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := s.CreateFamily(ctx, latch.Family{ID: "f1", Org: "acme", Subject: "u2", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s, bFamilySubs)["family_subjects"]; c != 1 {
		t.Fatalf("family_subjects has %d entries after the id was reused, want 1", c)
	}
	clock.Advance(time.Hour)
	if _, err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s, bFamilies, bFamilySubs); c["families"] != 0 || c["family_subjects"] != 0 {
		t.Fatalf("after everything expired and was purged: %v", c)
	}
}
