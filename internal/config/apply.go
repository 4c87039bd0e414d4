package config

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"latch.dev/latch"
	"latch.dev/latch/internal/password"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Hasher hashes the plaintext passwords of the file and checks them
	// against stored hashes. Required when a user has a password.
	Hasher password.PasswordHasher
	// DryRun computes the Result without writing anything.
	DryRun bool
}

// Action is what Apply did to one item.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Change is what Apply did, or would do in a dry run, to one item.
type Change struct {
	Kind   string `json:"kind"`          // latch.ChangeOrg, ChangeAudience, ChangeRole, ChangeUser or ChangeClient
	Org    string `json:"org,omitempty"` // for roles and users
	ID     string `json:"id"`
	Action Action `json:"action"`
}

func (c Change) String() string {
	name := c.ID
	if c.Org != "" {
		name = c.Org + "/" + c.ID
	}
	return fmt.Sprintf("%-9s %-8s %s", c.Action, c.Kind, name)
}

// Result lists every item of the file in the order Apply handled it.
type Result struct {
	DryRun  bool     `json:"dry_run,omitempty"`
	Changes []Change `json:"changes"`
}

// Count returns how many items got action a.
func (r Result) Count(a Action) int {
	n := 0
	for _, c := range r.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// String prints one line per item and a summary.
func (r Result) String() string {
	var b strings.Builder
	for _, c := range r.Changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d created, %d updated, %d unchanged", r.Count(Created), r.Count(Updated), r.Count(Unchanged))
	if r.DryRun {
		b.WriteString(" (dry run: nothing was written)")
	}
	b.WriteByte('\n')
	return b.String()
}

// Apply makes the store hold what the file says, and returns what it did.
//
// It first validates the file against the store (references may point at
// items the store holds already) and applies nothing if anything is wrong:
// the error is then a *ValidationError. It then creates or updates orgs,
// audiences, roles, users and clients, in that order, through the Store's
// create-if-absent and compare-and-swap updates. An item whose stored fields
// already equal the file's is left untouched (no write, no new Version), so
// applying the same file twice changes nothing: a plaintext password is
// hashed again only when the stored hash does not verify it, a plaintext
// client secret only when the stored digest does not match it.
//
// Apply never deletes: items in the store that the file does not mention are
// left alone. Items the file mentions are set to what the file says, field by
// field (a field left out of the file is emptied), except the disabled flag
// of users and clients, which is kept unless the file sets it.
//
// Apply is not one transaction. Validation catches what it can up front;
// should the store fail half-way, what was applied stays applied, the Result
// lists it, and applying the file again completes the rest.
func Apply(ctx context.Context, store latch.Store, f *File, opts ApplyOptions) (Result, error) {
	res := Result{DryRun: opts.DryRun}
	if f == nil {
		f = &File{}
	}
	st := &storeView{ctx: ctx, s: store}
	problems := f.check(st)
	if st.err != nil {
		return res, fmt.Errorf("config: reading the store: %w", st.err)
	}
	if err := invalid(problems); err != nil {
		return res, err
	}
	if opts.Hasher == nil {
		for _, u := range f.Users {
			if u.Password != "" {
				return res, latch.Wrap(latch.EINTERNAL, "config.Apply", errors.New("a user has a password but ApplyOptions.Hasher is nil"))
			}
		}
	}
	a := &applier{ctx: ctx, s: store, opts: opts, res: &res}
	for _, o := range f.Orgs {
		if err := a.org(o); err != nil {
			return res, fmt.Errorf("config: applying org %s: %w", o.ID, err)
		}
	}
	for _, x := range f.Audiences {
		if err := a.audience(x); err != nil {
			return res, fmt.Errorf("config: applying audience %s: %w", x.ID, err)
		}
	}
	for _, r := range f.Roles {
		if err := a.role(r); err != nil {
			return res, fmt.Errorf("config: applying role %s/%s: %w", r.Org, r.ID, err)
		}
	}
	for _, u := range f.Users {
		if err := a.user(u); err != nil {
			return res, fmt.Errorf("config: applying user %s/%s: %w", u.Org, u.ID, err)
		}
	}
	for _, c := range f.Clients {
		if err := a.client(c); err != nil {
			return res, fmt.Errorf("config: applying client %s: %w", c.ID, err)
		}
	}
	return res, nil
}

type applier struct {
	ctx  context.Context
	s    latch.Store
	opts ApplyOptions
	res  *Result
}

// put records and performs one item's change. get reports whether the item
// exists and, if so, whether it already matches the file.
func (a *applier) put(kind, org, id string, exists, same bool, create, update func() error) error {
	c := Change{Kind: kind, Org: org, ID: id}
	switch {
	case !exists:
		c.Action = Created
		if !a.opts.DryRun {
			if err := create(); err != nil {
				return err
			}
		}
	case same:
		c.Action = Unchanged
	default:
		c.Action = Updated
		if !a.opts.DryRun {
			if err := update(); err != nil {
				return err
			}
		}
	}
	a.res.Changes = append(a.res.Changes, c)
	return nil
}

// found splits a Get's error into "absent" and a real failure.
func found(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case latch.IsCode(err, latch.ENOTFOUND):
		return false, nil
	}
	return false, err
}

