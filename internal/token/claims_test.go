package token

import (
	"testing"
	"time"

	"latch.dev/latch/internal/clocktest"
)

// TestMintIDSessionID: an ID token carries the login session in sid, and no
// sid when it has none.
func TestMintIDSessionID(t *testing.T) {
	k := newKeys(t, &memKeys{}, clocktest.New(t0), AlgES256)
	c := IDClaims{Issuer: testIssuer, Subject: "u1", Audience: []string{"c1"}, ExpiresAt: t0.Add(time.Hour), OrgID: "o1", SessionID: "sess1"}
	id, err := k.MintID(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodePayload(t, id)["sid"]; got != "sess1" {
		t.Fatalf("sid = %#v, want \"sess1\"", got)
	}
	c.SessionID = ""
	if id, err = k.MintID(c); err != nil {
		t.Fatal(err)
	}
	if got, ok := decodePayload(t, id)["sid"]; ok {
		t.Fatalf("sid = %#v, want none", got)
	}
}
