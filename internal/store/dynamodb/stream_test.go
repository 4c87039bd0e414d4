package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/dynamodb/streamtest"
)

func TestChangeOf(t *testing.T) {
	for _, c := range []struct {
		pk, sk string
		want   latch.Change
		ok     bool
	}{
		{pkOrgs, "acme", latch.Change{Kind: latch.ChangeOrg, ID: "acme"}, true},
		{"ORG#acme", "USER#5", latch.Change{Kind: latch.ChangeUser, Org: "acme", ID: "5"}, true},
		{"ORG#acme", "ROLE#employee", latch.Change{Kind: latch.ChangeRole, Org: "acme", ID: "employee"}, true},
		{"ORG#acme", "CLIENT#web", latch.Change{Kind: latch.ChangeClient, Org: "acme", ID: "web"}, true},
		{"ORG#acme", "LOGIN#alice", latch.Change{}, false},
		{"CLIENT#web", "CLIENT", latch.Change{Kind: latch.ChangeClient, ID: "web"}, true},
		{pkAudiences, "payroll-api", latch.Change{Kind: latch.ChangeAudience, ID: "payroll-api"}, true},
		{"FAMILY#f1", "FAMILY", latch.Change{Kind: latch.ChangeFamily, ID: "f1"}, true},
		{"FAMSUB#acme#5", "f1", latch.Change{}, false}, // a listing: no cache holds it
		{"ACCESS#d1", "ACCESS", latch.Change{Kind: latch.ChangeToken, ID: "d1"}, true},
		{"REFRESH#d2", "REFRESH", latch.Change{Kind: latch.ChangeToken, ID: "d2"}, true},
		{"JTI#j1", "JTI", latch.Change{Kind: latch.ChangeToken, ID: "j1"}, true},
		{"CODE#c1", "CODE", latch.Change{}, false},
		{pkKeys, "KEY#k1", latch.Change{Kind: latch.ChangeSigningKey, ID: "k1"}, true},
		{pkKeys, "SET", latch.Change{Kind: latch.ChangeSigningKey, ID: "SET"}, true},
		{"ORG#acme", "USER#", latch.Change{}, false},
		{"SOMETHING", "ELSE", latch.Change{}, false},
	} {
		got, ok := ChangeOf(c.pk, c.sk, false, nil)
		if ok != c.ok || got != c.want {
			t.Errorf("ChangeOf(%q, %q) = %+v, %v; want %+v, %v", c.pk, c.sk, got, ok, c.want, c.ok)
		}
	}
}

