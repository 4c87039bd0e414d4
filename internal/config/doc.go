// Package config is Latch's declarative configuration: a YAML file of orgs,
// audiences, roles, users and clients that `latch serve --config` applies at
// start-up and `latch apply -f` applies to a running server. Load parses it,
// Validate lists everything wrong with it, and Apply makes a latch.Store hold
// it. examples/latch.yaml is a complete, commented example.
//
// What this package must never do: delete anything, apply part of a file that
// has a problem, write to the store when nothing changed, or put a password,
// a client secret or a value from the environment into an error message.
//
// # Schema
//
// The file is one YAML (or JSON) document with five top-level lists, all
// optional. Every key not listed here is an error. Ids are 1 to 128 ASCII
// letters, digits, '.', '_' and '-', not starting with '.' or '-'. A
// statement is "METHODS PATH" or "PATH", e.g. "GET /api/employee/{sub}/**";
// package policy defines the syntax and the matching rules.
//
//	orgs:            # tenants; every user, role and token belongs to one
//	  - id:            required
//	    name:          display name
//	    signup:        true to let people sign up (POST /signup); default false
//	    default_roles: [role ids of this org] given to users who sign up
//
//	audiences:       # resource servers; not "latch" (reserved for latch/admin)
//	  - id:            required; first half of the scope strings
//	    name:          display name
//	    scopes:        map from scope name to the statements the scope permits;
//	                   a client asks for "<audience id>/<scope name>"
//
//	roles:           # named sets of statements within one org
//	  - id:            required, unique within the org
//	    org:           required
//	    allow:         [statements]
//	    deny:          [statements]; a matching deny always wins
//
//	users:           # people; each signs in to one org
//	  - id:            required, unique within the org; the token's sub
//	    org:           required
//	    username:      required; stored canonical (lower case, NFC), unique in the org
//	    email:         optional; stored canonical, unique in the org
//	    password:      plaintext (use ${ENV_VAR}); hashed with Argon2id
//	    password_hash: or an Argon2id or bcrypt hash in PHC form ($argon2id$..., $2b$...)
//	    roles:         [role ids of the user's org]
//	    attributes:    map from name to a string or a list of strings, for {attr.NAME}
//	    allow:         [statements]
//	    deny:          [statements]
//	    disabled:      true or false; left out, the stored flag is kept
//
//	clients:         # OAuth2 clients
//	  - id:            required, unique
//	    org:           required; the org_id of its client_credentials tokens
//	    name:          display name
//	    secret:        at least 32 characters (use ${ENV_VAR}); stored as a keyed digest
//	    secret_hash:   or a digest printed by `latch client create`
//	                   (neither: a public client)
//	    grants:        [client_credentials, password, refresh_token, authorization_code]
//	    scopes:        ["<audience>/<scope>" the client may request, or the built-in "latch/admin", "latch/decide"]
//	    roles:         [role ids of the client's org] (for client_credentials tokens)
//	    allow:         [statements]
//	    deny:          [statements]
//	    access_token_format: jwt (default) or opaque
//	    redirect_uris: [absolute https URIs; http only for loopback hosts]
//	    login_orgs:    [orgs whose users may sign in besides its own], or "*" for all
//	    disabled:      true or false; left out, the stored flag is kept
//
// Rules Validate enforces beyond the shapes: ids are unique (roles and users
// within their org); every reference (org, role, audience scope, login org)
// exists in the file or, when applying, in the store; a user has exactly one
// of password (which must pass password.CheckNew) and password_hash; a client
// has at most one of secret and secret_hash; client_credentials needs a
// secret, refresh_token needs password or authorization_code, and
// authorization_code needs a redirect URI; "*" in login_orgs stands alone;
// attribute values are single path segments (no '/'); lists have no
// duplicates.
//
// # Environment variables
//
// ${NAME} in a string value is replaced by the variable's value, after
// parsing, so a value never changes the file's structure whatever it
// contains; "$$" is a literal '$', and a '$' not followed by '{' or '$' is
// kept (password hashes need no escaping). An unset or empty variable is an
// error naming the variable and its line. Errors never show a value that
// came from the environment.
//
// # Errors
//
// Load and Validate report every problem at once, each with its path and,
// for a loaded file, its line:
//
//	users[2].roles[0]: unknown role "manger" (line 31)
//
// as a *ValidationError, which is a latch EINVALID error (HTTP 400).
//
// # Applying
//
// Apply validates against the store and applies nothing if anything is
// wrong. It then creates what is missing and updates what differs, in the
// order orgs, audiences, roles, users, clients, and leaves the rest
// untouched: applying the same file twice writes nothing the second time.
// Items the file mentions are set to exactly what it says (a left-out field
// is emptied), except the disabled flag, which is kept unless the file sets
// it. Apply never deletes: an item that is in the store but not in the file
// stays, and removing it takes the admin API or the CLI.
package config
