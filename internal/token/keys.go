package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"latch.dev/latch"
)

// Signing algorithms. Each key is bound to exactly one of them.
const (
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256: the default
	AlgEdDSA = "EdDSA" // Ed25519
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (RFC 9068 requires support)
)

// rsaBits is the size of generated RSA keys: RFC 9068's minimum and a quarter
// of the signing cost of 4096 bits.
const rsaBits = 2048

// maxAttempts bounds the re-read-and-retry loops of Load and Rotate.
const maxAttempts = 8

// KeyStore is the part of latch.Store that Keys uses.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k latch.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]latch.SigningKey, error)
	ReplaceSigningKeys(ctx context.Context, old, next []latch.SigningKey) error
}

var _ KeyStore = latch.Store(nil)

// Keys holds the signing key set in memory. Minting, verifying and JWKS read
// it through an atomic pointer; Load, Reload and Rotate replace it, one at a
// time.
//
// If the configured algorithm differs from the current key's, Load keeps
// signing with the existing key (so that a configuration change never makes a
// server sign with a key the others do not know yet), and the next Rotate
// creates a key with the configured algorithm.
type Keys struct {
	store   KeyStore
	clock   latch.Clock
	alg     string
	overlap time.Duration

	mu  sync.Mutex // serialises Load, Reload and Rotate; never taken by readers
	set atomic.Pointer[keySet]
}

// NewKeys returns an empty key set; call Load before minting. alg is AlgES256
// (the default when empty), AlgEdDSA or AlgRS256. overlap is how long a
// rotated-out key keeps verifying and stays in the JWKS; it must be at least
// the longest access or ID token lifetime, which the caller guarantees.
func NewKeys(store KeyStore, clock latch.Clock, alg string, overlap time.Duration) (*Keys, error) {
	if alg == "" {
		alg = AlgES256
	}
	switch alg {
	case AlgES256, AlgEdDSA, AlgRS256:
	default:
		return nil, latch.Errorf(latch.EINVALID, "signing algorithm %q: want ES256, EdDSA or RS256", truncate(alg, 16))
	}
	if overlap <= 0 {
		return nil, latch.Errorf(latch.EINVALID, "signing key overlap must be positive")
	}
	if clock == nil {
		clock = latch.SystemClock{}
	}
	return &Keys{store: store, clock: clock, alg: alg, overlap: overlap}, nil
}

// Load reads the key set, creating a first current key if the store has
// none. If several servers create one at once, each re-reads, and all of them
// sign with the same one (see Reload); every current key verifies.
func (k *Keys) Load(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var fresh *latch.SigningKey
	for range maxAttempts {
		list, err := k.store.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: load signing keys: %w", err)
		}
		if hasCurrent(list) {
			return k.install(list)
		}
		if fresh == nil {
			sk, err := generate(k.alg, k.clock.Now())
			if err != nil {
				return err
			}
			fresh = &sk
		}
		err = k.store.CreateSigningKey(ctx, *fresh)
		if err != nil && !latch.IsCode(err, latch.ECONFLICT) {
			return fmt.Errorf("token: create signing key: %w", err)
		}
		// Created, or lost a race: either way, read what the store holds now.
	}
	return latch.Wrap(latch.ECONFLICT, "token.Load", errors.New("signing key set kept changing"))
}

// Reload re-reads the key set, for when the change feed reports that it
// changed (or was reset). It never creates a key; if the store has no current
// key it returns an error and keeps serving the set it had.
//
// When the store holds more than one current key (two servers created the
// first key at once), the one created first (then the smallest kid) signs, so
// that every server picks the same one; all of them verify and are published.
func (k *Keys) Reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	list, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: reload signing keys: %w", err)
	}
	if !hasCurrent(list) {
		return latch.Wrap(latch.EINTERNAL, "token.Reload", ErrNoCurrentKey)
	}
	return k.install(list)
}

// ErrNoCurrentKey is Reload's error (under errors.Is) when the store holds
// no current key yet: the first token-issuing process creates one (Load).
var ErrNoCurrentKey = errors.New("store has no current signing key")

