package dynamodb

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"latch.dev/latch"
)

// Expiring items live alone in their partition: pk = <KIND>#<id>, sk = <KIND>.
const (
	kFamily  = "FAMILY"
	kRefresh = "REFRESH"
	kAccess  = "ACCESS"
	kCode    = "CODE"
	kJTI     = "JTI"
)

func tokenKey(kind, id string) item { return keyOf(kind+"#"+id, kind) }

// Every family is also listed under its subject, by an index item in the
// subject's own partition (pk FAMSUB#<org>#<subject>, sk <family id>), so
// that listing a user's sessions is one Query and logins of different users
// never write the same partition. Org and subject are valid ids, which
// never contain '#', so the partition key is unambiguous; ListFamilies
// checks each family's own org and subject all the same.
const famSubPrefix = "FAMSUB#"

func familySubjectPK(org, subject string) string { return famSubPrefix + org + "#" + subject }

// absentOrExpired is the condition of create-if-absent for expiring items:
// an expired item counts as absent and is replaced.
const absentOrExpired = "attribute_not_exists(#pk) OR #exp <= :now"

// liveFamilyCond holds for a family that exists, is unexpired and unrevoked.
const liveFamilyCond = "attribute_exists(#pk) AND #exp > :now AND attribute_not_exists(#revoked_at)"

// expiringItem is the stored form of an expiring value.
func expiringItem(kind, id string, v any, exp time.Time) (item, error) {
	d, err := encodeData(v)
	if err != nil {
		return nil, err
	}
	it := tokenKey(kind, id)
	it[aData], it[aExp], it[aTTL] = d, num(stamp(exp)), num(ttlOf(exp))
	return it, nil
}

// getLive reads an expiring item; nil if absent or expired by the store's
// clock, whatever DynamoDB's TTL has not deleted yet.
// getDecoded reads a live item of kind and decodes it: ENOTFOUND when absent
// or expired, EINTERNAL when it does not decode.
func getDecoded[T any](s *Store, ctx context.Context, op, kind, id, name string, decode func(item) (T, error)) (T, error) {
	var zero T
	it, err := s.getLive(ctx, op, kind, id)
	if err != nil {
		return zero, err
	}
	if it == nil {
		return zero, notFound(name)
	}
	v, err := decode(it)
	if err != nil {
		return zero, corrupt(op, err)
	}
	return v, nil
}

func (s *Store) getLive(ctx context.Context, op, kind, id string) (item, error) {
	it, err := s.get(ctx, op, kind+"#"+id, kind)
	if err != nil || it == nil {
		return nil, err
	}
	if !liveAt(it, s.clock.Now()) {
		return nil, nil
	}
	return it, nil
}

func nowValues(s *Store) item { return item{":now": num(stamp(s.clock.Now()))} }

func timeAttr(it item, name string) time.Time {
	if n, ok := getN(it, name); ok {
		return fromStamp(n)
	}
	return time.Time{}
}

func decodeFamily(it item) (latch.Family, error) {
	f, err := decodeData[latch.Family](it)
	f.RevokedAt = timeAttr(it, aRevokedAt)
	return f, err
}

func decodeRefresh(it item) (latch.RefreshToken, error) {
	t, err := decodeData[latch.RefreshToken](it)
	t.RotatedAt, t.ReplacedBy = timeAttr(it, aRotatedAt), getS(it, aReplacedBy)
	return t, err
}

func decodeCode(it item) (latch.AuthCode, error) {
	c, err := decodeData[latch.AuthCode](it)
	c.ConsumedAt, c.FamilyID = timeAttr(it, aConsumedAt), getS(it, aFamilyID)
	return c, err
}

