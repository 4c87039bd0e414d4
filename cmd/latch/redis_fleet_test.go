package main

import (
	"net/http"
	"testing"
	"time"
)

// TestDynamoDBRedisFleet checks the bound the README promises for a fleet
// sharing a cache on Redis: a change made on one server is honoured by
// every other within 1 s, and never forgotten after.
//
// Two `latch serve` on one DynamoDB Local table and one redis-server, both
// with --cache-ttl 1h, so that nothing but Redis's messages can carry a
// change from s1 to s2 within the test (revocation states are cached too
// with a shared cache; without Redis, s2 would serve what it cached for an
// hour). Under a steady load on s2 (a token that stays allowed), 100 times:
// (a) a fresh token, used on s2 (so allowed and cached there), is revoked
// on s1, and s2 must refuse it within 1 s of the revocation's response;
// (b) a deny statement on a client is added on s1 (or removed, every other
// time), and s2's decision must flip within 1 s. Watchers keep asking both
// servers about every revoked token and the flipped path for the whole
// test: an answer older than what was already seen, or a revoked token
// allowed past its 1 s, is a failure. A latency is measured from the
// change's response to the first new answer received from s2 (after one
// decision asked of s1, which must give the new answer at once): an upper
// bound.
func TestDynamoDBRedisFleet(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	const iterations = 100
	const bound = time.Second
	start := time.Now()
	f := startRedisFleet(t, endpoint, "1h", "warn")
	probe := newChangeProbe(t, f, nil, "acl-probe")
	loadTok := mustIssue(t, f.s1.URL, "premium-reader", e2eClientSecret)
	if st, err := decide(f.s2.URL, loadTok, loadURI); err != nil || st != http.StatusOK {
		t.Fatalf("the load's token on s2: %d %v", st, err)
	}
	bases := []string{f.s1.URL, f.s2.URL}
	probe.revoked = startRevokedWatch(bases, loadURI)
	probe.watchACL(bases)
	ld := startLoad([]string{f.s2.URL}, 3, loadTok, loadURI, 0)
	ld.setPhase("steady")

	var revLat, aclLat []time.Duration
	var failures int
	for i := range iterations {
		lat, err := probe.revocation(t, bound)
		if err != nil {
			t.Errorf("iteration %d: %v", i, err)
			failures++
		}
		revLat = append(revLat, lat)
		lat, err = probe.aclChange(t, bound)
		if err != nil {
			t.Errorf("iteration %d: %v", i, err)
			failures++
		}
		aclLat = append(aclLat, lat)
		if failures > 5 {
			t.Fatal("too many failures; stopping")
		}
	}
	elapsed := time.Since(start)

	revChecks, revStale, revOther := probe.revoked.finish()
	aclChecks, aclStale, aclOther := probe.acl.finish()
	bad, report := ld.finish()
	mx, p50, p99 := latencyStats(revLat)
	t.Logf("revocation on s1 -> refused by s2 (%d): max %v, p50 %v, p99 %v", len(revLat), mx.Round(time.Microsecond), p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	mx, p50, p99 = latencyStats(aclLat)
	t.Logf("ACL change on s1 -> new decision on s2 (%d): max %v, p50 %v, p99 %v", len(aclLat), mx.Round(time.Microsecond), p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	mx, p50, p99 = latencyStats(append(revLat, aclLat...))
	t.Logf("both (%d): max %v, p50 %v, p99 %v", len(revLat)+len(aclLat), mx.Round(time.Microsecond), p50.Round(time.Microsecond), p99.Round(time.Microsecond))
	t.Logf("watchers: %d checks of revoked tokens (other answers %v), %d of the ACL path (other answers %v)", revChecks, revOther, aclChecks, aclOther)
	t.Logf("load on s2 (the token that stays allowed):\n%s", report)
	t.Logf("the whole test took %v", elapsed.Round(time.Millisecond))
	if err := watchErrors(revStale, aclStale); err != nil {
		t.Error(err)
	}
	if len(revOther) > 0 || len(aclOther) > 0 {
		t.Errorf("the watchers got answers other than 200, 401 and 403: %v %v", revOther, aclOther)
	}
	for p, n := range bad {
		t.Errorf("the load's token got %d answers other than 200 in phase %s", n, p)
	}
}
