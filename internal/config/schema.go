package config

// File is a declarative configuration: the orgs, audiences, roles, users and
// clients Apply makes the store hold. Build one with Load, or fill it in
// directly (tests, programs); Validate reports what is wrong with it.
//
// A File may hold plaintext passwords and client secrets. The JSON form
// (what `latch apply --endpoint` sends to a server) carries them too, so it
// must only travel over an authenticated, encrypted connection.
type File struct {
	Orgs      []Org      `json:"orgs,omitempty"`
	Audiences []Audience `json:"audiences,omitempty"`
	Roles     []Role     `json:"roles,omitempty"`
	Users     []User     `json:"users,omitempty"`
	Clients   []Client   `json:"clients,omitempty"`

	// Set by Load, read by the validator: where each path was written, and
	// which values came from the environment (and may be secrets, so are
	// never quoted in an error).
	lines   map[string]int
	fromEnv map[string]bool
}

// Org is an organization (tenant).
type Org struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Signup lets people create their own account in the org (POST /signup).
	Signup bool `json:"signup,omitempty"`
	// DefaultRoles are given to users who sign up.
	DefaultRoles []string `json:"default_roles,omitempty"`
}

// Audience is a resource server and the scopes it defines.
type Audience struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Scopes maps each scope name to the statements the scope permits.
	Scopes map[string][]string `json:"scopes,omitempty"`
}

// Role is a named set of statements within one org.
type Role struct {
	ID    string   `json:"id"`
	Org   string   `json:"org"`
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// User is a person who signs in to one org. Exactly one of Password and
// PasswordHash is set.
type User struct {
	ID           string              `json:"id"`
	Org          string              `json:"org"`
	Username     string              `json:"username"`
	Email        string              `json:"email,omitempty"`
	Password     string              `json:"password,omitempty"`
	PasswordHash string              `json:"password_hash,omitempty"`
	Roles        []string            `json:"roles,omitempty"`
	Attributes   map[string][]string `json:"attributes,omitempty"`
	Allow        []string            `json:"allow,omitempty"`
	Deny         []string            `json:"deny,omitempty"`
	// Disabled, when nil, leaves the stored flag as it is (false for a new
	// user), so that a user disabled through the admin API stays disabled
	// when the server restarts with the same file.
	Disabled *bool `json:"disabled,omitempty"`
}

// Client is an OAuth2 client. A client with neither Secret nor SecretHash is
// public.
type Client struct {
	ID                string   `json:"id"`
	Org               string   `json:"org"`
	Name              string   `json:"name,omitempty"`
	Secret            string   `json:"secret,omitempty"`
	SecretHash        string   `json:"secret_hash,omitempty"`
	Grants            []string `json:"grants"`
	Scopes            []string `json:"scopes,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	Allow             []string `json:"allow,omitempty"`
	Deny              []string `json:"deny,omitempty"`
	AccessTokenFormat string   `json:"access_token_format,omitempty"` // "" means jwt
	RedirectURIs      []string `json:"redirect_uris,omitempty"`
	// LoginOrgs lists the orgs whose users may sign in through the client,
	// besides its own; ["*"] means every org.
	LoginOrgs []string `json:"login_orgs,omitempty"`
	// Disabled, when nil, leaves the stored flag as it is (see User.Disabled).
	Disabled *bool `json:"disabled,omitempty"`
}
