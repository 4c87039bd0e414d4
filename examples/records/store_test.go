package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// testStore is the one suite every Store runs: records are partitioned by
// org, whatever the id or the order of calls.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("partitioned by org", func(t *testing.T) {
		s := open(t)
		a1, err := s.Add(ctx, "acme", Record{Title: "a1", Text: "acme's first", Author: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		g1, err := s.Add(ctx, "globex", Record{Title: "g1", Author: "gus"})
		if err != nil {
			t.Fatal(err)
		}
		a2, err := s.Add(ctx, "acme", Record{Title: "a2"})
		if err != nil {
			t.Fatal(err)
		}
		if a1.Org != "acme" || g1.Org != "globex" || !validRecordID(a1.ID) || a1.Created.IsZero() {
			t.Fatalf("Add returned %+v, %+v", a1, g1)
		}

		got, err := s.List(ctx, "acme", 100)
		if err != nil {
			t.Fatal(err)
		}
		if ids := recordIDs(got); !slices.Equal(ids, []string{a2.ID, a1.ID}) {
			t.Errorf("acme lists %v, want %v (newest first, nothing of globex)", ids, []string{a2.ID, a1.ID})
		}
		for _, r := range got {
			if r.Org != "acme" {
				t.Errorf("acme's list holds %+v", r)
			}
		}
		if got[1].Title != "a1" || got[1].Text != "acme's first" || got[1].Author != "ann" || !got[1].Created.Equal(a1.Created) {
			t.Errorf("stored %+v, read %+v", a1, got[1])
		}
		got, err = s.List(ctx, "globex", 100)
		if err != nil {
			t.Fatal(err)
		}
		if ids := recordIDs(got); !slices.Equal(ids, []string{g1.ID}) {
			t.Errorf("globex lists %v, want [%s]", ids, g1.ID)
		}

		// An id of another org is not found, as if it did not exist.
		for _, c := range []struct{ org, id string }{{"globex", a1.ID}, {"acme", g1.ID}, {"initech", a1.ID}, {"acme", "0000000000000000deadbeef"}} {
			if _, err := s.Get(ctx, c.org, c.id); !errors.Is(err, errNotFound) {
				t.Errorf("Get(%s, %s): %v, want errNotFound", c.org, c.id, err)
			}
		}
		r, err := s.Get(ctx, "acme", a1.ID)
		if err != nil || r.ID != a1.ID || r.Org != "acme" || r.Title != "a1" {
			t.Errorf("Get(acme, a1) = %+v, %v", r, err)
		}
	})

	t.Run("empty and unknown orgs", func(t *testing.T) {
		s := open(t)
		if got, err := s.List(ctx, "nobody", 10); err != nil || len(got) != 0 {
			t.Errorf("List(nobody) = %v, %v", got, err)
		}
	})

	t.Run("orgs that share a prefix", func(t *testing.T) {
		s := open(t)
		if _, err := s.Add(ctx, "acme-eu", Record{Title: "eu"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, "acm", Record{Title: "acm"}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.List(ctx, "acme", 10); err != nil || len(got) != 0 {
			t.Errorf("List(acme) = %v, %v, want nothing of acme-eu or acm", got, err)
		}
	})

	t.Run("limit", func(t *testing.T) {
		s := open(t)
		var want []string
		for i := range 5 {
			r, err := s.Add(ctx, "acme", Record{Title: fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			want = append([]string{r.ID}, want...)
		}
		got, err := s.List(ctx, "acme", 3)
		if err != nil {
			t.Fatal(err)
		}
		if ids := recordIDs(got); !slices.Equal(ids, want[:3]) {
			t.Errorf("List(acme, 3) = %v, want %v", ids, want[:3])
		}
	})

	t.Run("invalid org", func(t *testing.T) {
		s := open(t)
		for _, org := range []string{"", "a/b", "-x", "ORG#x"} {
			if _, err := s.Add(ctx, org, Record{Title: "x"}); err == nil {
				t.Errorf("Add(%q) succeeded", org)
			}
		}
	})
}

func recordIDs(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestBoltStore(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		s, err := openBolt(filepath.Join(t.TempDir(), "records.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDynamoStoreOnFake(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		return &dynamoStore{api: newFakeDynamo(), table: "records"}
	})
}

// TestDynamoStore runs the suite on a real DynamoDB (DynamoDB Local) when
// RECORDS_TEST_DYNAMODB_ENDPOINT names one, in a fresh table per test.
func TestDynamoStore(t *testing.T) {
	endpoint := os.Getenv("RECORDS_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("RECORDS_TEST_DYNAMODB_ENDPOINT is not set (e.g. http://127.0.0.1:8000 for DynamoDB Local)")
	}
	ctx := context.Background()
	testStore(t, func(t *testing.T) Store {
		table := "records-" + strings.ToLower(randomToken()[:12])
		u, _ := url.Parse("dynamodb://" + table + "?region=us-east-1&endpoint=" + url.QueryEscape(endpoint))
		s, err := openDynamoDB(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		client := s.api.(*dynamodb.Client)
		_, err = client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(table),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
		return s
	})
}

// fakeDynamo is DynamoDB as far as dynamoStore uses it: one table keyed by
// (pk, sk), the one condition and the one key condition it sends.
type fakeDynamo struct {
	mu    sync.Mutex
	items map[string]map[string]map[string]types.AttributeValue // pk -> sk -> item
}

func newFakeDynamo() *fakeDynamo {
	return &fakeDynamo{items: map[string]map[string]map[string]types.AttributeValue{}}
}

func sval(v types.AttributeValue) string {
	s, _ := v.(*types.AttributeValueMemberS)
	if s == nil {
		return ""
	}
	return s.Value
}

func (f *fakeDynamo) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.ConditionExpression) != "attribute_not_exists(pk)" {
		return nil, fmt.Errorf("fake: unexpected condition %q", aws.ToString(in.ConditionExpression))
	}
	pk, sk := sval(in.Item["pk"]), sval(in.Item["sk"])
	if f.items[pk] == nil {
		f.items[pk] = map[string]map[string]types.AttributeValue{}
	}
	if _, ok := f.items[pk][sk]; ok {
		return nil, &types.ConditionalCheckFailedException{}
	}
	f.items[pk][sk] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDynamo) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: f.items[sval(in.Key["pk"])][sval(in.Key["sk"])]}, nil
}

func (f *fakeDynamo) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.KeyConditionExpression) != "pk = :pk" {
		return nil, fmt.Errorf("fake: unexpected key condition %q", aws.ToString(in.KeyConditionExpression))
	}
	part := f.items[sval(in.ExpressionAttributeValues[":pk"])]
	var sks []string
	for sk := range part {
		sks = append(sks, sk)
	}
	sort.Strings(sks)
	if !aws.ToBool(in.ScanIndexForward) && in.ScanIndexForward != nil {
		slices.Reverse(sks)
	}
	if start := sval(in.ExclusiveStartKey["sk"]); start != "" {
		i := slices.Index(sks, start)
		sks = sks[i+1:]
	}
	out := &dynamodb.QueryOutput{}
	for _, sk := range sks {
		if in.Limit != nil && len(out.Items) == int(*in.Limit) {
			last := out.Items[len(out.Items)-1]
			out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": last["pk"], "sk": last["sk"]}
			break
		}
		out.Items = append(out.Items, part[sk])
	}
	return out, nil
}
