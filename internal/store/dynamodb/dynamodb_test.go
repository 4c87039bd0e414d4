package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/storetest"
)

// TestConformance runs the store's conformance suite against a real
// DynamoDB (Local) at $LATCH_TEST_DYNAMODB_ENDPOINT, each store on a fresh
// table. testdata/run-local.sh starts DynamoDB Local and runs it.
func TestConformance(t *testing.T) {
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("LATCH_REQUIRE_DYNAMODB") == "1" {
			t.Fatal("LATCH_REQUIRE_DYNAMODB=1 but LATCH_TEST_DYNAMODB_ENDPOINT is not set")
		}
		t.Skip("set LATCH_TEST_DYNAMODB_ENDPOINT (or run internal/store/dynamodb/testdata/run-local.sh) to test against DynamoDB Local")
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
	}
	ctx := context.Background()
	client, err := NewEnvClient(Config{Region: "us-east-1", Endpoint: endpoint}, os.Getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, clock latch.Clock) latch.Store {
		table := "latch-test-" + randomHex(6)
		if err := CreateTable(ctx, tableAPI(client), table); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
		})
		return New(client, table, Options{Clock: clock})
	})
}

// TestOpenAgainstLocal opens a store by URL, the way the Lambda bootstrap does.
func TestOpenAgainstLocal(t *testing.T) {
	endpoint := os.Getenv("LATCH_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("set LATCH_TEST_DYNAMODB_ENDPOINT to test against DynamoDB Local")
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
	}
	ctx := t.Context()
	table := "latch-open-" + randomHex(4)
	s, err := OpenEnv("dynamodb://"+table+"?region=us-east-1&endpoint="+endpoint, os.Getenv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := latch.ErrorCode(s.Ping(ctx)); got != latch.EUNAVAILABLE {
		t.Fatalf("Ping of a missing table: code %q, want %q", got, latch.EUNAVAILABLE)
	}
	client, err := NewEnvClient(Config{Region: "us-east-1", Endpoint: endpoint}, os.Getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	defer client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &ddb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ttl" {
		t.Errorf("TTL = %+v, want enabled on ttl", d)
	}
	desc, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if sp := desc.Table.StreamSpecification; sp == nil || !aws.ToBool(sp.StreamEnabled) || sp.StreamViewType != "NEW_AND_OLD_IMAGES" {
		t.Errorf("stream = %+v, want NEW_AND_OLD_IMAGES", sp)
	}
}

// tableAPI is client, except that with LATCH_TEST_DYNAMODB_SERVER=dynalite
// UpdateTimeToLive (which dynalite does not implement) does nothing: the
// store never relies on TTL deletion, so the suite runs without it.
func tableAPI(client *ddb.Client) TableAPI {
	if os.Getenv("LATCH_TEST_DYNAMODB_SERVER") == "dynalite" {
		return noTTL{client}
	}
	return client
}

type noTTL struct{ *ddb.Client }

func (noTTL) UpdateTimeToLive(context.Context, *ddb.UpdateTimeToLiveInput, ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error) {
	return &ddb.UpdateTimeToLiveOutput{}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
		ok   bool
	}{
		{"dynamodb://latch", Config{Table: "latch"}, true},
		{"dynamodb://latch-prod?region=eu-west-1", Config{Table: "latch-prod", Region: "eu-west-1"}, true},
		{"dynamodb://t_1?region=us-east-1&endpoint=http://127.0.0.1:8000",
			Config{Table: "t_1", Region: "us-east-1", Endpoint: "http://127.0.0.1:8000"}, true},
		{"dynamodb://ab", Config{}, false},
		{"bolt:///var/lib/latch.db", Config{}, false},
		{"dynamodb://latch?endpoint=ftp://x", Config{}, false},
		{"dynamodb://", Config{}, false},
	} {
		got, err := ParseURL(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURL(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if !tc.ok && latch.ErrorCode(err) != latch.EINVALID {
			t.Errorf("ParseURL(%q): code %q, want %q", tc.in, latch.ErrorCode(err), latch.EINVALID)
		}
	}
}

func TestNewEnvClient(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000", "AWS_ENDPOINT_URL": "http://127.0.0.1:9999"}
	getenv := func(k string) string { return env[k] }
	c, err := NewEnvClient(Config{}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Region != "eu-west-1" || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:8000" {
		t.Fatalf("region %q endpoint %q", o.Region, aws.ToString(o.BaseEndpoint))
	}
	creds, err := o.Credentials.Retrieve(t.Context())
	if err != nil || creds.AccessKeyID != "AKIDEXAMPLE" || creds.SessionToken != "tok" {
		t.Fatalf("credentials %+v %v", creds, err)
	}
	// The URL's endpoint and region win over the environment's.
	c, _ = NewEnvClient(Config{Region: "us-east-2", Endpoint: "http://127.0.0.1:7000"}, getenv, 0)
	if o := c.Options(); o.Region != "us-east-2" || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:7000" {
		t.Fatalf("region %q endpoint %q", o.Region, aws.ToString(o.BaseEndpoint))
	}
	for _, k := range []string{"AWS_REGION", "AWS_SECRET_ACCESS_KEY"} {
		old := env[k]
		delete(env, k)
		if _, err := NewEnvClient(Config{}, getenv, 0); !latch.IsCode(err, latch.EINVALID) || !strings.Contains(err.Error(), k) {
			t.Errorf("without %s: %v", k, err)
		}
		env[k] = old
	}
}

func TestRetryerBacksOffAtMostMaxBackoff(t *testing.T) {
	r := NewRetryer(5)
	if r.MaxAttempts() != 5 {
		t.Fatalf("MaxAttempts = %d", r.MaxAttempts())
	}
	for attempt := 1; attempt <= 10; attempt++ {
		d, err := r.RetryDelay(attempt, errors.New("throttled"))
		if err != nil || d > MaxBackoff {
			t.Fatalf("attempt %d: delay %s (%v), want at most %s", attempt, d, err, MaxBackoff)
		}
	}
}
