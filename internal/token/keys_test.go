package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memKeys is an in-memory KeyStore with the store contract's semantics:
// create-if-absent by kid, lists sorted by kid, compare-and-swap on kids and
// states.
type memKeys struct {
	mu            sync.Mutex
	keys          []latch.SigningKey
	creates       int
	replaces      int
	beforeReplace func() // called, unlocked, before each ReplaceSigningKeys
}

func (m *memKeys) CreateSigningKey(_ context.Context, k latch.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.ID == k.ID {
			return latch.Errorf(latch.ECONFLICT, "signing key exists")
		}
	}
	m.keys = append(m.keys, k)
	m.creates++
	return nil
}

func (m *memKeys) ListSigningKeys(context.Context) ([]latch.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.keys)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *memKeys) ReplaceSigningKeys(_ context.Context, old, next []latch.SigningKey) error {
	if f := m.beforeReplace; f != nil {
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !sameSet(old, m.keys) {
		return latch.Errorf(latch.ECONFLICT, "signing keys changed")
	}
	m.keys = slices.Clone(next)
	m.replaces++
	return nil
}

func sameSet(a, b []latch.SigningKey) bool {
	if len(a) != len(b) {
		return false
	}
	states := make(map[string]string, len(a))
	for _, k := range a {
		states[k.ID] = k.State
	}
	for _, k := range b {
		if s, ok := states[k.ID]; !ok || s != k.State {
			return false
		}
	}
	return true
}

func (m *memKeys) snapshot() []latch.SigningKey {
	l, _ := m.ListSigningKeys(context.Background())
	return l
}

func newKeys(t testing.TB, store KeyStore, clock latch.Clock, alg string) *Keys {
	t.Helper()
	k, err := NewKeys(store, clock, alg, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

func currentKID(k *Keys) string { return k.set.Load().current.kid }

// publishedKIDs returns the kids of the JWKS, in order.
func publishedKIDs(t *testing.T, k *Keys) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, j := range set.Keys {
		kids = append(kids, j.KeyID)
	}
	return kids
}

func TestNewKeysRejectsBadConfig(t *testing.T) {
	if _, err := NewKeys(&memKeys{}, nil, "HS256", time.Hour); !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("HS256: got %v, want EINVALID", err)
	}
	if _, err := NewKeys(&memKeys{}, nil, "", 0); !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("zero overlap: got %v, want EINVALID", err)
	}
	k, err := NewKeys(&memKeys{}, nil, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if k.alg != AlgES256 {
		t.Fatalf("default alg = %q, want ES256", k.alg)
	}
}

func TestNotLoaded(t *testing.T) {
	k, err := NewKeys(&memKeys{}, clocktest.New(t0), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.MintAccess(accessClaims(t0)); !latch.IsCode(err, latch.EUNAVAILABLE) {
		t.Fatalf("MintAccess before Load: got %v, want EUNAVAILABLE", err)
	}
	if _, err := k.VerifyAccess("a.b.c", VerifyOptions{Issuer: testIssuer}); !errors.Is(err, errMalformed) && !errors.Is(err, errHeader) {
		t.Fatalf("VerifyAccess before Load: got %v", err)
	}
	if got := string(k.JWKS()); got != `{"keys":[]}` {
		t.Fatalf("JWKS before Load = %s", got)
	}
	if k.Algorithm() != "" {
		t.Fatalf("Algorithm before Load = %q", k.Algorithm())
	}
}

func TestLoadCreatesOnceAndReuses(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	a := newKeys(t, store, clock, AlgES256)
	if store.creates != 1 {
		t.Fatalf("creates = %d, want 1", store.creates)
	}
	sk := store.snapshot()[0]
	if sk.State != latch.KeyCurrent || sk.Algorithm != AlgES256 || sk.ID != currentKID(a) || !sk.CreatedAt.Equal(t0) {
		t.Fatalf("stored key = %+v", sk)
	}
	if _, err := x509.ParsePKCS8PrivateKey(sk.PrivateKey); err != nil {
		t.Fatalf("stored key is not PKCS#8: %v", err)
	}

	b := newKeys(t, store, clock, AlgES256) // a second server, or a restart
	if store.creates != 1 {
		t.Fatalf("second Load created a key: creates = %d", store.creates)
	}
	if currentKID(a) != currentKID(b) {
		t.Fatal("second Load did not reuse the stored key")
	}
	tok := mint(t, a, accessClaims(t0))
	if _, err := b.VerifyAccess(tok, verifyOpts); err != nil {
		t.Fatalf("token of one server refused by the other: %v", err)
	}
}

func TestLoadRaceConverges(t *testing.T) {
	for range 20 {
		store := &memKeys{}
		clock := clocktest.New(t0)
		keys := make([]*Keys, 4)
		var wg sync.WaitGroup
		for i := range keys {
			k, err := NewKeys(store, clock, AlgEdDSA, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			keys[i] = k
			wg.Go(func() {
				if err := k.Load(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// Servers that raced may have created several current keys; after
		// the change feed's reload all of them sign with the same one.
		for _, k := range keys {
			if err := k.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range keys[1:] {
			if currentKID(k) != currentKID(keys[0]) {
				t.Fatalf("servers sign with different keys after reload: %d keys stored", len(store.snapshot()))
			}
		}
		// Whatever key signed before the reload still verifies everywhere.
		for _, sk := range store.snapshot() {
			if sk.State != latch.KeyCurrent {
				t.Fatalf("unexpected state %q", sk.State)
			}
			for _, k := range keys {
				if kk := k.set.Load().byKID[sk.ID]; kk == nil || !kk.verifies(t0) {
					t.Fatalf("key %s does not verify on every server", sk.ID)
				}
			}
		}
	}
}

func TestRotate(t *testing.T) {
	for _, alg := range []string{AlgES256, AlgEdDSA, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			store := &memKeys{}
			clock := clocktest.New(t0)
			k := newKeys(t, store, clock, alg)
			first := currentKID(k)
			// A token that outlives the overlap (a caller bug) isolates
			// the key's own expiry from the token's.
			c := accessClaims(t0)
			c.ExpiresAt = t0.Add(48 * time.Hour)
			old := mint(t, k, c)

			clock.Advance(time.Minute)
			if err := k.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			second := currentKID(k)
			if second == first {
				t.Fatal("Rotate kept the current kid")
			}
			if got, want := publishedKIDs(t, k), []string{second, first}; !slices.Equal(got, want) {
				t.Fatalf("JWKS kids = %v, want %v", got, want)
			}
			stored := store.snapshot()
			if len(stored) != 2 {
				t.Fatalf("stored %d keys, want 2", len(stored))
			}
			for _, sk := range stored {
				switch sk.ID {
				case first:
					if sk.State != latch.KeyPrevious || !sk.RetiredAt.Equal(clock.Now()) || !sk.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
						t.Fatalf("previous key = %+v", sk)
					}
				case second:
					if sk.State != latch.KeyCurrent || sk.Algorithm != alg {
						t.Fatalf("current key = %+v", sk)
					}
				}
			}
			if kid := headerKID(t, mint(t, k, accessClaims(clock.Now()))); kid != second {
				t.Fatalf("new token signed by %s, want %s", kid, second)
			}
			if _, err := k.VerifyAccess(old, verifyOpts); err != nil {
				t.Fatalf("token of the previous key refused during overlap: %v", err)
			}

			clock.Advance(time.Hour) // the previous key has expired
			if _, err := k.VerifyAccess(old, verifyOpts); !errors.Is(err, errKeyExpired) {
				t.Fatalf("token of an expired key: got %v, want errKeyExpired", err)
			}
			if got, want := publishedKIDs(t, k), []string{second}; !slices.Equal(got, want) {
				t.Fatalf("JWKS after expiry = %v, want %v", got, want)
			}

			if err := k.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			third := currentKID(k)
			if got, want := publishedKIDs(t, k), []string{third, second}; !slices.Equal(got, want) {
				t.Fatalf("JWKS after second rotation = %v, want %v", got, want)
			}
			for _, sk := range store.snapshot() {
				if sk.ID == first {
					t.Fatal("expired previous key was not dropped")
				}
			}
			if _, err := k.VerifyAccess(old, verifyOpts); !errors.Is(err, errUnknownKey) {
				t.Fatalf("token of a dropped key: got %v, want errUnknownKey", err)
			}
		})
	}
}

func TestRotateRetriesOnConflict(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	a := newKeys(t, store, clock, AlgES256)
	b := newKeys(t, store, clock, AlgES256)
	// While a rotates, b rotates first: a's first swap loses and must re-read.
	raced := false
	store.beforeReplace = func() {
		if !raced {
			raced = true
			store.beforeReplace = nil
			if err := b.Rotate(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := store.snapshot()
	if len(stored) != 3 || store.replaces != 2 {
		t.Fatalf("stored %d keys after %d swaps, want 3 after 2", len(stored), store.replaces)
	}
	var current []string
	for _, sk := range stored {
		if sk.State == latch.KeyCurrent {
			current = append(current, sk.ID)
		}
	}
	if len(current) != 1 || current[0] != currentKID(a) {
		t.Fatalf("current keys %v, a signs with %s", current, currentKID(a))
	}
	// b has not reloaded yet: it does not know a's key.
	tok := mint(t, a, accessClaims(t0))
	if _, err := b.VerifyAccess(tok, verifyOpts); !errors.Is(err, errUnknownKey) {
		t.Fatalf("before Reload: got %v, want errUnknownKey", err)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyAccess(tok, verifyOpts); err != nil {
		t.Fatalf("after Reload: %v", err)
	}
	if currentKID(b) != currentKID(a) {
		t.Fatal("servers sign with different keys after Reload")
	}
}

func TestAlgorithmChange(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	es := newKeys(t, store, clock, AlgES256)
	old := mint(t, es, accessClaims(t0))

	ed := newKeys(t, store, clock, AlgEdDSA)
	if ed.Algorithm() != AlgES256 || currentKID(ed) != currentKID(es) {
		t.Fatalf("Load with a new alg replaced the key: signs with %s", ed.Algorithm())
	}
	if err := ed.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ed.Algorithm() != AlgEdDSA {
		t.Fatalf("after Rotate signs with %s, want EdDSA", ed.Algorithm())
	}
	if h := headerAlg(t, mint(t, ed, accessClaims(t0))); h != AlgEdDSA {
		t.Fatalf("header alg = %s", h)
	}
	if _, err := ed.VerifyAccess(old, verifyOpts); err != nil {
		t.Fatalf("ES256 token after the switch: %v", err)
	}
}

func TestReloadKeepsSetWithoutCurrentKey(t *testing.T) {
	store := &memKeys{}
	k := newKeys(t, store, clocktest.New(t0), AlgES256)
	kid := currentKID(k)
	store.keys = nil
	if err := k.Reload(context.Background()); err == nil {
		t.Fatal("Reload of an empty store succeeded")
	}
	if currentKID(k) != kid {
		t.Fatal("Reload dropped the key set it had")
	}
}

func TestLoadRefusesCorruptOrMismatchedKeys(t *testing.T) {
	ed := fixedEd25519(t)
	cases := map[string]latch.SigningKey{
		"not PKCS#8":   {ID: "k1", Algorithm: AlgES256, PrivateKey: []byte("junk"), State: latch.KeyCurrent},
		"alg mismatch": {ID: "k1", Algorithm: AlgES256, PrivateKey: ed.PrivateKey, State: latch.KeyCurrent},
		"empty kid":    {ID: "", Algorithm: AlgEdDSA, PrivateKey: ed.PrivateKey, State: latch.KeyCurrent},
	}
	for name, sk := range cases {
		t.Run(name, func(t *testing.T) {
			k, _ := NewKeys(&memKeys{keys: []latch.SigningKey{sk}}, clocktest.New(t0), "", time.Hour)
			if err := k.Load(context.Background()); !latch.IsCode(err, latch.EINTERNAL) {
				t.Fatalf("got %v, want EINTERNAL", err)
			}
		})
	}
}

// fixedES256 and fixedEd25519 are deterministic keys for golden output.
func fixedES256(t testing.TB) latch.SigningKey {
	t.Helper()
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return latch.SigningKey{ID: "es-fixed", Algorithm: AlgES256, PrivateKey: der, State: latch.KeyCurrent, CreatedAt: t0}
}

func fixedEd25519(t testing.TB) latch.SigningKey {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return latch.SigningKey{ID: "ed-fixed", Algorithm: AlgEdDSA, PrivateKey: der, State: latch.KeyPrevious,
		CreatedAt: t0.Add(-time.Hour), RetiredAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func TestJWKSGolden(t *testing.T) {
	store := &memKeys{keys: []latch.SigningKey{fixedES256(t), fixedEd25519(t)}}
	k := newKeys(t, store, clocktest.New(t0), AlgES256)
	var got bytes.Buffer
	if err := json.Indent(&got, k.JWKS(), "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "jwks.golden.json")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("JWKS differs from %s (go test -update to accept):\n%s", path, got.Bytes())
	}
}

func TestJWKSPublicOnly(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	k := newKeys(t, store, clock, AlgRS256)
	k.alg = AlgEdDSA
	if err := k.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.alg = AlgES256
	if err := k.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := k.JWKS()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3", len(raw.Keys))
	}
	for _, m := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := m[private]; ok {
				t.Fatalf("JWKS key %v carries private member %q", m["kid"], private)
			}
		}
		if m["use"] != "sig" {
			t.Fatalf("use = %v", m["use"])
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	for _, j := range set.Keys {
		if !j.Valid() || !j.IsPublic() {
			t.Fatalf("key %s: valid %v public %v", j.KeyID, j.Valid(), j.IsPublic())
		}
	}
	// The caller's copy is its own.
	body[0] = 'X'
	if k.JWKS()[0] != '{' {
		t.Fatal("JWKS returned the cached slice")
	}
}

// TestConcurrentUse mints, verifies and publishes while another goroutine
// rotates: run under -race, it checks that readers never see a torn set and
// that every token stays valid across rotations within the overlap.
func TestConcurrentUse(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	k := newKeys(t, store, clock, AlgEdDSA)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				tok, err := k.MintAccess(accessClaims(t0))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.VerifyAccess(tok, verifyOpts); err != nil {
					t.Error(err)
					return
				}
				if len(k.JWKS()) == 0 {
					t.Error("empty JWKS")
					return
				}
			}
		})
	}
	for range 10 {
		if err := k.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if n := len(publishedKIDs(t, k)); n != 11 {
		t.Fatalf("JWKS lists %d keys, want 11", n)
	}
}
