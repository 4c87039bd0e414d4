package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
	"latch.dev/latch/internal/clocktest"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/store/bolt"
)

var _ authorizer.TokenVerifier = (*Verifier)(nil)

const (
	cognitoIss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
	appClient  = "4u7v9ch2tj0vd1qkp8mfpf5s7a"
	alice      = "1f8b5a2e-6c1d-4a8e-9f3b-2d7c6e5a4b3c" // Cognito subs are UUIDs
	bob        = "9a0e7d4c-3b2a-4f1e-8d6c-5b4a3e2d1c0f" // disabled in Latch
	nobody     = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f" // not in Latch
	ownToken   = "latch-own-token"
)

var start = time.Unix(1_750_000_000, 0).UTC()

// testKeys are generated once: RSA key generation is slow under -race.
type testKeys struct {
	rsa1, rsa2, other *rsa.PrivateKey
	ec1               *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	gen := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{rsa1: gen(), rsa2: gen(), other: gen(), ec1: ec}
})

// jwk is one public JWK as a provider publishes it.
func jwk(t testing.TB, kid, alg string, key any) map[string]any {
	t.Helper()
	pub := key
	if s, ok := key.(crypto.Signer); ok {
		pub = s.Public()
	}
	b, err := json.Marshal(jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jwksOf(t testing.TB, ks ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idp is a provider's JWKS endpoint on 127.0.0.1 that counts its requests.
type idp struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	jwks   []byte
	status int
	gate   chan struct{} // when set, requests wait for it to close
	seen   chan struct{} // when set, receives one value per request
}

func newIDP(t testing.TB, jwks []byte) *idp {
	p := &idp{jwks: jwks, status: http.StatusOK}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		body, status, gate, seen := p.jwks, p.status, p.gate, p.seen
		p.mu.Unlock()
		if seen != nil {
			seen <- struct{}{}
		}
		if gate != nil {
			<-gate
		}
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) set(jwks []byte, status int) {
	p.mu.Lock()
	p.jwks, p.status = jwks, status
	p.mu.Unlock()
}

func (p *idp) url() string { return p.srv.URL + "/.well-known/jwks.json" }

// fakeOwn stands for Latch's own verifier and records what it was given.
type fakeOwn struct {
	mu    sync.Mutex
	calls []string
}

var errOwnRefused = errors.New("refused by Latch's own verifier")

func (f *fakeOwn) VerifyAccessToken(_ context.Context, raw string) (oauth.TokenInfo, error) {
	f.mu.Lock()
	f.calls = append(f.calls, raw)
	f.mu.Unlock()
	if raw == ownToken {
		return oauth.TokenInfo{Org: "latch", Subject: "own", SubjectType: latch.SubjectUser, ClientID: "latch-app"}, nil
	}
	return oauth.TokenInfo{}, &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token", Err: errOwnRefused}
}

func (f *fakeOwn) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// failingUsers fails the reads it is told to.
type failingUsers struct {
	Users
	orgErr, userErr error
}

func (f failingUsers) GetOrg(ctx context.Context, id string) (latch.Org, error) {
	if f.orgErr != nil {
		return latch.Org{}, f.orgErr
	}
	return f.Users.GetOrg(ctx, id)
}

func (f failingUsers) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	if f.userErr != nil {
		return latch.User{}, f.userErr
	}
	return f.Users.GetUser(ctx, org, id)
}

func openStore(t testing.TB) latch.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{NoSync: true, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, o := range []latch.Org{{ID: "acme", DefaultRoles: []string{"staff"}}, {ID: "closed", Disabled: true}} {
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []latch.User{
		{Org: "acme", ID: alice, Username: "alice", Allow: []string{"GET /api/employee/{sub}/**"}},
		{Org: "acme", ID: bob, Username: "bob", Disabled: true},
		{Org: "closed", ID: alice, Username: "alice"},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

type env struct {
	v     *Verifier
	own   *fakeOwn
	idp   *idp
	clock *clocktest.Clock
	store latch.Store
	log   *bytes.Buffer
}

type setup struct {
	issuer func(*Issuer) // changes the Cognito issuer
	users  func(Users) Users
	jwks   []byte
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	k := keys()
	jwks := s.jwks
	if jwks == nil {
		jwks = jwksOf(t, jwk(t, "rsa1", "RS256", k.rsa1), jwk(t, "ec1", "ES256", k.ec1))
	}
	e := &env{own: &fakeOwn{}, idp: newIDP(t, jwks), clock: clocktest.New(start), store: openStore(t), log: &bytes.Buffer{}}
	is := Issuer{Issuer: cognitoIss, JWKSURI: e.idp.url(), Org: "acme", ClientIDs: []string{appClient}, Algorithms: []string{"RS256", "ES256"}}
	if s.issuer != nil {
		s.issuer(&is)
	}
	var users Users = e.store
	if s.users != nil {
		users = s.users(users)
	}
	v, err := New(e.own, users, []Issuer{is}, Options{
		Clock: e.clock, Log: slog.New(slog.NewTextHandler(e.log, nil)), HTTPClient: e.idp.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

// accessClaims are shaped like a Cognito access token's.
func accessClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub":        alice,
		"iss":        cognitoIss,
		"client_id":  appClient,
		"origin_jti": "5d3c1f0e-2b4a-4c6d-9e8f-7a6b5c4d3e2f",
		"event_id":   "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098",
		"token_use":  "access",
		"scope":      "aws.cognito.signin.user.admin",
		"auth_time":  now.Add(-time.Minute).Unix(),
		"exp":        now.Add(time.Hour).Unix(),
		"iat":        now.Unix(),
		"jti":        "c4f6d2a8-1b3e-4f5a-8c7d-9e0f1a2b3c4d",
		"username":   alice,
	}
}

// idClaims are shaped like a Cognito ID token's.
func idClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub":              alice,
		"email_verified":   true,
		"iss":              cognitoIss,
		"cognito:username": alice,
		"origin_jti":       "5d3c1f0e-2b4a-4c6d-9e8f-7a6b5c4d3e2f",
		"aud":              appClient,
		"event_id":         "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098",
		"token_use":        "id",
		"auth_time":        now.Add(-time.Minute).Unix(),
		"exp":              now.Add(time.Hour).Unix(),
		"iat":              now.Unix(),
		"jti":              "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
		"email":            "alice@example.com",
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// sign signs claims with go-jose as a provider would: header {kid, alg}.
func sign(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// craft builds a JWS from exact header and payload text, signed RS256 with
// key (or with an empty signature when key is nil).
func craft(t testing.TB, header, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if key == nil {
		return input + "."
	}
	h := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantRefused checks a refusal: EUNAUTHORIZED "invalid token" for reason,
// no TokenInfo, no token text in the error, and Latch's verifier not asked.
func wantRefused(t *testing.T, e *env, raw string, ti oauth.TokenInfo, err, reason error) {
	t.Helper()
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != latch.EUNAUTHORIZED || le.Message != "invalid token" {
		t.Fatalf("got %v, want EUNAUTHORIZED \"invalid token\"", err)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("refused for %v, want %v", err, reason)
	}
	if ti.Org != "" || ti.Subject != "" {
		t.Fatalf("a refusal came with TokenInfo %+v", ti)
	}
	if _, payload, _, _ := splitCompact(raw); payload != "" && strings.Contains(err.Error(), payload) {
		t.Fatal("the error quotes the token")
	}
	if n := e.own.count(); n != 0 {
		t.Fatalf("Latch's verifier was asked %d times about an external token", n)
	}
}

func TestCognitoAccessToken(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	now := e.clock.Now()
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(now))
	ti, err := e.v.VerifyAccessToken(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	want := oauth.TokenInfo{
		JTI: "c4f6d2a8-1b3e-4f5a-8c7d-9e0f1a2b3c4d", Org: "acme", ClientID: appClient, Subject: alice,
		SubjectType: latch.SubjectUser, Scopes: []string{"aws.cognito.signin.user.admin"},
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(),
	}
	if got, want := fmt.Sprintf("%+v", ti), fmt.Sprintf("%+v", want); got != want {
		t.Fatalf("TokenInfo\n got %s\nwant %s", got, want)
	}
	if ti.Audience != nil {
		t.Fatalf("Audience = %q, want nil", ti.Audience)
	}
	if n := e.own.count(); n != 0 {
		t.Fatalf("Latch's verifier was asked %d times", n)
	}
	// The EC key of the same JWKS, and the cached JWKS: one fetch in all.
	raw2 := sign(t, keys().ec1, jose.ES256, "ec1", accessClaims(now))
	if _, err := e.v.VerifyAccessToken(ctx, raw2); err != nil {
		t.Fatalf("ES256: %v", err)
	}
	if n := e.idp.hits.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1", n)
	}
	if strings.Contains(e.log.String(), raw) || strings.Contains(e.log.String(), raw2) {
		t.Fatal("a token reached the log")
	}
}

func TestCognitoIDToken(t *testing.T) {
	ctx := context.Background()
	idIssuer := newEnv(t, setup{issuer: func(is *Issuer) { is.TokenUse = UseID }})
	now := idIssuer.clock.Now()
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", idClaims(now))
	ti, err := idIssuer.v.VerifyAccessToken(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Org != "acme" || ti.Subject != alice || ti.ClientID != appClient || ti.Scopes != nil || ti.Audience != nil {
		t.Fatalf("TokenInfo %+v", ti)
	}
	access := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(now))
	ti, err = idIssuer.v.VerifyAccessToken(ctx, access)
	wantRefused(t, idIssuer, access, ti, err, errTokenUse)

	accessIssuer := newEnv(t, setup{})
	ti, err = accessIssuer.v.VerifyAccessToken(ctx, raw)
	wantRefused(t, accessIssuer, raw, ti, err, errTokenUse)
}

// A provider without token_use (plain OpenID Connect): the shape decides.
func TestTokensWithoutTokenUse(t *testing.T) {
	ctx := context.Background()
	const iss = "https://login.example.com/"
	for _, tc := range []struct {
		name   string
		use    string
		claims func(time.Time) map[string]any
		want   error // nil: accepted
	}{
		{"access token", UseAccess, func(n time.Time) map[string]any { return with(accessClaims(n), "iss", iss, "token_use", nil) }, nil},
		{"ID token as access", UseAccess, func(n time.Time) map[string]any { return with(idClaims(n), "iss", iss, "token_use", nil) }, errClient},
		{"ID token", UseID, func(n time.Time) map[string]any { return with(idClaims(n), "iss", iss, "token_use", nil) }, nil},
		{"access token as ID", UseID, func(n time.Time) map[string]any { return with(accessClaims(n), "iss", iss, "token_use", nil) }, errClient},
		{"ID token, two audiences, no azp", UseID, func(n time.Time) map[string]any {
			return with(idClaims(n), "iss", iss, "token_use", nil, "aud", []string{appClient, "other"})
		}, errClient},
		{"ID token, two audiences, azp", UseID, func(n time.Time) map[string]any {
			return with(idClaims(n), "iss", iss, "token_use", nil, "aud", []string{"other", appClient}, "azp", appClient)
		}, nil},
		{"ID token, foreign azp", UseID, func(n time.Time) map[string]any {
			return with(idClaims(n), "iss", iss, "token_use", nil, "azp", "other")
		}, errClient},
		{"Cognito access token without token_use", "cognito", func(n time.Time) map[string]any { return with(accessClaims(n), "token_use", nil) }, errTokenUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, setup{issuer: func(is *Issuer) {
				if tc.use != "cognito" {
					is.Issuer, is.TokenUse = iss, tc.use
				}
			}})
			raw := sign(t, keys().rsa1, jose.RS256, "rsa1", tc.claims(e.clock.Now()))
			ti, err := e.v.VerifyAccessToken(ctx, raw)
			if tc.want == nil {
				if err != nil || ti.Subject != alice || ti.ClientID != appClient {
					t.Fatalf("got %+v, %v", ti, err)
				}
				return
			}
			wantRefused(t, e, raw, ti, err, tc.want)
		})
	}
}

func TestOtherTokensGoToLatch(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	now := e.clock.Now()
	ti, err := e.v.VerifyAccessToken(ctx, ownToken)
	if err != nil || ti.Org != "latch" || ti.Subject != "own" {
		t.Fatalf("Latch's own token: %+v, %v", ti, err)
	}
	for name, raw := range map[string]string{
		"opaque":  "lat_0123456789abcdef",
		"garbage": "not a token",
		"empty":   "",
		// Not configured: the same pool's iss with a suffix, or a prefix.
		"similar iss": sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iss", cognitoIss+"x")),
		"iss prefix":  sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iss", strings.TrimSuffix(cognitoIss, "_AbC"))),
		"no iss":      sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iss", nil)),
		// A repeated iss is not read as either value.
		"duplicate iss": craft(t, `{"kid":"rsa1","alg":"RS256"}`, `{"iss":"`+cognitoIss+`","iss":"`+cognitoIss+`","sub":"`+alice+`"}`, keys().rsa1),
		// Any repeated claim makes the claims unreadable, so the issuer is
		// not recognised either.
		"duplicate sub": craft(t, `{"kid":"rsa1","alg":"RS256"}`, dupSub(t, now), keys().rsa1),
		"oversized":     sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "pad", strings.Repeat("x", 9000))),
		"padded":        sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(now)) + "=",
	} {
		before := e.own.count()
		ti, err := e.v.VerifyAccessToken(ctx, raw)
		if !errors.Is(err, errOwnRefused) || ti.Org != "" {
			t.Errorf("%s: got %+v, %v; want Latch's verifier's answer", name, ti, err)
		}
		e.own.mu.Lock()
		if len(e.own.calls) != before+1 || e.own.calls[before] != raw {
			t.Errorf("%s: Latch's verifier did not get the token unchanged", name)
		}
		e.own.mu.Unlock()
	}
	if n := e.idp.hits.Load(); n != 0 {
		t.Fatalf("%d JWKS fetches for tokens that are not the issuer's", n)
	}
}

func TestRefusals(t *testing.T) {
	k := keys()
	ctx := context.Background()
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attacker := newIDP(t, jwksOf(t, jwk(t, "evil", "RS256", k.other)))

	for _, tc := range []struct {
		name  string
		token func(t *testing.T, now time.Time) string
		want  error
	}{
		{"wrong signature", func(t *testing.T, now time.Time) string {
			return sign(t, k.other, jose.RS256, "rsa1", accessClaims(now))
		}, errSignature},
		{"tampered claims", func(t *testing.T, now time.Time) string {
			raw := sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(now))
			parts := strings.Split(raw, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(mustJSON(t, with(accessClaims(now), "sub", bob))))
			return strings.Join(parts, ".")
		}, errSignature},
		{"key of another issuer", func(t *testing.T, now time.Time) string {
			return sign(t, k.other, jose.RS256, "other-pool-key", accessClaims(now))
		}, errUnknownKey},
		{"no kid", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "", accessClaims(now))
		}, errUnknownKey},
		{"alg none", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"none"}`, mustJSON(t, accessClaims(now)), nil)
		}, errAlg},
		{"alg None with a signature", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"None"}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errAlg},
		{"alg NONE", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"NONE"}`, mustJSON(t, accessClaims(now)), nil)
		}, errAlg},
		{"no alg", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1"}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errAlg},
		{"ALG in upper case", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","ALG":"RS256"}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errAlg},
		{"HS256 keyed with the RSA public key PEM", func(t *testing.T, now time.Time) string {
			return sign(t, pubPEM, jose.HS256, "rsa1", accessClaims(now))
		}, errAlg},
		{"HS256 keyed with the RSA public key DER", func(t *testing.T, now time.Time) string {
			return sign(t, pubDER, jose.HS256, "rsa1", accessClaims(now))
		}, errAlg},
		{"allowed alg on a key of another type", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "ec1", accessClaims(now))
		}, errNoFittingKey},
		{"alg not allowed for the issuer", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.PS256, "rsa1", accessClaims(now))
		}, errAlg},
		{"empty signature", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"RS256"}`, mustJSON(t, accessClaims(now)), nil)
		}, errSignature},
		{"second spelling of the signature", func(t *testing.T, now time.Time) string {
			// 256 signature bytes end in a character with 4 unused bits.
			raw := sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(now))
			last := strings.IndexByte(base64URL, raw[len(raw)-1])
			return raw[:len(raw)-1] + string(base64URL[last^1])
		}, errSignature},
		{"crit header", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"RS256","crit":["exp"]}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errCrit},
		{"duplicate header member", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"RS256","alg":"RS256"}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errHeader},
		{"typ of a logout token", func(t *testing.T, now time.Time) string {
			return craft(t, `{"kid":"rsa1","alg":"RS256","typ":"logout+jwt"}`, mustJSON(t, accessClaims(now)), k.rsa1)
		}, errTyp},
		{"jku to an attacker's JWKS", func(t *testing.T, now time.Time) string {
			return craft(t, mustJSON(t, map[string]any{"kid": "evil", "alg": "RS256", "jku": attacker.url()}), mustJSON(t, accessClaims(now)), k.other)
		}, errUnknownKey},
		{"embedded jwk of an attacker", func(t *testing.T, now time.Time) string {
			return craft(t, mustJSON(t, map[string]any{"kid": "rsa1", "alg": "RS256", "jwk": jwk(t, "rsa1", "RS256", k.other)}), mustJSON(t, accessClaims(now)), k.other)
		}, errSignature},
		{"expired", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iat", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-Leeway).Unix()))
		}, errExpired},
		{"no exp", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "exp", nil))
		}, errNoExp},
		{"exp as a string", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "exp", fmt.Sprint(now.Add(time.Hour).Unix())))
		}, errClaims},
		{"exp before iat", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "exp", now.Add(time.Minute).Unix(), "iat", now.Add(2*time.Minute).Unix()))
		}, errClaims},
		{"no iat", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iat", nil))
		}, errNoIat},
		{"iat in the future", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "iat", now.Add(Leeway+time.Second).Unix()))
		}, errNotYetValid},
		{"nbf in the future", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "nbf", now.Add(Leeway+time.Second).Unix()))
		}, errNotYetValid},
		{"token_use id on an access issuer", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "token_use", "id"))
		}, errTokenUse},
		{"client_id not allowed", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "client_id", "another-app-client"))
		}, errClient},
		{"no client_id", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "client_id", nil))
		}, errClient},
		{"sub not a Latch id", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "sub", "../"+alice))
		}, errSubject},
		{"user not in Latch", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "sub", nobody, "username", nobody))
		}, errUser},
		{"user disabled", func(t *testing.T, now time.Time) string {
			return sign(t, k.rsa1, jose.RS256, "rsa1", with(accessClaims(now), "sub", bob, "username", bob))
		}, errUserDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, setup{})
			raw := tc.token(t, e.clock.Now())
			ti, err := e.v.VerifyAccessToken(ctx, raw)
			wantRefused(t, e, raw, ti, err, tc.want)
		})
	}
	if n := attacker.hits.Load(); n != 0 {
		t.Fatalf("the attacker's jku was fetched %d times", n)
	}
}

func dupSub(t testing.TB, now time.Time) string {
	p := mustJSON(t, accessClaims(now))
	return p[:len(p)-1] + `,"sub":"` + bob + `"}`
}

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestLeeway(t *testing.T) {
	e := newEnv(t, setup{})
	now := e.clock.Now()
	ctx := context.Background()
	for name, c := range map[string]map[string]any{
		"expired within the leeway": with(accessClaims(now), "iat", now.Add(-time.Hour).Unix(), "exp", now.Add(-Leeway+time.Second).Unix()),
		"iat within the leeway":     with(accessClaims(now), "iat", now.Add(Leeway).Unix()),
		"nbf now":                   with(accessClaims(now), "nbf", now.Unix()),
		"fractional dates":          with(accessClaims(now), "iat", float64(now.Unix())+0.5, "exp", float64(now.Add(time.Hour).Unix())+0.25),
	} {
		if _, err := e.v.VerifyAccessToken(ctx, sign(t, keys().rsa1, jose.RS256, "rsa1", c)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScopesAndAudiences(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, setup{})
	now := e.clock.Now()
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "scope", "openid latch/admin payroll/read  latch/decide"))
	ti, err := e.v.VerifyAccessToken(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ti.Scopes, " "); got != "openid payroll/read" {
		t.Fatalf("scopes %q: Latch's own scopes must be dropped", got)
	}

	api := newEnv(t, setup{issuer: func(is *Issuer) { is.Audiences = []string{"https://api.example.com"} }})
	for _, tc := range []struct {
		aud  any
		want error
	}{
		{"https://api.example.com", nil},
		{[]string{"https://other.example.com", "https://api.example.com"}, nil},
		{"https://other.example.com", errAudience},
		{nil, errAudience},
	} {
		raw := sign(t, keys().rsa1, jose.RS256, "rsa1", with(accessClaims(now), "aud", tc.aud))
		ti, err := api.v.VerifyAccessToken(ctx, raw)
		if tc.want == nil {
			if err != nil || ti.Audience != nil {
				t.Fatalf("aud %v: %+v, %v", tc.aud, ti, err)
			}
			continue
		}
		wantRefused(t, api, raw, ti, err, tc.want)
	}
}

func TestDisabledOrg(t *testing.T) {
	e := newEnv(t, setup{issuer: func(is *Issuer) { is.Org = "closed" }})
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
	ti, err := e.v.VerifyAccessToken(context.Background(), raw)
	wantRefused(t, e, raw, ti, err, errOrg)
}

func TestStoreFailureIsNotAnAnswer(t *testing.T) {
	down := latch.Wrap(latch.EUNAVAILABLE, "store", errors.New("connection refused"))
	for name, fail := range map[string]failingUsers{"GetUser": {userErr: down}, "GetOrg": {orgErr: down}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, setup{users: func(u Users) Users { fail.Users = u; return fail }})
			raw := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
			ti, err := e.v.VerifyAccessToken(context.Background(), raw)
			if err == nil || latch.IsCode(err, latch.EUNAUTHORIZED) || !errors.Is(err, down) {
				t.Fatalf("got %v, want the store's error", err)
			}
			if ti.Org != "" || ti.Subject != "" {
				t.Fatalf("TokenInfo %+v with a store error", ti)
			}
		})
	}
}

func TestRotatedKeyIsPickedUpAfterRefetch(t *testing.T) {
	k := keys()
	e := newEnv(t, setup{jwks: jwksOf(t, jwk(t, "rsa1", "RS256", k.rsa1))})
	ctx := context.Background()
	if _, err := e.v.VerifyAccessToken(ctx, sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))); err != nil {
		t.Fatal(err)
	}
	e.idp.set(jwksOf(t, jwk(t, "rsa1", "RS256", k.rsa1), jwk(t, "rsa2", "RS256", k.rsa2)), http.StatusOK)

	// Right after a fetch, a new kid waits for MinRefetch.
	e.clock.Advance(time.Minute)
	raw := sign(t, k.rsa2, jose.RS256, "rsa2", accessClaims(e.clock.Now()))
	ti, err := e.v.VerifyAccessToken(ctx, raw)
	wantRefused(t, e, raw, ti, err, errUnknownKey)
	if n := e.idp.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}

	e.clock.Advance(4 * time.Minute)
	raw = sign(t, k.rsa2, jose.RS256, "rsa2", accessClaims(e.clock.Now()))
	if ti, err := e.v.VerifyAccessToken(ctx, raw); err != nil || ti.Subject != alice {
		t.Fatalf("rotated key: %+v, %v", ti, err)
	}
	if n := e.idp.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	flood := func() {
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				raw := craft(t, fmt.Sprintf(`{"kid":"made-up-%d","alg":"RS256"}`, i), mustJSON(t, accessClaims(e.clock.Now())), nil) + "AAAA"
				if _, err := e.v.VerifyAccessToken(ctx, raw); !latch.IsCode(err, latch.EUNAUTHORIZED) || !errors.Is(err, errUnknownKey) {
					t.Errorf("made-up kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood() // the first fetch, then nothing
	if n := e.idp.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	e.clock.Advance(4 * time.Minute)
	flood()
	if n := e.idp.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within MinRefetch, want 1", n)
	}
	e.clock.Advance(time.Minute)
	flood()
	if n := e.idp.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after MinRefetch, want 2", n)
	}
	// Known keys still verify without a fetch.
	if _, err := e.v.VerifyAccessToken(ctx, sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := e.idp.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestConcurrentFirstUseFetchesOnce(t *testing.T) {
	e := newEnv(t, setup{})
	gate, seen := make(chan struct{}), make(chan struct{}, 100)
	e.idp.mu.Lock()
	e.idp.gate, e.idp.seen = gate, seen
	e.idp.mu.Unlock()
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 50 {
		wg.Go(func() {
			if _, err := e.v.VerifyAccessToken(context.Background(), raw); err == nil {
				ok.Add(1)
			} else {
				t.Error(err)
			}
		})
	}
	<-seen
	time.Sleep(50 * time.Millisecond) // let the others pile up behind the fetch
	close(gate)
	wg.Wait()
	if n := e.idp.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for 50 concurrent requests, want 1", n)
	}
	if ok.Load() != 50 {
		t.Fatalf("%d of 50 verified", ok.Load())
	}
}

func TestWaitingRequestHonoursItsContext(t *testing.T) {
	e := newEnv(t, setup{})
	gate := make(chan struct{})
	e.idp.mu.Lock()
	e.idp.gate = gate
	e.idp.mu.Unlock()
	defer close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ti, err := e.v.VerifyAccessToken(ctx, sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now())))
	if !latch.IsCode(err, latch.EUNAVAILABLE) || ti.Org != "" {
		t.Fatalf("got %+v, %v; want EUNAVAILABLE", ti, err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := keys()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		body   []byte
		status int
	}{
		"500":             {jwksOf(t, jwk(t, "rsa1", "RS256", k.rsa1)), http.StatusInternalServerError},
		"404":             {nil, http.StatusNotFound},
		"not JSON":        {[]byte(`<html>`), http.StatusOK},
		"no usable key":   {jwksOf(t, jwk(t, "rsa1", "RS512", k.rsa1)), http.StatusOK},
		"larger than cap": {append([]byte(`{"keys":[],"pad":"`), append(bytes.Repeat([]byte("x"), maxJWKSSize), '"', '}')...), http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, setup{})
			e.idp.set(tc.body, tc.status)
			raw := sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
			for range 3 {
				ti, err := e.v.VerifyAccessToken(ctx, raw)
				if !latch.IsCode(err, latch.EUNAVAILABLE) || !errors.Is(err, errUnavailable) || ti.Org != "" {
					t.Fatalf("got %+v, %v; want EUNAVAILABLE", ti, err)
				}
			}
			if n := e.idp.hits.Load(); n != 1 {
				t.Fatalf("%d fetches, want 1 (a failed fetch is retried after %v)", n, retryAfterFailure)
			}
			if !strings.Contains(e.log.String(), "JWKS fetch failed") || name == "larger than cap" && !strings.Contains(e.log.String(), "larger than") {
				t.Fatalf("the failure was not logged: %q", e.log.String())
			}
			// The provider recovers: the next attempt after the wait works.
			e.idp.set(jwksOf(t, jwk(t, "rsa1", "RS256", k.rsa1)), http.StatusOK)
			e.clock.Advance(retryAfterFailure)
			if _, err := e.v.VerifyAccessToken(ctx, sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}

	t.Run("server gone", func(t *testing.T) {
		e := newEnv(t, setup{})
		e.idp.srv.Close()
		ti, err := e.v.VerifyAccessToken(ctx, sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now())))
		if !latch.IsCode(err, latch.EUNAVAILABLE) || ti.Org != "" {
			t.Fatalf("got %+v, %v; want EUNAVAILABLE", ti, err)
		}
	})
}

