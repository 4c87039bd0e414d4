package dynamodb

import (
	"context"
	"errors"
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
		"GetClient": func() error { _, err := s.GetClient(ctx, "web"); return err },
		"ListUsers": func() error { _, err := s.ListUsers(ctx, "acme"); return err },
		"CreateOrg": func() error { return s.CreateOrg(ctx, latch.Org{ID: "acme"}) },
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
