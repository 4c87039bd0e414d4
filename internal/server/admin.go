package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"

	"latch.dev/latch"
	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/password"
)

// maxAdminBody bounds admin request bodies (a whole config file fits).
const maxAdminBody = 4 << 20

// admin is who is calling the admin API: a global administrator (a token with
// the admin scope from the system org) or an org administrator.
type admin struct {
	global  bool
	org     string
	subject string
}

// canSee reports whether the caller may manage org. Another org's items
// answer 404, exactly like missing ones.
func (a admin) canSee(org string) bool { return a.global || a.org == org }

// adminHandler returns a value to encode (with its status) or an error; one
// function writes both.
type adminHandler func(r *http.Request, a admin) (int, any, error)

func (s *Server) registerAdmin(mux *http.ServeMux) {
	h := func(pattern string, fn adminHandler) { mux.Handle(pattern, s.adminEndpoint(fn)) }
	h("GET /admin/v1/orgs", s.listOrgs)
	h("POST /admin/v1/orgs", s.createOrg)
	h("GET /admin/v1/orgs/{org}", s.getOrg)
	h("PUT /admin/v1/orgs/{org}", s.putOrg)
	h("DELETE /admin/v1/orgs/{org}", s.deleteOrg)

	h("GET /admin/v1/orgs/{org}/users", s.listUsers)
	h("POST /admin/v1/orgs/{org}/users", s.createUser)
	h("GET /admin/v1/orgs/{org}/users/{id}", s.getUser)
	h("PUT /admin/v1/orgs/{org}/users/{id}", s.putUser)
	h("DELETE /admin/v1/orgs/{org}/users/{id}", s.deleteUser)
	h("GET /admin/v1/orgs/{org}/users/{id}/sessions", s.listSessions)
	h("DELETE /admin/v1/orgs/{org}/users/{id}/sessions", s.revokeSessions)
	h("DELETE /admin/v1/orgs/{org}/users/{id}/sessions/{sid}", s.revokeSession)

	h("GET /admin/v1/orgs/{org}/roles", s.listRoles)
	h("POST /admin/v1/orgs/{org}/roles", s.createRole)
	h("GET /admin/v1/orgs/{org}/roles/{id}", s.getRole)
	h("PUT /admin/v1/orgs/{org}/roles/{id}", s.putRole)
	h("DELETE /admin/v1/orgs/{org}/roles/{id}", s.deleteRole)

	h("GET /admin/v1/orgs/{org}/clients", s.listClients)
	h("POST /admin/v1/orgs/{org}/clients", s.createClient)
	h("GET /admin/v1/orgs/{org}/clients/{id}", s.getClient)
	h("PUT /admin/v1/orgs/{org}/clients/{id}", s.putClient)
	h("DELETE /admin/v1/orgs/{org}/clients/{id}", s.deleteClient)
	h("POST /admin/v1/orgs/{org}/clients/{id}/secret", s.resetClientSecret)

	h("POST /admin/v1/orgs/{org}/decisions", s.testDecision)

	h("GET /admin/v1/audiences", s.listAudiences)
	h("POST /admin/v1/audiences", s.createAudience)
	h("GET /admin/v1/audiences/{id}", s.getAudience)
	h("PUT /admin/v1/audiences/{id}", s.putAudience)
	h("DELETE /admin/v1/audiences/{id}", s.deleteAudience)

	h("POST /admin/v1/keys/rotate", s.rotateKeys)
	h("POST /admin/v1/apply", s.applyConfig)
}

// adminEndpoint authenticates the caller (a bearer access token with the
// admin scope), runs fn and writes its result.
func (s *Server) adminEndpoint(fn adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticateAdmin(r)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		status, v, err := fn(r, a)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	})
}

func (s *Server) authenticateAdmin(r *http.Request) (admin, error) {
	raw, ok := oauth.BearerToken(r)
	if !ok {
		return admin{}, latch.Errorf(latch.EUNAUTHORIZED, "a bearer access token is required")
	}
	ti, err := s.oauth.VerifyAccessToken(r.Context(), raw)
	if err != nil {
		return admin{}, err
	}
	if !slices.Contains(ti.Scopes, oauth.AdminScope) {
		return admin{}, latch.Errorf(latch.EFORBIDDEN, "the token lacks the %s scope", oauth.AdminScope)
	}
	if ti.SubjectType == latch.SubjectUser {
		// The role is checked again on every call, so removing it takes
		// effect at once rather than when the token expires.
		u, err := s.store.GetUser(r.Context(), ti.Org, ti.Subject)
		if err != nil {
			return admin{}, err
		}
		if !slices.Contains(u.Roles, oauth.AdminRole) {
			return admin{}, latch.Errorf(latch.EFORBIDDEN, "the user is not an administrator")
		}
	}
	return admin{global: ti.Org == oauth.SystemOrg, org: ti.Org, subject: ti.Subject}, nil
}

