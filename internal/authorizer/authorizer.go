// Package authorizer answers, for every API request, whether the principal
// behind a bearer token may call this method on this path: token ->
// verified principal -> compiled policy (cached per principal, bounded) ->
// decision with its explanation. Its adapters (forward auth, the decision
// API) live here too; the API Gateway events are in package lambda.
//
// It fails closed: a token it cannot verify is unauthorized, a store it
// cannot reach is an error (never an allow), and a path the engine cannot
// canonicalise is denied.
package authorizer

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"latch.dev/latch"
	"latch.dev/latch/internal/oauth"
	"latch.dev/latch/internal/policy"
)

// TokenVerifier checks an access token and everything that revokes it
// (oauth.Server does).
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, raw string) (oauth.TokenInfo, error)
}

// Options configure an Authorizer.
type Options struct {
	// MaxPolicies bounds the compiled policies kept (default 100,000;
	// about 830 bytes each for the payroll workload).
	MaxPolicies int
}

// Authorizer decides requests.
type Authorizer struct {
	tokens TokenVerifier
	store  latch.Store
	max    int

	mu sync.RWMutex
	// epoch counts invalidations; a policy compiled while it moved is not
	// cached (the stale-refill race).
	epoch    uint64
	policies map[string]cachedPolicy
	// byPrincipal and byOrg index the cache keys for invalidation.
	byPrincipal map[string]map[string]struct{}
	byOrg       map[string]map[string]struct{}

	stop context.CancelFunc
	done chan struct{}
}

var _ Resolver = (*Authorizer)(nil)

// cachedPolicy is a compiled policy and the fingerprint of what it was
// compiled from (the Version and CreatedAt of the principal, its roles and
// the token's audiences). Every request loads those items (from the
// in-process cache, which this server's writes invalidate at once) and uses
// the policy only if the fingerprint still matches, so a decision never
// lags a write that has returned here; the change feed drops policies too,
// for memory's sake and for writes made elsewhere.
type cachedPolicy struct {
	policy      *policy.Policy
	fingerprint uint64
}