// CreateFamily creates f; ECONFLICT if its id is taken.
func (s *Store) CreateFamily(ctx context.Context, f latch.Family) error {
	const op = "dynamodb.CreateFamily"
	if f.ID == "" {
		return invalid("family: empty id")
	}
	revoked := f.RevokedAt
	f.RevokedAt = time.Time{}
	it, err := expiringItem(kFamily, f.ID, f, f.ExpiresAt)
	if err != nil {
		return corrupt(op, err)
	}
	if !revoked.IsZero() {
		it[aRevokedAt] = num(stamp(revoked))
	}
	// The index item expires with the family (same exp, same ttl), so
	// DynamoDB's TTL deletes the two together. It is written only if the
	// family is: one transaction, still one request.
	entry := keyOf(familySubjectPK(f.Org, f.Subject), f.ID)
	entry[aExp], entry[aTTL] = it[aExp], it[aTTL]
	return s.commit(ctx, op,
		s.put(it, absentOrExpired, nowValues(s), conflict("family exists already")),
		s.put(entry, "", nil, nil))
}

// GetFamily returns the family id, revoked or not; ENOTFOUND once it expired.
func (s *Store) GetFamily(ctx context.Context, id string) (latch.Family, error) {
	return getDecoded(s, ctx, "dynamodb.GetFamily", kFamily, id, "family", decodeFamily)
}

// ListFamilies lists subject's unexpired families in org, revoked or not, in
// family id order: a strongly consistent Query of the subject's index
// partition, then BatchGetItem (strongly consistent) of the families
// themselves, since only they carry revoked_at. Index items whose family
// expired (TTL deletion lags), is gone, or now belongs to someone else (an
// expired id reused) are skipped.
func (s *Store) ListFamilies(ctx context.Context, org, subject string) ([]latch.Family, error) {
	const op = "dynamodb.ListFamilies"
	entries, err := s.query(ctx, op, familySubjectPK(org, subject), "")
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	keys := make([]item, 0, len(entries))
	for _, e := range entries {
		if liveAt(e, now) {
			keys = append(keys, tokenKey(kFamily, getS(e, aSK)))
		}
	}
	items, err := s.batchGet(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	byPK := make(map[string]item, len(items))
	for _, it := range items {
		byPK[getS(it, aPK)] = it
	}
	families := make([]latch.Family, 0, len(keys))
	for _, k := range keys {
		it := byPK[getS(k, aPK)]
		if it == nil || !liveAt(it, now) {
			continue
		}
		f, err := decodeFamily(it)
		if err != nil {
			return nil, corrupt(op, err)
		}
		if f.Org == org && f.Subject == subject {
			families = append(families, f)
		}
	}
	return families, nil
}

// RevokeFamily sets revoked_at on a live family that has none, and
// announces it; a revoked family stays revoked, with its first RevokedAt.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	const op = "dynamodb.RevokeFamily"
	now := s.clock.Now()
	out, err := s.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 tokenKey(kFamily, id),
		UpdateExpression:                    aws.String("SET #revoked_at = :now"),
		ConditionExpression:                 aws.String(liveFamilyCond),
		ExpressionAttributeNames:            namesFor("#revoked_at", liveFamilyCond),
		ExpressionAttributeValues:           item{":now": num(stamp(now))},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if isCCF(err) {
		old := ccfItem(err)
		if old == nil {
			if old, err = s.get(ctx, op, kFamily+"#"+id, kFamily); err != nil {
				return err
			}
		}
		if old != nil && liveAt(old, now) {
			if _, revoked := old[aRevokedAt]; revoked {
				return nil // revoked already: nothing changes
			}
		}
		return notFound("family")
	}
	if err != nil {
		return mapErr(op, err)
	}
	f, err := decodeFamily(out.Attributes)
	if err != nil {
		return corrupt(op, err)
	}
	s.feed.Publish([]latch.Change{{Kind: latch.ChangeFamily, Org: f.Org, ID: f.ID}})
	return nil
}

// ccfItem is the item a failed condition saw, when DynamoDB returned it.
func ccfItem(err error) item {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && len(ccf.Item) > 0 {
		return ccf.Item
	}
	return nil
}

