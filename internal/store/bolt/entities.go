package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"latch.dev/latch"
)

// maxUpdateAttempts bounds the compare-and-swap loop of Update*. A caller
// loses a race only to another writer that committed meanwhile, so this many
// attempts succeed unless that many writers update one item at once.
const maxUpdateAttempts = 64

// entity describes how one kind of versioned item (org, user, role, client,
// audience) is keyed, encoded, indexed and announced, so that create, get,
// update and delete are written once.
type entity[T any] struct {
	name   string // in error messages
	kind   string // latch.Change kind
	bucket []byte

	key      func(*T) []byte
	org      func(*T) string // "" when the item has no org
	id       func(*T) string
	validate func(*T) error
	// meta points at the fields the store maintains.
	meta func(*T) (version *uint64, created, updated *time.Time)
	// keepKeys copies the key fields of from into to: fn cannot change them.
	keepKeys func(to, from *T)
	encode   func(*T) ([]byte, error)
	decode   func([]byte) (T, error)
	// index claims (old == nil on create) or releases (next == nil on delete)
	// secondary keys in the same transaction as the item.
	index func(tx *bolt.Tx, old, next *T) error
}

func (e *entity[T]) change(v *T, deleted bool) latch.Change {
	version, _, _ := e.meta(v)
	return latch.Change{Kind: e.kind, Org: e.org(v), ID: e.id(v), Version: *version, Deleted: deleted}
}

func (e *entity[T]) load(tx *bolt.Tx, key []byte) (T, bool, error) {
	raw := tx.Bucket(e.bucket).Get(key)
	if raw == nil {
		var zero T
		return zero, false, nil
	}
	v, err := e.decode(raw)
	return v, err == nil, err
}

func (e *entity[T]) put(tx *bolt.Tx, v *T) error {
	data, err := e.encode(v)
	if err != nil {
		return err
	}
	return tx.Bucket(e.bucket).Put(e.key(v), data)
}

func create[T any](s *Store, ctx context.Context, e *entity[T], v T) error {
	op := "bolt.Create" + e.name
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if err := e.validate(&v); err != nil {
		return err
	}
	now := s.clock.Now()
	version, created, updated := e.meta(&v)
	*version = 1
	if created.IsZero() {
		*created = now
	}
	if updated.IsZero() {
		*updated = *created
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		if tx.Bucket(e.bucket).Get(e.key(&v)) != nil {
			return nil, conflict("%s %q exists already", e.name, e.id(&v))
		}
		// Users, roles and clients only live in an org that exists; checked
		// in the same transaction, so DeleteOrg cannot race it.
		if org := e.org(&v); org != "" && e.kind != latch.ChangeOrg && tx.Bucket(bOrgs).Get([]byte(org)) == nil {
			return nil, latch.Errorf(latch.ENOTFOUND, "organization %q does not exist", org)
		}
		if e.index != nil {
			if err := e.index(tx, nil, &v); err != nil {
				return nil, err
			}
		}
		if err := e.put(tx, &v); err != nil {
			return nil, err
		}
		return []latch.Change{e.change(&v, false)}, nil
	})
}

func get[T any](s *Store, ctx context.Context, e *entity[T], key []byte) (T, error) {
	op := "bolt.Get" + e.name
	var v T
	if err := checkCtx(ctx, op); err != nil {
		return v, err
	}
	err := s.view(op, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		v, ok, err = e.load(tx, key)
		if err == nil && !ok {
			err = notFound(e.name)
		}
		return err
	})
	return v, err
}