func (a *applier) org(o Org) error {
	cur, err := a.s.GetOrg(a.ctx, o.ID)
	exists, err := found(err)
	if err != nil {
		return err
	}
	set := func(x *latch.Org) {
		x.Name, x.Signup, x.DefaultRoles = o.Name, o.Signup, o.DefaultRoles
	}
	same := cur.Name == o.Name && cur.Signup == o.Signup && sameStrings(cur.DefaultRoles, o.DefaultRoles)
	return a.put(latch.ChangeOrg, "", o.ID, exists, same,
		func() error {
			x := latch.Org{ID: o.ID}
			set(&x)
			return a.s.CreateOrg(a.ctx, x)
		},
		func() error {
			_, err := a.s.UpdateOrg(a.ctx, o.ID, func(x *latch.Org) error { set(x); return nil })
			return err
		})
}

func (a *applier) audience(au Audience) error {
	cur, err := a.s.GetAudience(a.ctx, au.ID)
	exists, err := found(err)
	if err != nil {
		return err
	}
	set := func(x *latch.Audience) {
		x.Name, x.Scopes = au.Name, au.Scopes
	}
	same := cur.Name == au.Name && sameListMap(cur.Scopes, au.Scopes)
	return a.put(latch.ChangeAudience, "", au.ID, exists, same,
		func() error {
			x := latch.Audience{ID: au.ID}
			set(&x)
			return a.s.CreateAudience(a.ctx, x)
		},
		func() error {
			_, err := a.s.UpdateAudience(a.ctx, au.ID, func(x *latch.Audience) error { set(x); return nil })
			return err
		})
}

func (a *applier) role(r Role) error {
	cur, err := a.s.GetRole(a.ctx, r.Org, r.ID)
	exists, err := found(err)
	if err != nil {
		return err
	}
	set := func(x *latch.Role) {
		x.Allow, x.Deny = r.Allow, r.Deny
	}
	same := sameStrings(cur.Allow, r.Allow) && sameStrings(cur.Deny, r.Deny)
	return a.put(latch.ChangeRole, r.Org, r.ID, exists, same,
		func() error {
			x := latch.Role{Org: r.Org, ID: r.ID}
			set(&x)
			return a.s.CreateRole(a.ctx, x)
		},
		func() error {
			_, err := a.s.UpdateRole(a.ctx, r.Org, r.ID, func(x *latch.Role) error { set(x); return nil })
			return err
		})
}

func (a *applier) user(u User) error {
	cur, err := a.s.GetUser(a.ctx, u.Org, u.ID)
	exists, err := found(err)
	if err != nil {
		return err
	}
	// Validated already: these cannot fail.
	username, err := password.CanonicalUsername(u.Username)
	if err != nil {
		return err
	}
	email := ""
	if u.Email != "" {
		if email, err = password.CanonicalEmail(u.Email); err != nil {
			return err
		}
	}
	// The hash: the file's, the stored one if it verifies the file's
	// password, or (decided below) a new one.
	hash, hashSame := u.PasswordHash, false
	if u.Password != "" {
		hash = ""
		if exists && cur.PasswordHash != "" {
			// An unusable stored hash is replaced, not an error.
			if ok, _, err := a.opts.Hasher.Verify(cur.PasswordHash, u.Password); err == nil && ok {
				hash, hashSame = cur.PasswordHash, true
			}
		}
	} else {
		hashSame = cur.PasswordHash == hash
	}
	disabled := cur.Disabled
	if u.Disabled != nil {
		disabled = *u.Disabled
	}
	same := hashSame && cur.Username == username && cur.Email == email &&
		sameStrings(cur.Roles, u.Roles) && sameListMap(cur.Attributes, u.Attributes) &&
		sameStrings(cur.Allow, u.Allow) && sameStrings(cur.Deny, u.Deny) && cur.Disabled == disabled
	if !same && hash == "" && !a.opts.DryRun {
		if hash, err = a.opts.Hasher.Hash(u.Password); err != nil {
			return err
		}
	}
	set := func(x *latch.User) {
		x.Username, x.Email, x.PasswordHash = username, email, hash
		x.Roles, x.Attributes, x.Allow, x.Deny = u.Roles, u.Attributes, u.Allow, u.Deny
		x.Disabled = disabled
	}
	return a.put(latch.ChangeUser, u.Org, u.ID, exists, same,
		func() error {
			x := latch.User{Org: u.Org, ID: u.ID}
			set(&x)
			return a.s.CreateUser(a.ctx, x)
		},
		func() error {
			_, err := a.s.UpdateUser(a.ctx, u.Org, u.ID, func(x *latch.User) error { set(x); return nil })
			return err
		})
}

