package authorizer

import (
	"context"

	"latch.dev/latch"
	"latch.dev/latch/middleware"
)

// Decider lets the Go middleware ask this authorizer in process, with no
// network call: for services linked into the same binary as Latch.
func (a *Authorizer) Decider() middleware.Decider {
	return middleware.DeciderFunc(func(ctx context.Context, bearer, method, path string) (middleware.Decision, error) {
		res, err := a.Authorize(ctx, bearer, method, path)
		if latch.IsCode(err, latch.EUNAUTHORIZED) {
			return middleware.Decision{Unauthorized: true, Reason: "invalid_token"}, nil
		}
		if err != nil {
			return middleware.Decision{}, err
		}
		p := res.Principal
		return middleware.Decision{Allow: res.Decision.Allowed, Reason: res.Decision.Reason.String(),
			Sub: p.Sub, Org: p.Org, ClientID: p.ClientID, Scopes: p.Scopes}, nil
	})
}
