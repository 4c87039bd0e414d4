// Package bolt is Latch's embedded store: a latch.Store kept in one bbolt file,
// for a single server that stores its own data. It passes the conformance suite
// in internal/store/storetest and must never be imported by the Lambda binary.
//
// Every item is a JSON document in a bucket named after its kind. Secrets that
// the domain types hide from JSON (User.PasswordHash, Client.SecretHash) are
// kept in the record beside the item. Every operation that touches several
// keys runs in one bbolt read-write transaction, so claims, indexes and items
// never disagree.
//
// Layout (keys are bytes; "\x00" separates the org, which is a valid latch id
// and so never contains a NUL, from what follows it):
//
//	meta            "schema"                     -> "1"
//	orgs            org id                       -> Org
//	users           org \x00 user id             -> User + password_hash
//	logins          org \x00 canonical login     -> user id (usernames and emails share one namespace)
//	roles           org \x00 role id             -> Role
//	clients         client id                    -> Client + secret_hash
//	client_orgs     org \x00 client id           -> nothing (lists an org's clients)
//	audiences       audience id                  -> Audience
//	families        family id                    -> Family
//	family_subjects org \x00 subject \x00 family id -> nothing (lists a subject's families)
//	refresh_tokens  digest                       -> RefreshToken
//	access_tokens   digest                       -> AccessToken
//	auth_codes      digest                       -> AuthCode
//	revocations     jti                          -> Revocation
//	signing_keys    kid                          -> SigningKey
//	expiries        expiry (8 bytes, big-endian Unix ns) bucket \x00 key -> nothing
//
// Update* runs fn outside any transaction, on its own decoded copy, then
// writes the result in a transaction that first checks the item's Version is
// still the one fn saw (retrying on a lost race, as the DynamoDB backend
// must). fn may therefore run more than once, and may read the store.
//
// Expired items are filtered on every read by the store's clock, and removed
// later by Purge, which walks the expiries index up to now. Open starts a
// goroutine that purges every Options.PurgeInterval.
//
// The change feed is in-process: changes are published to every subscriber of
// this Store after the transaction has committed (and so is on disk), in
// commit order. Another process cannot open the file while this one holds it.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/feed"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Clock decides expiry, grace windows and timestamps; latch.SystemClock{} by default.
	Clock latch.Clock
	// Timeout bounds the wait for the file lock held by another process; 1s by default.
	Timeout time.Duration
	// PurgeInterval is how often expired items are deleted; 10 minutes by
	// default, negative to never purge in the background.
	PurgeInterval time.Duration
	// WatchBuffer is the number of changes buffered per subscriber of Watch
	// before it gets a latch.ChangeReset; 256 by default.
	WatchBuffer int
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash of
	// the machine may lose or corrupt committed data.
	NoSync bool
}

const (
	defaultTimeout       = time.Second
	defaultPurgeInterval = 10 * time.Minute
	defaultWatchBuffer   = 256
	schemaVersion        = "1"
)

// Bucket names.
var (
	bMeta        = []byte("meta")
	bOrgs        = []byte("orgs")
	bUsers       = []byte("users")
	bLogins      = []byte("logins")
	bRoles       = []byte("roles")
	bClients     = []byte("clients")
	bClientOrgs  = []byte("client_orgs")
	bAudiences   = []byte("audiences")
	bFamilies    = []byte("families")
	bFamilySubs  = []byte("family_subjects")
	bRefresh     = []byte("refresh_tokens")
	bAccess      = []byte("access_tokens")
	bCodes       = []byte("auth_codes")
	bRevocations = []byte("revocations")
	bKeys        = []byte("signing_keys")
	bExpiries    = []byte("expiries")

	// Open creates the buckets a file lacks, so a file written before a
	// bucket existed opens with it empty (family_subjects: see ListFamilies).
	allBuckets = [][]byte{bMeta, bOrgs, bUsers, bLogins, bRoles, bClients, bClientOrgs, bAudiences,
		bFamilies, bFamilySubs, bRefresh, bAccess, bCodes, bRevocations, bKeys, bExpiries}
)

// Store is a latch.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	clock latch.Clock
	feed  *feed.Feed

	// wmu serializes writers (bbolt does too) so that changes are published
	// in commit order.
	wmu sync.Mutex

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ latch.Store = (*Store)(nil)

