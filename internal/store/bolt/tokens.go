package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"latch.dev/latch"
)

// Expiring items (families, refresh and access tokens, auth codes,
// revocations) are also listed in the expiries bucket, keyed by an 8-byte
// big-endian Unix-nanosecond stamp of their expiry, then bucket \x00 key, so
// Purge finds what has expired without reading anything else.

func expStamp(t time.Time) uint64 {
	switch {
	case t.Unix() < 0:
		return 0
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxUint64
	}
	return uint64(t.UnixNano())
}

func expKey(exp time.Time, bucket, key []byte) []byte {
	k := make([]byte, 8, 8+len(bucket)+1+len(key))
	binary.BigEndian.PutUint64(k, expStamp(exp))
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, key...)
}

// putExpiring stores an expiring item and its expiries entry; prev is the
// expiry of the item it replaces, if any.
func putExpiring(tx *bolt.Tx, bucket, key []byte, v any, exp time.Time, prev *time.Time) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	idx := tx.Bucket(bExpiries)
	if prev != nil {
		if err := idx.Delete(expKey(*prev, bucket, key)); err != nil {
			return err
		}
	}
	if err := idx.Put(expKey(exp, bucket, key), nil); err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, data)
}

// putSame rewrites an expiring item whose expiry has not changed.
func putSame(tx *bolt.Tx, bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, data)
}

func deleteExpiring(tx *bolt.Tx, bucket, key []byte, exp time.Time) error {
	if err := tx.Bucket(bExpiries).Delete(expKey(exp, bucket, key)); err != nil {
		return err
	}
	return tx.Bucket(bucket).Delete(key)
}

// loadExpiring reads the item at key. live is false when it is absent or
// expired; found tells an expired item (which a create replaces) from none.
func loadExpiring[T any](tx *bolt.Tx, bucket, key []byte, exp func(*T) time.Time, now time.Time) (v T, found, live bool, err error) {
	raw := tx.Bucket(bucket).Get(key)
	if raw == nil {
		return v, false, false, nil
	}
	v, err = decode[T](raw)
	if err != nil {
		return v, true, false, err
	}
	return v, true, !expired(exp(&v), now), nil
}

// createExpiring is create-if-absent for expiring items: an expired item
// counts as absent and is replaced.
func createExpiring[T any](tx *bolt.Tx, bucket, key []byte, v *T, exp func(*T) time.Time, now time.Time, what string) error {
	old, found, live, err := loadExpiring(tx, bucket, key, exp, now)
	if err != nil {
		return err
	}
	if live {
		return conflict("%s exists already", what)
	}
	var prev *time.Time
	if found {
		p := exp(&old)
		prev = &p
	}
	return putExpiring(tx, bucket, key, v, exp(v), prev)
}

func familyExp(f *latch.Family) time.Time         { return f.ExpiresAt }
func refreshExp(t *latch.RefreshToken) time.Time  { return t.ExpiresAt }
func accessExp(t *latch.AccessToken) time.Time    { return t.ExpiresAt }
func codeExp(c *latch.AuthCode) time.Time         { return c.ExpiresAt }
func revocationExp(r *latch.Revocation) time.Time { return r.ExpiresAt }
func invalid(format string, args ...any) *latch.Error {
	return latch.Errorf(latch.EINVALID, format, args...)
}

// liveFamily returns the family id if it is present, unexpired and not revoked.
func liveFamily(tx *bolt.Tx, id string, now time.Time) (latch.Family, bool, error) {
	f, _, live, err := loadExpiring(tx, bFamilies, []byte(id), familyExp, now)
	return f, live && !f.Revoked(), err
}

// familySubjectPrefix starts the family_subjects keys of subject in org.
// Both are valid ids (no NUL), so the prefix matches no other subject's keys.
func familySubjectPrefix(org, subject string) []byte {
	return append(orgKey(org, subject), 0)
}