// CreateRefreshToken stores t in its family, which must be live: one
// transaction of a condition check on the family and the conditional put.
func (s *Store) CreateRefreshToken(ctx context.Context, t latch.RefreshToken) error {
	const op = "dynamodb.CreateRefreshToken"
	if t.Digest == "" {
		return invalid("refresh token: empty digest")
	}
	it, err := refreshItem(t)
	if err != nil {
		return corrupt(op, err)
	}
	return s.commit(ctx, op,
		s.check(tokenKey(kFamily, t.FamilyID), liveFamilyCond, nowValues(s), notFound("family")),
		s.put(it, absentOrExpired, nowValues(s), conflict("refresh token exists already")))
}

func refreshItem(t latch.RefreshToken) (item, error) {
	rotated, by := t.RotatedAt, t.ReplacedBy
	t.RotatedAt, t.ReplacedBy = time.Time{}, ""
	it, err := expiringItem(kRefresh, t.Digest, t, t.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if !rotated.IsZero() {
		it[aRotatedAt] = num(stamp(rotated))
	}
	if by != "" {
		it[aReplacedBy] = str(by)
	}
	return it, nil
}

// GetRefreshToken returns the token, rotated or not, without looking at its family.
func (s *Store) GetRefreshToken(ctx context.Context, digest string) (latch.RefreshToken, error) {
	return getDecoded(s, ctx, "dynamodb.GetRefreshToken", kRefresh, digest, "refresh token", decodeRefresh)
}

// RotateRefreshToken exchanges oldDigest for next in one transaction; see
// latch.Store and the package doc. A retry within grace stores next as a
// sibling and leaves the old token's RotatedAt and ReplacedBy as the first
// rotation set them. On success it returns next; on ECONFLICT the old token.
func (s *Store) RotateRefreshToken(ctx context.Context, oldDigest string, next latch.RefreshToken, grace time.Duration) (latch.RefreshToken, error) {
	const op = "dynamodb.RotateRefreshToken"
	if next.Digest == "" || next.Digest == oldDigest {
		return latch.RefreshToken{}, invalid("refresh token: the next token needs a new digest")
	}
	next.RotatedAt, next.ReplacedBy = time.Time{}, ""
	for range maxUpdateAttempts {
		if err := checkCtx(ctx, op); err != nil {
			return latch.RefreshToken{}, err
		}
		now := s.clock.Now()
		it, err := s.getLive(ctx, op, kRefresh, oldDigest)
		if err != nil {
			return latch.RefreshToken{}, err
		}
		if it == nil {
			return latch.RefreshToken{}, notFound("refresh token")
		}
		old, err := decodeRefresh(it)
		if err != nil {
			return latch.RefreshToken{}, corrupt(op, err)
		}
		fam, err := s.getLive(ctx, op, kFamily, old.FamilyID)
		if err != nil {
			return latch.RefreshToken{}, err
		}
		if _, revoked := fam[aRevokedAt]; fam == nil || revoked {
			return latch.RefreshToken{}, notFound("family")
		}
		n := next
		switch {
		case n.FamilyID == "":
			n.FamilyID = old.FamilyID
		case n.FamilyID != old.FamilyID:
			return latch.RefreshToken{}, invalid("refresh token: the next token must stay in the family")
		}
		values := item{":now": num(stamp(now))}
		var mark write
		if old.Rotated() {
			if grace <= 0 || now.Sub(old.RotatedAt) > grace {
				return old, conflict("refresh token was rotated already")
			}
			// A sibling: the old token must still be as read.
			values[":seen"] = num(stamp(old.RotatedAt))
			mark = s.check(tokenKey(kRefresh, oldDigest), "#exp > :now AND #rotated_at = :seen", values, nil)
		} else {
			mark = s.update(tokenKey(kRefresh, oldDigest), "SET #rotated_at = :now, #replaced_by = :by",
				"#exp > :now AND attribute_not_exists(#rotated_at)",
				item{":now": values[":now"], ":by": str(n.Digest)}, nil)
		}
		nextItem, err := refreshItem(n)
		if err != nil {
			return latch.RefreshToken{}, corrupt(op, err)
		}
		err = s.commit(ctx, op,
			mark,
			s.check(tokenKey(kFamily, old.FamilyID), liveFamilyCond, item{":now": values[":now"]}, notFound("family")),
			s.put(nextItem, absentOrExpired, item{":now": values[":now"]}, conflict("refresh token exists already")))
		switch {
		case err == errLostRace:
			continue // the old token changed: read it again
		case latch.IsCode(err, latch.ECONFLICT):
			return old, err
		case err != nil:
			return latch.RefreshToken{}, err
		}
		return n, nil
	}
	return latch.RefreshToken{}, conflict("refresh token is being rotated by others; try again")
}

// CreateAccessToken stores an opaque access token; ECONFLICT if the digest is taken.
func (s *Store) CreateAccessToken(ctx context.Context, t latch.AccessToken) error {
	const op = "dynamodb.CreateAccessToken"
	if t.Digest == "" {
		return invalid("access token: empty digest")
	}
	it, err := expiringItem(kAccess, t.Digest, t, t.ExpiresAt)
	if err != nil {
		return corrupt(op, err)
	}
	return s.commit(ctx, op, s.put(it, absentOrExpired, nowValues(s), conflict("access token exists already")))
}

// GetAccessToken returns the token unless it is absent, expired, or issued
// from a family that has been revoked (two strongly consistent reads).
func (s *Store) GetAccessToken(ctx context.Context, digest string) (latch.AccessToken, error) {
	const op = "dynamodb.GetAccessToken"
	t, err := getDecoded(s, ctx, op, kAccess, digest, "access token", decodeData[latch.AccessToken])
	if err != nil || t.FamilyID == "" {
		return t, err
	}
	// An expired family is ignored here (its tokens expire with it); a
	// revoked one, expired or not, refuses what it issued.
	fam, err := s.get(ctx, op, kFamily+"#"+t.FamilyID, kFamily)
	if err != nil {
		return latch.AccessToken{}, err
	}
	if _, revoked := fam[aRevokedAt]; revoked {
		return latch.AccessToken{}, notFound("access token")
	}
	return t, nil
}

// RevokeAccessToken deletes the token and announces it; absent is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, digest string) error {
	const op = "dynamodb.RevokeAccessToken"
	out, err := s.api.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:    aws.String(s.table),
		Key:          tokenKey(kAccess, digest),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return mapErr(op, err)
	}
	if len(out.Attributes) == 0 {
		return nil
	}
	t, err := decodeData[latch.AccessToken](out.Attributes)
	if err != nil {
		return corrupt(op, err)
	}
	s.feed.Publish([]latch.Change{{Kind: latch.ChangeToken, Org: t.Org, ID: digest, Deleted: true}})
	return nil
}

