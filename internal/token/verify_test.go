package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"latch.dev/latch"
	"latch.dev/latch/internal/clocktest"
)

const testIssuer = "https://issuer.test"

var verifyOpts = VerifyOptions{Issuer: testIssuer}

func accessClaims(now time.Time) AccessClaims {
	return AccessClaims{
		Issuer:      testIssuer,
		Subject:     "u1",
		Audience:    []string{"api"},
		IssuedAt:    now,
		ExpiresAt:   now.Add(15 * time.Minute),
		JTI:         NewID(),
		ClientID:    "c1",
		Scope:       "api/read api/write",
		OrgID:       "o1",
		SubjectType: latch.SubjectUser,
		SessionID:   "fam1",
	}
}

func mint(t testing.TB, k *Keys, c AccessClaims) string {
	t.Helper()
	tok, err := k.MintAccess(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func decodeHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func headerKID(t *testing.T, tok string) string { return decodeHeader(t, tok)["kid"].(string) }
func headerAlg(t *testing.T, tok string) string { return decodeHeader(t, tok)["alg"].(string) }

var b64 = base64.RawURLEncoding.EncodeToString

// forge builds a compact JWS from raw header and payload JSON (so that it
// may hold what a JSON encoder never writes) and a signing function.
func forge(header, payload string, sign func(input []byte) []byte) string {
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	if sign == nil {
		return input + "."
	}
	return input + "." + b64(sign([]byte(input)))
}

// payloadJSON is a valid claim set at now, changed by edit (nil deletes).
func payloadJSON(now time.Time, edit map[string]any) string {
	m := map[string]any{
		"iss": testIssuer, "sub": "u1", "aud": "api", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j1", "client_id": "c1", "org_id": "o1",
	}
	for k, v := range edit {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestVerifyRejects(t *testing.T) {
	store := &memKeys{}
	clock := clocktest.New(t0)
	k := newKeys(t, store, clock, AlgES256)
	cur := k.set.Load().current
	kid := cur.kid
	real := func(in []byte) []byte {
		sig, err := cur.sign(in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	hdr := func(alg, typ string) string {
		return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, alg, kid, typ)
	}
	good := hdr("ES256", "at+jwt")
	payload := payloadJSON(t0, nil)
	valid := forge(good, payload, real)

	// An attacker's own key, offered through jku and jwk.
	var fetched atomic.Int32
	attackerJWKS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
	}))
	defer attackerJWKS.Close()
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerKey := &key{alg: AlgES256, signer: attacker, pub: &attacker.PublicKey}
	attackerSign := func(in []byte) []byte {
		sig, err := attackerKey.sign(in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	attackerJWK, err := json.Marshal(jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: "attacker", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	jkuHeader := func(kid string) string {
		return fmt.Sprintf(`{"alg":"ES256","kid":%q,"typ":"at+jwt","jku":%q,"x5u":%q,"jwk":%s}`,
			kid, attackerJWKS.URL+"/jwks.json", attackerJWKS.URL+"/cert.pem", attackerJWK)
	}

	// HS256 "signed" with what a verifier might take for the HMAC secret:
	// the public key as DER, as PEM, and the published JWKS.
	der, err := x509.MarshalPKIXPublicKey(cur.pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hmacWith := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(in)
			return m.Sum(nil)
		}
	}

	// A token of another deployment's key.
	stranger := newKeys(t, &memKeys{}, clock, AlgES256)

	huge := forge(good, payloadJSON(t0, map[string]any{"pad": strings.Repeat("x", MaxTokenSize)}), real)
	parts := strings.Split(valid, ".")
	nested := `{"a":{"b":1,"b":2}}`

	cases := []struct {
		name string
		tok  string
		opts *VerifyOptions
		want error // nil: accepted
	}{
		{"valid (sanity)", valid, nil, nil},
		{"typ AT+JWT", forge(hdr("ES256", "AT+JWT"), payload, real), nil, nil},
		{"typ application/at+jwt", forge(hdr("ES256", "application/at+jwt"), payload, real), nil, nil},
		{"expired within leeway", forge(good, payloadJSON(t0, map[string]any{"exp": t0.Add(-29 * time.Second).Unix(), "iat": t0.Add(-time.Hour).Unix()}), real), nil, nil},
		{"case variant of sub is another claim", forge(good, strings.TrimSuffix(payload, "}")+`,"SUB":"admin"}`, real), nil, nil},

		{"no issuer configured", valid, &VerifyOptions{}, errNoIssuer},
		{"alg none, empty signature", forge(hdr("none", "at+jwt"), payload, nil), nil, errAlgNone},
		{"alg None, empty signature", forge(hdr("None", "at+jwt"), payload, nil), nil, errAlgNone},
		{"alg NONE, empty signature", forge(hdr("NONE", "at+jwt"), payload, nil), nil, errAlgNone},
		{"alg nOnE, empty signature", forge(hdr("nOnE", "at+jwt"), payload, nil), nil, errAlgNone},
		{"alg none, real signature", forge(hdr("none", "at+jwt"), payload, real), nil, errAlgNone},
		{"alg missing", forge(fmt.Sprintf(`{"kid":%q,"typ":"at+jwt"}`, kid), payload, real), nil, errAlgNone},
		{"empty signature", forge(good, payload, nil), nil, errBadSignature},
		{"signature of other claims", parts[0] + "." + b64([]byte(payloadJSON(t0, map[string]any{"sub": "admin"}))) + "." + parts[2], nil, errBadSignature},
		{"truncated signature", valid[:len(valid)-4], nil, errBadSignature},
		{"HS256 with public key DER", forge(hdr("HS256", "at+jwt"), payload, hmacWith(der)), nil, errAlgMismatch},
		{"HS256 with public key PEM", forge(hdr("HS256", "at+jwt"), payload, hmacWith(pemBytes)), nil, errAlgMismatch},
		{"HS256 with the JWKS", forge(hdr("HS256", "at+jwt"), payload, hmacWith(k.JWKS())), nil, errAlgMismatch},
		{"HS256 without kid", forge(`{"alg":"HS256","typ":"at+jwt"}`, payload, hmacWith(der)), nil, errUnknownKey},
		{"RS256 on an ES256 key", forge(hdr("RS256", "at+jwt"), payload, real), nil, errAlgMismatch},
		{"alg es256 (case)", forge(hdr("es256", "at+jwt"), payload, real), nil, errAlgMismatch},
		{"jku/x5u/jwk with attacker kid", forge(jkuHeader("attacker"), payload, attackerSign), nil, errUnknownKey},
		{"jku/x5u/jwk with real kid", forge(jkuHeader(kid), payload, attackerSign), nil, errBadSignature},
		{"unknown key", mint(t, stranger, accessClaims(t0)), nil, errUnknownKey},
		{"kid missing", forge(`{"alg":"ES256","typ":"at+jwt"}`, payload, real), nil, errUnknownKey},
		{"kid not a string", forge(`{"alg":"ES256","kid":1,"typ":"at+jwt"}`, payload, real), nil, errHeader},
		{"typ JWT", forge(hdr("ES256", "JWT"), payload, real), nil, errTyp},
		{"typ missing", forge(fmt.Sprintf(`{"alg":"ES256","kid":%q}`, kid), payload, real), nil, errTyp},
		{"typ application/jwt", forge(hdr("ES256", "application/jwt"), payload, real), nil, errTyp},
		{"crit", forge(fmt.Sprintf(`{"alg":"ES256","kid":%q,"typ":"at+jwt","crit":["b64"],"b64":false}`, kid), payload, real), nil, errCrit},
		{"duplicate sub", forge(good, strings.TrimSuffix(payload, "}")+`,"sub":"admin"}`, real), nil, errDuplicate},
		{"duplicate sub, escaped", forge(good, strings.TrimSuffix(payload, "}")+`,"s\u0075b":"admin"}`, real), nil, errDuplicate},
		{"duplicate in nested claim", forge(good, strings.TrimSuffix(payload, "}")+`,"x":`+nested+`}`, real), nil, errDuplicate},
		{"duplicate alg in header", forge(fmt.Sprintf(`{"alg":"none","kid":%q,"typ":"at+jwt","alg":"ES256"}`, kid), payload, real), nil, errDuplicate},
		{"duplicate kid in header", forge(fmt.Sprintf(`{"alg":"ES256","kid":"x","typ":"at+jwt","kid":%q}`, kid), payload, real), nil, errDuplicate},
		{"exp missing", forge(good, payloadJSON(t0, map[string]any{"exp": nil}), real), nil, errMissingClaim},
		{"iat missing", forge(good, payloadJSON(t0, map[string]any{"iat": nil}), real), nil, errMissingClaim},
		{"aud missing", forge(good, payloadJSON(t0, map[string]any{"aud": nil}), real), nil, errMissingClaim},
		{"aud empty array", forge(good, payloadJSON(t0, map[string]any{"aud": []string{}}), real), nil, errMissingClaim},
		{"sub missing", forge(good, payloadJSON(t0, map[string]any{"sub": nil}), real), nil, errMissingClaim},
		{"jti missing", forge(good, payloadJSON(t0, map[string]any{"jti": nil}), real), nil, errMissingClaim},
		{"client_id missing", forge(good, payloadJSON(t0, map[string]any{"client_id": nil}), real), nil, errMissingClaim},
		{"org_id missing", forge(good, payloadJSON(t0, map[string]any{"org_id": nil}), real), nil, errMissingClaim},
		{"exp a string", forge(good, payloadJSON(t0, map[string]any{"exp": "9999999999"}), real), nil, errClaims},
		{"exp negative", forge(good, payloadJSON(t0, map[string]any{"exp": -1}), real), nil, errClaims},
		{"exp huge", forge(good, payloadJSON(t0, map[string]any{"exp": 1e300}), real), nil, errClaims},
		{"aud null", forge(good, strings.Replace(payload, `"aud":"api"`, `"aud":null`, 1), real), nil, errClaims},
		{"aud array of numbers", forge(good, payloadJSON(t0, map[string]any{"aud": []int{1}}), real), nil, errClaims},
		{"sub_type unknown", forge(good, payloadJSON(t0, map[string]any{"sub_type": "admin"}), real), nil, errClaims},
		{"payload an array", forge(good, `["iss"]`, real), nil, errClaims},
		{"data after payload", forge(good, payload+`{}`, real), nil, errClaims},
		{"expired past leeway", forge(good, payloadJSON(t0, map[string]any{"exp": t0.Add(-31 * time.Second).Unix(), "iat": t0.Add(-time.Hour).Unix()}), real), nil, errExpired},
		{"expired, no leeway", forge(good, payloadJSON(t0, map[string]any{"exp": t0.Add(-time.Second).Unix()}), real), &VerifyOptions{Issuer: testIssuer, Leeway: -1}, errExpired},
		{"expiring now", forge(good, payloadJSON(t0, map[string]any{"exp": t0.Unix()}), real), &VerifyOptions{Issuer: testIssuer, Leeway: -1}, errExpired},
		{"nbf in the future", forge(good, payloadJSON(t0, map[string]any{"nbf": t0.Add(31 * time.Second).Unix(), "exp": t0.Add(time.Hour).Unix()}), real), nil, errNotYetValid},
		{"iat in the future", forge(good, payloadJSON(t0, map[string]any{"iat": t0.Add(31 * time.Second).Unix()}), real), nil, errNotYetValid},
		{"wrong iss", forge(good, payloadJSON(t0, map[string]any{"iss": "https://evil.test"}), real), nil, errIssuer},
		{"iss with trailing slash", forge(good, payloadJSON(t0, map[string]any{"iss": testIssuer + "/"}), real), nil, errIssuer},
		{"iss of other case", forge(good, payloadJSON(t0, map[string]any{"iss": strings.ToUpper(testIssuer)}), real), nil, errIssuer},
		{"wrong aud", valid, &VerifyOptions{Issuer: testIssuer, Audience: "billing"}, errAudience},
		{"larger than the cap", huge, nil, errTooLarge},
		{"two parts", parts[0] + "." + parts[1], nil, errMalformed},
		{"four parts", valid + ".x", nil, errMalformed},
		{"JWE-like five parts", valid + ".x.y", nil, errMalformed},
		{"empty header", "." + parts[1] + "." + parts[2], nil, errMalformed},
		{"empty payload", parts[0] + ".." + parts[2], nil, errMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], nil, errMalformed},
		{"line break", parts[0] + "." + parts[1] + "\n." + parts[2], nil, errMalformed},
		{"standard base64", strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+", nil, errMalformed},
		{"JSON serialisation", fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, parts[1], parts[0], parts[2]), nil, errMalformed},
		{"empty", "", nil, errMalformed},
		{"opaque token", PrefixAccess + "abc", nil, errMalformed},
		{"header not JSON", b64([]byte("alg")) + "." + parts[1] + "." + parts[2], nil, errHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := verifyOpts
			if tc.opts != nil {
				opts = *tc.opts
			}
			c, err := k.VerifyAccess(tc.tok, opts)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject != "u1" || c.Issuer != testIssuer {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want reason %q", err, tc.want)
			}
			if !latch.IsCode(err, latch.EUNAUTHORIZED) || latch.ErrorMessage(err) != "invalid token" {
				t.Fatalf("error %v: code %q message %q", err, latch.ErrorCode(err), latch.ErrorMessage(err))
			}
			if tc.tok != "" && strings.Contains(err.Error(), tc.tok) {
				t.Fatal("error echoes the token")
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("verifier made %d requests to a jku/x5u URL", n)
	}
}

func TestVerifyRejectsIDToken(t *testing.T) {
	k := newKeys(t, &memKeys{}, clocktest.New(t0), AlgES256)
	id, err := k.MintID(IDClaims{Issuer: testIssuer, Subject: "u1", Audience: []string{"c1"}, ExpiresAt: t0.Add(time.Hour), OrgID: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.VerifyAccess(id, verifyOpts); !errors.Is(err, errTyp) {
		t.Fatalf("ID token as access token: got %v, want errTyp", err)
	}
}

func TestMintAccessRoundTrip(t *testing.T) {
	clock := clocktest.New(t0)
	k := newKeys(t, &memKeys{}, clock, AlgES256)
	in := accessClaims(t0)
	in.Audience = []string{"api", "billing"}
	in.NotBefore = t0
	tok := mint(t, k, in)
	h := decodeHeader(t, tok)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != currentKID(k) || len(h) != 3 {
		t.Fatalf("header = %v", h)
	}
	got, err := k.VerifyAccess(tok, VerifyOptions{Issuer: testIssuer, Audience: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != in.Issuer || got.Subject != in.Subject || !slices.Equal(got.Audience, in.Audience) ||
		!got.ExpiresAt.Equal(in.ExpiresAt) || !got.IssuedAt.Equal(in.IssuedAt) || !got.NotBefore.Equal(in.NotBefore) ||
		got.JTI != in.JTI || got.ClientID != in.ClientID || got.Scope != in.Scope || got.OrgID != in.OrgID ||
		got.SubjectType != in.SubjectType || got.SessionID != in.SessionID {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}

	// Optional claims are omitted, not empty; one audience is a string.
	in = accessClaims(t0)
	in.Scope, in.SubjectType, in.SessionID = "", "", ""
	claims := decodePayload(t, mint(t, k, in))
	for _, name := range []string{"scope", "sub_type", "sid", "nbf"} {
		if _, ok := claims[name]; ok {
			t.Errorf("claim %s present though empty", name)
		}
	}
	if claims["aud"] != "api" {
		t.Errorf("aud = %#v, want \"api\"", claims["aud"])
	}
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "org_id"} {
		if _, ok := claims[name]; !ok {
			t.Errorf("claim %s missing", name)
		}
	}
}

func decodePayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintRefusesIncompleteClaims(t *testing.T) {
	k := newKeys(t, &memKeys{}, clocktest.New(t0), AlgES256)
	edits := map[string]func(*AccessClaims){
		"iss":            func(c *AccessClaims) { c.Issuer = "" },
		"sub":            func(c *AccessClaims) { c.Subject = "" },
		"aud":            func(c *AccessClaims) { c.Audience = nil },
		"empty aud":      func(c *AccessClaims) { c.Audience = []string{""} },
		"jti":            func(c *AccessClaims) { c.JTI = "" },
		"client_id":      func(c *AccessClaims) { c.ClientID = "" },
		"org_id":         func(c *AccessClaims) { c.OrgID = "" },
		"exp":            func(c *AccessClaims) { c.ExpiresAt = time.Time{} },
		"exp before iat": func(c *AccessClaims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) },
		"sub_type":       func(c *AccessClaims) { c.SubjectType = "robot" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			c := accessClaims(t0)
			edit(&c)
			if _, err := k.MintAccess(c); !latch.IsCode(err, latch.EINTERNAL) {
				t.Fatalf("got %v, want EINTERNAL", err)
			}
		})
	}
	if _, err := k.MintID(IDClaims{Issuer: testIssuer, Subject: "u1", ExpiresAt: t0.Add(time.Hour), OrgID: "o1"}); !latch.IsCode(err, latch.EINTERNAL) {
		t.Fatalf("MintID without aud: got %v, want EINTERNAL", err)
	}
	c := accessClaims(time.Time{}) // iat from the clock
	c.ExpiresAt = t0.Add(time.Minute)
	got, err := k.VerifyAccess(mint(t, k, c), verifyOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(t0) {
		t.Fatalf("iat = %v, want the clock's %v", got.IssuedAt, t0)
	}
}

// TestIndependentVerifiers checks minted tokens and the published JWKS
// with verifiers nobody here wrote: go-jose with a fixed algorithm list and
// coreos/go-oidc.
func TestIndependentVerifiers(t *testing.T) {
	for _, alg := range []string{AlgES256, AlgEdDSA, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			clock := clocktest.New(t0)
			k := newKeys(t, &memKeys{}, clock, alg)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(k.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			in := accessClaims(t0)
			tok := mint(t, k, in)

			parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := parsed.Headers[0]
			if h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != alg {
				t.Fatalf("header typ %v alg %s", h.ExtraHeaders["typ"], h.Algorithm)
			}
			keys := set.Key(h.KeyID)
			if len(keys) != 1 || keys[0].Algorithm != alg || keys[0].Use != "sig" {
				t.Fatalf("JWKS key for kid %s: %+v", h.KeyID, keys)
			}
			var std jwt.Claims
			var extra struct {
				ClientID string `json:"client_id"`
				Scope    string `json:"scope"`
				OrgID    string `json:"org_id"`
				SubType  string `json:"sub_type"`
				SID      string `json:"sid"`
			}
			if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
				t.Fatalf("go-jose refused the signature: %v", err)
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{"api"}, Time: t0}, 0); err != nil {
				t.Fatal(err)
			}
			if std.Subject != in.Subject || std.ID != in.JTI || extra.ClientID != in.ClientID || extra.Scope != in.Scope ||
				extra.OrgID != in.OrgID || extra.SubType != in.SubjectType || extra.SID != in.SessionID {
				t.Fatalf("claims %+v %+v", std, extra)
			}
			// go-jose also refuses the token for any other algorithm list.
			if _, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.HS256}); err == nil {
				t.Fatal("go-jose parsed the token as HS256")
			}

			// go-oidc, on the ID token and on the access token.
			var pubs []crypto.PublicKey
			for _, j := range set.Keys {
				pubs = append(pubs, j.Key)
			}
			ctx := context.Background()
			verifier := func(clientID string) *oidc.IDTokenVerifier {
				return oidc.NewVerifier(testIssuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{
					ClientID: clientID, SupportedSigningAlgs: []string{alg}, Now: clock.Now,
				})
			}
			id, err := k.MintID(IDClaims{
				Issuer: testIssuer, Subject: "u1", Audience: []string{"c1"}, ExpiresAt: t0.Add(time.Hour),
				AuthTime: t0.Add(-time.Minute), Nonce: "n-0S6_WzA2Mj", OrgID: "o1", AuthorizedParty: "c1",
			})
			if err != nil {
				t.Fatal(err)
			}
			if typ := decodeHeader(t, id)["typ"]; typ != "JWT" {
				t.Fatalf("ID token typ = %v", typ)
			}
			idt, err := verifier("c1").Verify(ctx, id)
			if err != nil {
				t.Fatalf("go-oidc refused the ID token: %v", err)
			}
			var idc struct {
				AuthTime int64  `json:"auth_time"`
				OrgID    string `json:"org_id"`
				Azp      string `json:"azp"`
			}
			if err := idt.Claims(&idc); err != nil {
				t.Fatal(err)
			}
			if idt.Subject != "u1" || idt.Nonce != "n-0S6_WzA2Mj" || idc.AuthTime != t0.Add(-time.Minute).Unix() || idc.OrgID != "o1" || idc.Azp != "c1" {
				t.Fatalf("ID token claims: %+v %+v", idt, idc)
			}
			if _, err := verifier("api").Verify(ctx, tok); err != nil {
				t.Fatalf("go-oidc refused the access token: %v", err)
			}
			clock.Advance(time.Hour + 6*time.Minute) // past go-oidc's 5 minute leeway
			if _, err := verifier("c1").Verify(ctx, id); err == nil {
				t.Fatal("go-oidc accepted an expired ID token")
			}
		})
	}
}

func FuzzVerifyAccess(f *testing.F) {
	clock := clocktest.New(t0)
	k := newKeys(f, &memKeys{}, clock, AlgES256)
	cur := k.set.Load().current
	tok := mint(f, k, accessClaims(t0))
	f.Add(tok)
	f.Add(forge(fmt.Sprintf(`{"alg":"none","kid":%q,"typ":"at+jwt"}`, cur.kid), payloadJSON(t0, nil), nil))
	f.Add(forge(`{"alg":"ES256","kid":"x","typ":"at+jwt","jwk":{"a":[1,{"b":null}]}}`, `{"aud":["a",1]}`, nil))
	f.Add(forge(`{"alg":"ES256"}`, `{"exp":1e400}`, func([]byte) []byte { return make([]byte, 64) }))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := k.VerifyAccess(raw, verifyOpts)
		if err != nil {
			if !latch.IsCode(err, latch.EUNAUTHORIZED) {
				t.Fatalf("error %v is not EUNAUTHORIZED", err)
			}
			return
		}
		// Only a token our one key signed can pass.
		h, _, _, _ := splitCompact(raw)
		hb, _ := base64.RawURLEncoding.DecodeString(h)
		if hdr, _ := parseHeader(hb); hdr.kid != cur.kid || hdr.alg != AlgES256 {
			t.Fatalf("accepted a token of kid %q alg %q", hdr.kid, hdr.alg)
		}
		if c.Issuer != testIssuer {
			t.Fatalf("accepted %q with claims %+v", raw, c)
		}
	})
}