// TestStreamMatchesTheFeed makes the store's writes on DynamoDB Local and
// reads the table's real stream: every change the store published on its
// own change feed must also come out of the stream records through
// ChangeOf, which is how other processes (the stream Lambda) learn of it.
func TestStreamMatchesTheFeed(t *testing.T) {
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("set LATCH_TEST_DYNAMODB_ENDPOINT to test against DynamoDB Local")
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
	}
	ctx := t.Context()
	client, err := NewEnvClient(Config{Region: "us-east-1", Endpoint: endpoint}, os.Getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	table := "latch-stream-" + randomHex(4)
	if err := CreateTable(ctx, tableAPI(client), table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})
	desc, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	s := New(client, table, Options{})
	feedCtx, stop := context.WithCancel(ctx)
	feed := s.Watch(feedCtx)

	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateOrg(ctx, latch.Org{ID: "acme", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateRole(ctx, latch.Role{Org: "acme", ID: "employee", Allow: []string{"GET /x"}, CreatedAt: now, UpdatedAt: now}))
	must(s.CreateUser(ctx, latch.User{Org: "acme", ID: "5", Username: "alice", CreatedAt: now, UpdatedAt: now}))
	_, err = s.UpdateUser(ctx, "acme", "5", func(u *latch.User) error {
		u.RecordGrants = map[string]latch.Grant{"paystubs/id=p1": {Allow: []string{"GET /api/paystubs/p1"}}}
		return nil
	})
	must(err)
	must(s.CreateClient(ctx, latch.Client{ID: "web", Org: "acme", Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}))
	_, err = s.UpdateClient(ctx, "web", func(c *latch.Client) error { c.Name = "Web"; return nil })
	must(err)
	must(s.CreateAudience(ctx, latch.Audience{ID: "api", Scopes: map[string][]string{"read": {"GET /x"}}, CreatedAt: now, UpdatedAt: now}))
	must(s.CreateFamily(ctx, latch.Family{ID: "f1", Org: "acme", ClientID: "web", Subject: "5", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(s.RevokeFamily(ctx, "f1"))
	must(s.RevokeJTI(ctx, latch.Revocation{JTI: "j1", Org: "acme", ExpiresAt: now.Add(time.Hour)}))
	must(s.CreateSigningKey(ctx, latch.SigningKey{ID: "k1", Algorithm: "ES256", State: latch.KeyCurrent, CreatedAt: now}))
	must(s.DeleteUser(ctx, "acme", "5"))

	// What the feed said.
	// The feed is delivered asynchronously: take what arrives until it is
	// quiet for a second.
	var published []latch.Change
drain:
	for {
		select {
		case ch := <-feed:
			published = append(published, ch)
		case <-time.After(time.Second):
			break drain
		}
	}
	stop()
	if len(published) < 11 {
		t.Fatalf("the feed gave only %d changes: %+v", len(published), published)
	}

	// What the stream says.
	r, err := streamtest.New(ctx, endpoint, "us-east-1", aws.ToString(desc.Table.LatestStreamArn))
	if err != nil {
		t.Fatal(err)
	}
	records, err := r.Wait(ctx, len(published), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var fromStream []latch.Change
	for _, raw := range records {
		var rec struct {
			EventName string `json:"eventName"`
			DynamoDB  struct {
				Keys     map[string]map[string]string `json:"Keys"`
				NewImage map[string]map[string]any    `json:"NewImage"`
			} `json:"dynamodb"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		attr := func(name string) (string, bool) {
			a, ok := rec.DynamoDB.NewImage[name]
			if !ok {
				return "", false
			}
			for _, t := range []string{"S", "N"} {
				if v, ok := a[t].(string); ok {
					return v, true
				}
			}
			return "", true
		}
		if ch, ok := ChangeOf(rec.DynamoDB.Keys[KeyAttributePK]["S"], rec.DynamoDB.Keys[KeyAttributeSK]["S"], rec.EventName == "REMOVE", attr); ok {
			fromStream = append(fromStream, ch)
		}
	}
	for _, p := range published {
		found := slices.ContainsFunc(fromStream, func(s latch.Change) bool {
			// Entities carry their version both ways: the shared cache
			// invalidates at it. A family's stream change is its
			// revocation (version 1), whatever the feed says.
			versioned := p.Kind != latch.ChangeFamily && p.Kind != latch.ChangeToken && p.Kind != latch.ChangeSigningKey && !p.Deleted
			return s.Kind == p.Kind && s.Deleted == p.Deleted && (!versioned || s.Version == p.Version) &&
				(s.ID == p.ID || p.ID == "" && p.Kind == latch.ChangeSigningKey) &&
				(s.Org == p.Org || s.Org == "" || p.Org == "")
		})
		if !found {
			t.Errorf("the feed published %+v; the stream's records give no such change: %s", p, fmt.Sprint(fromStream))
		}
	}
	// The revocation of f1 is version 1: what the shared cache invalidates
	// a family at, so that its live copy (version 0) cannot be filled back.
	if !slices.ContainsFunc(fromStream, func(s latch.Change) bool {
		return s.Kind == latch.ChangeFamily && s.ID == "f1" && s.Version == 1
	}) {
		t.Errorf("no family revocation (version 1) in the stream's changes: %v", fromStream)
	}
}
