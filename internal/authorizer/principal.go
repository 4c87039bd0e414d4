package authorizer

import (
	"context"

	"latch.dev/latch/internal/policy"
)

// Principal is whom a verified access token speaks for.
type Principal struct {
	Sub      string   // the user id, or the client id for client tokens
	Org      string   // org_id
	ClientID string   // the client the token was issued to
	Kind     string   // latch.SubjectUser or latch.SubjectClient
	Scopes   []string // "<audience>/<scope>"
}

// Resolver turns a bearer token into its principal and the principal's
// compiled policy. It fails with EUNAUTHORIZED for a missing, invalid,
// expired or revoked token, and with EUNAVAILABLE when the store cannot be
// reached: never with a principal it could not check. Adapters (forward
// auth, the decision API, the API Gateway events, the middleware) take a
// Resolver.
type Resolver interface {
	Resolve(ctx context.Context, bearer string) (Principal, *policy.Policy, error)
}