// errKeep says a live revocation with a later expiry is stored already.
var errKeep = errors.New("dynamodb: a later revocation is stored")

// RevokeJTI records the revocation of a self-contained token and announces
// it. Revoking again keeps the later of the two expiries (by condition).
func (s *Store) RevokeJTI(ctx context.Context, r latch.Revocation) error {
	const op = "dynamodb.RevokeJTI"
	if r.JTI == "" {
		return invalid("revocation: empty jti")
	}
	d, err := encodeData(r)
	if err != nil {
		return corrupt(op, err)
	}
	values := nowValues(s)
	values[":data"], values[":exp"], values[":ttl"] = d, num(stamp(r.ExpiresAt)), num(ttlOf(r.ExpiresAt))
	err = s.commit(ctx, op, s.update(tokenKey(kJTI, r.JTI), "SET #data = :data, #exp = :exp, #ttl = :ttl",
		"attribute_not_exists(#pk) OR #exp <= :now OR #exp <= :exp", values, errKeep))
	if err != nil && err != errKeep {
		return err
	}
	s.feed.Publish([]latch.Change{{Kind: latch.ChangeToken, Org: r.Org, ID: r.JTI}})
	return nil
}

// JTIRevoked reports whether jti has an unexpired revocation.
func (s *Store) JTIRevoked(ctx context.Context, jti string) (bool, error) {
	it, err := s.getLive(ctx, "dynamodb.JTIRevoked", kJTI, jti)
	return it != nil, err
}