func TestStaleKeys(t *testing.T) {
	k := keys()
	ctx := context.Background()
	e := newEnv(t, setup{})
	if _, err := e.v.VerifyAccessToken(ctx, sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))); err != nil {
		t.Fatal(err)
	}
	// The provider is down when the keys get old: they keep working.
	e.idp.set(nil, http.StatusBadGateway)
	e.clock.Advance(time.Hour)
	if _, err := e.v.VerifyAccessToken(ctx, sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))); err != nil {
		t.Fatalf("stale keys during an outage: %v", err)
	}
	if n := e.idp.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// The provider is back and has withdrawn rsa1: it stops verifying.
	e.idp.set(jwksOf(t, jwk(t, "ec1", "ES256", k.ec1)), http.StatusOK)
	e.clock.Advance(retryAfterFailure)
	raw := sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
	ti, err := e.v.VerifyAccessToken(ctx, raw)
	wantRefused(t, e, raw, ti, err, errUnknownKey)
	if _, err := e.v.VerifyAccessToken(ctx, sign(t, k.ec1, jose.ES256, "ec1", accessClaims(e.clock.Now()))); err != nil {
		t.Fatal(err)
	}
}

func TestJWKSKeysThatAreNotUsed(t *testing.T) {
	k := keys()
	ctx := context.Background()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	private, err := json.Marshal(jose.JSONWebKey{Key: k.rsa2, KeyID: "private", Algorithm: "RS256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	var privateJWK map[string]any
	if err := json.Unmarshal(private, &privateJWK); err != nil {
		t.Fatal(err)
	}
	enc := jwk(t, "enc", "RS256", k.other)
	enc["use"] = "enc"
	noAlg := jwk(t, "noalg", "", k.rsa2)
	e := newEnv(t, setup{
		issuer: func(is *Issuer) { is.Algorithms = []string{"RS256", "RS512"} },
		jwks: jwksOf(t,
			jwk(t, "rsa1", "RS512", k.rsa1), // bound to RS512
			jwk(t, "weak", "RS256", weak),
			privateJWK,
			enc,
			noAlg,
			map[string]any{"kty": "oct", "kid": "hmac", "k": base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))},
			map[string]any{"kty": "RSA", "kid": "broken", "n": "AQAB"},
		),
	})
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"RS256 on a key bound to RS512", sign(t, k.rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now())), errNoFittingKey},
		{"1024-bit RSA key", sign(t, weak, jose.RS256, "weak", accessClaims(e.clock.Now())), errUnknownKey},
		{"private JWK", sign(t, k.rsa2, jose.RS256, "private", accessClaims(e.clock.Now())), errUnknownKey},
		{"encryption key", sign(t, k.other, jose.RS256, "enc", accessClaims(e.clock.Now())), errUnknownKey},
	} {
		ti, err := e.v.VerifyAccessToken(ctx, tc.raw)
		wantRefused(t, e, tc.raw, ti, err, tc.want)
	}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key *rsa.PrivateKey
		kid string
	}{{jose.RS512, k.rsa1, "rsa1"}, {jose.RS256, k.rsa2, "noalg"}, {jose.RS512, k.rsa2, "noalg"}} {
		if _, err := e.v.VerifyAccessToken(ctx, sign(t, tc.key, tc.alg, tc.kid, accessClaims(e.clock.Now()))); err != nil {
			t.Errorf("%s with %s: %v", tc.alg, tc.kid, err)
		}
	}
	if !strings.Contains(e.log.String(), "skipped_keys=5") {
		t.Fatalf("log %q: want 5 skipped keys", e.log.String())
	}
}

