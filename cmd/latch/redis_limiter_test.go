package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDynamoDBRedisFleetLimiter: two `latch serve` with --cache on one
// Redis count failed logins together: failures on s1 lock the account on
// s2, and Redis holds no username.
func TestDynamoDBRedisFleetLimiter(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	f := startRedisFleet(t, endpoint, "5s", "warn")
	login := func(base, pw string) (int, string) {
		t.Helper()
		st, b, err := postForm(base+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"employee5"}, "password": {pw}}, "payroll-app", e2eClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		return st, string(b)
	}
	if st, b := login(f.s2.URL, e2eUserPassword); st != http.StatusOK {
		t.Fatalf("the right password on s2: %d %s", st, b)
	}
	for range 6 {
		if st, b := login(f.s1.URL, "a wrong guess"); st != http.StatusBadRequest || strings.Contains(b, "too many") {
			t.Fatalf("a wrong password on s1: %d %s", st, b)
		}
	}
	if st, b := login(f.s2.URL, e2eUserPassword); st != http.StatusBadRequest || !strings.Contains(b, "too many failed attempts") {
		t.Fatalf("the right password on s2 after 6 failures on s1: %d %s, want throttled", st, b)
	}
	admin := redis.NewClient(&redis.Options{Addr: f.redis.Addr(), Protocol: 2, DisableIdentity: true})
	defer admin.Close()
	keys, err := admin.Keys(t.Context(), "latch:limit:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no limiter key in Redis")
	}
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "employee5") || strings.Contains(k, "payroll") || strings.Contains(k, "127.0.0.1") {
			t.Errorf("Redis key %q", k)
		}
	}
}
