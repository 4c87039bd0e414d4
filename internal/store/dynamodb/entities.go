package dynamodb

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"latch.dev/latch"
)

// Partition keys and sort-key prefixes.
const (
	pkOrgs      = "ORGS"
	pkAudiences = "AUDIENCES"
	pkKeys      = "KEYS"
	orgPrefix   = "ORG#"
	userPrefix  = "USER#"
	loginPrefix = "LOGIN#"
	rolePrefix  = "ROLE#"
	clientPK    = "CLIENT#"
	clientSK    = "CLIENT"
)

// entity describes how one kind of versioned item (org, user, role, client,
// audience) is keyed, encoded and announced, so that create, get, update and
// delete are written once.
type entity[T any] struct {
	name string // in error messages
	kind string // latch.Change kind

	key func(*T) (pk, sk string)
	org func(*T) string // the change's org; "" when the item has none
	// parent is the org that must exist and counts the item among its
	// children; "" for orgs and audiences.
	parent   func(*T) string
	id       func(*T) string
	validate func(*T) error
	meta     func(*T) (version *uint64, created, updated *time.Time)
	keepKeys func(to, from *T)
	// record is what is stored as data (the item plus its secrets).
	record func(*T) any
	decode func(item) (T, error)
	// extra returns the writes that go with the item's own (old == nil on
	// create, next == nil on delete): login claims, listing copies.
	extra func(s *Store, old, next *T) ([]write, error)
}

func (e *entity[T]) change(v *T, deleted bool) latch.Change {
	version, _, _ := e.meta(v)
	return latch.Change{Kind: e.kind, Org: e.org(v), ID: e.id(v), Version: *version, Deleted: deleted}
}

// main is the conditional write of the item itself. An UpdateItem (not a
// Put) so that attributes other writers keep there (an org's children) stay.
func (s *Store) mainWrite(pk, sk string, data any, version uint64, cond string, values item, onFail error) (write, error) {
	d, err := encodeData(data)
	if err != nil {
		return write{}, err
	}
	if values == nil {
		values = item{}
	}
	values[":data"], values[":ver"] = d, num(int64(version))
	return s.update(keyOf(pk, sk), "SET #data = :data, #ver = :ver", cond, values, onFail), nil
}

// childWrite changes the children counter of org by delta, in the same
// transaction as the child; the org must exist.
func (s *Store) childWrite(org string, delta int64) write {
	return s.update(keyOf(pkOrgs, org), "SET #children = if_not_exists(#children, :zero) + :delta",
		"attribute_exists(#pk)", item{":zero": num(0), ":delta": num(delta)},
		latch.Errorf(latch.ENOTFOUND, "organization %q does not exist", org))
}

func create[T any](s *Store, ctx context.Context, e *entity[T], v T) error {
	op := "dynamodb.Create" + e.name
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
	pk, sk := e.key(&v)
	main, err := s.mainWrite(pk, sk, e.record(&v), *version, "attribute_not_exists(#pk)", nil,
		conflict("%s %q exists already", e.name, e.id(&v)))
	if err != nil {
		return corrupt(op, err)
	}
	ws := []write{main}
	if e.parent != nil {
		if org := e.parent(&v); org != "" {
			ws = append(ws, s.childWrite(org, 1))
		}
	}
	if e.extra != nil {
		more, err := e.extra(s, nil, &v)
		if err != nil {
			return corrupt(op, err)
		}
		ws = append(ws, more...)
	}
	if err := s.commit(ctx, op, ws...); err != nil {
		return err
	}
	s.feed.Publish([]latch.Change{e.change(&v, false)})
	return nil
}

func get[T any](s *Store, ctx context.Context, e *entity[T], pk, sk string) (T, error) {
	op := "dynamodb.Get" + e.name
	var zero T
	it, err := s.get(ctx, op, pk, sk)
	if err != nil {
		return zero, err
	}
	if it == nil {
		return zero, notFound(e.name)
	}
	v, err := e.decode(it)
	if err != nil {
		return zero, corrupt(op, err)
	}
	return v, nil
}

