package cognito

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/bolt"
)

// event is a post-confirmation event of the shape Cognito sends.
func event(trigger, userName, sub, email, verified string) json.RawMessage {
	return json.RawMessage(`{
  "version": "1",
  "region": "eu-west-1",
  "userPoolId": "eu-west-1_AbCdEf123",
  "userName": "` + userName + `",
  "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "3n4b5urk1ft4fl3mg5e62d9ado"},
  "triggerSource": "` + trigger + `",
  "request": {"userAttributes": {"sub": "` + sub + `", "email_verified": "` + verified + `",
    "cognito:user_status": "CONFIRMED", "email": "` + email + `"}},
  "response": {}
}`)
}

func setup(t *testing.T) (latch.Store, *Handler) {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{NoSync: true, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	ctx := context.Background()
	if err := s.CreateOrg(ctx, latch.Org{ID: "payroll", DefaultRoles: []string{"employee"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	h, err := New(s, "payroll", latch.SystemClock{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

const sub = "a1b2c3d4-5678-90ab-cdef-1234567890ab"

func TestConfirmSignUpCreatesTheUser(t *testing.T) {
	s, h := setup(t)
	ev := event(TriggerConfirmSignUp, "alice", sub, "Alice@Example.com", "true")
	out, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(ev) {
		t.Fatal("the trigger must answer with the event it was given")
	}
	u, err := s.GetUser(context.Background(), "payroll", sub)
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || u.Email != "alice@example.com" || !slices.Equal(u.Roles, []string{"employee"}) || u.PasswordHash != "" {
		t.Fatalf("user = %+v", u)
	}
	// Cognito retries a trigger that timed out: the second call succeeds
	// and changes nothing.
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatalf("a retried trigger failed: %v", err)
	}
	again, _ := s.GetUser(context.Background(), "payroll", sub)
	if again.Version != u.Version {
		t.Fatal("a retried trigger wrote the user again")
	}
}

func TestOtherTriggersAndBadEvents(t *testing.T) {
	s, h := setup(t)
	ctx := context.Background()
	// A forgotten password's confirmation is passed through.
	if _, err := h.Handle(ctx, event("PostConfirmation_ConfirmForgotPassword", "bob", "b0b", "bob@example.com", "true")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "payroll", "b0b"); !latch.IsCode(err, latch.ENOTFOUND) {
		t.Fatalf("a password reset created a user: %v", err)
	}
	// An unverified email is not kept; a username Latch cannot use becomes the sub.
	if _, err := h.Handle(ctx, event(TriggerConfirmSignUp, "  ", "c4r0l", "carol@example.com", "false")); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "payroll", "c4r0l")
	if err != nil || u.Email != "" || u.Username != "c4r0l" {
		t.Fatalf("user = %+v, %v", u, err)
	}
	// A sub that is not an id, a taken username, an event that is not JSON.
	for name, ev := range map[string]json.RawMessage{
		"bad sub":        event(TriggerConfirmSignUp, "dave", "../x", "", "false"),
		"username taken": event(TriggerConfirmSignUp, "c4r0l", "other-sub", "", "false"),
		"not json":       json.RawMessage(`{`),
	} {
		if _, err := h.Handle(ctx, ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An org that does not exist is a deployment error.
	h2, _ := New(s, "nope", latch.SystemClock{}, nil)
	if _, err := h2.Handle(ctx, event(TriggerConfirmSignUp, "erin", "e1", "", "false")); err == nil {
		t.Fatal("a user was created in an org that does not exist")
	}
	if _, err := New(s, "bad org", latch.SystemClock{}, nil); err == nil {
		t.Fatal("an invalid org id was accepted")
	}
}