// New returns an Authorizer reading principals from store (normally the
// in-process cache) and following its change feed until Close.
func New(tokens TokenVerifier, store latch.Store, opts Options) *Authorizer {
	if opts.MaxPolicies <= 0 {
		opts.MaxPolicies = 100_000
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Authorizer{
		tokens: tokens, store: store, max: opts.MaxPolicies,
		policies: map[string]cachedPolicy{}, byPrincipal: map[string]map[string]struct{}{}, byOrg: map[string]map[string]struct{}{},
		stop: cancel, done: make(chan struct{}),
	}
	feed := store.Watch(ctx)
	go func() {
		defer close(a.done)
		for ch := range feed {
			a.invalidate(ch)
		}
	}()
	return a
}

// Close stops following the change feed.
func (a *Authorizer) Close() {
	a.stop()
	<-a.done
}

// Result is a decision and whom it is about.
type Result struct {
	Principal Principal
	// Audience is the token's aud.
	Audience []string
	Decision policy.Decision
}

// Authorize decides whether the bearer of token may call method on path
// (the raw, escaped request path; a query string is ignored).
func (a *Authorizer) Authorize(ctx context.Context, bearer, method, path string) (Result, error) {
	ti, err := a.tokens.VerifyAccessToken(ctx, bearer)
	if err != nil {
		return Result{}, err
	}
	p := Principal{Sub: ti.Subject, Org: ti.Org, ClientID: ti.ClientID, Kind: ti.SubjectType, Scopes: ti.Scopes}
	pol, err := a.policyFor(ctx, p, ti.Audience)
	if err != nil {
		return Result{}, err
	}
	return Result{Principal: p, Audience: ti.Audience, Decision: pol.Decide(method, path)}, nil
}

// Resolve verifies bearer and returns its principal and compiled policy.
func (a *Authorizer) Resolve(ctx context.Context, bearer string) (Principal, *policy.Policy, error) {
	ti, err := a.tokens.VerifyAccessToken(ctx, bearer)
	if err != nil {
		return Principal{}, nil, err
	}
	p := Principal{Sub: ti.Subject, Org: ti.Org, ClientID: ti.ClientID, Kind: ti.SubjectType, Scopes: ti.Scopes}
	pol, err := a.policyFor(ctx, p, ti.Audience)
	if err != nil {
		return Principal{}, nil, err
	}
	return p, pol, nil
}

// PolicyFor compiles (or finds) the policy of a principal without a token:
// for the decision API's {"sub": ...} form and `latch authorize`.
func (a *Authorizer) PolicyFor(ctx context.Context, p Principal, audiences []string) (*policy.Policy, error) {
	return a.policyFor(ctx, p, audiences)
}

func principalKey(org, kind, id string) string { return org + "\x00" + kind + "\x00" + id }

func (a *Authorizer) policyFor(ctx context.Context, p Principal, audiences []string) (*policy.Policy, error) {
	scopes := slices.Clone(p.Scopes)
	slices.Sort(scopes)
	auds := slices.Clone(audiences)
	slices.Sort(auds)
	key := strings.Join([]string{p.Kind, p.Org, p.Sub, p.ClientID, strings.Join(scopes, " "), strings.Join(auds, " ")}, "\x00")

	a.mu.RLock()
	epoch := a.epoch
	a.mu.RUnlock()
	src, err := a.load(ctx, p, audiences)
	if err != nil {
		return nil, err
	}
	fp := src.fingerprint()
	a.mu.RLock()
	cp, ok := a.policies[key]
	a.mu.RUnlock()
	if ok && cp.fingerprint == fp {
		return cp.policy, nil
	}
	pol, err := policy.Compile(src.input(p))
	if err != nil {
		// Statements are validated when written, so this is a bug or a
		// store written by something else: deny, loudly.
		return nil, latch.Wrap(latch.EINTERNAL, "authorizer.Compile", err)
	}
	a.remember(key, epoch, p, cachedPolicy{policy: pol, fingerprint: fp})
	return pol, nil
}

// sources are the stored items a principal's policy is made of.
type sources struct {
	user      latch.User
	client    latch.Client
	roles     []latch.Role
	audiences []latch.Audience
}

// fingerprintSeed keys the fingerprint hash; one per process is enough.
var fingerprintSeed = maphash.MakeSeed()

// fingerprint hashes the identity and version of every source item. A 64-bit
// keyed hash: two different source sets collide with probability 2^-64.
func (s *sources) fingerprint() uint64 {
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	add := func(id string, v uint64, created time.Time) {
		h.WriteString(id)
		var b [17]byte
		binary.LittleEndian.PutUint64(b[:8], v)
		binary.LittleEndian.PutUint64(b[8:16], uint64(created.UnixNano()))
		b[16] = ';'
		h.Write(b[:])
	}
	add(s.user.ID, s.user.Version, s.user.CreatedAt)
	add(s.client.ID, s.client.Version, s.client.CreatedAt)
	for _, r := range s.roles {
		add(r.ID, r.Version, r.CreatedAt)
	}
	for _, a := range s.audiences {
		add(a.ID, a.Version, a.CreatedAt)
	}
	return h.Sum64()
}

func (s *sources) input(p Principal) policy.Input {
	var in policy.Input
	if p.Kind == latch.SubjectClient {
		in = policy.ForClient(s.client, s.roles)
	} else {
		in = policy.ForUser(s.user, s.roles, p.ClientID)
	}
	in.Scopes = p.Scopes
	in.Audiences = s.audiences
	return in
}

// load reads what the principal's policy is made of.
func (a *Authorizer) load(ctx context.Context, p Principal, audiences []string) (*sources, error) {
	src := &sources{}
	var err error
	switch p.Kind {
	case latch.SubjectUser:
		if src.user, err = a.store.GetUser(ctx, p.Org, p.Sub); err != nil {
			return nil, unauthorizedIfMissing(err)
		}
		if src.roles, err = a.roles(ctx, p.Org, src.user.Roles); err != nil {
			return nil, err
		}
	case latch.SubjectClient:
		if src.client, err = a.store.GetClient(ctx, p.ClientID); err != nil {
			return nil, unauthorizedIfMissing(err)
		}
		if src.roles, err = a.roles(ctx, src.client.Org, src.client.Roles); err != nil {
			return nil, err
		}
	default:
		return nil, latch.Errorf(latch.EUNAUTHORIZED, "unknown subject type")
	}
	for _, id := range audiences {
		if !latch.ValidID(id) {
			continue // the issuer, for tokens without an audience scope
		}
		aud, err := a.store.GetAudience(ctx, id)
		if latch.IsCode(err, latch.ENOTFOUND) {
			continue // a token for an audience that is gone has no scope statements from it
		}
		if err != nil {
			return nil, err
		}
		src.audiences = append(src.audiences, aud)
	}
	return src, nil
}

func (a *Authorizer) roles(ctx context.Context, org string, ids []string) ([]latch.Role, error) {
	out := make([]latch.Role, 0, len(ids))
	for _, id := range ids {
		r, err := a.store.GetRole(ctx, org, id)
		if latch.IsCode(err, latch.ENOTFOUND) {
			continue // a deleted role grants (and denies) nothing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func unauthorizedIfMissing(err error) error {
	if latch.IsCode(err, latch.ENOTFOUND) {
		return &latch.Error{Code: latch.EUNAUTHORIZED, Message: "invalid token", Err: err}
	}
	return err
}

func (a *Authorizer) remember(key string, epoch uint64, p Principal, pol cachedPolicy) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch != epoch {
		return
	}
	if len(a.policies) >= a.max {
		for k := range a.policies { // evict an arbitrary policy
			a.forget(k)
			break
		}
	}
	a.policies[key] = pol
	addTo(a.byPrincipal, principalKey(p.Org, p.Kind, principalID(p)), key)
	addTo(a.byOrg, p.Org, key)
}

func addTo(idx map[string]map[string]struct{}, k, key string) {
	set := idx[k]
	if set == nil {
		set = map[string]struct{}{}
		idx[k] = set
	}
	set[key] = struct{}{}
}

// principalID is the id whose changes touch the principal's policy.
func principalID(p Principal) string {
	if p.Kind == latch.SubjectClient {
		return p.ClientID
	}
	return p.Sub
}

// forget drops one cache key; a.mu is held.
func (a *Authorizer) forget(key string) {
	delete(a.policies, key)
	// The index sets are cleaned lazily: a stale key in a set is harmless.
}

func (a *Authorizer) dropSet(idx map[string]map[string]struct{}, k string) {
	for key := range idx[k] {
		delete(a.policies, key)
	}
	delete(idx, k)
}

// invalidate drops the policies a change touches: a user's or client's
// own; every policy of an org whose role changed; everything on an audience
// change or a reset (both rare).
func (a *Authorizer) invalidate(ch latch.Change) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.epoch++
	switch ch.Kind {
	case latch.ChangeUser:
		a.dropSet(a.byPrincipal, principalKey(ch.Org, latch.SubjectUser, ch.ID))
	case latch.ChangeClient:
		// A client's change touches its own policy; user tokens issued to
		// it only use its id, which never changes.
		a.dropSet(a.byPrincipal, principalKey(ch.Org, latch.SubjectClient, ch.ID))
	case latch.ChangeRole, latch.ChangeOrg:
		a.dropSet(a.byOrg, ch.Org)
		if ch.Kind == latch.ChangeOrg {
			a.dropSet(a.byOrg, ch.ID)
		}
	case latch.ChangeAudience, latch.ChangeReset:
		clear(a.policies)
		clear(a.byPrincipal)
		clear(a.byOrg)
	}
}

// Len reports how many compiled policies are cached (for tests and metrics).
func (a *Authorizer) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.policies)
}