// familySubjectKey is the family_subjects key of family id: org \x00 subject \x00 id.
func familySubjectKey(org, subject, id string) []byte {
	return append(familySubjectPrefix(org, subject), id...)
}

// CreateFamily creates f and its family_subjects entry in one transaction;
// ECONFLICT if its id is taken.
func (s *Store) CreateFamily(ctx context.Context, f latch.Family) error {
	const op = "bolt.CreateFamily"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if f.ID == "" {
		return invalid("family: empty id")
	}
	return s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		now := s.clock.Now()
		old, found, live, err := loadExpiring(tx, bFamilies, []byte(f.ID), familyExp, now)
		if err != nil {
			return nil, err
		}
		if found && !live {
			// The expired family this one replaces may have been another
			// subject's: its entry would outlive it, since Purge finds
			// entries through the family they name.
			if err := tx.Bucket(bFamilySubs).Delete(familySubjectKey(old.Org, old.Subject, old.ID)); err != nil {
				return nil, err
			}
		}
		if err := createExpiring(tx, bFamilies, []byte(f.ID), &f, familyExp, now, "family"); err != nil {
			return nil, err
		}
		return nil, tx.Bucket(bFamilySubs).Put(familySubjectKey(f.Org, f.Subject, f.ID), nil)
	})
}

// GetFamily returns the family id, revoked or not; ENOTFOUND once it expired.
func (s *Store) GetFamily(ctx context.Context, id string) (latch.Family, error) {
	return getExpiring(s, ctx, "bolt.GetFamily", bFamilies, id, familyExp, "family")
}

func getExpiring[T any](s *Store, ctx context.Context, op string, bucket []byte, key string, exp func(*T) time.Time, what string) (T, error) {
	var v T
	if err := checkCtx(ctx, op); err != nil {
		return v, err
	}
	err := s.view(op, func(tx *bolt.Tx) error {
		var live bool
		var err error
		v, _, live, err = loadExpiring(tx, bucket, []byte(key), exp, s.clock.Now())
		if err == nil && !live {
			err = notFound(what)
		}
		return err
	})
	return v, err
}

// ListFamilies lists subject's unexpired families in org, revoked or not,
// through the family_subjects index (in family id order), reading each
// family for its current state. Families created before the index existed
// have no entry and are not listed.
func (s *Store) ListFamilies(ctx context.Context, org, subject string) ([]latch.Family, error) {
	const op = "bolt.ListFamilies"
	if err := checkCtx(ctx, op); err != nil {
		return nil, err
	}
	families := []latch.Family{}
	err := s.view(op, func(tx *bolt.Tx) error {
		now := s.clock.Now()
		prefix := familySubjectPrefix(org, subject)
		c := tx.Bucket(bFamilySubs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			f, _, live, err := loadExpiring(tx, bFamilies, k[len(prefix):], familyExp, now)
			if err != nil {
				return err
			}
			// An entry outlives its family until Purge. The check of org
			// and subject is a second line, should an id ever be reused
			// without its entry being dropped or an org or subject not be
			// a valid id.
			if live && f.Org == org && f.Subject == subject {
				families = append(families, f)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return families, nil
}

// RevokeFamily marks the family revoked and announces it; a revoked family
// stays revoked, with its first RevokedAt.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	const op = "bolt.RevokeFamily"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		now := s.clock.Now()
		f, _, live, err := loadExpiring(tx, bFamilies, []byte(id), familyExp, now)
		if err != nil {
			return nil, err
		}
		if !live {
			return nil, notFound("family")
		}
		if f.Revoked() {
			return nil, nil
		}
		f.RevokedAt = now
		if err := putSame(tx, bFamilies, []byte(id), &f); err != nil {
			return nil, err
		}
		return []latch.Change{{Kind: latch.ChangeFamily, Org: f.Org, ID: f.ID}}, nil
	})
}

// CreateRefreshToken stores t in its family, which must be live.
func (s *Store) CreateRefreshToken(ctx context.Context, t latch.RefreshToken) error {
	const op = "bolt.CreateRefreshToken"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if t.Digest == "" {
		return invalid("refresh token: empty digest")
	}
	return s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		now := s.clock.Now()
		if _, ok, err := liveFamily(tx, t.FamilyID, now); err != nil || !ok {
			if err == nil {
				err = notFound("family")
			}
			return nil, err
		}
		return nil, createExpiring(tx, bRefresh, []byte(t.Digest), &t, refreshExp, now, "refresh token")
	})
}