// list returns the items of partition pk whose sk starts with prefix, in key order.
func list[T any](s *Store, ctx context.Context, e *entity[T], pk, prefix string) ([]T, error) {
	op := "dynamodb.List" + e.name + "s"
	items, err := s.query(ctx, op, pk, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := e.decode(it)
		if err != nil {
			return nil, corrupt(op, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// update is the compare-and-swap loop of the contract: fn runs on a fresh
// copy, and its result is written only if the item's version is still the
// one fn saw.
func update[T any](s *Store, ctx context.Context, e *entity[T], pk, sk string, fn func(*T) error) (T, error) {
	op := "dynamodb.Update" + e.name
	var zero T
	id := ""
	for range maxUpdateAttempts {
		if err := checkCtx(ctx, op); err != nil {
			return zero, err
		}
		it, err := s.get(ctx, op, pk, sk)
		if err != nil {
			return zero, err
		}
		if it == nil {
			return zero, notFound(e.name)
		}
		cur, err := e.decode(it)
		if err != nil {
			return zero, corrupt(op, err)
		}
		next, _ := e.decode(it) // fn's own copy
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
		main, err := s.mainWrite(pk, sk, e.record(&next), *version, "#ver = :old",
			item{":old": num(int64(*curVersion))}, nil)
		if err != nil {
			return zero, corrupt(op, err)
		}
		ws := []write{main}
		if e.extra != nil {
			more, err := e.extra(s, &cur, &next)
			if err != nil {
				return zero, corrupt(op, err)
			}
			ws = append(ws, more...)
		}
		err = s.commit(ctx, op, ws...)
		if err == errLostRace {
			continue
		}
		if err != nil {
			return zero, err
		}
		s.feed.Publish([]latch.Change{e.change(&next, false)})
		return next, nil
	}
	return zero, conflict("%s %q is being changed by others; try again", e.name, id)
}

// remove deletes the item at pk, sk if its version is still the one read;
// cond adds a condition (DeleteOrg: no children), whose failure is refused.
func remove[T any](s *Store, ctx context.Context, e *entity[T], pk, sk string, cond string, values item, refused error) error {
	op := "dynamodb.Delete" + e.name
	for range maxUpdateAttempts {
		if err := checkCtx(ctx, op); err != nil {
			return err
		}
		it, err := s.get(ctx, op, pk, sk)
		if err != nil {
			return err
		}
		if it == nil {
			return notFound(e.name)
		}
		v, err := e.decode(it)
		if err != nil {
			return corrupt(op, err)
		}
		version, _, _ := e.meta(&v)
		c, vals := "#ver = :old", item{":old": num(int64(*version))}
		if cond != "" {
			c = "#ver = :old AND (" + cond + ")"
			for k, x := range values {
				vals[k] = x
			}
		}
		ws := []write{s.del(keyOf(pk, sk), c, vals, nil)}
		if e.parent != nil {
			if org := e.parent(&v); org != "" {
				ws = append(ws, s.childWrite(org, -1))
			}
		}
		if e.extra != nil {
			more, err := e.extra(s, &v, nil)
			if err != nil {
				return corrupt(op, err)
			}
			ws = append(ws, more...)
		}
		err = s.commit(ctx, op, ws...)
		if err == errLostRace {
			// Changed, deleted, or (with cond) refused: read again to tell.
			if cond != "" {
				again, gerr := s.get(ctx, op, pk, sk)
				if gerr != nil {
					return gerr
				}
				if again != nil {
					if n, _ := getN(again, aVer); n == int64(*version) {
						return refused
					}
				}
			}
			continue
		}
		if err != nil {
			return err
		}
		s.feed.Publish([]latch.Change{e.change(&v, true)})
		return nil
	}
	return conflict("%s is being changed by others; try again", e.name)
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

func same[T any](v *T) any { return v }

var orgs = &entity[latch.Org]{
	name:     "Org",
	kind:     latch.ChangeOrg,
	key:      func(o *latch.Org) (string, string) { return pkOrgs, o.ID },
	org:      func(o *latch.Org) string { return o.ID },
	id:       func(o *latch.Org) string { return o.ID },
	validate: func(o *latch.Org) error { return latch.CheckID("org", o.ID) },
	meta: func(o *latch.Org) (*uint64, *time.Time, *time.Time) {
		return &o.Version, &o.CreatedAt, &o.UpdatedAt
	},
	keepKeys: func(to, from *latch.Org) { to.ID = from.ID },
	record:   same[latch.Org],
	decode:   decodeData[latch.Org],
}

var users = &entity[latch.User]{
	name: "User",
	kind: latch.ChangeUser,
	key: func(u *latch.User) (string, string) {
		return orgPrefix + u.Org, userPrefix + u.ID
	},
	org:    func(u *latch.User) string { return u.Org },
	parent: func(u *latch.User) string { return u.Org },
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
	record: func(u *latch.User) any {
		return userRecord{User: *u, PasswordHash: u.PasswordHash}
	},
	decode: func(it item) (latch.User, error) {
		r, err := decodeData[userRecord](it)
		r.User.PasswordHash = r.PasswordHash
		return r.User, err
	},
	extra: claimLogins,
}

// logins are the usernames and emails a user claims in its org. Both share
// one namespace, so that FindUser can never be ambiguous.
func logins(u *latch.User) []string {
	if u == nil {
		return nil
	}
	var out []string
	for _, l := range []string{u.Username, u.Email} {
		if l != "" && (len(out) == 0 || out[0] != l) {
			out = append(out, l)
		}
	}
	return out
}

// claimLogins releases the logins old has and next has not, and claims the
// ones next has and old has not, in the user's transaction.
func claimLogins(s *Store, old, next *latch.User) ([]write, error) {
	oldLogins, nextLogins := logins(old), logins(next)
	var ws []write
	for _, l := range oldLogins {
		if !slices.Contains(nextLogins, l) {
			ws = append(ws, s.del(keyOf(orgPrefix+old.Org, loginPrefix+l), "#owner = :owner",
				item{":owner": str(old.ID)}, nil))
		}
	}
	for _, l := range nextLogins {
		if !slices.Contains(oldLogins, l) {
			ws = append(ws, s.put(item{
				aPK: str(orgPrefix + next.Org), aSK: str(loginPrefix + l), aOwner: str(next.ID),
			}, "attribute_not_exists(#pk)", nil, conflict("username or email is taken in org %q", next.Org)))
		}
	}
	return ws, nil
}

var roles = &entity[latch.Role]{
	name: "Role",
	kind: latch.ChangeRole,
	key: func(r *latch.Role) (string, string) {
		return orgPrefix + r.Org, rolePrefix + r.ID
	},
	org:    func(r *latch.Role) string { return r.Org },
	parent: func(r *latch.Role) string { return r.Org },
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
	record:   same[latch.Role],
	decode:   decodeData[latch.Role],
}

var clients = &entity[latch.Client]{
	name:   "Client",
	kind:   latch.ChangeClient,
	key:    func(c *latch.Client) (string, string) { return clientPK + c.ID, clientSK },
	org:    func(c *latch.Client) string { return c.Org },
	parent: func(c *latch.Client) string { return c.Org },
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
	record: func(c *latch.Client) any {
		return clientRecord{Client: *c, SecretHash: c.SecretHash}
	},
	decode: func(it item) (latch.Client, error) {
		r, err := decodeData[clientRecord](it)
		r.Client.SecretHash = r.SecretHash
		return r.Client, err
	},
	// The org's listing copy is written with the client.
	extra: func(s *Store, old, next *latch.Client) ([]write, error) {
		if next == nil {
			return []write{s.del(keyOf(orgPrefix+old.Org, clientPK+old.ID), "", nil, nil)}, nil
		}
		d, err := encodeData(clientRecord{Client: *next, SecretHash: next.SecretHash})
		if err != nil {
			return nil, err
		}
		return []write{s.put(item{
			aPK: str(orgPrefix + next.Org), aSK: str(clientPK + next.ID), aData: d,
			aVer: num(int64(next.Version)),
		}, "", nil, nil)}, nil
	},
}

var audiences = &entity[latch.Audience]{
	name:     "Audience",
	kind:     latch.ChangeAudience,
	key:      func(a *latch.Audience) (string, string) { return pkAudiences, a.ID },
	org:      func(*latch.Audience) string { return "" },
	id:       func(a *latch.Audience) string { return a.ID },
	validate: func(a *latch.Audience) error { return latch.CheckID("audience", a.ID) },
	meta: func(a *latch.Audience) (*uint64, *time.Time, *time.Time) {
		return &a.Version, &a.CreatedAt, &a.UpdatedAt
	},
	keepKeys: func(to, from *latch.Audience) { to.ID = from.ID },
	record:   same[latch.Audience],
	decode:   decodeData[latch.Audience],
}

// Orgs.

// CreateOrg creates o; ECONFLICT if the id is taken.
func (s *Store) CreateOrg(ctx context.Context, o latch.Org) error { return create(s, ctx, orgs, o) }

// GetOrg returns the org id.
func (s *Store) GetOrg(ctx context.Context, id string) (latch.Org, error) {
	if !latch.ValidID(id) {
		return latch.Org{}, notFound("Org")
	}
	return get(s, ctx, orgs, pkOrgs, id)
}

// ListOrgs returns every org sorted by id.
func (s *Store) ListOrgs(ctx context.Context) ([]latch.Org, error) {
	return list(s, ctx, orgs, pkOrgs, "")
}

// UpdateOrg changes the org id with fn; see latch.Store.
func (s *Store) UpdateOrg(ctx context.Context, id string, fn func(*latch.Org) error) (latch.Org, error) {
	if !latch.ValidID(id) {
		return latch.Org{}, notFound("Org")
	}
	return update(s, ctx, orgs, pkOrgs, id, fn)
}

// DeleteOrg deletes an org that has no users, roles or clients left: its
// children counter, kept in the same transactions as its members, is zero.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	if !latch.ValidID(id) {
		return notFound("Org")
	}
	return remove(s, ctx, orgs, pkOrgs, id, "attribute_not_exists(#children) OR #children = :zero",
		item{":zero": num(0)}, conflict("org %q still has users, roles or clients", id))
}

// Users.

// CreateUser creates u, claiming its id, username and email in its org in
// one transaction.
func (s *Store) CreateUser(ctx context.Context, u latch.User) error {
	return create(s, ctx, users, u)
}

// GetUser returns the user id of org.
func (s *Store) GetUser(ctx context.Context, org, id string) (latch.User, error) {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return latch.User{}, notFound("User")
	}
	return get(s, ctx, users, orgPrefix+org, userPrefix+id)
}

// FindUser returns the user of org whose canonical username or email is login.
func (s *Store) FindUser(ctx context.Context, org, login string) (latch.User, error) {
	const op = "dynamodb.FindUser"
	if !latch.ValidID(org) || login == "" {
		return latch.User{}, notFound("User")
	}
	it, err := s.get(ctx, op, orgPrefix+org, loginPrefix+login)
	if err != nil {
		return latch.User{}, err
	}
	owner := getS(it, aOwner)
	if owner == "" {
		return latch.User{}, notFound("User")
	}
	return get(s, ctx, users, orgPrefix+org, userPrefix+owner)
}

// ListUsers returns the users of org sorted by id.
func (s *Store) ListUsers(ctx context.Context, org string) ([]latch.User, error) {
	if !latch.ValidID(org) {
		return []latch.User{}, nil
	}
	return list(s, ctx, users, orgPrefix+org, userPrefix)
}

// UpdateUser changes a user with fn, re-claiming a changed username or email.
func (s *Store) UpdateUser(ctx context.Context, org, id string, fn func(*latch.User) error) (latch.User, error) {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return latch.User{}, notFound("User")
	}
	return update(s, ctx, users, orgPrefix+org, userPrefix+id, fn)
}

// DeleteUser deletes a user and releases its username and email.
func (s *Store) DeleteUser(ctx context.Context, org, id string) error {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return notFound("User")
	}
	return remove(s, ctx, users, orgPrefix+org, userPrefix+id, "", nil, nil)
}

