package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	jjson "github.com/go-jose/go-jose/v4/json"

	"latch.dev/latch"
)

const (
	// fetchTimeout bounds one JWKS fetch, whatever the HTTP client says.
	fetchTimeout = 5 * time.Second
	// maxJWKSSize caps a JWKS response body.
	maxJWKSSize = 1 << 20
	// retryAfterFailure is the wait after a failed fetch (capped by
	// MinRefetch): shorter than MinRefetch, so that an issuer whose keys
	// could not be fetched at all does not stay refused for minutes after a
	// blip, yet a down provider is asked at most this often.
	retryAfterFailure = 10 * time.Second
	// minRSABits refuses weak RSA keys in a JWKS.
	minRSABits = 2048
)

// verifyKey is one usable public key of a JWKS.
type verifyKey struct {
	alg string // the JWK's alg; "" when the JWKS gives none
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// fits reports whether the key may verify a signature made with alg: the
// JWK's own alg when it has one, and always the key's type (and curve).
func (k verifyKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return alg == "ES256"
		case elliptic.P384():
			return alg == "ES384"
		case elliptic.P521():
			return alg == "ES512"
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// keySet is the cached JWKS of one issuer. The map is replaced, never
// changed, so a reader holding it needs no lock.
type keySet struct {
	iss      string
	uri      string
	algs     []string
	client   *http.Client
	clock    latch.Clock
	log      *slog.Logger
	minWait  time.Duration // between fetches, after a success
	failWait time.Duration // between fetches, after a failure
	maxAge   time.Duration

	mu        sync.Mutex
	keys      map[string][]verifyKey // by kid; nil until a fetch succeeded
	fetchedAt time.Time              // of the keys
	triedAt   time.Time              // last fetch started, successful or not
	lastErr   error                  // of the last fetch; nil after a success
	inflight  chan struct{}          // closed when the running fetch ends
}

// Reasons a key lookup fails.
var (
	errUnknownKey  = errors.New("no key with the token's kid in the issuer's JWKS")
	errUnavailable = errors.New("the issuer's JWKS could not be fetched")
)

// lookup returns the keys the JWKS has under kid. It fetches the JWKS when
// none was fetched yet, when kid is unknown, or when the keys are older than
// maxAge, each time only if the last fetch started long enough ago (minWait
// after a success, failWait after a failure); concurrent callers wait for the
// one fetch under way. Stale keys are still used when the refresh failed or
// may not run yet. An unknown kid is errUnknownKey (the token is invalid); no
// key set at all, or an unknown kid after a failed fetch, is EUNAVAILABLE.
func (s *keySet) lookup(ctx context.Context, kid string) ([]verifyKey, error) {
	fetched := false // one fetch (started or joined) per lookup at most
	for {
		s.mu.Lock()
		now := s.clock.Now()
		keys, known := s.keys[kid]
		if known && now.Sub(s.fetchedAt) < s.maxAge {
			s.mu.Unlock()
			return keys, nil
		}
		if wait := s.inflight; wait != nil && !fetched {
			s.mu.Unlock()
			fetched = true
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, latch.Wrap(latch.EUNAVAILABLE, "trust.VerifyAccessToken", ctx.Err())
			}
		}
		gap := s.minWait
		if s.lastErr != nil {
			gap = s.failWait
		}
		if fetched || (!s.triedAt.IsZero() && now.Sub(s.triedAt) < gap) {
			lastErr, loaded := s.lastErr, s.keys != nil
			s.mu.Unlock()
			switch {
			case known:
				// Stale, and the refresh failed or may not run yet: the
				// provider's keys of a while ago beat refusing everyone.
				return keys, nil
			case !loaded || lastErr != nil:
				return nil, unavailable(lastErr)
			}
			return nil, errUnknownKey
		}
		done := make(chan struct{})
		s.inflight, s.triedAt = done, now
		s.mu.Unlock()
		// The fetch belongs to every waiter, so the caller's cancellation
		// must not end it; its own timeout bounds it.
		go s.fetch(context.WithoutCancel(ctx), done)
	}
}

// fetch loads the JWKS, records the outcome and closes done.
func (s *keySet) fetch(ctx context.Context, done chan struct{}) {
	keys, skipped, err := s.get(ctx)
	// Logged before done is closed, so that whoever waited sees the line.
	if err != nil {
		s.log.Warn("trust: JWKS fetch failed", "issuer", s.iss, "jwks_uri", s.uri, "err", err)
	} else {
		s.log.Info("trust: JWKS fetched", "issuer", s.iss, "kids", len(keys), "skipped_keys", skipped)
	}
	s.mu.Lock()
	if err != nil {
		s.lastErr = err
	} else {
		s.keys, s.fetchedAt, s.lastErr = keys, s.clock.Now(), nil
	}
	s.inflight = nil
	close(done)
	s.mu.Unlock()
}

// get fetches and parses the JWKS. Keys that cannot be used (private or
// symmetric material, use other than sig, an algorithm the issuer does not
// allow, short RSA keys, unknown types) are skipped and counted; a set with
// no usable key is an error.
func (s *keySet) get(ctx context.Context) (map[string][]verifyKey, int, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uri, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("JWKS answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the JWKS: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, 0, fmt.Errorf("JWKS larger than %d bytes", maxJWKSSize)
	}
	return parseJWKS(body, s.algs)
}

func parseJWKS(body []byte, algs []string) (map[string][]verifyKey, int, error) {
	var set struct {
		Keys []jjson.RawMessage `json:"keys"`
	}
	if err := jjson.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("malformed JWKS: %w", err)
	}
	keys := map[string][]verifyKey{}
	skipped := 0
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !usable(k, algs) {
			skipped++
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], verifyKey{alg: k.Algorithm, key: k.Key})
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("JWKS has no usable key (%d skipped)", skipped)
	}
	return keys, skipped, nil
}

func usable(k jose.JSONWebKey, algs []string) bool {
	if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
		return false
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return false
	}
	vk := verifyKey{alg: k.Algorithm, key: k.Key}
	if pub, ok := k.Key.(*rsa.PublicKey); ok && pub.N.BitLen() < minRSABits {
		return false
	}
	return slices.ContainsFunc(algs, vk.fits)
}

// defaultClient follows redirects only to URLs an Issuer may name.
func defaultClient() *http.Client {
	return &http.Client{
		Timeout: fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return checkURL(req.URL.String())
		},
	}
}
