package passwordtest_test

import (
	"testing"

	"latch.dev/latch/internal/password/passwordtest"
)

func TestCounter(t *testing.T) {
	var c passwordtest.Counter
	enc, err := c.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.Verify(enc, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	c.DummyVerify("x")
	c.DummyVerify("y")
	if c.Hashes() != 1 || c.Verifies() != 1 || c.Dummies() != 2 || c.Checks() != 3 {
		t.Fatalf("counts: hashes %d, verifies %d, dummies %d, checks %d", c.Hashes(), c.Verifies(), c.Dummies(), c.Checks())
	}
	c.Reset()
	if c.Checks() != 0 || c.Hashes() != 0 {
		t.Fatal("Reset left counts")
	}
}