// list returns the items whose key starts with prefix, in key order.
func list[T any](s *Store, ctx context.Context, e *entity[T], prefix []byte) ([]T, error) {
	op := "bolt.List" + e.name + "s"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	out := []T{}
	err := s.view(op, func(tx *bolt.Tx) error {
		c := tx.Bucket(e.bucket).Cursor()
		for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
			v, err := e.decode(raw)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// update is the compare-and-swap loop of the contract: fn runs outside any
// transaction on a fresh copy (so it may be slow, and may even read the
// store), and its result is written only if the item's Version is still the
// one fn saw. fn may therefore run more than once.
func update[T any](s *Store, ctx context.Context, e *entity[T], key []byte, fn func(*T) error) (T, error) {
	op := "bolt.Update" + e.name
	var zero T
	id := ""
	for range maxUpdateAttempts {
		if err := checkCtx(ctx, op); err != nil {
			return zero, err
		}
		var raw []byte
		err := s.view(op, func(tx *bolt.Tx) error {
			if v := tx.Bucket(e.bucket).Get(key); v != nil {
				raw = bytes.Clone(v)
			}
			return nil
		})
		if err != nil {
			return zero, err
		}
		if raw == nil {
			return zero, notFound(e.name)
		}
		cur, err := e.decode(raw)
		if err != nil {
			return zero, mapErr(op, err)
		}
		next, _ := e.decode(raw) // fn's own copy
		if err := fn(&next); err != nil {
			return zero, err
		}
		id = e.id(&cur)
		e.keepKeys(&next, &cur)
		curVersion, curCreated, _ := e.meta(&cur)
		version, created, updated := e.meta(&next)
		*version = *curVersion + 1
		*created = *curCreated
		*updated = s.clock.Now()
		if err := e.validate(&next); err != nil {
			return zero, err
		}
		err = s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
			stored, ok, err := e.load(tx, key)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, notFound(e.name)
			}
			if v, _, _ := e.meta(&stored); *v != *curVersion {
				return nil, errLostRace
			}
			if e.index != nil {
				if err := e.index(tx, &stored, &next); err != nil {
					return nil, err
				}
			}
			if err := e.put(tx, &next); err != nil {
				return nil, err
			}
			return []latch.Change{e.change(&next, false)}, nil
		})
		if err == errLostRace {
			continue
		}
		if err != nil {
			return zero, err
		}
		return next, nil
	}
	return zero, conflict("%s %q is being changed by others; try again", e.name, id)
}

// remove deletes the item at key; check may refuse (DeleteOrg).
func remove[T any](s *Store, ctx context.Context, e *entity[T], key []byte, check func(tx *bolt.Tx, v *T) error) error {
	op := "bolt.Delete" + e.name
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		v, ok, err := e.load(tx, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound(e.name)
		}
		if check != nil {
			if err := check(tx, &v); err != nil {
				return nil, err
			}
		}
		if e.index != nil {
			if err := e.index(tx, &v, nil); err != nil {
				return nil, err
			}
		}
		if err := tx.Bucket(e.bucket).Delete(key); err != nil {
			return nil, err
		}
		return []latch.Change{e.change(&v, true)}, nil
	})
}

// Records: the domain types hide secrets from JSON, so the stored record
// carries them beside the item.

type userRecord struct {
	latch.User
	PasswordHash string `json:"password_hash,omitempty"`
}

type clientRecord struct {
	latch.Client
	SecretHash string `json:"secret_hash,omitempty"`
}

func encodeJSON[T any](v *T) ([]byte, error) { return json.Marshal(v) }

var orgs = &entity[latch.Org]{
	name:     "Org",
	kind:     latch.ChangeOrg,
	bucket:   bOrgs,
	key:      func(o *latch.Org) []byte { return []byte(o.ID) },
	org:      func(o *latch.Org) string { return o.ID },
	id:       func(o *latch.Org) string { return o.ID },
	validate: func(o *latch.Org) error { return latch.CheckID("org", o.ID) },
	meta: func(o *latch.Org) (*uint64, *time.Time, *time.Time) {
		return &o.Version, &o.CreatedAt, &o.UpdatedAt
	},
	keepKeys: func(to, from *latch.Org) { to.ID = from.ID },
	encode:   encodeJSON[latch.Org],
	decode:   decode[latch.Org],
}

