package bolt_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/store/bolt"
	"latch.dev/latch/internal/store/storetest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func open(t testing.TB, path string, clock latch.Clock) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{Clock: clock, PurgeInterval: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock latch.Clock) latch.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{Clock: clock, PurgeInterval: -1, NoSync: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestReopen: everything written is there after the file is closed and
// opened again, secrets and token states included.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latch.db")
	clock := clocktest.New(t0)
	now := clock.Now()
	s := open(t, path, clock)

	org := latch.Org{ID: "acme", Name: "Acme", DefaultRoles: []string{"member"}, CreatedAt: now, UpdatedAt: now}
	user := latch.User{Org: "acme", ID: "u1", Username: "ann", Email: "ann@example.com",
		PasswordHash: "$argon2id$hash", Roles: []string{"member"}, CreatedAt: now, UpdatedAt: now}
	role := latch.Role{Org: "acme", ID: "member", Allow: []string{"records:read:/"}, CreatedAt: now, UpdatedAt: now}
	client := latch.Client{ID: "web", Org: "acme", SecretHash: "hmac:secret", Grants: []string{latch.GrantRefreshToken},
		AccessTokenFormat: latch.TokenFormatOpaque, CreatedAt: now, UpdatedAt: now}
	aud := latch.Audience{ID: "records", Scopes: map[string][]string{"read": {"records:read:/"}}, CreatedAt: now, UpdatedAt: now}
	fam := latch.Family{ID: "f1", Org: "acme", ClientID: "web", Subject: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	rt := latch.RefreshToken{Digest: "r1", FamilyID: "f1", Org: "acme", ClientID: "web", Subject: "u1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyEndAt: now.Add(time.Hour)}
	next := rt
	next.Digest = "r2"
	at := latch.AccessToken{Digest: "a1", JTI: "j-a1", Org: "acme", ClientID: "web", Subject: "u1",
		SubjectKind: latch.SubjectUser, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	code := latch.AuthCode{Digest: "c1", Org: "acme", ClientID: "web", Subject: "u1", AuthTime: now, ExpiresAt: now.Add(time.Minute)}
	key := latch.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte{1, 2, 3}, State: latch.KeyCurrent, CreatedAt: now}

	for what, err := range map[string]error{
		"CreateOrg": s.CreateOrg(ctx, org), "CreateRole": s.CreateRole(ctx, role),
		"CreateClient": s.CreateClient(ctx, client), "CreateAudience": s.CreateAudience(ctx, aud),
		"CreateFamily": s.CreateFamily(ctx, fam), "CreateAccessToken": s.CreateAccessToken(ctx, at),
		"CreateAuthCode": s.CreateAuthCode(ctx, code), "CreateSigningKey": s.CreateSigningKey(ctx, key),
		"RevokeJTI": s.RevokeJTI(ctx, latch.Revocation{JTI: "j1", Org: "acme", ExpiresAt: now.Add(time.Hour)}),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := s.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefreshToken(ctx, "r1", next, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeAuthCode(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, path, clock)
	defer s.Close()
	if got, err := s.GetOrg(ctx, "acme"); err != nil || got.Name != "Acme" || got.Version != 1 {
		t.Errorf("GetOrg after reopen = %+v, %v", got, err)
	}
	if got, err := s.FindUser(ctx, "acme", "ann@example.com"); err != nil || got.ID != "u1" || got.PasswordHash != user.PasswordHash {
		t.Errorf("FindUser after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetRole(ctx, "acme", "member"); err != nil || len(got.Allow) != 1 {
		t.Errorf("GetRole after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetClient(ctx, "web"); err != nil || got.SecretHash != client.SecretHash {
		t.Errorf("GetClient after reopen = %+v, %v", got, err)
	}
	if got, err := s.ListClients(ctx, "acme"); err != nil || len(got) != 1 {
		t.Errorf("ListClients after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetAudience(ctx, "records"); err != nil || len(got.Scopes["read"]) != 1 {
		t.Errorf("GetAudience after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetRefreshToken(ctx, "r1"); err != nil || !got.Rotated() || got.ReplacedBy != "r2" {
		t.Errorf("GetRefreshToken r1 after reopen = %+v, %v", got, err)
	}
	if _, err := s.GetRefreshToken(ctx, "r2"); err != nil {
		t.Errorf("GetRefreshToken r2 after reopen: %v", err)
	}
	if _, err := s.GetAccessToken(ctx, "a1"); err != nil {
		t.Errorf("GetAccessToken after reopen: %v", err)
	}
	if ok, err := s.JTIRevoked(ctx, "j1"); err != nil || !ok {
		t.Errorf("JTIRevoked after reopen = %v, %v", ok, err)
	}
	if _, err := s.ConsumeAuthCode(ctx, "c1"); latch.ErrorCode(err) != latch.ECONFLICT {
		t.Errorf("ConsumeAuthCode of a code consumed before reopen: %v, want ECONFLICT", err)
	}
	if keys, err := s.ListSigningKeys(ctx); err != nil || len(keys) != 1 || string(keys[0].PrivateKey) != "\x01\x02\x03" {
		t.Errorf("ListSigningKeys after reopen = %+v, %v", keys, err)
	}
	// Claims survive too: the username is still taken.
	dup := user
	dup.ID = "u2"
	if err := s.CreateUser(ctx, dup); latch.ErrorCode(err) != latch.ECONFLICT {
		t.Errorf("CreateUser with a username claimed before reopen: %v, want ECONFLICT", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s := open(t, path, nil)
	defer s.Close()
	start := time.Now()
	_, err := bolt.Open(path, bolt.Options{Timeout: 100 * time.Millisecond})
	if latch.ErrorCode(err) != latch.EUNAVAILABLE || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Open of a held file: %v, want EUNAVAILABLE saying it is locked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open of a held file took %v with a 100ms timeout", d)
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "latch.db"), nil)
	ch := s.Watch(ctx)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := <-ch; ok {
		t.Error("Watch channel open after Close")
	}
	if _, ok := <-s.Watch(ctx); ok {
		t.Error("Watch after Close returned an open channel")
	}
	if err := s.Ping(ctx); latch.ErrorCode(err) != latch.EUNAVAILABLE {
		t.Errorf("Ping after Close: %v, want EUNAVAILABLE", err)
	}
	if _, err := s.GetOrg(ctx, "acme"); latch.ErrorCode(err) != latch.EUNAVAILABLE {
		t.Errorf("GetOrg after Close: %v, want EUNAVAILABLE", err)
	}
	if err := s.CreateOrg(ctx, latch.Org{ID: "acme"}); latch.ErrorCode(err) != latch.EUNAVAILABLE {
		t.Errorf("CreateOrg after Close: %v, want EUNAVAILABLE", err)
	}
	if msg := latch.ErrorMessage(s.Ping(ctx)); msg != "service unavailable" {
		t.Errorf("client-facing message after Close = %q, want the generic one", msg)
	}
}

func TestCancelledContext(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "latch.db"), nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.CreateOrg(ctx, latch.Org{ID: "acme"}); latch.ErrorCode(err) != latch.EUNAVAILABLE {
		t.Errorf("CreateOrg with a cancelled context: %v, want EUNAVAILABLE", err)
	}
	if _, err := s.GetOrg(t.Context(), "acme"); latch.ErrorCode(err) != latch.ENOTFOUND {
		t.Errorf("GetOrg after a cancelled create: %v, want ENOTFOUND", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "latch.db"), nil)
	defer s.Close()
	for what, err := range map[string]error{
		"org with NUL":     s.CreateOrg(ctx, latch.Org{ID: "a\x00b"}),
		"empty org":        s.CreateOrg(ctx, latch.Org{}),
		"user in bad org":  s.CreateUser(ctx, latch.User{Org: "a\x00b", ID: "u1", Username: "x"}),
		"user with slash":  s.CreateUser(ctx, latch.User{Org: "acme", ID: "a/b", Username: "x"}),
		"client in no org": s.CreateClient(ctx, latch.Client{ID: "web"}),
		"empty digest":     s.CreateAccessToken(ctx, latch.AccessToken{}),
		"empty jti":        s.RevokeJTI(ctx, latch.Revocation{}),
		"empty kid":        s.CreateSigningKey(ctx, latch.SigningKey{}),
	} {
		if latch.ErrorCode(err) != latch.EINVALID {
			t.Errorf("%s: %v, want EINVALID", what, err)
		}
	}
	if _, err := s.GetUser(ctx, "a\x00b", "u1"); latch.ErrorCode(err) != latch.ENOTFOUND {
		t.Errorf("GetUser in an invalid org: %v, want ENOTFOUND", err)
	}
	// Empty keys are absent, never a bbolt error.
	for what, err := range map[string]error{
		"GetOrg":          second(s.GetOrg(ctx, "")),
		"GetClient":       second(s.GetClient(ctx, "")),
		"GetUser":         second(s.GetUser(ctx, "acme", "")),
		"FindUser":        second(s.FindUser(ctx, "acme", "")),
		"GetRefreshToken": second(s.GetRefreshToken(ctx, "")),
		"GetAccessToken":  second(s.GetAccessToken(ctx, "")),
		"ConsumeAuthCode": second(s.ConsumeAuthCode(ctx, "")),
		"RevokeFamily":    s.RevokeFamily(ctx, ""),
		"DeleteOrg":       s.DeleteOrg(ctx, ""),
	} {
		if latch.ErrorCode(err) != latch.ENOTFOUND {
			t.Errorf("%s of an empty key: %v, want ENOTFOUND", what, err)
		}
	}
	if err := s.RevokeAccessToken(ctx, ""); err != nil {
		t.Errorf("RevokeAccessToken of an empty digest: %v", err)
	}
	if ok, err := s.JTIRevoked(ctx, ""); ok || err != nil {
		t.Errorf("JTIRevoked of an empty jti = %v, %v", ok, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestUpdatesAllSucceed: the embedded store's retry bound is far above the
// number of writers one item sees, so no update gives up.
func TestUpdatesAllSucceed(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "latch.db"), nil)
	defer s.Close()
	if err := s.CreateOrg(ctx, latch.Org{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(ctx, latch.Role{Org: "acme", ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateRole(ctx, "acme", "r1", func(r *latch.Role) error {
				r.Allow = append(r.Allow, "x:y:/"+strconv.Itoa(i))
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateRole: %v", err)
		}
	}
	r, err := s.GetRole(ctx, "acme", "r1")
	if err != nil || len(r.Allow) != n || r.Version != n+1 {
		t.Fatalf("after %d updates: %d statements, version %d, %v", n, len(r.Allow), r.Version, err)
	}
}

// TestUpdateFnMayReadStore: fn runs outside the write transaction, so it can
// read (or even write) the store without deadlocking.
func TestUpdateFnMayReadStore(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "latch.db"), nil)
	defer s.Close()
	for _, id := range []string{"acme", "other"} {
		if err := s.CreateOrg(ctx, latch.Org{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateOrg(ctx, "acme", func(o *latch.Org) error {
			other, err := s.GetOrg(ctx, "other")
			if err != nil {
				return err
			}
			o.Name = "next to " + other.ID
			return s.CreateRole(ctx, latch.Role{Org: "acme", ID: "made-in-fn"})
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("UpdateOrg whose fn uses the store did not return: deadlock")
	}
}

func BenchmarkGetClient(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "latch.db"), nil)
	defer s.Close()
	for i := range 1000 {
		c := latch.Client{ID: "client-" + strconv.Itoa(i), Org: "acme", SecretHash: "hmac:x",
			Grants: []string{latch.GrantClientCredentials}, Scopes: []string{"records/read"}}
		if err := s.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetClient(ctx, "client-"+strconv.Itoa(i%1000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkCreateAccessToken(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run("NoSync="+strconv.FormatBool(noSync), func(b *testing.B) {
			ctx := b.Context()
			s, err := bolt.Open(filepath.Join(b.TempDir(), "latch.db"), bolt.Options{PurgeInterval: -1, NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t := latch.AccessToken{Digest: "digest-" + strconv.Itoa(i), JTI: "jti", Org: "acme", ClientID: "web",
					Subject: "web", SubjectKind: latch.SubjectClient, Scopes: []string{"records/read"},
					IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := s.CreateAccessToken(ctx, t); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkJTIRevoked(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "latch.db"), nil)
	defer s.Close()
	if err := s.RevokeJTI(ctx, latch.Revocation{JTI: "j1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.JTIRevoked(ctx, "j2"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