// Rotate makes a new key (of the configured algorithm) current. The keys that
// were current become previous and expire overlap from now; previous keys
// whose expiry has passed are dropped. The swap is a compare-and-swap on the
// whole set, retried after re-reading when another server changed it first.
func (k *Keys) Rotate(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	fresh, err := generate(k.alg, k.clock.Now())
	if err != nil {
		return err
	}
	for range maxAttempts {
		old, err := k.store.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: rotate signing keys: %w", err)
		}
		now := k.clock.Now()
		next := make([]latch.SigningKey, 0, len(old)+1)
		for _, sk := range old {
			switch {
			case sk.State == latch.KeyCurrent:
				sk.State = latch.KeyPrevious
				sk.RetiredAt = now
				sk.ExpiresAt = now.Add(k.overlap)
				next = append(next, sk)
			case sk.State == latch.KeyPrevious && now.Before(sk.ExpiresAt):
				next = append(next, sk)
			}
		}
		fresh.CreatedAt = now
		next = append(next, fresh)
		err = k.store.ReplaceSigningKeys(ctx, old, next)
		if latch.IsCode(err, latch.ECONFLICT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("token: rotate signing keys: %w", err)
		}
		return k.install(next)
	}
	return latch.Wrap(latch.ECONFLICT, "token.Rotate", errors.New("signing key set kept changing"))
}

// Algorithm returns the algorithm of the key that signs now ("" before Load),
// for discovery documents.
func (k *Keys) Algorithm() string {
	if s := k.set.Load(); s != nil {
		return s.current.alg
	}
	return ""
}

// JWKS returns the JSON Web Key Set of the public keys that verify now: every
// current key and every previous key that has not expired. The document is
// built when the set changes or a listed key expires, not per call; the
// returned slice is the caller's.
func (k *Keys) JWKS() []byte {
	s := k.set.Load()
	if s == nil {
		return []byte(`{"keys":[]}`)
	}
	now := k.clock.Now()
	doc := s.jwks.Load()
	if doc == nil || (!doc.until.IsZero() && !now.Before(doc.until)) {
		doc = s.buildJWKS(now)
		s.jwks.Store(doc)
	}
	return bytes.Clone(doc.body)
}

// install parses list (reusing keys parsed already) and publishes it.
func (k *Keys) install(list []latch.SigningKey) error {
	prev := k.set.Load()
	s := &keySet{byKID: make(map[string]*key, len(list))}
	for _, sk := range list {
		if sk.State != latch.KeyCurrent && sk.State != latch.KeyPrevious {
			continue
		}
		var kk *key
		if prev != nil {
			if p := prev.byKID[sk.ID]; p != nil && p.alg == sk.Algorithm && bytes.Equal(p.der, sk.PrivateKey) {
				c := *p
				kk = &c
			}
		}
		if kk == nil {
			var err error
			if kk, err = parseKey(sk); err != nil {
				return err
			}
		}
		kk.state, kk.createdAt, kk.expiresAt = sk.State, sk.CreatedAt, sk.ExpiresAt
		if _, dup := s.byKID[kk.kid]; dup {
			return latch.Wrap(latch.EINTERNAL, "token.Load", errors.New("duplicate kid in signing key set"))
		}
		s.byKID[kk.kid] = kk
		if kk.state == latch.KeyCurrent && (s.current == nil || signsBefore(kk, s.current)) {
			s.current = kk
		}
	}
	if s.current == nil {
		return latch.Wrap(latch.EINTERNAL, "token.Load", errors.New("no current signing key"))
	}
	k.set.Store(s)
	return nil
}

func signsBefore(a, b *key) bool {
	if !a.createdAt.Equal(b.createdAt) {
		return a.createdAt.Before(b.createdAt)
	}
	return a.kid < b.kid
}

func hasCurrent(list []latch.SigningKey) bool {
	for _, sk := range list {
		if sk.State == latch.KeyCurrent {
			return true
		}
	}
	return false
}

// keySet is one immutable generation of the key set.
type keySet struct {
	current *key // signs
	byKID   map[string]*key
	jwks    atomic.Pointer[jwksDoc]
}

type jwksDoc struct {
	body  []byte
	until time.Time // when a listed key expires; zero if none does
}

func (s *keySet) buildJWKS(now time.Time) *jwksDoc {
	keys := make([]*key, 0, len(s.byKID))
	var until time.Time
	for _, kk := range s.byKID {
		if !kk.verifies(now) {
			continue
		}
		keys = append(keys, kk)
		if kk.state == latch.KeyPrevious && (until.IsZero() || kk.expiresAt.Before(until)) {
			until = kk.expiresAt
		}
	}
	// The signing key first, then newest first: deterministic output.
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == s.current) != (keys[j] == s.current) {
			return keys[i] == s.current
		}
		if !keys[i].createdAt.Equal(keys[j].createdAt) {
			return keys[i].createdAt.After(keys[j].createdAt)
		}
		return keys[i].kid < keys[j].kid
	})
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, kk := range keys {
		doc.Keys = append(doc.Keys, kk.jwk)
	}
	body, err := json.Marshal(doc)
	if err != nil { // strings only: cannot happen
		panic(err)
	}
	return &jwksDoc{body: body, until: until}
}