var users = &entity[latch.User]{
	name:   "User",
	kind:   latch.ChangeUser,
	bucket: bUsers,
	key:    func(u *latch.User) []byte { return orgKey(u.Org, u.ID) },
	org:    func(u *latch.User) string { return u.Org },
	id:     func(u *latch.User) string { return u.ID },
	validate: func(u *latch.User) error {
		if err := latch.CheckID("org", u.Org); err != nil {
			return err
		}
		return latch.CheckID("user", u.ID)
	},
	meta: func(u *latch.User) (*uint64, *time.Time, *time.Time) {
		return &u.Version, &u.CreatedAt, &u.UpdatedAt
	},
	keepKeys: func(to, from *latch.User) { to.Org, to.ID = from.Org, from.ID },
	encode: func(u *latch.User) ([]byte, error) {
		return json.Marshal(userRecord{User: *u, PasswordHash: u.PasswordHash})
	},
	decode: func(raw []byte) (latch.User, error) {
		r, err := decode[userRecord](raw)
		r.User.PasswordHash = r.PasswordHash
		return r.User, err
	},
	index: indexLogins,
}

// logins are the usernames and emails a user claims in its org. Both share
// one namespace, so that FindUser can never be ambiguous.
func logins(u *latch.User) []string {
	var out []string
	for _, l := range []string{u.Username, u.Email} {
		if l != "" && (len(out) == 0 || out[0] != l) {
			out = append(out, l)
		}
	}
	return out
}

func indexLogins(tx *bolt.Tx, old, next *latch.User) error {
	b := tx.Bucket(bLogins)
	var oldLogins, nextLogins []string
	if old != nil {
		oldLogins = logins(old)
	}
	if next != nil {
		nextLogins = logins(next)
	}
	for _, l := range oldLogins {
		if next == nil || !contains(nextLogins, l) {
			if err := b.Delete(orgKey(old.Org, l)); err != nil {
				return err
			}
		}
	}
	if next == nil {
		return nil
	}
	for _, l := range nextLogins {
		k := orgKey(next.Org, l)
		if owner := b.Get(k); owner != nil {
			if string(owner) == next.ID {
				continue
			}
			return conflict("username or email is taken in org %q", next.Org)
		}
		if err := b.Put(k, []byte(next.ID)); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var roles = &entity[latch.Role]{
	name:   "Role",
	kind:   latch.ChangeRole,
	bucket: bRoles,
	key:    func(r *latch.Role) []byte { return orgKey(r.Org, r.ID) },
	org:    func(r *latch.Role) string { return r.Org },
	id:     func(r *latch.Role) string { return r.ID },
	validate: func(r *latch.Role) error {
		if err := latch.CheckID("org", r.Org); err != nil {
			return err
		}
		return latch.CheckID("role", r.ID)
	},
	meta: func(r *latch.Role) (*uint64, *time.Time, *time.Time) {
		return &r.Version, &r.CreatedAt, &r.UpdatedAt
	},
	keepKeys: func(to, from *latch.Role) { to.Org, to.ID = from.Org, from.ID },
	encode:   encodeJSON[latch.Role],
	decode:   decode[latch.Role],
}

var clients = &entity[latch.Client]{
	name:   "Client",
	kind:   latch.ChangeClient,
	bucket: bClients,
	key:    func(c *latch.Client) []byte { return []byte(c.ID) },
	org:    func(c *latch.Client) string { return c.Org },
	id:     func(c *latch.Client) string { return c.ID },
	validate: func(c *latch.Client) error {
		if err := latch.CheckID("client", c.ID); err != nil {
			return err
		}
		return latch.CheckID("org", c.Org)
	},
	meta: func(c *latch.Client) (*uint64, *time.Time, *time.Time) {
		return &c.Version, &c.CreatedAt, &c.UpdatedAt
	},
	// A client's org is fixed too: it is the org_id of its tokens.
	keepKeys: func(to, from *latch.Client) { to.ID, to.Org = from.ID, from.Org },
	encode: func(c *latch.Client) ([]byte, error) {
		return json.Marshal(clientRecord{Client: *c, SecretHash: c.SecretHash})
	},
	decode: func(raw []byte) (latch.Client, error) {
		r, err := decode[clientRecord](raw)
		r.Client.SecretHash = r.SecretHash
		return r.Client, err
	},
	index: func(tx *bolt.Tx, old, next *latch.Client) error {
		b := tx.Bucket(bClientOrgs)
		switch {
		case old == nil:
			return b.Put(orgKey(next.Org, next.ID), nil)
		case next == nil:
			return b.Delete(orgKey(old.Org, old.ID))
		}
		return nil // keys and org never change
	},
}

var audiences = &entity[latch.Audience]{
	name:     "Audience",
	kind:     latch.ChangeAudience,
	bucket:   bAudiences,
	key:      func(a *latch.Audience) []byte { return []byte(a.ID) },
	org:      func(*latch.Audience) string { return "" },
	id:       func(a *latch.Audience) string { return a.ID },
	validate: func(a *latch.Audience) error { return latch.CheckID("audience", a.ID) },
	meta: func(a *latch.Audience) (*uint64, *time.Time, *time.Time) {
		return &a.Version, &a.CreatedAt, &a.UpdatedAt
	},
	keepKeys: func(to, from *latch.Audience) { to.ID = from.ID },
	encode:   encodeJSON[latch.Audience],
	decode:   decode[latch.Audience],
}

// Orgs.

// CreateOrg creates o; ECONFLICT if the id is taken.
func (s *Store) CreateOrg(ctx context.Context, o latch.Org) error { return create(s, ctx, orgs, o) }

// GetOrg returns the org id.
func (s *Store) GetOrg(ctx context.Context, id string) (latch.Org, error) {
	return get(s, ctx, orgs, []byte(id))
}

// ListOrgs returns every org sorted by id.
func (s *Store) ListOrgs(ctx context.Context) ([]latch.Org, error) {
	return list(s, ctx, orgs, nil)
}

// UpdateOrg changes the org id with fn; see latch.Store.
func (s *Store) UpdateOrg(ctx context.Context, id string, fn func(*latch.Org) error) (latch.Org, error) {
	return update(s, ctx, orgs, []byte(id), fn)
}

// DeleteOrg deletes an org that has no users, roles or clients left.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	return remove(s, ctx, orgs, []byte(id), func(tx *bolt.Tx, o *latch.Org) error {
		prefix := orgKey(o.ID, "")
		for _, b := range [][]byte{bUsers, bRoles, bClientOrgs} {
			if k, _ := tx.Bucket(b).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
				return conflict("org %q still has users, roles or clients", o.ID)
			}
		}
		return nil
	})
}

