// Package cognito is the Amazon Cognito post-confirmation trigger of the
// Lambda deployment, for teams that keep Cognito as their identity
// provider: when a person confirms their sign-up in the user pool, it
// creates their Latch user (the seed's "initialize the ACL" step), so that
// the authorizer can decide their requests from the start.
//
// The user's id is the pool's `sub` (what Cognito's tokens carry, and what
// internal/trust maps a Cognito token to); the username is the pool's
// userName (or the sub when the pool's username is not a valid Latch
// username); the email is kept only when the pool says it is verified. The
// user gets the org's default roles and no password: they sign in at
// Cognito, never at Latch's token endpoint. The org is fixed by the
// deployment (one pool per org), never taken from a user attribute that
// the person signing up could have chosen.
//
// Cognito may call a trigger more than once for one confirmation (it
// retries on timeouts): a user that exists already with the same id and
// username is success. Confirmations of a forgotten password are passed
// through untouched.
package cognito

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// TriggerConfirmSignUp is the trigger source of a sign-up confirmation.
const TriggerConfirmSignUp = "PostConfirmation_ConfirmSignUp"

// Handler creates users in one org.
type Handler struct {
	store latch.Store
	org   string
	clock latch.Clock
	log   *slog.Logger
}

// New returns a Handler that creates users of org in store.
func New(store latch.Store, org string, clock latch.Clock, log *slog.Logger) (*Handler, error) {
	if !latch.ValidID(org) {
		return nil, latch.Errorf(latch.EINVALID, "LATCH_SIGNUP_ORG: %q is not an org id", org)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, org: org, clock: clock, log: log}, nil
}

// Handle answers a post-confirmation event with the event itself, as
// Cognito requires; an error makes Cognito report the confirmation as
// failed, and the person can retry.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	var ev events.CognitoEventUserPoolsPostConfirmation
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("signup: not a Cognito post-confirmation event: %w", err)
	}
	if ev.TriggerSource != TriggerConfirmSignUp {
		return raw, nil
	}
	sub := ev.Request.UserAttributes["sub"]
	if !latch.ValidID(sub) {
		return nil, fmt.Errorf("signup: the event's sub %q is not a valid user id", sub)
	}
	org, err := h.store.GetOrg(ctx, h.org)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return nil, fmt.Errorf("signup: org %q does not exist; create it first (latch apply)", h.org)
		}
		return nil, err
	}
	if org.Disabled {
		return nil, fmt.Errorf("signup: org %q is disabled", h.org)
	}
	username, err := password.CanonicalUsername(ev.UserName)
	if err != nil {
		username = sub
	}
	var email string
	if ev.Request.UserAttributes["email_verified"] == "true" {
		if e, err := password.CanonicalEmail(ev.Request.UserAttributes["email"]); err == nil {
			email = e
		}
	}
	now := h.clock.Now()
	u := latch.User{
		Org: h.org, ID: sub, Username: username, Email: email,
		Roles:     append([]string(nil), org.DefaultRoles...),
		CreatedAt: now, UpdatedAt: now,
	}
	err = h.store.CreateUser(ctx, u)
	if latch.IsCode(err, latch.ECONFLICT) {
		// A retried trigger finds its own user; anything else is a clash
		// (the username or email belongs to another user of the org).
		if cur, gerr := h.store.GetUser(ctx, h.org, sub); gerr == nil && cur.Username == username {
			return raw, nil
		}
		if email != "" {
			// The email may be another user's: keep the account, without it.
			u.Email = ""
			err = h.store.CreateUser(ctx, u)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("signup: creating user %q in org %q: %w", sub, h.org, err)
	}
	h.log.InfoContext(ctx, "signup: user created", "org", h.org, "user", sub, "roles", u.Roles)
	return raw, nil
}