// Open opens or creates the store file at path. It fails with EUNAVAILABLE
// when another process holds the file for longer than opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	const op = "bolt.Open"
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.PurgeInterval == 0 {
		opts.PurgeInterval = defaultPurgeInterval
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = defaultWatchBuffer
	}
	if opts.WatchBuffer < 2 {
		opts.WatchBuffer = 2 // one change and the reset that may follow it
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.Timeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, latch.Wrap(latch.EUNAVAILABLE, op,
			fmt.Errorf("%s is locked by another process (waited %s)", path, opts.Timeout))
	}
	if err != nil {
		return nil, latch.Wrap(latch.EUNAVAILABLE, op, fmt.Errorf("%s: %w", path, err))
	}
	// A lone batched write waits this long for company before it commits:
	// short enough not to be felt, long enough to gather the writers that
	// arrive during the previous commit's fsync.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		switch v := meta.Get([]byte("schema")); {
		case v == nil:
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("%s: schema version %q, this binary reads %q", path, v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, latch.Wrap(latch.EINTERNAL, op, err)
	}
	s := &Store{
		db:    db,
		clock: opts.Clock,
		feed:  feed.New(opts.WatchBuffer),
		stop:  make(chan struct{}),
	}
	if opts.PurgeInterval > 0 {
		s.wg.Add(1)
		go s.purgeLoop(opts.PurgeInterval)
	}
	return s, nil
}

// Close stops the purge goroutine, closes every Watch channel and closes the
// file. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.feed.Close()
		if err := s.db.Close(); err != nil {
			s.closeErr = latch.Wrap(latch.EINTERNAL, "bolt.Close", err)
		}
	})
	return s.closeErr
}

// Ping reports whether the file is open.
func (s *Store) Ping(ctx context.Context) error {
	const op = "bolt.Ping"
	if err := ctx.Err(); err != nil {
		return latch.Wrap(latch.EUNAVAILABLE, op, err)
	}
	return s.view(op, func(*bolt.Tx) error { return nil })
}

// Watch returns the changes committed from now on; see latch.Store.
func (s *Store) Watch(ctx context.Context) <-chan latch.Change {
	return s.feed.Subscribe(ctx)
}

func (s *Store) purgeLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// A failed purge is retried at the next tick; expired items are
			// invisible to reads meanwhile, so nothing depends on it.
			_, _ = s.Purge(context.Background())
		}
	}
}

// errLostRace makes update retry: the item changed since it was read.
var errLostRace = errors.New("bolt: item changed since read")

// write runs fn in one read-write transaction and publishes the changes fn
// returns once the transaction has committed.
func (s *Store) write(op string, fn func(tx *bolt.Tx) ([]latch.Change, error)) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var changes []latch.Change
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		changes, err = fn(tx)
		return err
	})
	if err != nil {
		if errors.Is(err, errLostRace) {
			return err
		}
		return mapErr(op, err)
	}
	s.feed.Publish(changes)
	return nil
}

// writeBatched is write for operations that publish nothing (creating and
// consuming tokens): concurrent calls share one transaction and one fsync
// (bbolt's Batch), which multiplies the rate of token writes on a disk where
// an fsync takes milliseconds. fn may run more than once, so it must only
// touch the transaction; each caller still returns only after the commit.
func (s *Store) writeBatched(op string, fn func(tx *bolt.Tx) ([]latch.Change, error)) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		changes, err := fn(tx)
		if err == nil && len(changes) > 0 {
			return latch.Errorf(latch.EINTERNAL, "%s: a batched write must not publish changes", op)
		}
		return err
	})
	return mapErr(op, err)
}

// view runs fn in a read-only transaction.
func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	return mapErr(op, s.db.View(fn))
}

// mapErr passes domain errors through and turns everything else (bbolt, the
// file system, a corrupt record) into EUNAVAILABLE or EINTERNAL, keeping the
// cause for logs only.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var le *latch.Error
	if errors.As(err, &le) {
		return err
	}
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen),
		errors.Is(err, berrors.ErrTimeout),
		errors.Is(err, berrors.ErrDatabaseReadOnly),
		errors.Is(err, berrors.ErrMaxSizeReached),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &pathErr),
		errors.As(err, &errno):
		return latch.Wrap(latch.EUNAVAILABLE, op, err)
	}
	return latch.Wrap(latch.EINTERNAL, op, err)
}

func checkCtx(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return latch.Wrap(latch.EUNAVAILABLE, op, err)
	}
	return nil
}

// orgKey is the key of an org-scoped item: org \x00 rest. org must be a valid
// id (no NUL), which makes the split unambiguous.
func orgKey(org, rest string) []byte {
	k := make([]byte, 0, len(org)+1+len(rest))
	k = append(k, org...)
	k = append(k, 0)
	return append(k, rest...)
}

// decode unmarshals a stored record; a record that does not decode is a bug
// or a corrupt file.
func decode[T any](raw []byte) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("corrupt record: %w", err)
	}
	return v, nil
}

// expired applies the store's one expiry rule: an item is gone once its
// expiry is at or before now.
func expired(exp, now time.Time) bool { return !exp.After(now) }

func notFound(what string) error { return latch.Errorf(latch.ENOTFOUND, "%s not found", what) }

func conflict(format string, args ...any) error {
	return latch.Errorf(latch.ECONFLICT, format, args...)
}
