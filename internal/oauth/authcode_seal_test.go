//go:build !latch.lambda

package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
)

// fakeKeys is the ListSigningKeys part of a store, counting its calls.
type fakeKeys struct {
	mu    sync.Mutex
	keys  []latch.SigningKey
	calls int
	err   error
}

func (f *fakeKeys) ListSigningKeys(context.Context) ([]latch.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]latch.SigningKey(nil), f.keys...), f.err
}

func (f *fakeKeys) set(keys ...latch.SigningKey) {
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
}

func testSealer(t *testing.T) (*sealer, *fakeKeys, *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	src := &fakeKeys{keys: []latch.SigningKey{{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("private key one, any bytes do"), State: latch.KeyCurrent, CreatedAt: clock.Now()}}}
	return &sealer{src: src, clock: clock, log: slog.New(slog.DiscardHandler)}, src, clock
}

type sealedThing struct {
	A string `json:"a"`
}

func TestSealRoundTripAndRefusals(t *testing.T) {
	ctx := context.Background()
	s, _, clock := testSealer(t)
	raw, err := s.seal(ctx, sealSession, sealedThing{A: "x"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got sealedThing
	if err := s.unseal(ctx, sealSession, raw, &got); err != nil || got.A != "x" {
		t.Fatalf("unseal = %+v, %v", got, err)
	}
	// Sealed for one purpose, never opened as another.
	if err := s.unseal(ctx, sealRequest, raw, &got); !errors.Is(err, errSealed) {
		t.Errorf("other purpose: %v", err)
	}
	kid, rest, _ := strings.Cut(raw, ".")
	body, mac, _ := strings.Cut(rest, ".")
	for name, bad := range map[string]string{
		"empty":        "",
		"no dots":      "abc",
		"unknown kid":  "k9." + rest,
		"body changed": kid + "." + body[:len(body)-2] + "AA." + mac,
		"mac changed":  kid + "." + body + "." + mac[:len(mac)-2] + "AA",
		"mac missing":  kid + "." + body + ".",
		"too large":    kid + "." + strings.Repeat("A", maxSealedSize) + "." + mac,
	} {
		if err := s.unseal(ctx, sealSession, bad, &got); !errors.Is(err, errSealed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	clock.Advance(time.Minute)
	if err := s.unseal(ctx, sealSession, raw, &got); !errors.Is(err, errSealExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestSealFollowsKeyRotation(t *testing.T) {
	ctx := context.Background()
	s, src, clock := testSealer(t)
	old, err := s.seal(ctx, sealSession, sealedThing{A: "old"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Another server rotates: k1 is previous for an hour, k2 seals.
	src.set(
		latch.SigningKey{ID: "k1", PrivateKey: []byte("private key one, any bytes do"), State: latch.KeyPrevious, ExpiresAt: clock.Now().Add(time.Hour)},
		latch.SigningKey{ID: "k2", PrivateKey: []byte("private key two"), State: latch.KeyCurrent, CreatedAt: clock.Now()},
	)
	clock.Advance(2 * time.Minute) // past sealKeysMaxAge: the next use re-reads
	fresh, err := s.seal(ctx, sealSession, sealedThing{A: "new"}, 24*time.Hour)
	if err != nil || !strings.HasPrefix(fresh, "k2.") {
		t.Fatalf("seal after rotation = %q, %v", fresh, err)
	}
	var got sealedThing
	if err := s.unseal(ctx, sealSession, old, &got); err != nil || got.A != "old" {
		t.Errorf("a value of the previous key within its overlap: %+v %v", got, err)
	}
	clock.Advance(time.Hour)
	if err := s.unseal(ctx, sealSession, old, &got); !errors.Is(err, errSealed) {
		t.Errorf("a value of an expired key: %v", err)
	}
	if err := s.unseal(ctx, sealSession, fresh, &got); err != nil || got.A != "new" {
		t.Errorf("a value of the current key: %+v %v", got, err)
	}
}

func TestSealUnknownKidReloadsAtMostEveryFewSeconds(t *testing.T) {
	ctx := context.Background()
	s, src, clock := testSealer(t)
	if _, err := s.seal(ctx, sealSession, sealedThing{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(sealKeysRetry)
	base := src.calls
	var got sealedThing
	for range 100 {
		_ = s.unseal(ctx, sealSession, "forged.e30.AAAA", &got)
	}
	if n := src.calls - base; n != 1 {
		t.Errorf("100 forged kids read the keys %d times, want 1", n)
	}
	// A failing store keeps the keys already read.
	src.err = latch.Errorf(latch.EUNAVAILABLE, "down")
	clock.Advance(2 * sealKeysMaxAge)
	if _, err := s.seal(ctx, sealSession, sealedThing{}, time.Minute); err != nil {
		t.Errorf("seal with the store down: %v", err)
	}
}

func TestPKCEVector(t *testing.T) {
	// RFC 7636 Appendix B.
	const verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !validVerifier(verifier) || !validChallenge(challenge) || !pkceMatches(verifier, challenge) {
		t.Fatal("the RFC 7636 example does not verify")
	}
	if pkceMatches(verifier+"x", challenge) || pkceMatches(verifier, "") || pkceMatches(challenge, challenge) {
		t.Error("a wrong verifier matches")
	}
}

func TestLoginCookiesFollowTheIssuerScheme(t *testing.T) {
	clock := clocktest.New(time.Now())
	for issuer, want := range map[string]string{
		"https://login.example": "__Host-latch_session=v; Path=/; Expires=",
		"http://127.0.0.1:8080": "latch_session=v; Path=/; Expires=",
	} {
		s := &Server{opts: Options{Issuer: issuer}, clock: clock}
		w := httptest.NewRecorder()
		s.setCookie(w, sessionCookie, "v", clock.Now().Add(time.Hour))
		got := w.Header().Get("Set-Cookie")
		secure := strings.HasPrefix(issuer, "https")
		if !strings.HasPrefix(got, want) || !strings.Contains(got, "HttpOnly") || !strings.Contains(got, "SameSite=Lax") ||
			strings.Contains(got, "Secure") != secure || strings.Contains(got, "Domain") {
			t.Errorf("%s: Set-Cookie %q", issuer, got)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: want[:strings.Index(want, "=")], Value: "v"})
		if s.cookie(r, sessionCookie) != "v" {
			t.Errorf("%s: cookie not read back", issuer)
		}
	}
}