// GetRefreshToken returns the token, rotated or not, without looking at its family.
func (s *Store) GetRefreshToken(ctx context.Context, digest string) (latch.RefreshToken, error) {
	return getExpiring(s, ctx, "bolt.GetRefreshToken", bRefresh, digest, refreshExp, "refresh token")
}

// RotateRefreshToken exchanges oldDigest for next; see latch.Store. A retry
// within grace stores next as a sibling and leaves the old token's RotatedAt
// and ReplacedBy as the first rotation set them. grace <= 0 allows no retry.
// On success it returns next as stored; on ECONFLICT the old token.
func (s *Store) RotateRefreshToken(ctx context.Context, oldDigest string, next latch.RefreshToken, grace time.Duration) (latch.RefreshToken, error) {
	const op = "bolt.RotateRefreshToken"
	if err := checkCtx(ctx, op); err != nil {
		return latch.RefreshToken{}, err
	}
	if next.Digest == "" || next.Digest == oldDigest {
		return latch.RefreshToken{}, invalid("refresh token: the next token needs a new digest")
	}
	next.RotatedAt, next.ReplacedBy = time.Time{}, ""
	var result latch.RefreshToken
	err := s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		now := s.clock.Now()
		old, _, live, err := loadExpiring(tx, bRefresh, []byte(oldDigest), refreshExp, now)
		if err != nil {
			return nil, err
		}
		if !live {
			return nil, notFound("refresh token")
		}
		if _, ok, err := liveFamily(tx, old.FamilyID, now); err != nil || !ok {
			if err == nil {
				err = notFound("family")
			}
			return nil, err
		}
		switch {
		case next.FamilyID == "":
			next.FamilyID = old.FamilyID
		case next.FamilyID != old.FamilyID:
			return nil, invalid("refresh token: the next token must stay in the family")
		}
		stored := old
		if old.Rotated() {
			if grace <= 0 || now.Sub(old.RotatedAt) > grace {
				result = stored
				return nil, conflict("refresh token was rotated already")
			}
		} else {
			old.RotatedAt, old.ReplacedBy = now, next.Digest
			if err := putSame(tx, bRefresh, []byte(oldDigest), &old); err != nil {
				return nil, err
			}
		}
		if err := createExpiring(tx, bRefresh, []byte(next.Digest), &next, refreshExp, now, "refresh token"); err != nil {
			result = stored
			return nil, err
		}
		result = next
		return nil, nil
	})
	if err != nil && !latch.IsCode(err, latch.ECONFLICT) {
		result = latch.RefreshToken{}
	}
	return result, err
}

// CreateAccessToken stores an opaque access token; ECONFLICT if the digest is taken.
func (s *Store) CreateAccessToken(ctx context.Context, t latch.AccessToken) error {
	const op = "bolt.CreateAccessToken"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if t.Digest == "" {
		return invalid("access token: empty digest")
	}
	return s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		return nil, createExpiring(tx, bAccess, []byte(t.Digest), &t, accessExp, s.clock.Now(), "access token")
	})
}