func (a *applier) client(c Client) error {
	cur, err := a.s.GetClient(a.ctx, c.ID)
	exists, err := found(err)
	if err != nil {
		return err
	}
	hash, hashSame := c.SecretHash, false
	if c.Secret != "" {
		hash = ""
		if exists && cur.SecretHash != "" && password.VerifyClientSecret(cur.SecretHash, c.Secret) {
			hash, hashSame = cur.SecretHash, true
		}
	} else {
		hashSame = cur.SecretHash == hash
	}
	format := c.AccessTokenFormat
	if format == "" {
		format = latch.TokenFormatJWT
	}
	disabled := cur.Disabled
	if c.Disabled != nil {
		disabled = *c.Disabled
	}
	same := hashSame && cur.Org == c.Org && cur.Name == c.Name &&
		sameStrings(cur.Grants, c.Grants) && sameStrings(cur.Scopes, c.Scopes) &&
		sameStrings(cur.Roles, c.Roles) && sameStrings(cur.Allow, c.Allow) && sameStrings(cur.Deny, c.Deny) &&
		cur.AccessTokenFormat == format && sameStrings(cur.RedirectURIs, c.RedirectURIs) &&
		sameStrings(cur.LoginOrgs, c.LoginOrgs) && cur.Disabled == disabled
	if !same && hash == "" && c.Secret != "" && !a.opts.DryRun {
		if hash, err = password.HashClientSecret(c.Secret); err != nil {
			return err
		}
	}
	set := func(x *latch.Client) {
		x.Name, x.SecretHash = c.Name, hash
		x.Grants, x.Scopes, x.Roles, x.Allow, x.Deny = c.Grants, c.Scopes, c.Roles, c.Allow, c.Deny
		x.AccessTokenFormat, x.RedirectURIs, x.LoginOrgs = format, c.RedirectURIs, c.LoginOrgs
		x.Disabled = disabled
	}
	return a.put(latch.ChangeClient, "", c.ID, exists, same,
		func() error {
			x := latch.Client{ID: c.ID, Org: c.Org}
			set(&x)
			return a.s.CreateClient(a.ctx, x)
		},
		func() error {
			_, err := a.s.UpdateClient(a.ctx, c.ID, func(x *latch.Client) error { set(x); return nil })
			return err
		})
}

// sameStrings compares lists in order; nil and empty are the same.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameListMap(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !sameStrings(va, vb) {
			return false
		}
	}
	return true
}

// storeView answers the validator's questions about the store, reading each
// list once. The first failure is kept in err and ends the reading: Apply
// then reports it instead of the problems, which may be wrong.
type storeView struct {
	ctx context.Context
	s   latch.Store
	err error

	orgs      map[string]bool
	audiences map[string]latch.Audience
	roles     map[string]map[string]bool
}

func (sv *storeView) ok(err error) bool {
	if err != nil && sv.err == nil {
		sv.err = err
	}
	return sv.err == nil
}

func (sv *storeView) org(id string) bool {
	if sv.orgs == nil && sv.err == nil {
		list, err := sv.s.ListOrgs(sv.ctx)
		if !sv.ok(err) {
			return false
		}
		sv.orgs = map[string]bool{}
		for _, o := range list {
			sv.orgs[o.ID] = true
		}
	}
	return sv.orgs[id]
}

func (sv *storeView) role(org, id string) bool {
	if sv.err != nil {
		return false
	}
	if sv.roles == nil {
		sv.roles = map[string]map[string]bool{}
	}
	roles, ok := sv.roles[org]
	if !ok {
		list, err := sv.s.ListRoles(sv.ctx, org)
		if latch.IsCode(err, latch.ENOTFOUND) {
			list, err = nil, nil
		}
		if !sv.ok(err) {
			return false
		}
		roles = map[string]bool{}
		for _, r := range list {
			roles[r.ID] = true
		}
		sv.roles[org] = roles
	}
	return roles[id]
}

func (sv *storeView) audience(id string) (latch.Audience, bool) {
	if sv.audiences == nil && sv.err == nil {
		list, err := sv.s.ListAudiences(sv.ctx)
		if !sv.ok(err) {
			return latch.Audience{}, false
		}
		sv.audiences = map[string]latch.Audience{}
		for _, a := range list {
			sv.audiences[a.ID] = a
		}
	}
	a, ok := sv.audiences[id]
	return a, ok
}

func (sv *storeView) findUser(org, login string) (latch.User, bool) {
	if sv.err != nil {
		return latch.User{}, false
	}
	u, err := sv.s.FindUser(sv.ctx, org, login)
	exists, err := found(err)
	return u, sv.ok(err) && exists
}

func (sv *storeView) client(id string) (latch.Client, bool) {
	if sv.err != nil {
		return latch.Client{}, false
	}
	c, err := sv.s.GetClient(sv.ctx, id)
	exists, err := found(err)
	return c, sv.ok(err) && exists
}