// Roles.

// CreateRole creates r; ECONFLICT if its id is taken in its org.
func (s *Store) CreateRole(ctx context.Context, r latch.Role) error {
	return create(s, ctx, roles, r)
}

// GetRole returns the role id of org.
func (s *Store) GetRole(ctx context.Context, org, id string) (latch.Role, error) {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return latch.Role{}, notFound("Role")
	}
	return get(s, ctx, roles, orgPrefix+org, rolePrefix+id)
}

// ListRoles returns the roles of org sorted by id.
func (s *Store) ListRoles(ctx context.Context, org string) ([]latch.Role, error) {
	if !latch.ValidID(org) {
		return []latch.Role{}, nil
	}
	return list(s, ctx, roles, orgPrefix+org, rolePrefix)
}

// UpdateRole changes a role with fn.
func (s *Store) UpdateRole(ctx context.Context, org, id string, fn func(*latch.Role) error) (latch.Role, error) {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return latch.Role{}, notFound("Role")
	}
	return update(s, ctx, roles, orgPrefix+org, rolePrefix+id, fn)
}

// DeleteRole deletes a role.
func (s *Store) DeleteRole(ctx context.Context, org, id string) error {
	if !latch.ValidID(org) || !latch.ValidID(id) {
		return notFound("Role")
	}
	return remove(s, ctx, roles, orgPrefix+org, rolePrefix+id, "", nil, nil)
}

