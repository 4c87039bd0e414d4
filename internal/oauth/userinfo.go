package oauth

import (
	"encoding/json"
	"net/http"

	"latch.dev/latch"
)

// BearerToken extracts an RFC 6750 bearer token from the Authorization
// header only (exactly one such header; see latch.ParseBearer). Tokens in the
// query string or body are not accepted.
func BearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	return latch.ParseBearer(vals[0])
}

func bearerChallenge(w http.ResponseWriter, errCode string) {
	v := `Bearer realm="latch"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
}

// handleUserinfo returns the claims of the user an access token speaks for
// (OIDC Core §5.3). Client tokens have no user and get 403.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	raw, ok := BearerToken(r)
	if !ok {
		bearerChallenge(w, "")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	ti, err := s.VerifyAccessToken(r.Context(), raw)
	if err != nil {
		if latch.IsCode(err, latch.EUNAUTHORIZED) {
			bearerChallenge(w, "invalid_token")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		s.writeError(w, r, err)
		return
	}
	if ti.SubjectType != latch.SubjectUser {
		bearerChallenge(w, "insufficient_scope")
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope"})
		return
	}
	u, err := s.store.GetUser(r.Context(), ti.Org, ti.Subject)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"sub": u.ID, "org_id": u.Org, "preferred_username": u.Username}
	if u.Email != "" {
		out["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
