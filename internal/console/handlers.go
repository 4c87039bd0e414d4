package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"latch.dev/latch"
)

// editForm is the submitted form when it edited the page's item (so the
// page shows it again after an error); nil for the page's other actions.
func editForm(f url.Values) url.Values {
	if a := f.Get("action"); a == "" || a == "save" {
		return f
	}
	return nil
}

// esc escapes one path segment of an admin API path.
func esc(s string) string { return url.PathEscape(s) }

// --- home: organizations ---

func (c *Console) home(w http.ResponseWriter, r *http.Request, s session) {
	c.showHome(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showHome(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	var orgs []latch.Org
	if err := c.api(r, s, http.MethodGet, "/orgs", nil, &orgs); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Section, v.Data = "Organizations", s, "orgs", orgs
	c.render(w, r, status, "home", v)
}

// homePost creates an organization, with an "admin" role so that its
// administrators can be named at once.
func (c *Console) homePost(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	in := map[string]any{"id": strings.TrimSpace(f.Get("id")), "name": strings.TrimSpace(f.Get("name")),
		"signup": checkbox(f, "signup"), "default_roles": words(f.Get("default_roles"))}
	if err := c.api(r, s, http.MethodPost, "/orgs", in, nil); err != nil {
		c.apiFailed(w, r, err, func(status int, msg string, problems []string) {
			c.showHome(w, r, s, status, view{Error: msg, Problems: problems, Form: f})
		})
		return
	}
	org := in["id"].(string)
	if err := c.api(r, s, http.MethodPost, "/orgs/"+esc(org)+"/roles", map[string]any{"id": "admin"}, nil); err != nil {
		c.apiFailed(w, r, err, func(status int, msg string, problems []string) {
			c.showHome(w, r, s, status, view{Error: "The organization was created, but its admin role was not: " + msg, Problems: problems})
		})
		return
	}
	c.done(w, r, c.link("/orgs/%s", org), "created")
}

// --- one organization ---

type orgData struct {
	Org   latch.Org
	Roles []latch.Role
}

func (c *Console) org(w http.ResponseWriter, r *http.Request, s session) {
	c.showOrg(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showOrg(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org := r.PathValue("org")
	var d orgData
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org), nil, &d.Org); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/roles", nil, &d.Roles); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = d.Org.Name, s, org, "org", d
	if v.Title == "" {
		v.Title = org
	}
	c.render(w, r, status, "org", v)
}

func (c *Console) orgPost(w http.ResponseWriter, r *http.Request, s session) {
	org, f := r.PathValue("org"), r.PostForm
	show := func(status int, msg string, problems []string) {
		c.showOrg(w, r, s, status, view{Error: msg, Problems: problems, Form: editForm(f)})
	}
	switch f.Get("action") {
	case "delete":
		if err := c.api(r, s, http.MethodDelete, "/orgs/"+esc(org), nil, nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/"), "deleted")
	default:
		in := map[string]any{"name": strings.TrimSpace(f.Get("name")), "signup": checkbox(f, "signup"),
			"default_roles": words(f.Get("default_roles"))}
		if err := c.api(r, s, http.MethodPut, "/orgs/"+esc(org), in, nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/orgs/%s", org), "saved")
	}
}

// --- users ---

func (c *Console) users(w http.ResponseWriter, r *http.Request, s session) {
	c.showUsers(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

type usersData struct {
	Users []latch.User
	Roles []latch.Role
}

func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org := r.PathValue("org")
	var d usersData
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/users", nil, &d.Users); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/roles", nil, &d.Roles); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Users", s, org, "users", d
	c.render(w, r, status, "users", v)
}

func (c *Console) usersPost(w http.ResponseWriter, r *http.Request, s session) {
	org, f := r.PathValue("org"), r.PostForm
	in := map[string]any{"id": strings.TrimSpace(f.Get("id")), "username": strings.TrimSpace(f.Get("username")),
		"email": strings.TrimSpace(f.Get("email")), "password": f.Get("password"), "roles": words(f.Get("roles"))}
	if err := c.api(r, s, http.MethodPost, "/orgs/"+esc(org)+"/users", in, nil); err != nil {
		f.Del("password") // never shown again
		c.apiFailed(w, r, err, func(status int, msg string, problems []string) {
			c.showUsers(w, r, s, status, view{Error: msg, Problems: problems, Form: f})
		})
		return
	}
	c.done(w, r, c.link("/orgs/%s/users/%s", org, in["id"].(string)), "created")
}

// familyInfo is one of a user's sessions as the admin API lists them.
type familyInfo struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	SessionID string    `json:"session_id"`
}

type userData struct {
	User     latch.User
	Roles    []latch.Role
	Sessions []familyInfo
	// SessionsError says why the sessions could not be listed.
	SessionsError string
}

func (c *Console) user(w http.ResponseWriter, r *http.Request, s session) {
	c.showUser(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showUser(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org, id := r.PathValue("org"), r.PathValue("id")
	path := "/orgs/" + esc(org) + "/users/" + esc(id)
	var d userData
	if err := c.api(r, s, http.MethodGet, path, nil, &d.User); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/roles", nil, &d.Roles); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if err := c.api(r, s, http.MethodGet, path+"/sessions", nil, &d.Sessions); err != nil {
		if ae, ok := err.(*apiError); ok && ae.Status < 500 && ae.Status != http.StatusUnauthorized {
			d.SessionsError = ae.Message
		} else {
			c.apiFailed(w, r, err, nil)
			return
		}
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "User "+d.User.Username, s, org, "users", d
	c.render(w, r, status, "user", v)
}

func (c *Console) userPost(w http.ResponseWriter, r *http.Request, s session) {
	org, id, f := r.PathValue("org"), r.PathValue("id"), r.PostForm
	path := "/orgs/" + esc(org) + "/users/" + esc(id)
	here := c.link("/orgs/%s/users/%s", org, id)
	show := func(status int, msg string, problems []string) {
		f.Del("password")
		c.showUser(w, r, s, status, view{Error: msg, Problems: problems, Form: editForm(f)})
	}
	var err error
	notice := "saved"
	switch f.Get("action") {
	case "delete":
		if err = c.api(r, s, http.MethodDelete, path, nil, nil); err == nil {
			c.done(w, r, c.link("/orgs/%s/users", org), "deleted")
			return
		}
	case "revoke-session":
		err, notice = c.api(r, s, http.MethodDelete, path+"/sessions/"+esc(f.Get("session")), nil, nil), "revoked"
	case "revoke-all":
		err, notice = c.api(r, s, http.MethodDelete, path+"/sessions", nil, nil), "revoked"
	default:
		attrs, aerr := attributes(f.Get("attributes"))
		if aerr != nil {
			show(http.StatusBadRequest, aerr.Error(), nil)
			return
		}
		in := map[string]any{"username": strings.TrimSpace(f.Get("username")), "email": strings.TrimSpace(f.Get("email")),
			"roles": words(f.Get("roles")), "allow": lines(f.Get("allow")), "deny": lines(f.Get("deny")),
			"attributes": attrs, "disabled": checkbox(f, "disabled")}
		if pw := f.Get("password"); pw != "" {
			in["password"] = pw
		}
		err = c.api(r, s, http.MethodPut, path, in, nil)
	}
	if err != nil {
		c.apiFailed(w, r, err, show)
		return
	}
	c.done(w, r, here, notice)
}

// --- clients ---

type clientsData struct {
	Clients []latch.Client
	NewForm clientFields
}

// clientFields are the values of the client form's common fields.
type clientFields struct {
	ClientCredentials, AuthorizationCode, RefreshToken, Password bool
	Scopes, RedirectURIs, LoginOrgs, Format, Roles, Allow, Deny  string
}

func fieldsOfClient(c latch.Client) clientFields {
	return clientFields{
		ClientCredentials: c.HasGrant(latch.GrantClientCredentials), AuthorizationCode: c.HasGrant(latch.GrantAuthorizationCode),
		RefreshToken: c.HasGrant(latch.GrantRefreshToken), Password: c.HasGrant(latch.GrantPassword),
		Scopes: strings.Join(c.Scopes, " "), RedirectURIs: strings.Join(c.RedirectURIs, "\n"), LoginOrgs: strings.Join(c.LoginOrgs, " "),
		Format: c.AccessTokenFormat, Roles: strings.Join(c.Roles, " "), Allow: strings.Join(c.Allow, "\n"), Deny: strings.Join(c.Deny, "\n"),
	}
}

func fieldsOfForm(f url.Values) clientFields {
	return clientFields{
		ClientCredentials: checkbox(f, "grant_client_credentials"), AuthorizationCode: checkbox(f, "grant_authorization_code"),
		RefreshToken: checkbox(f, "grant_refresh_token"), Password: checkbox(f, "grant_password"),
		Scopes: f.Get("scopes"), RedirectURIs: f.Get("redirect_uris"), LoginOrgs: f.Get("login_orgs"),
		Format: f.Get("access_token_format"), Roles: f.Get("roles"), Allow: f.Get("allow"), Deny: f.Get("deny"),
	}
}

// clientPage is the data of one client's page.
type clientPage struct {
	Client latch.Client
	Fields clientFields
}

func (c *Console) clients(w http.ResponseWriter, r *http.Request, s session) {
	c.showClients(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showClients(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org := r.PathValue("org")
	var d clientsData
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/clients", nil, &d.Clients); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	d.NewForm = clientFields{ClientCredentials: true}
	if v.Form != nil {
		d.NewForm = fieldsOfForm(v.Form)
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Clients", s, org, "clients", d
	c.render(w, r, status, "clients", v)
}

// clientInput turns the client form into the admin API's client.
func clientInput(f url.Values) map[string]any {
	var grants []string
	for _, g := range []string{latch.GrantClientCredentials, latch.GrantAuthorizationCode, latch.GrantRefreshToken, latch.GrantPassword} {
		if checkbox(f, "grant_"+g) {
			grants = append(grants, g)
		}
	}
	return map[string]any{"name": strings.TrimSpace(f.Get("name")), "grants": grants, "scopes": words(f.Get("scopes")),
		"roles": words(f.Get("roles")), "allow": lines(f.Get("allow")), "deny": lines(f.Get("deny")),
		"redirect_uris": words(f.Get("redirect_uris")), "login_orgs": words(f.Get("login_orgs")),
		"access_token_format": f.Get("access_token_format"), "disabled": checkbox(f, "disabled")}
}

// secretData is the page that shows a new client secret, once.
type secretData struct {
	Client latch.Client
	Secret string
}

type createdClient struct {
	latch.Client
	ClientSecret string `json:"client_secret"`
}

func (c *Console) clientsPost(w http.ResponseWriter, r *http.Request, s session) {
	org, f := r.PathValue("org"), r.PostForm
	in := clientInput(f)
	in["id"] = strings.TrimSpace(f.Get("id"))
	in["public"] = f.Get("type") == "public"
	var out createdClient
	if err := c.api(r, s, http.MethodPost, "/orgs/"+esc(org)+"/clients", in, &out); err != nil {
		c.apiFailed(w, r, err, func(status int, msg string, problems []string) {
			c.showClients(w, r, s, status, view{Error: msg, Problems: problems, Form: f})
		})
		return
	}
	if out.ClientSecret == "" {
		c.done(w, r, c.link("/orgs/%s/clients/%s", org, out.ID), "created")
		return
	}
	c.render(w, r, http.StatusCreated, "secret", view{Title: "Client created", Session: s, Org: org, Section: "clients",
		Data: secretData{Client: out.Client, Secret: out.ClientSecret}})
}

func (c *Console) client(w http.ResponseWriter, r *http.Request, s session) {
	c.showClient(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showClient(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org, id := r.PathValue("org"), r.PathValue("id")
	var cl latch.Client
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/clients/"+esc(id), nil, &cl); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	d := clientPage{Client: cl, Fields: fieldsOfClient(cl)}
	if v.Form != nil {
		d.Fields = fieldsOfForm(v.Form)
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Client "+cl.ID, s, org, "clients", d
	c.render(w, r, status, "client", v)
}

func (c *Console) clientPost(w http.ResponseWriter, r *http.Request, s session) {
	org, id, f := r.PathValue("org"), r.PathValue("id"), r.PostForm
	path := "/orgs/" + esc(org) + "/clients/" + esc(id)
	show := func(status int, msg string, problems []string) {
		c.showClient(w, r, s, status, view{Error: msg, Problems: problems, Form: editForm(f)})
	}
	switch f.Get("action") {
	case "delete":
		if err := c.api(r, s, http.MethodDelete, path, nil, nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/orgs/%s/clients", org), "deleted")
	case "new-secret":
		var out createdClient
		if err := c.api(r, s, http.MethodPost, path+"/secret", nil, &out); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.render(w, r, http.StatusOK, "secret", view{Title: "New client secret", Session: s, Org: org, Section: "clients",
			Data: secretData{Client: out.Client, Secret: out.ClientSecret}})
	default:
		if err := c.api(r, s, http.MethodPut, path, clientInput(f), nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/orgs/%s/clients/%s", org, id), "saved")
	}
}

// --- roles ---

func (c *Console) roles(w http.ResponseWriter, r *http.Request, s session) {
	c.showRoles(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showRoles(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org := r.PathValue("org")
	var roles []latch.Role
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/roles", nil, &roles); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Roles", s, org, "roles", roles
	c.render(w, r, status, "roles", v)
}

func (c *Console) rolesPost(w http.ResponseWriter, r *http.Request, s session) {
	org, f := r.PathValue("org"), r.PostForm
	id := strings.TrimSpace(f.Get("id"))
	in := map[string]any{"id": id, "allow": lines(f.Get("allow")), "deny": lines(f.Get("deny"))}
	if err := c.api(r, s, http.MethodPost, "/orgs/"+esc(org)+"/roles", in, nil); err != nil {
		c.apiFailed(w, r, err, func(status int, msg string, problems []string) {
			c.showRoles(w, r, s, status, view{Error: msg, Problems: problems, Form: f})
		})
		return
	}
	c.done(w, r, c.link("/orgs/%s/roles/%s", org, id), "created")
}

func (c *Console) role(w http.ResponseWriter, r *http.Request, s session) {
	c.showRole(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showRole(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	org, id := r.PathValue("org"), r.PathValue("id")
	var role latch.Role
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/roles/"+esc(id), nil, &role); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Role "+role.ID, s, org, "roles", role
	c.render(w, r, status, "role", v)
}

func (c *Console) rolePost(w http.ResponseWriter, r *http.Request, s session) {
	org, id, f := r.PathValue("org"), r.PathValue("id"), r.PostForm
	path := "/orgs/" + esc(org) + "/roles/" + esc(id)
	show := func(status int, msg string, problems []string) {
		c.showRole(w, r, s, status, view{Error: msg, Problems: problems, Form: editForm(f)})
	}
	if f.Get("action") == "delete" {
		if err := c.api(r, s, http.MethodDelete, path, nil, nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/orgs/%s/roles", org), "deleted")
		return
	}
	in := map[string]any{"allow": lines(f.Get("allow")), "deny": lines(f.Get("deny"))}
	if err := c.api(r, s, http.MethodPut, path, in, nil); err != nil {
		c.apiFailed(w, r, err, show)
		return
	}
	c.done(w, r, c.link("/orgs/%s/roles/%s", org, id), "saved")
}

// --- audiences (global; org administrators may read them) ---

func (c *Console) audiences(w http.ResponseWriter, r *http.Request, s session) {
	c.showAudiences(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showAudiences(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	var auds []latch.Audience
	if err := c.api(r, s, http.MethodGet, "/audiences", nil, &auds); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Section, v.Data = "Audiences and scopes", s, "audiences", auds
	c.render(w, r, status, "audiences", v)
}

func (c *Console) audiencesPost(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	show := func(status int, msg string, problems []string) {
		c.showAudiences(w, r, s, status, view{Error: msg, Problems: problems, Form: f})
	}
	scopes, err := scopeStatements(f.Get("scopes"))
	if err != nil {
		show(http.StatusBadRequest, err.Error(), nil)
		return
	}
	id := strings.TrimSpace(f.Get("id"))
	in := map[string]any{"id": id, "name": strings.TrimSpace(f.Get("name")), "scopes": scopes}
	if err := c.api(r, s, http.MethodPost, "/audiences", in, nil); err != nil {
		c.apiFailed(w, r, err, show)
		return
	}
	c.done(w, r, c.link("/audiences/%s", id), "created")
}

func (c *Console) audience(w http.ResponseWriter, r *http.Request, s session) {
	c.showAudience(w, r, s, http.StatusOK, view{Notice: notice(r)})
}

func (c *Console) showAudience(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	var aud latch.Audience
	if err := c.api(r, s, http.MethodGet, "/audiences/"+esc(r.PathValue("id")), nil, &aud); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	v.Title, v.Session, v.Section, v.Data = "Audience "+aud.ID, s, "audiences", aud
	c.render(w, r, status, "audience", v)
}

func (c *Console) audiencePost(w http.ResponseWriter, r *http.Request, s session) {
	id, f := r.PathValue("id"), r.PostForm
	path := "/audiences/" + esc(id)
	show := func(status int, msg string, problems []string) {
		c.showAudience(w, r, s, status, view{Error: msg, Problems: problems, Form: editForm(f)})
	}
	if f.Get("action") == "delete" {
		if err := c.api(r, s, http.MethodDelete, path, nil, nil); err != nil {
			c.apiFailed(w, r, err, show)
			return
		}
		c.done(w, r, c.link("/audiences"), "deleted")
		return
	}
	scopes, err := scopeStatements(f.Get("scopes"))
	if err != nil {
		show(http.StatusBadRequest, err.Error(), nil)
		return
	}
	in := map[string]any{"name": strings.TrimSpace(f.Get("name")), "scopes": scopes}
	if err := c.api(r, s, http.MethodPut, path, in, nil); err != nil {
		c.apiFailed(w, r, err, show)
		return
	}
	c.done(w, r, c.link("/audiences/%s", id), "saved")
}

// --- test a request ---

// decision is the admin API's answer to a test request.
type decision struct {
	Allow       bool   `json:"allow"`
	Reason      string `json:"reason"`
	Explanation string `json:"explanation"`
	Sub         string `json:"sub"`
	ClientID    string `json:"client_id"`
	Scope       string `json:"scope"`
	Path        string `json:"path"`
}

type testData struct {
	Users    []latch.User
	Clients  []latch.Client
	Decision *decision
	Method   string
	Path     string
}

func (c *Console) test(w http.ResponseWriter, r *http.Request, s session) {
	c.showTest(w, r, s, http.StatusOK, view{}, nil)
}

func (c *Console) showTest(w http.ResponseWriter, r *http.Request, s session, status int, v view, d *decision) {
	org := r.PathValue("org")
	td := testData{Decision: d}
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/users", nil, &td.Users); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if err := c.api(r, s, http.MethodGet, "/orgs/"+esc(org)+"/clients", nil, &td.Clients); err != nil {
		c.apiFailed(w, r, err, nil)
		return
	}
	if v.Form == nil {
		v.Form = url.Values{"method": {"GET"}}
	}
	v.Title, v.Session, v.Org, v.Section, v.Data = "Test a request", s, org, "test", td
	c.render(w, r, status, "test", v)
}

func (c *Console) testPost(w http.ResponseWriter, r *http.Request, s session) {
	org, f := r.PathValue("org"), r.PostForm
	show := func(status int, msg string, problems []string) {
		c.showTest(w, r, s, status, view{Error: msg, Problems: problems, Form: f}, nil)
	}
	in := map[string]any{"method": strings.ToUpper(strings.TrimSpace(f.Get("method"))), "path": strings.TrimSpace(f.Get("path"))}
	kind, id, _ := strings.Cut(f.Get("principal"), ":")
	switch kind {
	case "user":
		in["sub"] = id
	case "client":
		in["client_id"] = id
	default:
		show(http.StatusBadRequest, "Choose a user or a client.", nil)
		return
	}
	if sc := strings.TrimSpace(f.Get("scope")); sc != "" {
		in["scope"] = strings.Join(words(sc), " ")
	}
	var d decision
	if err := c.api(r, s, http.MethodPost, "/orgs/"+esc(org)+"/decisions", in, &d); err != nil {
		c.apiFailed(w, r, err, show)
		return
	}
	c.showTest(w, r, s, http.StatusOK, view{Form: f}, &d)
}

// isGlobal is for templates: may this session manage every org?
func (s session) IsGlobal() bool { return s.global() }