// key is a parsed signing key.
type key struct {
	kid, alg string
	der      []byte // the stored PKCS#8 bytes, to reuse the parse on reload
	signer   crypto.Signer
	pub      crypto.PublicKey
	jwk      jwk
	atHeader []byte // base64url of the access token header
	idHeader []byte // base64url of the ID token header

	state     string
	createdAt time.Time
	expiresAt time.Time // previous keys only
}

// verifies reports whether the key may verify tokens at now: current keys
// always, previous keys until they expire (a previous key without an expiry
// is treated as expired: fail closed).
func (kk *key) verifies(now time.Time) bool {
	switch kk.state {
	case latch.KeyCurrent:
		return true
	case latch.KeyPrevious:
		return now.Before(kk.expiresAt)
	}
	return false
}

// jwk is a public JSON Web Key (RFC 7517, 7518, 8037).
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

func generate(alg string, now time.Time) (latch.SigningKey, error) {
	var priv any
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return latch.SigningKey{}, latch.Wrap(latch.EINTERNAL, "token.generate", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return latch.SigningKey{}, latch.Wrap(latch.EINTERNAL, "token.generate", err)
	}
	return latch.SigningKey{
		ID:         NewID(),
		Algorithm:  alg,
		PrivateKey: der,
		State:      latch.KeyCurrent,
		CreatedAt:  now,
	}, nil
}

// parseKey parses a stored key once and checks that its type fits its
// algorithm.
func parseKey(sk latch.SigningKey) (*key, error) {
	fail := func(err error) (*key, error) {
		return nil, latch.Wrap(latch.EINTERNAL, "token.parseKey", fmt.Errorf("signing key %q: %w", truncate(sk.ID, 40), err))
	}
	if sk.ID == "" {
		return fail(errors.New("empty kid"))
	}
	priv, err := x509.ParsePKCS8PrivateKey(sk.PrivateKey)
	if err != nil {
		return fail(err)
	}
	kk := &key{kid: sk.ID, alg: sk.Algorithm, der: sk.PrivateKey}
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if sk.Algorithm != AlgES256 || p.Curve != elliptic.P256() {
			return fail(fmt.Errorf("ECDSA key does not fit algorithm %q", sk.Algorithm))
		}
		point, err := p.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return fail(err)
		}
		kk.signer, kk.pub = p, &p.PublicKey
		kk.jwk = jwk{Kty: "EC", Crv: "P-256", X: b64(point[1:33]), Y: b64(point[33:65])}
	case ed25519.PrivateKey:
		if sk.Algorithm != AlgEdDSA {
			return fail(fmt.Errorf("Ed25519 key does not fit algorithm %q", sk.Algorithm))
		}
		pub := p.Public().(ed25519.PublicKey)
		kk.signer, kk.pub = p, pub
		kk.jwk = jwk{Kty: "OKP", Crv: "Ed25519", X: b64(pub)}
	case *rsa.PrivateKey:
		if sk.Algorithm != AlgRS256 || p.N.BitLen() < rsaBits {
			return fail(fmt.Errorf("%d-bit RSA key does not fit algorithm %q", p.N.BitLen(), sk.Algorithm))
		}
		p.Precompute()
		kk.signer, kk.pub = p, &p.PublicKey
		kk.jwk = jwk{Kty: "RSA", N: b64(p.N.Bytes()), E: b64(big.NewInt(int64(p.E)).Bytes())}
	default:
		return fail(fmt.Errorf("unsupported key type %T", priv))
	}
	kk.jwk.Use, kk.jwk.Alg, kk.jwk.Kid = "sig", sk.Algorithm, sk.ID
	kk.atHeader = encodeHeader(sk.Algorithm, sk.ID, typAccess)
	kk.idHeader = encodeHeader(sk.Algorithm, sk.ID, typJWT)
	return kk, nil
}

func encodeHeader(alg, kid, typ string) []byte {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil { // strings only: cannot happen
		panic(err)
	}
	return base64.RawURLEncoding.AppendEncode(nil, h)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