// CreateAuthCode stores c; ECONFLICT if the digest is taken.
func (s *Store) CreateAuthCode(ctx context.Context, c latch.AuthCode) error {
	const op = "dynamodb.CreateAuthCode"
	if c.Digest == "" {
		return invalid("auth code: empty digest")
	}
	consumed, fam := c.ConsumedAt, c.FamilyID
	c.ConsumedAt, c.FamilyID = time.Time{}, ""
	it, err := expiringItem(kCode, c.Digest, c, c.ExpiresAt)
	if err != nil {
		return corrupt(op, err)
	}
	if !consumed.IsZero() {
		it[aConsumedAt] = num(stamp(consumed))
	}
	if fam != "" {
		it[aFamilyID] = str(fam)
	}
	return s.commit(ctx, op, s.put(it, absentOrExpired, nowValues(s), conflict("auth code exists already")))
}

// ConsumeAuthCode marks the code consumed with one conditional update
// (attribute_not_exists(consumed_at) AND exp > now); see latch.Store.
func (s *Store) ConsumeAuthCode(ctx context.Context, digest string) (latch.AuthCode, error) {
	const op = "dynamodb.ConsumeAuthCode"
	now := s.clock.Now()
	const cond = "#exp > :now AND attribute_not_exists(#consumed_at)"
	out, err := s.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 tokenKey(kCode, digest),
		UpdateExpression:                    aws.String("SET #consumed_at = :now"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            namesFor(cond),
		ExpressionAttributeValues:           item{":now": num(stamp(now))},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if isCCF(err) {
		old := ccfItem(err)
		if old == nil {
			if old, err = s.get(ctx, op, kCode+"#"+digest, kCode); err != nil {
				return latch.AuthCode{}, err
			}
		}
		if old == nil || !liveAt(old, now) {
			return latch.AuthCode{}, notFound("auth code")
		}
		c, err := decodeCode(old)
		if err != nil {
			return latch.AuthCode{}, corrupt(op, err)
		}
		return c, conflict("auth code was used already")
	}
	if err != nil {
		return latch.AuthCode{}, mapErr(op, err)
	}
	c, err := decodeCode(out.Attributes)
	if err != nil {
		return latch.AuthCode{}, corrupt(op, err)
	}
	return c, nil
}

// SetAuthCodeFamily records the family issued from a consumed code. It fails
// with ECONFLICT if the code is not consumed or already names another family.
func (s *Store) SetAuthCodeFamily(ctx context.Context, digest, familyID string) error {
	const op = "dynamodb.SetAuthCodeFamily"
	if familyID == "" {
		return invalid("auth code: empty family id")
	}
	now := s.clock.Now()
	const cond = "#exp > :now AND attribute_exists(#consumed_at) AND (attribute_not_exists(#family_id) OR #family_id = :f)"
	_, err := s.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 tokenKey(kCode, digest),
		UpdateExpression:                    aws.String("SET #family_id = :f"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            namesFor(cond),
		ExpressionAttributeValues:           item{":now": num(stamp(now)), ":f": str(familyID)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if isCCF(err) {
		old := ccfItem(err)
		if old == nil {
			if old, err = s.get(ctx, op, kCode+"#"+digest, kCode); err != nil {
				return err
			}
		}
		switch {
		case old == nil || !liveAt(old, now):
			return notFound("auth code")
		case old[aConsumedAt] == nil:
			return conflict("auth code is not consumed")
		}
		return conflict("auth code names another family")
	}
	return mapErr(op, err)
}