// Clients.

// CreateClient creates c; ECONFLICT if its id is taken.
func (s *Store) CreateClient(ctx context.Context, c latch.Client) error {
	return create(s, ctx, clients, c)
}

// GetClient returns the client id, secret digest included.
func (s *Store) GetClient(ctx context.Context, id string) (latch.Client, error) {
	if !latch.ValidID(id) {
		return latch.Client{}, notFound("Client")
	}
	return get(s, ctx, clients, clientPK+id, clientSK)
}

// ListClients returns the clients of org (a Query of the org's listing
// copies), or of every org when org is "" (a Scan: admin only), sorted by id.
func (s *Store) ListClients(ctx context.Context, org string) ([]latch.Client, error) {
	const op = "dynamodb.ListClients"
	if org != "" {
		if !latch.ValidID(org) {
			return []latch.Client{}, nil
		}
		return list(s, ctx, clients, orgPrefix+org, clientPK)
	}
	in := &ddb.ScanInput{
		TableName:                 aws.String(s.table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("#sk = :sk AND begins_with(#pk, :pk)"),
		ExpressionAttributeNames:  namesFor("#sk #pk"),
		ExpressionAttributeValues: item{":sk": str(clientSK), ":pk": str(clientPK)},
	}
	out := []latch.Client{}
	for {
		page, err := s.api.Scan(ctx, in)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for _, it := range page.Items {
			c, err := clients.decode(it)
			if err != nil {
				return nil, corrupt(op, err)
			}
			out = append(out, c)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	slices.SortFunc(out, func(a, b latch.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateClient changes a client with fn; its id and org stay.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*latch.Client) error) (latch.Client, error) {
	if !latch.ValidID(id) {
		return latch.Client{}, notFound("Client")
	}
	return update(s, ctx, clients, clientPK+id, clientSK, fn)
}

// DeleteClient deletes a client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !latch.ValidID(id) {
		return notFound("Client")
	}
	return remove(s, ctx, clients, clientPK+id, clientSK, "", nil, nil)
}

// Audiences.

// CreateAudience creates a; ECONFLICT if its id is taken.
func (s *Store) CreateAudience(ctx context.Context, a latch.Audience) error {
	return create(s, ctx, audiences, a)
}

// GetAudience returns the audience id.
func (s *Store) GetAudience(ctx context.Context, id string) (latch.Audience, error) {
	if !latch.ValidID(id) {
		return latch.Audience{}, notFound("Audience")
	}
	return get(s, ctx, audiences, pkAudiences, id)
}

// ListAudiences returns every audience sorted by id.
func (s *Store) ListAudiences(ctx context.Context) ([]latch.Audience, error) {
	return list(s, ctx, audiences, pkAudiences, "")
}

// UpdateAudience changes an audience with fn.
func (s *Store) UpdateAudience(ctx context.Context, id string, fn func(*latch.Audience) error) (latch.Audience, error) {
	if !latch.ValidID(id) {
		return latch.Audience{}, notFound("Audience")
	}
	return update(s, ctx, audiences, pkAudiences, id, fn)
}

// DeleteAudience deletes an audience.
func (s *Store) DeleteAudience(ctx context.Context, id string) error {
	if !latch.ValidID(id) {
		return notFound("Audience")
	}
	return remove(s, ctx, audiences, pkAudiences, id, "", nil, nil)
}