// adminStatus is the one mapping from the domain's error codes to HTTP.
var adminStatus = map[string]int{
	latch.EINVALID:      http.StatusBadRequest,
	latch.ENOTFOUND:     http.StatusNotFound,
	latch.ECONFLICT:     http.StatusConflict,
	latch.EUNAUTHORIZED: http.StatusUnauthorized,
	latch.EFORBIDDEN:    http.StatusForbidden,
	latch.EUNAVAILABLE:  http.StatusServiceUnavailable,
	latch.EINTERNAL:     http.StatusInternalServerError,
}

func (s *Server) writeAdminError(w http.ResponseWriter, r *http.Request, err error) {
	code := latch.ErrorCode(err)
	status, ok := adminStatus[code]
	if !ok {
		code, status = latch.EINTERNAL, http.StatusInternalServerError
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.InfoContext(r.Context(), "admin request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latch"`)
	}
	body := map[string]any{"error": code, "message": latch.ErrorMessage(err)}
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		body["errors"] = problemStrings(ve)
	}
	writeJSON(w, status, body)
}

// decodeJSON reads a JSON body into v. Unknown fields are ignored, so that
// fields a caller may not set (org, version, timestamps) are dropped rather
// than applied.
func decodeJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return latch.Errorf(latch.EINVALID, "the body must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return latch.Errorf(latch.EINVALID, "could not read the body")
	}
	if len(body) > maxAdminBody {
		return latch.Errorf(latch.EINVALID, "the body is too large")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return latch.Errorf(latch.EINVALID, "the body is not valid JSON for this resource")
	}
	return nil
}

func requireGlobal(a admin) error {
	if !a.global {
		return latch.Errorf(latch.EFORBIDDEN, "only a global administrator may do this")
	}
	return nil
}

// orgFromPath returns the org named in the path if the caller may see it;
// otherwise ENOTFOUND, as if it did not exist.
func (s *Server) orgFromPath(r *http.Request, a admin) (string, error) {
	org := r.PathValue("org")
	if !a.canSee(org) {
		return "", latch.Errorf(latch.ENOTFOUND, "no such organization")
	}
	if _, err := s.store.GetOrg(r.Context(), org); err != nil {
		return "", err
	}
	return org, nil
}

// apply validates and applies a one-item config file, so that the admin API
// and the config file share every rule.
func (s *Server) apply(ctx context.Context, f *config.File) error {
	_, err := config.Apply(ctx, s.store, f, config.ApplyOptions{Hasher: s.hasher})
	return err
}

// --- orgs ---

func (s *Server) listOrgs(r *http.Request, a admin) (int, any, error) {
	if !a.global {
		o, err := s.store.GetOrg(r.Context(), a.org)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, []latch.Org{o}, nil
	}
	orgs, err := s.store.ListOrgs(r.Context())
	return http.StatusOK, orgs, err
}

func (s *Server) createOrg(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	var in config.Org
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := s.store.GetOrg(r.Context(), in.ID); err == nil {
		return 0, nil, latch.Errorf(latch.ECONFLICT, "organization %q exists", in.ID)
	}
	if err := s.apply(r.Context(), &config.File{Orgs: []config.Org{in}}); err != nil {
		return 0, nil, err
	}
	o, err := s.store.GetOrg(r.Context(), in.ID)
	return http.StatusCreated, o, err
}

func (s *Server) getOrg(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	o, err := s.store.GetOrg(r.Context(), org)
	return http.StatusOK, o, err
}

func (s *Server) putOrg(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	var in config.Org
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.ID = org
	if err := s.apply(r.Context(), &config.File{Orgs: []config.Org{in}}); err != nil {
		return 0, nil, err
	}
	o, err := s.store.GetOrg(r.Context(), org)
	return http.StatusOK, o, err
}

func (s *Server) deleteOrg(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	if r.PathValue("org") == oauth.SystemOrg {
		return 0, nil, latch.Errorf(latch.EFORBIDDEN, "the system organization cannot be deleted")
	}
	return http.StatusNoContent, nil, s.store.DeleteOrg(r.Context(), r.PathValue("org"))
}

// --- users ---

func (s *Server) listUsers(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	users, err := s.store.ListUsers(r.Context(), org)
	return http.StatusOK, users, err
}

func (s *Server) getUser(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	u, err := s.store.GetUser(r.Context(), org, r.PathValue("id"))
	return http.StatusOK, u, err
}

func (s *Server) createUser(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	var in config.User
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org = org
	if _, err := s.store.GetUser(r.Context(), org, in.ID); err == nil {
		return 0, nil, latch.Errorf(latch.ECONFLICT, "user %q exists", in.ID)
	}
	if err := s.apply(r.Context(), &config.File{Users: []config.User{in}}); err != nil {
		return 0, nil, err
	}
	u, err := s.store.GetUser(r.Context(), org, in.ID)
	return http.StatusCreated, u, err
}

func (s *Server) putUser(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	old, err := s.store.GetUser(r.Context(), org, id)
	if err != nil {
		return 0, nil, err
	}
	var in config.User
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org, in.ID = org, id
	if in.Password == "" && in.PasswordHash == "" {
		in.PasswordHash = old.PasswordHash // keep the password unless a new one is given
	}
	if in.Disabled == nil {
		in.Disabled = new(false)
	}
	if err := s.apply(r.Context(), &config.File{Users: []config.User{in}}); err != nil {
		return 0, nil, err
	}
	u, err := s.store.GetUser(r.Context(), org, id)
	return http.StatusOK, u, err
}

func (s *Server) deleteUser(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.store.DeleteUser(r.Context(), org, r.PathValue("id"))
}

// --- roles ---

func (s *Server) listRoles(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	roles, err := s.store.ListRoles(r.Context(), org)
	return http.StatusOK, roles, err
}

func (s *Server) getRole(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	role, err := s.store.GetRole(r.Context(), org, r.PathValue("id"))
	return http.StatusOK, role, err
}

func (s *Server) createRole(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	var in config.Role
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org = org
	if _, err := s.store.GetRole(r.Context(), org, in.ID); err == nil {
		return 0, nil, latch.Errorf(latch.ECONFLICT, "role %q exists", in.ID)
	}
	if err := s.apply(r.Context(), &config.File{Roles: []config.Role{in}}); err != nil {
		return 0, nil, err
	}
	role, err := s.store.GetRole(r.Context(), org, in.ID)
	return http.StatusCreated, role, err
}

func (s *Server) putRole(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := s.store.GetRole(r.Context(), org, id); err != nil {
		return 0, nil, err
	}
	var in config.Role
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org, in.ID = org, id
	if err := s.apply(r.Context(), &config.File{Roles: []config.Role{in}}); err != nil {
		return 0, nil, err
	}
	role, err := s.store.GetRole(r.Context(), org, id)
	return http.StatusOK, role, err
}

func (s *Server) deleteRole(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.store.DeleteRole(r.Context(), org, r.PathValue("id"))
}

// --- clients ---

// clientInput is a client as the admin API takes it: a config client, plus
// Public to ask for no secret. Without a secret, secret_hash or public, Latch
// generates a secret and returns it once.
type clientInput struct {
	config.Client
	Public bool `json:"public,omitempty"`
}

type clientCreated struct {
	latch.Client
	ClientSecret string `json:"client_secret,omitempty"`
	SecretHash   string `json:"secret_hash,omitempty"`
}

func (s *Server) listClients(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	clients, err := s.store.ListClients(r.Context(), org)
	return http.StatusOK, clients, err
}

func (s *Server) clientInOrg(ctx context.Context, org, id string) (latch.Client, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return latch.Client{}, err
	}
	if c.Org != org {
		return latch.Client{}, latch.Errorf(latch.ENOTFOUND, "no such client")
	}
	return c, nil
}

func (s *Server) getClient(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	c, err := s.clientInOrg(r.Context(), org, r.PathValue("id"))
	return http.StatusOK, c, err
}

// checkLoginOrgs keeps org administrators inside their org: only a global
// administrator may let other orgs' users sign in through a client.
func checkLoginOrgs(a admin, in config.Client) error {
	if a.global {
		return nil
	}
	for _, o := range in.LoginOrgs {
		if o != a.org {
			return latch.Errorf(latch.EFORBIDDEN, "only a global administrator may set login_orgs to other organizations")
		}
	}
	return nil
}

func (s *Server) createClient(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	var in clientInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org = org
	if err := checkLoginOrgs(a, in.Client); err != nil {
		return 0, nil, err
	}
	if _, err := s.store.GetClient(r.Context(), in.ID); err == nil {
		return 0, nil, latch.Errorf(latch.ECONFLICT, "client %q exists", in.ID)
	}
	var generated string
	if in.Secret == "" && in.SecretHash == "" && !in.Public {
		secret, hash, err := password.NewClientSecret()
		if err != nil {
			return 0, nil, err
		}
		generated, in.SecretHash = secret, hash
	}
	if err := s.apply(r.Context(), &config.File{Clients: []config.Client{in.Client}}); err != nil {
		return 0, nil, err
	}
	c, err := s.store.GetClient(r.Context(), in.ID)
	if err != nil {
		return 0, nil, err
	}
	out := clientCreated{Client: c, ClientSecret: generated}
	if generated != "" {
		out.SecretHash = c.SecretHash
	}
	return http.StatusCreated, out, nil
}

func (s *Server) putClient(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	old, err := s.clientInOrg(r.Context(), org, id)
	if err != nil {
		return 0, nil, err
	}
	var in clientInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.Org, in.ID = org, id
	if err := checkLoginOrgs(a, in.Client); err != nil {
		return 0, nil, err
	}
	if in.Secret == "" && in.SecretHash == "" && !in.Public {
		in.SecretHash = old.SecretHash // keep the secret unless told otherwise
	}
	if in.Disabled == nil {
		in.Disabled = new(false)
	}
	if err := s.apply(r.Context(), &config.File{Clients: []config.Client{in.Client}}); err != nil {
		return 0, nil, err
	}
	c, err := s.store.GetClient(r.Context(), id)
	return http.StatusOK, c, err
}

// resetClientSecret generates a new secret, returned once; the old one stops
// working at once.
func (s *Server) resetClientSecret(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := s.clientInOrg(r.Context(), org, id); err != nil {
		return 0, nil, err
	}
	secret, hash, err := password.NewClientSecret()
	if err != nil {
		return 0, nil, err
	}
	c, err := s.store.UpdateClient(r.Context(), id, func(c *latch.Client) error {
		c.SecretHash = hash
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, clientCreated{Client: c, ClientSecret: secret, SecretHash: hash}, nil
}

func (s *Server) deleteClient(r *http.Request, a admin) (int, any, error) {
	org, err := s.orgFromPath(r, a)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.clientInOrg(r.Context(), org, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.store.DeleteClient(r.Context(), r.PathValue("id"))
}

// --- audiences (global; org administrators may read them) ---

func (s *Server) listAudiences(r *http.Request, _ admin) (int, any, error) {
	auds, err := s.store.ListAudiences(r.Context())
	return http.StatusOK, auds, err
}

func (s *Server) getAudience(r *http.Request, _ admin) (int, any, error) {
	aud, err := s.store.GetAudience(r.Context(), r.PathValue("id"))
	return http.StatusOK, aud, err
}

func (s *Server) createAudience(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	var in config.Audience
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := s.store.GetAudience(r.Context(), in.ID); err == nil {
		return 0, nil, latch.Errorf(latch.ECONFLICT, "audience %q exists", in.ID)
	}
	if err := s.apply(r.Context(), &config.File{Audiences: []config.Audience{in}}); err != nil {
		return 0, nil, err
	}
	aud, err := s.store.GetAudience(r.Context(), in.ID)
	return http.StatusCreated, aud, err
}

func (s *Server) putAudience(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := s.store.GetAudience(r.Context(), id); err != nil {
		return 0, nil, err
	}
	var in config.Audience
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	in.ID = id
	if err := s.apply(r.Context(), &config.File{Audiences: []config.Audience{in}}); err != nil {
		return 0, nil, err
	}
	aud, err := s.store.GetAudience(r.Context(), id)
	return http.StatusOK, aud, err
}

func (s *Server) deleteAudience(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.store.DeleteAudience(r.Context(), r.PathValue("id"))
}

// --- keys and config ---

func (s *Server) rotateKeys(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	if err := s.keys.Rotate(r.Context()); err != nil {
		return 0, nil, err
	}
	s.log.InfoContext(r.Context(), "signing keys rotated", "by", a.subject)
	return http.StatusOK, json.RawMessage(s.keys.JWKS()), nil
}

// applyConfig applies a config file (JSON, as `latch apply` sends it) as a
// whole: it is validated first and nothing is applied if anything is wrong.
func (s *Server) applyConfig(r *http.Request, a admin) (int, any, error) {
	if err := requireGlobal(a); err != nil {
		return 0, nil, err
	}
	var f config.File
	if err := decodeJSON(r, &f); err != nil {
		return 0, nil, err
	}
	dry := r.URL.Query().Get("dry_run") == "true"
	res, err := config.Apply(r.Context(), s.store, &f, config.ApplyOptions{Hasher: s.hasher, DryRun: dry})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// problemStrings lists a validation error's problems, one "path: message" each.
func problemStrings(ve *config.ValidationError) []string {
	out := make([]string, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		out = append(out, p.String())
	}
	return out
}