// GetAccessToken returns the token unless it is absent, expired, or issued
// from a family that has been revoked.
func (s *Store) GetAccessToken(ctx context.Context, digest string) (latch.AccessToken, error) {
	const op = "bolt.GetAccessToken"
	var t latch.AccessToken
	if err := checkCtx(ctx, op); err != nil {
		return t, err
	}
	err := s.view(op, func(tx *bolt.Tx) error {
		var live bool
		var err error
		t, _, live, err = loadExpiring(tx, bAccess, []byte(digest), accessExp, s.clock.Now())
		if err != nil {
			return err
		}
		if !live {
			return notFound("access token")
		}
		if t.FamilyID == "" {
			return nil
		}
		// An expired family is ignored here (its tokens expire with it); a
		// revoked one, expired or not, refuses what it issued.
		raw := tx.Bucket(bFamilies).Get([]byte(t.FamilyID))
		if raw == nil {
			return nil
		}
		f, err := decode[latch.Family](raw)
		if err != nil {
			return err
		}
		if f.Revoked() {
			return notFound("access token")
		}
		return nil
	})
	if err != nil {
		return latch.AccessToken{}, err
	}
	return t, nil
}

// RevokeAccessToken deletes the token and announces it; absent is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, digest string) error {
	const op = "bolt.RevokeAccessToken"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		t, found, _, err := loadExpiring(tx, bAccess, []byte(digest), accessExp, s.clock.Now())
		if err != nil || !found {
			return nil, err
		}
		if err := deleteExpiring(tx, bAccess, []byte(digest), t.ExpiresAt); err != nil {
			return nil, err
		}
		return []latch.Change{{Kind: latch.ChangeToken, Org: t.Org, ID: digest, Deleted: true}}, nil
	})
}

// RevokeJTI records the revocation of a self-contained token and announces
// it. Revoking again keeps the later of the two expiries.
func (s *Store) RevokeJTI(ctx context.Context, r latch.Revocation) error {
	const op = "bolt.RevokeJTI"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if r.JTI == "" {
		return invalid("revocation: empty jti")
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		old, found, live, err := loadExpiring(tx, bRevocations, []byte(r.JTI), revocationExp, s.clock.Now())
		if err != nil {
			return nil, err
		}
		var prev *time.Time
		if found {
			prev = &old.ExpiresAt
			if live && old.ExpiresAt.After(r.ExpiresAt) {
				r.ExpiresAt = old.ExpiresAt
			}
		}
		if err := putExpiring(tx, bRevocations, []byte(r.JTI), &r, r.ExpiresAt, prev); err != nil {
			return nil, err
		}
		return []latch.Change{{Kind: latch.ChangeToken, Org: r.Org, ID: r.JTI}}, nil
	})
}

// JTIRevoked reports whether jti has an unexpired revocation.
func (s *Store) JTIRevoked(ctx context.Context, jti string) (bool, error) {
	const op = "bolt.JTIRevoked"
	if err := checkCtx(ctx, op); err != nil {
		return false, err
	}
	var revoked bool
	err := s.view(op, func(tx *bolt.Tx) error {
		_, _, live, err := loadExpiring(tx, bRevocations, []byte(jti), revocationExp, s.clock.Now())
		revoked = live
		return err
	})
	return revoked, err
}

// CreateAuthCode stores c; ECONFLICT if the digest is taken.
func (s *Store) CreateAuthCode(ctx context.Context, c latch.AuthCode) error {
	const op = "bolt.CreateAuthCode"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if c.Digest == "" {
		return invalid("auth code: empty digest")
	}
	return s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		return nil, createExpiring(tx, bCodes, []byte(c.Digest), &c, codeExp, s.clock.Now(), "auth code")
	})
}