// The whole path: a Cognito token through the authorizer, decided by the
// user's Latch ACL.
func TestAuthorizerDecidesWithTheLatchUser(t *testing.T) {
	e := newEnv(t, setup{})
	a := authorizer.New(e.v, e.store, authorizer.Options{})
	defer a.Close()
	ctx := context.Background()
	raw := sign(t, keys().rsa1, jose.RS256, "rsa1", accessClaims(e.clock.Now()))
	res, err := a.Authorize(ctx, raw, "GET", "/api/employee/"+alice+"/paystubs")
	if err != nil || !res.Decision.Allowed || res.Principal.Org != "acme" || res.Principal.Sub != alice {
		t.Fatalf("own record: %+v, %v", res, err)
	}
	res, err = a.Authorize(ctx, raw, "GET", "/api/employee/"+bob+"/paystubs")
	if err != nil || res.Decision.Allowed {
		t.Fatalf("someone else's record: allowed=%v, %v", res.Decision.Allowed, err)
	}
	if _, err := e.store.UpdateUser(ctx, "acme", alice, func(u *latch.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(ctx, raw, "GET", "/api/employee/"+alice+"/paystubs"); !latch.IsCode(err, latch.EUNAUTHORIZED) {
		t.Fatalf("disabled user: %v", err)
	}
}

func TestNew(t *testing.T) {
	st := openStore(t)
	good := []Issuer{{Issuer: cognitoIss, Org: "acme", ClientIDs: []string{appClient}}}
	if _, err := New(nil, st, good, Options{}); !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("no own verifier: %v", err)
	}
	if _, err := New(&fakeOwn{}, nil, good, Options{}); !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("no store: %v", err)
	}
	if _, err := New(&fakeOwn{}, st, []Issuer{{Issuer: cognitoIss, Org: "acme"}}, Options{}); !latch.IsCode(err, latch.EINVALID) {
		t.Fatalf("no client ids: %v", err)
	}
	v, err := New(&fakeOwn{}, st, good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.byIss[cognitoIss].keys.uri; got != cognitoIss+"/.well-known/jwks.json" {
		t.Fatalf("JWKS URI %q", got)
	}
}

func TestParseIssuers(t *testing.T) {
	yamlText := `
- issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC
  org: acme
  client_ids: [4u7v9ch2tj0vd1qkp8mfpf5s7a]
- issuer: https://login.example.com/
  jwks_uri: http://127.0.0.1:8080/keys
  org: partners
  client_ids: [web, mobile]
  token_use: id
  algorithms: [ES256, RS256]
`
	got, err := ParseIssuers(yamlText)
	if err != nil {
		t.Fatal(err)
	}
	want := []Issuer{
		{Issuer: cognitoIss, JWKSURI: cognitoIss + "/.well-known/jwks.json", Org: "acme", ClientIDs: []string{appClient},
			TokenUse: UseAccess, Algorithms: []string{"RS256"}},
		{Issuer: "https://login.example.com/", JWKSURI: "http://127.0.0.1:8080/keys", Org: "partners", ClientIDs: []string{"web", "mobile"},
			TokenUse: UseID, Algorithms: []string{"ES256", "RS256"}},
	}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
	jsonText, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseIssuers(string(jsonText))
	if err != nil || fmt.Sprintf("%+v", again) != fmt.Sprintf("%+v", want) {
		t.Fatalf("JSON: %+v, %v", again, err)
	}
	if list, err := ParseIssuers("  \n"); err != nil || list != nil {
		t.Fatalf("empty: %v, %v", list, err)
	}

	entry := func(fields string) string {
		return "- issuer: https://idp.example.com\n  org: acme\n  client_ids: [app]\n" + fields
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"http issuer", "- issuer: http://idp.example.com\n  org: acme\n  client_ids: [app]\n", "[0].issuer"},
		{"http jwks_uri", entry("  jwks_uri: http://10.0.0.1/jwks.json\n"), "[0].jwks_uri"},
		{"ftp jwks_uri", entry("  jwks_uri: ftp://idp.example.com/jwks.json\n"), "[0].jwks_uri"},
		{"query in jwks_uri", entry("  jwks_uri: https://idp.example.com/jwks?x=1\n"), "[0].jwks_uri"},
		{"relative issuer", "- issuer: /pool\n  org: acme\n  client_ids: [app]\n", "[0].issuer"},
		{"missing issuer", "- org: acme\n  client_ids: [app]\n", "[0].issuer"},
		{"missing org", "- issuer: https://idp.example.com\n  client_ids: [app]\n", "[0].org"},
		{"invalid org", "- issuer: https://idp.example.com\n  org: a/b\n  client_ids: [app]\n", "[0].org"},
		{"duplicate issuer", entry("") + "- issuer: https://idp.example.com\n  org: other\n  client_ids: [app]\n", "[1].issuer"},
		{"shared org", entry("") + "- issuer: https://idp2.example.com\n  org: acme\n  client_ids: [app]\n", "[1].org"},
		{"empty client_ids", "- issuer: https://idp.example.com\n  org: acme\n  client_ids: []\n", "[0].client_ids"},
		{"missing client_ids", "- issuer: https://idp.example.com\n  org: acme\n", "[0].client_ids"},
		{"blank client id", "- issuer: https://idp.example.com\n  org: acme\n  client_ids: ['']\n", "[0].client_ids"},
		{"token_use", entry("  token_use: refresh\n"), "[0].token_use"},
		{"audiences on ID tokens", entry("  token_use: id\n  audiences: [api]\n"), "[0].audiences"},
		{"HS256", entry("  algorithms: [HS256]\n"), "[0].algorithms"},
		{"none", entry("  algorithms: [none]\n"), "[0].algorithms"},
		{"unknown field", entry("  clientids: [app]\n"), "not a YAML or JSON list"},
		{"not a list", "issuer: https://idp.example.com\n", "not a YAML or JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIssuers(tc.text)
			if !latch.IsCode(err, latch.EINVALID) || !strings.Contains(latch.ErrorMessage(err), tc.want) {
				t.Fatalf("got %v, want EINVALID naming %q", err, tc.want)
			}
		})
	}
}
