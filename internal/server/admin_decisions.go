package server

import (
	"net/http"
	"slices"
	"strings"

	"latch.dev/latch"
	"latch.dev/latch/internal/authorizer"
)

// adminDecisionRequest asks what a principal of the org may do: a user
// ("sub") or a client ("client_id"), exactly one, with the scopes a token
// of it would carry.
type adminDecisionRequest struct {
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	// Scope is space separated. Absent: a client's own scopes, none for a
	// user. Present and empty: no scopes.
	Scope *string `json:"scope"`
}

// testDecision is POST /admin/v1/orgs/{org}/decisions: how the authorizer
// would decide a request of a user or client of the org, with its
// explanation, without a token.
func (s *Server) testDecision(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	var in adminDecisionRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	switch {
	case (in.Sub == "") == (in.ClientID == ""):
		return 0, nil, latch.Errorf(latch.EINVALID, `give exactly one of "sub" (a user id) and "client_id"`)
	case in.Method == "":
		return 0, nil, latch.Errorf(latch.EINVALID, `"method" is required`)
	case in.Path == "":
		return 0, nil, latch.Errorf(latch.EINVALID, `"path" is required`)
	}
	ctx := r.Context()
	var p authorizer.Principal
	var scopes []string
	if in.Scope != nil {
		for _, sc := range strings.Fields(*in.Scope) {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if in.Sub != "" {
		if _, err := s.store.GetUser(ctx, org, in.Sub); err != nil {
			return 0, nil, err
		}
		p = authorizer.Principal{Sub: in.Sub, Org: org, Kind: latch.SubjectUser, Scopes: scopes}
	} else {
		c, err := s.clientInOrg(ctx, org, in.ClientID)
		if err != nil {
			return 0, nil, err
		}
		if in.Scope == nil {
			scopes = slices.Clone(c.Scopes)
		}
		p = authorizer.Principal{Sub: c.ID, Org: c.Org, ClientID: c.ID, Kind: latch.SubjectClient, Scopes: scopes}
	}
	pol, err := s.authz.PolicyFor(ctx, p, scopeAudiences(scopes))
	if latch.IsCode(err, latch.EUNAUTHORIZED) {
		// Deleted between the check above and now.
		return 0, nil, latch.Errorf(latch.ENOTFOUND, "no such principal")
	}
	if err != nil {
		return 0, nil, err
	}
	d := pol.Decide(in.Method, in.Path)
	return http.StatusOK, authorizer.DecisionResponse{
		Allow: d.Allowed, Reason: d.Reason.String(), Explanation: d.Explain(), Sub: p.Sub, Org: p.Org,
		ClientID: p.ClientID, Scope: strings.Join(p.Scopes, " "), Path: d.Path,
	}, nil
}

// scopeAudiences returns the audiences the scopes ("<audience>/<scope>")
// name, as a token carrying them would have.
func scopeAudiences(scopes []string) []string {
	var aud []string
	for _, sc := range scopes {
		if a, _, ok := strings.Cut(sc, "/"); ok && !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	return aud
}
