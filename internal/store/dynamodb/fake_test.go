package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"latch.dev/latch"
)

// fakeAPI is a DynamoDB whose every call is a function field; a call the
// test did not expect fails it.
type fakeAPI struct {
	t        *testing.T
	getItem  func(*ddb.GetItemInput) (*ddb.GetItemOutput, error)
	update   func(*ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error)
	putItem  func(*ddb.PutItemInput) (*ddb.PutItemOutput, error)
	deleteIt func(*ddb.DeleteItemInput) (*ddb.DeleteItemOutput, error)
	query    func(*ddb.QueryInput) (*ddb.QueryOutput, error)
	batchGet func(*ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error)
	transact func(*ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error)
	describe func(*ddb.DescribeTableInput) (*ddb.DescribeTableOutput, error)
}

func (f *fakeAPI) unexpected(name string) error {
	f.t.Helper()
	f.t.Errorf("unexpected call of %s", name)
	return errors.New("unexpected call")
}

func (f *fakeAPI) GetItem(_ context.Context, in *ddb.GetItemInput, _ ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	if f.getItem == nil {
		return nil, f.unexpected("GetItem")
	}
	return f.getItem(in)
}

func (f *fakeAPI) UpdateItem(_ context.Context, in *ddb.UpdateItemInput, _ ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	if f.update == nil {
		return nil, f.unexpected("UpdateItem")
	}
	return f.update(in)
}

func (f *fakeAPI) PutItem(_ context.Context, in *ddb.PutItemInput, _ ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	if f.putItem == nil {
		return nil, f.unexpected("PutItem")
	}
	return f.putItem(in)
}

func (f *fakeAPI) DeleteItem(_ context.Context, in *ddb.DeleteItemInput, _ ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error) {
	if f.deleteIt == nil {
		return nil, f.unexpected("DeleteItem")
	}
	return f.deleteIt(in)
}

func (f *fakeAPI) Query(_ context.Context, in *ddb.QueryInput, _ ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	if f.query == nil {
		return nil, f.unexpected("Query")
	}
	return f.query(in)
}

func (f *fakeAPI) BatchGetItem(_ context.Context, in *ddb.BatchGetItemInput, _ ...func(*ddb.Options)) (*ddb.BatchGetItemOutput, error) {
	if f.batchGet == nil {
		return nil, f.unexpected("BatchGetItem")
	}
	return f.batchGet(in)
}

func (f *fakeAPI) Scan(context.Context, *ddb.ScanInput, ...func(*ddb.Options)) (*ddb.ScanOutput, error) {
	return nil, f.unexpected("Scan")
}

func (f *fakeAPI) TransactWriteItems(_ context.Context, in *ddb.TransactWriteItemsInput, _ ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if f.transact == nil {
		return nil, f.unexpected("TransactWriteItems")
	}
	return f.transact(in)
}

func (f *fakeAPI) DescribeTable(_ context.Context, in *ddb.DescribeTableInput, _ ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	if f.describe == nil {
		return nil, f.unexpected("DescribeTable")
	}
	return f.describe(in)
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newFake(t *testing.T, f *fakeAPI) *Store {
	f.t = t
	s := New(f, "latch", Options{Clock: fixedClock{now}})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// throttled is what the SDK returns once its retryer gives up on throttling.
var throttled = &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded; secret-table-name")}

// noLeak fails if the client-visible message of err carries AWS's text.
func noLeak(t *testing.T, err error) {
	t.Helper()
	if msg := latch.ErrorMessage(err); strings.Contains(msg, "throughput") || strings.Contains(msg, "secret-table-name") ||
		strings.Contains(msg, "Exception") {
		t.Errorf("client-visible message %q leaks the AWS error", msg)
	}
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := latch.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func TestThrottlingIsUnavailable(t *testing.T) {
	s := newFake(t, &fakeAPI{
		getItem:  func(*ddb.GetItemInput) (*ddb.GetItemOutput, error) { return nil, throttled },
		update:   func(*ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) { return nil, throttled },
		putItem:  func(*ddb.PutItemInput) (*ddb.PutItemOutput, error) { return nil, throttled },
		query:    func(*ddb.QueryInput) (*ddb.QueryOutput, error) { return nil, throttled },
		transact: func(*ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error) { return nil, throttled },
		describe: func(*ddb.DescribeTableInput) (*ddb.DescribeTableOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "InternalServerError", Fault: smithy.FaultServer}
		},
	})
	ctx := t.Context()
	calls := map[string]func() error{
		"GetAccessToken": func() error { _, err := s.GetAccessToken(ctx, "d"); return err },
		"JTIRevoked": func() error {
			revoked, err := s.JTIRevoked(ctx, "j")
			if revoked {
				t.Error("JTIRevoked reported a revocation it could not read")
			}
			return err
		},
		"GetClient":    func() error { _, err := s.GetClient(ctx, "web"); return err },
		"ListUsers":    func() error { _, err := s.ListUsers(ctx, "acme"); return err },
		"ListFamilies": func() error { _, err := s.ListFamilies(ctx, "acme", "u1"); return err },
		"CreateOrg":    func() error { return s.CreateOrg(ctx, latch.Org{ID: "acme"}) },
		"CreateAccessToken": func() error {
			return s.CreateAccessToken(ctx, latch.AccessToken{Digest: "d", ExpiresAt: now.Add(time.Hour)})
		},
		"ConsumeAuthCode": func() error { _, err := s.ConsumeAuthCode(ctx, "c"); return err },
		"CreateUser":      func() error { return s.CreateUser(ctx, latch.User{Org: "acme", ID: "u1", Username: "ann"}) },
		"Ping":            func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			wantCode(t, err, latch.EUNAVAILABLE, name+" while throttled")
			noLeak(t, err)
		})
	}
}