// Users.

// CreateUser creates u, claiming its id, username and email in its org in
// one transaction.
func (s *Store) CreateUser(ctx context.Context, u latch.User) error {
	return create(s, ctx, users, u)
}

// GetUser returns the user id of org.
func (s *Store) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	if !latch.ValidID(org) {
		return latch.User{}, notFound("User")
	}
	return get(s, ctx, users, orgKey(org, id))
}

// FindUser returns the user of org whose canonical username or email is login.
func (s *Store) FindUser(ctx context.Context, org, login string) (latch.User, error) {
	const op = "bolt.FindUser"
	var u latch.User
	if err := checkCtx(ctx, op); err != nil {
		return u, err
	}
	if !latch.ValidID(org) || login == "" {
		return u, notFound("User")
	}
	err := s.view(op, func(tx *bolt.Tx) error {
		id := tx.Bucket(bLogins).Get(orgKey(org, login))
		if id == nil {
			return notFound("User")
		}
		var ok bool
		var err error
		u, ok, err = users.load(tx, orgKey(org, string(id)))
		if err == nil && !ok {
			err = notFound("User")
		}
		return err
	})
	return u, err
}

// ListUsers returns the users of org sorted by id.
func (s *Store) ListUsers(ctx context.Context, org string) ([]latch.User, error) {
	if !latch.ValidID(org) {
		return []latch.User{}, nil
	}
	return list(s, ctx, users, orgKey(org, ""))
}

// UpdateUser changes a user with fn, re-claiming a changed username or email.
func (s *Store) UpdateUser(ctx context.Context, org, id string, fn func(*latch.User) error) (latch.User, error) {
	if !latch.ValidID(org) {
		return latch.User{}, notFound("User")
	}
	return update(s, ctx, users, orgKey(org, id), fn)
}

