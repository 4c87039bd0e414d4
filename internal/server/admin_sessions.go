package server

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"latch.dev/latch"
)

// sessionView is one family a user holds, as the admin API shows it: a
// login session (kind login) or the tokens of an application sign-in
// (authorization_code, password), with the login session it came from.
type sessionView struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	SessionID string    `json:"session_id"`
}

// userOfPath returns the org and user named in the path, when the caller
// may see the org and the user is in it; ENOTFOUND otherwise.
func (s *Server) userOfPath(r *http.Request, a admin) (org, user string, err error) {
	org, err = s.orgFromPath(r, a)
	if err != nil {
		return "", "", err
	}
	u, err := s.store.GetUser(r.Context(), org, r.PathValue("id"))
	if err != nil {
		return "", "", err
	}
	return org, u.ID, nil
}

// liveFamilies returns the families of user in org that are neither
// revoked nor expired, newest first.
func (s *Server) liveFamilies(ctx context.Context, org, user string) ([]latch.Family, error) {
	all, err := s.store.ListFamilies(ctx, org, user)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	live := slices.DeleteFunc(all, func(f latch.Family) bool {
		// The store lists only its own org and subject; checked again so
		// that a store bug cannot show or revoke another tenant's family.
		return f.Revoked() || !now.Before(f.ExpiresAt) || f.Org != org || f.Subject != user
	})
	slices.SortFunc(live, func(a, b latch.Family) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return live, nil
}

// listSessions is GET /admin/v1/orgs/{org}/users/{id}/sessions.
func (s *Server) listSessions(r *http.Request, a admin) (int, any, error) {
	org, user, err := s.userOfPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	fams, err := s.liveFamilies(r.Context(), org, user)
	if err != nil {
		return 0, nil, err
	}
	out := make([]sessionView, 0, len(fams))
	for _, f := range fams {
		out = append(out, sessionView{ID: f.ID, Kind: f.Kind, ClientID: f.ClientID, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, SessionID: f.SessionID})
	}
	return http.StatusOK, out, nil
}

// revokeSession is DELETE /admin/v1/orgs/{org}/users/{id}/sessions/{sid}:
// it revokes one family of the user. A family of anyone else, in this org
// or another, answers 404 like a missing one and is left alone.
func (s *Server) revokeSession(r *http.Request, a admin) (int, any, error) {
	org, user, err := s.userOfPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	f, err := s.store.GetFamily(ctx, r.PathValue("sid"))
	if err != nil {
		return 0, nil, err
	}
	if f.Org != org || f.Subject != user {
		return 0, nil, latch.Errorf(latch.ENOTFOUND, "no such session")
	}
	if err := s.store.RevokeFamily(ctx, f.ID); err != nil {
		return 0, nil, err
	}
	// A login session ends like a sign-out: the tokens the applications
	// got from that sign-in go with it.
	if f.Kind == latch.FamilyLogin {
		fams, err := s.liveFamilies(ctx, org, user)
		if err != nil {
			return 0, nil, err
		}
		for _, child := range fams {
			if child.SessionID != f.ID {
				continue
			}
			if err := s.store.RevokeFamily(ctx, child.ID); err != nil && !latch.IsCode(err, latch.ENOTFOUND) {
				return 0, nil, err
			}
		}
	}
	s.log.InfoContext(ctx, "session revoked by an administrator", "org", org, "user", user, "family", f.ID, "kind", f.Kind, "by", a.subject)
	return http.StatusNoContent, nil, nil
}

// revokeSessions is DELETE /admin/v1/orgs/{org}/users/{id}/sessions: it
// revokes every live family of the user (login sessions and applications'
// token families) and says how many.
func (s *Server) revokeSessions(r *http.Request, a admin) (int, any, error) {
	org, user, err := s.userOfPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	fams, err := s.liveFamilies(ctx, org, user)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for _, f := range fams {
		err := s.store.RevokeFamily(ctx, f.ID)
		if latch.IsCode(err, latch.ENOTFOUND) {
			continue // expired meanwhile
		}
		if err != nil {
			return 0, nil, err
		}
		n++
	}
	s.log.InfoContext(ctx, "every session of a user revoked by an administrator", "org", org, "user", user, "revoked", n, "by", a.subject)
	return http.StatusOK, map[string]int{"revoked": n}, nil
}