func TestTransportErrorIsUnavailable(t *testing.T) {
	s := newFake(t, &fakeAPI{
		getItem: func(*ddb.GetItemInput) (*ddb.GetItemOutput, error) {
			return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
		},
	})
	_, err := s.GetRefreshToken(t.Context(), "d")
	wantCode(t, err, latch.EUNAVAILABLE, "GetRefreshToken with no network")
}

func TestConditionalFailures(t *testing.T) {
	ccf := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	t.Run("CreateOrg exists", func(t *testing.T) {
		s := newFake(t, &fakeAPI{update: func(in *ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) {
			if c := aws.ToString(in.ConditionExpression); c != "attribute_not_exists(#pk)" {
				t.Errorf("CreateOrg condition = %q", c)
			}
			return nil, ccf
		}})
		err := s.CreateOrg(t.Context(), latch.Org{ID: "acme"})
		wantCode(t, err, latch.ECONFLICT, "CreateOrg of a taken id")
		noLeak(t, err)
	})
	t.Run("CreateAccessToken exists", func(t *testing.T) {
		s := newFake(t, &fakeAPI{putItem: func(*ddb.PutItemInput) (*ddb.PutItemOutput, error) { return nil, ccf }})
		err := s.CreateAccessToken(t.Context(), latch.AccessToken{Digest: "d", ExpiresAt: now.Add(time.Hour)})
		wantCode(t, err, latch.ECONFLICT, "CreateAccessToken of a taken digest")
	})
	t.Run("CreateUser in a missing org", func(t *testing.T) {
		s := newFake(t, &fakeAPI{transact: func(in *ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error) {
			reasons := make([]types.CancellationReason, len(in.TransactItems))
			for i := range reasons {
				reasons[i].Code = aws.String("None")
			}
			reasons[1].Code = aws.String("ConditionalCheckFailed") // the org's counter
			return nil, &types.TransactionCanceledException{CancellationReasons: reasons}
		}})
		err := s.CreateUser(t.Context(), latch.User{Org: "ghost", ID: "u1", Username: "ann"})
		wantCode(t, err, latch.ENOTFOUND, "CreateUser in a missing org")
	})
	t.Run("CreateUser login taken", func(t *testing.T) {
		s := newFake(t, &fakeAPI{transact: func(in *ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error) {
			reasons := make([]types.CancellationReason, len(in.TransactItems))
			for i := range reasons {
				reasons[i].Code = aws.String("None")
			}
			reasons[2].Code = aws.String("ConditionalCheckFailed") // the username claim
			return nil, &types.TransactionCanceledException{CancellationReasons: reasons}
		}})
		err := s.CreateUser(t.Context(), latch.User{Org: "acme", ID: "u1", Username: "ann"})
		wantCode(t, err, latch.ECONFLICT, "CreateUser with a taken username")
	})
	t.Run("TransactionConflict is retried", func(t *testing.T) {
		calls := 0
		s := newFake(t, &fakeAPI{transact: func(in *ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error) {
			calls++
			if calls < 3 {
				return nil, &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{
					{Code: aws.String("None")}, {Code: aws.String("TransactionConflict")},
				}}
			}
			return &ddb.TransactWriteItemsOutput{}, nil
		}})
		if err := s.CreateRole(t.Context(), latch.Role{Org: "acme", ID: "r1"}); err != nil {
			t.Fatalf("CreateRole after two conflicting transactions: %v", err)
		}
		if calls != 3 {
			t.Errorf("TransactWriteItems called %d times, want 3", calls)
		}
	})
	t.Run("ConsumeAuthCode twice", func(t *testing.T) {
		old := codeItem(t, now.Add(time.Minute))
		old[aConsumedAt] = num(stamp(now.Add(-time.Second)))
		s := newFake(t, &fakeAPI{update: func(*ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) {
			return nil, &types.ConditionalCheckFailedException{Item: old}
		}})
		c, err := s.ConsumeAuthCode(t.Context(), "c1")
		wantCode(t, err, latch.ECONFLICT, "ConsumeAuthCode of a used code")
		if c.Digest != "c1" || !c.ConsumedAt.Equal(now.Add(-time.Second)) {
			t.Errorf("ConsumeAuthCode returned %+v, want the code as stored", c)
		}
	})
	t.Run("ConsumeAuthCode expired", func(t *testing.T) {
		s := newFake(t, &fakeAPI{update: func(*ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) {
			return nil, &types.ConditionalCheckFailedException{Item: codeItem(t, now)}
		}})
		_, err := s.ConsumeAuthCode(t.Context(), "c1")
		wantCode(t, err, latch.ENOTFOUND, "ConsumeAuthCode of an expired code")
	})
	t.Run("RevokeFamily missing", func(t *testing.T) {
		s := newFake(t, &fakeAPI{
			update: func(*ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) { return nil, ccf },
			getItem: func(*ddb.GetItemInput) (*ddb.GetItemOutput, error) {
				return &ddb.GetItemOutput{}, nil
			},
		})
		wantCode(t, s.RevokeFamily(t.Context(), "f1"), latch.ENOTFOUND, "RevokeFamily of a missing family")
	})
	t.Run("ReplaceSigningKeys lost", func(t *testing.T) {
		s := newFake(t, &fakeAPI{
			getItem: func(*ddb.GetItemInput) (*ddb.GetItemOutput, error) {
				return &ddb.GetItemOutput{Item: item{aPK: str(pkKeys), aSK: str(skKeySet), aVer: num(3)}}, nil
			},
			query: func(*ddb.QueryInput) (*ddb.QueryOutput, error) { return &ddb.QueryOutput{}, nil },
			update: func(in *ddb.UpdateItemInput) (*ddb.UpdateItemOutput, error) {
				if c := aws.ToString(in.ConditionExpression); c != "#ver = :old" {
					t.Errorf("key-set condition = %q", c)
				}
				return nil, ccf
			},
		})
		wantCode(t, s.ReplaceSigningKeys(t.Context(), nil, nil), latch.ECONFLICT, "ReplaceSigningKeys after another won")
	})
}

