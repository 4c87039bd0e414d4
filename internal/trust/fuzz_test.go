package trust

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"latch.dev/latch"
)

// FuzzVerify: whatever the input, only the tokens signed for the test are
// accepted, and every refusal is EUNAUTHORIZED or EUNAVAILABLE (never a
// panic, never another kind of answer).
func FuzzVerify(f *testing.F) {
	e := newEnv(f, setup{})
	k := keys()
	now := e.clock.Now()
	valid := map[string]bool{
		sign(f, k.rsa1, jose.RS256, "rsa1", accessClaims(now)): true,
		sign(f, k.ec1, jose.ES256, "ec1", accessClaims(now)):   true,
		ownToken: true,
	}
	for raw := range valid {
		f.Add(raw)
	}
	f.Add(sign(f, k.rsa1, jose.RS256, "rsa1", idClaims(now)))
	f.Add(sign(f, k.other, jose.RS256, "rsa1", accessClaims(now)))
	f.Add(sign(f, k.rsa1, jose.RS256, "unknown", accessClaims(now)))
	f.Add(craft(f, `{"kid":"rsa1","alg":"none"}`, mustJSON(f, accessClaims(now)), nil))
	f.Add(craft(f, `{"kid":"rsa1","alg":"RS256","crit":["b64"],"b64":false}`, mustJSON(f, accessClaims(now)), k.rsa1))
	f.Add("lat_0123456789")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		ti, err := e.v.VerifyAccessToken(context.Background(), raw)
		if err == nil {
			if !valid[raw] {
				t.Fatalf("accepted a token nobody signed: %+v", ti)
			}
			return
		}
		if c := latch.ErrorCode(err); c != latch.EUNAUTHORIZED && c != latch.EUNAVAILABLE {
			t.Fatalf("error code %q: %v", c, err)
		}
		if ti.Org != "" || ti.Subject != "" {
			t.Fatalf("TokenInfo %+v with an error", ti)
		}
	})
}