// ConsumeAuthCode marks the code consumed, once; see latch.Store.
func (s *Store) ConsumeAuthCode(ctx context.Context, digest string) (latch.AuthCode, error) {
	const op = "bolt.ConsumeAuthCode"
	if err := checkCtx(ctx, op); err != nil {
		return latch.AuthCode{}, err
	}
	var result latch.AuthCode
	err := s.writeBatched(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		now := s.clock.Now()
		c, _, live, err := loadExpiring(tx, bCodes, []byte(digest), codeExp, now)
		if err != nil {
			return nil, err
		}
		if !live {
			return nil, notFound("auth code")
		}
		result = c
		if !c.ConsumedAt.IsZero() {
			return nil, conflict("auth code was used already")
		}
		c.ConsumedAt = now
		result = c
		return nil, putSame(tx, bCodes, []byte(digest), &c)
	})
	if err != nil && !latch.IsCode(err, latch.ECONFLICT) {
		result = latch.AuthCode{}
	}
	return result, err
}

// SetAuthCodeFamily records the family issued from a consumed code. It fails
// with ECONFLICT if the code is not consumed or already names another family.
func (s *Store) SetAuthCodeFamily(ctx context.Context, digest, familyID string) error {
	const op = "bolt.SetAuthCodeFamily"
	if err := checkCtx(ctx, op); err != nil {
		return err
	}
	if familyID == "" {
		return invalid("auth code: empty family id")
	}
	return s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
		c, _, live, err := loadExpiring(tx, bCodes, []byte(digest), codeExp, s.clock.Now())
		if err != nil {
			return nil, err
		}
		switch {
		case !live:
			return nil, notFound("auth code")
		case c.ConsumedAt.IsZero():
			return nil, conflict("auth code is not consumed")
		case c.FamilyID == familyID:
			return nil, nil
		case c.FamilyID != "":
			return nil, conflict("auth code names another family")
		}
		c.FamilyID = familyID
		return nil, putSame(tx, bCodes, []byte(digest), &c)
	})
}

// purgeBatch bounds how long one purge transaction holds the write lock.
const purgeBatch = 1000

// Purge deletes the items that expired by the store's clock and returns how
// many it deleted. Reads never return expired items, so Purge only reclaims
// space; Open runs it every Options.PurgeInterval.
func (s *Store) Purge(ctx context.Context) (int, error) {
	const op = "bolt.Purge"
	total := 0
	for {
		deleted := 0
		if err := checkCtx(ctx, op); err != nil {
			return total, err
		}
		n := 0
		err := s.write(op, func(tx *bolt.Tx) ([]latch.Change, error) {
			n, deleted = 0, 0
			now := s.clock.Now()
			stamp := expStamp(now)
			c := tx.Bucket(bExpiries).Cursor()
			for k, _ := c.First(); k != nil && n < purgeBatch; k, _ = c.First() {
				if len(k) < 9 || binary.BigEndian.Uint64(k[:8]) > stamp {
					break
				}
				name, key, ok := bytes.Cut(k[8:], []byte{0})
				// Delete through the cursor's own key before anything moves it.
				entry := bytes.Clone(k)
				if err := c.Delete(); err != nil {
					return nil, err
				}
				n++
				b := tx.Bucket(name)
				if !ok || b == nil {
					continue
				}
				raw := b.Get(key)
				if raw == nil {
					continue
				}
				var rec struct {
					Exp time.Time `json:"exp"`
					// A family's, to drop its family_subjects entry with it.
					Org     string `json:"org"`
					Subject string `json:"sub"`
				}
				if err := json.Unmarshal(raw, &rec); err != nil {
					return nil, err
				}
				if !expired(rec.Exp, now) {
					// A stale entry: keep the item, and list it under its real expiry.
					if !bytes.Equal(expKey(rec.Exp, name, key), entry) {
						if err := tx.Bucket(bExpiries).Put(expKey(rec.Exp, name, key), nil); err != nil {
							return nil, err
						}
					}
					continue
				}
				if bytes.Equal(name, bFamilies) {
					if err := tx.Bucket(bFamilySubs).Delete(familySubjectKey(rec.Org, rec.Subject, string(key))); err != nil {
						return nil, err
					}
				}
				if err := b.Delete(key); err != nil {
					return nil, err
				}
				deleted++
			}
			return nil, nil
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if n < purgeBatch {
			return total, nil
		}
	}
}