// FuzzReadObject checks the duplicate-detecting reader against
// encoding/json: whatever it accepts is valid JSON.
func FuzzReadObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":null}]}}`, `{"a":"\u0061"}`, `{"a":1}x`, `[1]`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readObject(data, func(r objectReader, name string) error { return r.skip(2) })
		if err == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if err == nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) != nil {
				t.Fatalf("accepted %q, which is not an object", data)
			}
		}
	})
}

func benchmarkMint(b *testing.B, alg string) {
	k := newKeys(b, &memKeys{}, clocktest.New(t0), alg)
	c := accessClaims(t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.MintAccess(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintES256(b *testing.B) { benchmarkMint(b, AlgES256) }
func BenchmarkMintEdDSA(b *testing.B) { benchmarkMint(b, AlgEdDSA) }
func BenchmarkMintRS256(b *testing.B) { benchmarkMint(b, AlgRS256) }

func benchmarkVerify(b *testing.B, alg string) {
	k := newKeys(b, &memKeys{}, clocktest.New(t0), alg)
	tok := mint(b, k, accessClaims(t0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.VerifyAccess(tok, verifyOpts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, AlgES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, AlgEdDSA) }
func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, AlgRS256) }

func BenchmarkMintES256Parallel(b *testing.B) {
	k := newKeys(b, &memKeys{}, clocktest.New(t0), AlgES256)
	c := accessClaims(t0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.MintAccess(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