// DeleteUser deletes a user and releases its username and email.
func (s *Store) DeleteUser(ctx context.Context, org, id string) error {
	if !latch.ValidID(org) {
		return notFound("User")
	}
	return remove(s, ctx, users, orgKey(org, id), nil)
}

// Roles.

// CreateRole creates r; ECONFLICT if its id is taken in its org.
func (s *Store) CreateRole(ctx context.Context, r latch.Role) error {
	return create(s, ctx, roles, r)
}

// GetRole returns the role id of org.
func (s *Store) GetRole(ctx context.Context, org, id string) (latch.Role, error) {
	if !latch.ValidID(org) {
		return latch.Role{}, notFound("Role")
	}
	return get(s, ctx, roles, orgKey(org, id))
}

// ListRoles returns the roles of org sorted by id.
func (s *Store) ListRoles(ctx context.Context, org string) ([]latch.Role, error) {
	if !latch.ValidID(org) {
		return []latch.Role{}, nil
	}
	return list(s, ctx, roles, orgKey(org, ""))
}

// UpdateRole changes a role with fn.
func (s *Store) UpdateRole(ctx context.Context, org, id string, fn func(*latch.Role) error) (latch.Role, error) {
	if !latch.ValidID(org) {
		return latch.Role{}, notFound("Role")
	}
	return update(s, ctx, roles, orgKey(org, id), fn)
}

// DeleteRole deletes a role.
func (s *Store) DeleteRole(ctx context.Context, org, id string) error {
	if !latch.ValidID(org) {
		return notFound("Role")
	}
	return remove(s, ctx, roles, orgKey(org, id), nil)
}

// Clients.

// CreateClient creates c; ECONFLICT if its id is taken.
func (s *Store) CreateClient(ctx context.Context, c latch.Client) error {
	return create(s, ctx, clients, c)
}

// GetClient returns the client id, secret digest included.
func (s *Store) GetClient(ctx context.Context, id string) (latch.Client, error) {
	return get(s, ctx, clients, []byte(id))
}

// ListClients returns the clients of org, or of every org when org is "",
// sorted by id.
func (s *Store) ListClients(ctx context.Context, org string) ([]latch.Client, error) {
	const op = "bolt.ListClients"
	if org == "" {
		return list(s, ctx, clients, nil)
	}
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	out := []latch.Client{}
	if !latch.ValidID(org) {
		return out, nil
	}
	prefix := orgKey(org, "")
	err := s.view(op, func(tx *bolt.Tx) error {
		c := tx.Bucket(bClientOrgs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v, ok, err := clients.load(tx, k[len(prefix):])
			if err != nil {
				return err
			}
			if ok {
				out = append(out, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateClient changes a client with fn; its id and org stay.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*latch.Client) error) (latch.Client, error) {
	return update(s, ctx, clients, []byte(id), fn)
}

// DeleteClient deletes a client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return remove(s, ctx, clients, []byte(id), nil)
}

// Audiences.

// CreateAudience creates a; ECONFLICT if its id is taken.
func (s *Store) CreateAudience(ctx context.Context, a latch.Audience) error {
	return create(s, ctx, audiences, a)
}

// GetAudience returns the audience id.
func (s *Store) GetAudience(ctx context.Context, id string) (latch.Audience, error) {
	return get(s, ctx, audiences, []byte(id))
}

// ListAudiences returns every audience sorted by id.
func (s *Store) ListAudiences(ctx context.Context) ([]latch.Audience, error) {
	return list(s, ctx, audiences, nil)
}

// UpdateAudience changes an audience with fn.
func (s *Store) UpdateAudience(ctx context.Context, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
	return update(s, ctx, audiences, []byte(id), fn)
}

// DeleteAudience deletes an audience.
func (s *Store) DeleteAudience(ctx context.Context, id string) error {
	return remove(s, ctx, audiences, []byte(id), nil)
}