func codeItem(t *testing.T, exp time.Time) item {
	t.Helper()
	it, err := expiringItem(kCode, "c1", latch.AuthCode{Digest: "c1", Org: "acme", ExpiresAt: exp}, exp)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// DynamoDB's TTL deletes expired items late; the store must not return them.
func TestExpiredItemsTheServerStillHasAreAbsent(t *testing.T) {
	expired := now.Add(-time.Hour)
	items := map[string]item{}
	for _, v := range []struct {
		kind, id string
		val      any
	}{
		{kAccess, "a1", latch.AccessToken{Digest: "a1", Org: "acme", ExpiresAt: expired}},
		{kRefresh, "r1", latch.RefreshToken{Digest: "r1", FamilyID: "f1", ExpiresAt: expired}},
		{kFamily, "f1", latch.Family{ID: "f1", ExpiresAt: expired}},
		{kCode, "c1", latch.AuthCode{Digest: "c1", ExpiresAt: expired}},
		{kJTI, "j1", latch.Revocation{JTI: "j1", ExpiresAt: expired}},
	} {
		it, err := expiringItem(v.kind, v.id, v.val, expired)
		if err != nil {
			t.Fatal(err)
		}
		items[v.kind+"#"+v.id] = it
	}
	// Expiring exactly now is expired too.
	atNow, _ := expiringItem(kAccess, "a2", latch.AccessToken{Digest: "a2", ExpiresAt: now}, now)
	items[kAccess+"#a2"] = atNow
	s := newFake(t, &fakeAPI{getItem: func(in *ddb.GetItemInput) (*ddb.GetItemOutput, error) {
		if !aws.ToBool(in.ConsistentRead) {
			t.Errorf("GetItem of %v is not strongly consistent", in.Key)
		}
		return &ddb.GetItemOutput{Item: items[getS(in.Key, aPK)]}, nil
	}})
	ctx := t.Context()
	_, err := s.GetAccessToken(ctx, "a1")
	wantCode(t, err, latch.ENOTFOUND, "GetAccessToken of an expired token")
	_, err = s.GetAccessToken(ctx, "a2")
	wantCode(t, err, latch.ENOTFOUND, "GetAccessToken of a token expiring now")
	_, err = s.GetRefreshToken(ctx, "r1")
	wantCode(t, err, latch.ENOTFOUND, "GetRefreshToken of an expired token")
	_, err = s.GetFamily(ctx, "f1")
	wantCode(t, err, latch.ENOTFOUND, "GetFamily of an expired family")
	revoked, err := s.JTIRevoked(ctx, "j1")
	if err != nil || revoked {
		t.Errorf("JTIRevoked of an expired revocation = %v, %v; want false", revoked, err)
	}
	_, err = s.RotateRefreshToken(ctx, "r1", latch.RefreshToken{Digest: "r2"}, 0)
	wantCode(t, err, latch.ENOTFOUND, "RotateRefreshToken of an expired token")
}

func TestCorruptItemIsInternal(t *testing.T) {
	s := newFake(t, &fakeAPI{getItem: func(*ddb.GetItemInput) (*ddb.GetItemOutput, error) {
		return &ddb.GetItemOutput{Item: item{aPK: str("ORGS"), aSK: str("acme"), aData: str("{not json")}}, nil
	}})
	_, err := s.GetOrg(t.Context(), "acme")
	wantCode(t, err, latch.EINTERNAL, "GetOrg of a corrupt item")
}

func TestNamesFor(t *testing.T) {
	got := namesFor("#exp > :now AND attribute_not_exists(#revoked_at)")
	if len(got) != 2 || got["#exp"] != "exp" || got["#revoked_at"] != "revoked_at" {
		t.Errorf("namesFor = %v", got)
	}
	if got := namesFor("#ver = :old"); len(got) != 1 {
		t.Errorf("namesFor(#ver) = %v", got)
	}
}

// TestCreateFamilyIsOneRequest: the family and its listing go in one
// transaction, the listing with the family's expiry and TTL.
func TestCreateFamilyIsOneRequest(t *testing.T) {
	calls := 0
	var got []types.TransactWriteItem
	s := newFake(t, &fakeAPI{transact: func(in *ddb.TransactWriteItemsInput) (*ddb.TransactWriteItemsOutput, error) {
		calls++
		got = in.TransactItems
		return &ddb.TransactWriteItemsOutput{}, nil
	}})
	exp := now.Add(time.Hour)
	if err := s.CreateFamily(t.Context(), latch.Family{ID: "f1", Org: "acme", Subject: "u1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(got) != 2 || got[0].Put == nil || got[1].Put == nil {
		t.Fatalf("CreateFamily made %d requests, the last %+v; want one transaction of two puts", calls, got)
	}
	fam, entry := got[0].Put, got[1].Put
	if aws.ToString(fam.ConditionExpression) != absentOrExpired || entry.ConditionExpression != nil {
		t.Errorf("conditions %q and %q, want the family's create-if-absent only",
			aws.ToString(fam.ConditionExpression), aws.ToString(entry.ConditionExpression))
	}
	if pk, sk := getS(entry.Item, aPK), getS(entry.Item, aSK); pk != "FAMSUB#acme#u1" || sk != "f1" {
		t.Errorf("listing key %q %q", pk, sk)
	}
	for _, a := range []string{aExp, aTTL} {
		if g, w := entry.Item[a], fam.Item[a]; g == nil || g.(*types.AttributeValueMemberN).Value != w.(*types.AttributeValueMemberN).Value {
			t.Errorf("listing %s = %v, family's %v", a, g, w)
		}
	}
}

// TestListFamiliesPages: every page of the Query, BatchGetItem in requests
// of at most 100 keys, unprocessed keys asked again, everything strongly
// consistent, and the result in id order whatever order BatchGetItem
// answers in.
func TestListFamiliesPages(t *testing.T) {
	const n = 230
	exp := now.Add(time.Hour)
	var entries []item
	families := map[string]item{}
	for i := range n {
		id := fmt.Sprintf("f%03d", i)
		e := keyOf("FAMSUB#acme#u1", id)
		e[aExp] = num(stamp(exp))
		if i == 7 {
			e[aExp] = num(stamp(now)) // expired: not even read
		}
		entries = append(entries, e)
		if i == 8 {
			continue // gone before its listing
		}
		it, err := expiringItem(kFamily, id, latch.Family{ID: id, Org: "acme", Subject: "u1", ExpiresAt: exp}, exp)
		if err != nil {
			t.Fatal(err)
		}
		families[getS(it, aPK)] = it
	}
	queries, batches := 0, 0
	s := newFake(t, &fakeAPI{
		query: func(in *ddb.QueryInput) (*ddb.QueryOutput, error) {
			queries++
			if !aws.ToBool(in.ConsistentRead) {
				t.Error("the Query is not strongly consistent")
			}
			if pk := getS(in.ExpressionAttributeValues, ":pk"); pk != "FAMSUB#acme#u1" {
				t.Errorf("Query of partition %q", pk)
			}
			// Two pages: 150 entries, then the rest.
			if in.ExclusiveStartKey == nil {
				return &ddb.QueryOutput{Items: entries[:150], LastEvaluatedKey: entries[149]}, nil
			}
			return &ddb.QueryOutput{Items: entries[150:]}, nil
		},
		batchGet: func(in *ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error) {
			batches++
			req := in.RequestItems["latch"]
			if len(in.RequestItems) != 1 || len(req.Keys) == 0 || len(req.Keys) > 100 {
				t.Fatalf("BatchGetItem of %d tables, %d keys", len(in.RequestItems), len(req.Keys))
			}
			if !aws.ToBool(req.ConsistentRead) {
				t.Error("BatchGetItem is not strongly consistent")
			}
			out := &ddb.BatchGetItemOutput{Responses: map[string][]item{}}
			keys := req.Keys
			if batches == 1 {
				// The first request leaves its last 30 keys unprocessed.
				out.UnprocessedKeys = map[string]types.KeysAndAttributes{"latch": {Keys: keys[len(keys)-30:]}}
				keys = keys[:len(keys)-30]
			}
			for i := len(keys) - 1; i >= 0; i-- { // in reverse order
				if it := families[getS(keys[i], aPK)]; it != nil {
					out.Responses["latch"] = append(out.Responses["latch"], it)
				}
			}
			return out, nil
		},
	})
	got, err := s.ListFamilies(t.Context(), "acme", "u1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID)
	}
	if len(ids) != n-2 || !slices.IsSorted(ids) || slices.Contains(ids, "f007") || slices.Contains(ids, "f008") {
		t.Errorf("ListFamilies gave %d families %v, want the %d live ones in id order", len(ids), ids, n-2)
	}
	// 229 keys: 100 (30 left over), 30 again, 100, 29.
	if queries != 2 || batches != 4 {
		t.Errorf("%d Query and %d BatchGetItem requests, want 2 and 4", queries, batches)
	}
}

// TestListFamiliesUnprocessedForever: keys DynamoDB never processes make
// ListFamilies fail (unavailable), not return a partial list.
func TestListFamiliesUnprocessedForever(t *testing.T) {
	entry := keyOf("FAMSUB#acme#u1", "f1")
	entry[aExp] = num(stamp(now.Add(time.Hour)))
	s := newFake(t, &fakeAPI{
		query: func(*ddb.QueryInput) (*ddb.QueryOutput, error) { return &ddb.QueryOutput{Items: []item{entry}}, nil },
		batchGet: func(in *ddb.BatchGetItemInput) (*ddb.BatchGetItemOutput, error) {
			return &ddb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
		},
	})
	_, err := s.ListFamilies(t.Context(), "acme", "u1")
	wantCode(t, err, latch.EUNAVAILABLE, "ListFamilies while every key stays unprocessed")
}
