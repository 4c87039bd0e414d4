//go:build !latch.lambda

package oauth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"latch.dev/latch"
)

// What the hosted login seals. Each purpose has its own key, so that a value
// sealed for one can never be opened as another.
const (
	sealRequest = "authorize-request" // the pending authorization request, in a hidden field
	sealSession = "login-session"     // the login session, in a cookie
	sealConsole = "console"           // the console's values (package console), in cookies
)

// maxSealedSize bounds what unseal reads (cookies and hidden fields).
const maxSealedSize = 8 << 10

// sealer makes small tamper-proof values (kid.payload.mac) for the browser
// to carry: the pending authorization request and the login session. Its MAC
// keys are derived (HKDF-SHA-256) from the private signing keys in the
// store, so every server of a fleet shares them without a new secret, and
// they rotate with the signing keys: a value verifies while the key that
// sealed it still verifies tokens (current, or previous within the overlap).
//
// A MAC rather than a signature: nothing sealed here can ever be mistaken
// for a token verifiable with the public JWKS (an ID or access token), nor
// the other way round, and it costs microseconds.
type sealer struct {
	src interface {
		ListSigningKeys(ctx context.Context) ([]latch.SigningKey, error)
	}
	clock latch.Clock
	log   *slog.Logger

	mu   sync.Mutex // serialises reloads; readers use keys
	keys atomic.Pointer[macKeys]
}

type macKeys struct {
	current string // the kid that seals
	byKID   map[string]macKey
	loaded  time.Time
}

type macKey struct {
	byPurpose map[string][]byte
	state     string
	expiresAt time.Time // previous keys only
}

const (
	// sealKeysMaxAge: the keys are re-read this often, to learn of
	// rotations made by other servers.
	sealKeysMaxAge = time.Minute
	// sealKeysRetry bounds re-reads caused by an unknown kid, so that
	// forged values cannot turn into store reads.
	sealKeysRetry = 5 * time.Second
)

func newSealer(src latch.Store, clock latch.Clock, log *slog.Logger) *sealer {
	return &sealer{src: src, clock: clock, log: log}
}

var (
	errSealed      = errors.New("sealed value invalid")
	errSealExpired = errors.New("sealed value expired")
)

// envelope is what is MACed: the purpose, the expiry and the caller's data.
type envelope struct {
	Purpose string          `json:"p"`
	Exp     int64           `json:"exp"`
	Data    json.RawMessage `json:"d"`
}

// seal returns v sealed for purpose, valid for ttl.
func (s *sealer) seal(ctx context.Context, purpose string, v any, ttl time.Duration) (string, error) {
	ks, err := s.load(ctx, false)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", latch.Wrap(latch.EINTERNAL, "oauth.seal", err)
	}
	body, err := json.Marshal(envelope{Purpose: purpose, Exp: s.clock.Now().Add(ttl).Unix(), Data: data})
	if err != nil {
		return "", latch.Wrap(latch.EINTERNAL, "oauth.seal", err)
	}
	enc := base64.RawURLEncoding
	signed := ks.current + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, ks.byKID[ks.current].byPurpose[purpose])
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// unseal checks raw and decodes its data into v. It fails with errSealed
// when raw was not sealed for purpose by a key that still verifies, and
// with errSealExpired when it has expired; a store failure is returned as
// is.
func (s *sealer) unseal(ctx context.Context, purpose, raw string, v any) error {
	if raw == "" || len(raw) > maxSealedSize {
		return errSealed
	}
	kid, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return errSealed
	}
	b64, mac64, ok := strings.Cut(rest, ".")
	if !ok || kid == "" {
		return errSealed
	}
	ks, err := s.load(ctx, false)
	if err != nil {
		return err
	}
	k, ok := ks.byKID[kid]
	if !ok {
		// Perhaps another server rotated the keys since this one read them.
		if ks, err = s.load(ctx, true); err != nil {
			return err
		}
		k, ok = ks.byKID[kid]
	}
	now := s.clock.Now()
	if !ok || (k.state != latch.KeyCurrent && !now.Before(k.expiresAt)) {
		return errSealed
	}
	enc := base64.RawURLEncoding.Strict()
	got, err := enc.DecodeString(mac64)
	if err != nil {
		return errSealed
	}
	mac := hmac.New(sha256.New, k.byPurpose[purpose])
	mac.Write([]byte(raw[:len(kid)+1+len(b64)]))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errSealed
	}
	body, err := enc.DecodeString(b64)
	if err != nil {
		return errSealed
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Purpose != purpose {
		return errSealed
	}
	if now.Unix() >= env.Exp {
		return errSealExpired
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return errSealed
	}
	return nil
}

// load returns the MAC keys, re-reading the signing keys when they are
// older than sealKeysMaxAge, or when force is set and the last read is
// older than sealKeysRetry. A failed re-read keeps the keys it had.
func (s *sealer) load(ctx context.Context, force bool) (*macKeys, error) {
	now := s.clock.Now()
	fresh := func(ks *macKeys) bool {
		if ks == nil {
			return false
		}
		age := now.Sub(ks.loaded)
		return age < sealKeysMaxAge && (!force || age < sealKeysRetry)
	}
	if ks := s.keys.Load(); fresh(ks) {
		return ks, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys.Load()
	if fresh(old) {
		return old, nil
	}
	list, err := s.src.ListSigningKeys(ctx)
	var ks *macKeys
	if err == nil {
		ks, err = deriveMACKeys(list, now)
	}
	if err != nil {
		if old != nil {
			s.log.WarnContext(ctx, "reloading the hosted login's keys failed; keeping the old ones", "err", err)
			// Try again after sealKeysRetry, not at every request.
			retry := *old
			retry.loaded = now.Add(-sealKeysMaxAge + sealKeysRetry)
			s.keys.Store(&retry)
			return old, nil
		}
		return nil, err
	}
	s.keys.Store(ks)
	return ks, nil
}

// deriveMACKeys derives one key per purpose from each signing key that still
// verifies. The current key that signs tokens (created first, then smallest
// kid, as in package token) seals.
func deriveMACKeys(list []latch.SigningKey, now time.Time) (*macKeys, error) {
	ks := &macKeys{byKID: make(map[string]macKey, len(list)), loaded: now}
	var currentCreated time.Time
	for _, sk := range list {
		usable := sk.State == latch.KeyCurrent || (sk.State == latch.KeyPrevious && now.Before(sk.ExpiresAt))
		if !usable || sk.ID == "" || len(sk.PrivateKey) == 0 || strings.Contains(sk.ID, ".") {
			continue
		}
		k := macKey{byPurpose: map[string][]byte{}, state: sk.State, expiresAt: sk.ExpiresAt}
		for _, p := range []string{sealRequest, sealSession, sealConsole} {
			b, err := hkdf.Key(sha256.New, sk.PrivateKey, nil, "latch hosted login/"+p, 32)
			if err != nil {
				return nil, latch.Wrap(latch.EINTERNAL, "oauth.deriveMACKeys", err)
			}
			k.byPurpose[p] = b
		}
		ks.byKID[sk.ID] = k
		if sk.State == latch.KeyCurrent && (ks.current == "" || sk.CreatedAt.Before(currentCreated) ||
			(sk.CreatedAt.Equal(currentCreated) && sk.ID < ks.current)) {
			ks.current, currentCreated = sk.ID, sk.CreatedAt
		}
	}
	if ks.current == "" {
		return nil, latch.Wrap(latch.EUNAVAILABLE, "oauth.deriveMACKeys", errors.New("no current signing key"))
	}
	return ks, nil
}
