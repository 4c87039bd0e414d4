package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
	"latch.dev/latch/internal/policy"
	"latch.dev/latch/internal/store/bolt"
)

const paystubsARN = "arn:aws:dynamodb:us-east-1:111122223333:table/paystubs/stream/2026-11-23T00:00:00.000"

var paystubRule = `
- table: paystubs
  org: payroll
  principal: "{userId}"
  allow: ["GET /api/paystubs/{id}"]
`

func openStore(t testing.TB) latch.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "latch.db"), bolt.Options{NoSync: true, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	for _, o := range []string{"payroll", "other"} {
		if err := s.CreateOrg(ctx, latch.Org{ID: o, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []latch.User{
		{Org: "payroll", ID: "5", Username: "five", Allow: []string{"GET /api/employee/5"}},
		{Org: "payroll", ID: "6", Username: "six"},
		{Org: "other", ID: "5", Username: "five"},
	} {
		u.CreatedAt, u.UpdatedAt = now, now
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func newHandler(t testing.TB, store latch.Store, rules string) *Handler {
	t.Helper()
	rs, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(store, rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// record renders one stream record as Lambda delivers it.
func record(arn, event, seq string, keys, oldImage, newImage map[string]string) json.RawMessage {
	attrs := func(m map[string]string) map[string]any {
		if m == nil {
			return nil
		}
		out := map[string]any{}
		for k, v := range m {
			if n, ok := strings.CutPrefix(v, "N:"); ok {
				out[k] = map[string]string{"N": n}
			} else {
				out[k] = map[string]string{"S": v}
			}
		}
		return out
	}
	ddb := map[string]any{
		"ApproximateCreationDateTime": 1763856000, "Keys": attrs(keys), "SequenceNumber": seq,
		"SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES",
	}
	if oldImage != nil {
		ddb["OldImage"] = attrs(oldImage)
	}
	if newImage != nil {
		ddb["NewImage"] = attrs(newImage)
	}
	b, _ := json.Marshal(map[string]any{
		"eventID": "id-" + seq, "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
		"awsRegion": "us-east-1", "dynamodb": ddb, "eventSourceARN": arn,
	})
	return b
}

func batch(recs ...json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

func stub(user, id string, extra ...string) map[string]string {
	m := map[string]string{"userId": user, "id": id, "amount": "N:1200"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func keys(user, id string) map[string]string { return map[string]string{"userId": user, "id": id} }

func handle(t *testing.T, h *Handler, ev json.RawMessage) []string {
	t.Helper()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// decide compiles the user's policy as the authorizer does (user, roles,
// grants) and decides one request.
func decide(t *testing.T, s latch.Store, org, user, method, path string) bool {
	t.Helper()
	u, err := s.GetUser(context.Background(), org, user)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(policy.ForUser(u, nil, "web"))
	if err != nil {
		t.Fatal(err)
	}
	return p.Decide(method, path).Allowed
}

func TestPaystubLifecycle(t *testing.T) {
	s := openStore(t)
	h := newHandler(t, s, paystubRule)

	if f := handle(t, h, batch(record(paystubsARN, "INSERT", "1", keys("5", "p1"), nil, stub("5", "p1")))); len(f) != 0 {
		t.Fatalf("INSERT failed: %v", f)
	}
	if !decide(t, s, "payroll", "5", "GET", "/api/paystubs/p1") {
		t.Fatal("the paystub's owner is not allowed after INSERT")
	}
	if decide(t, s, "payroll", "6", "GET", "/api/paystubs/p1") || decide(t, s, "other", "5", "GET", "/api/paystubs/p1") {
		t.Fatal("another user (or the same id in another org) is allowed")
	}
	if !decide(t, s, "payroll", "5", "GET", "/api/employee/5") {
		t.Fatal("the user's own statement was lost")
	}

	// A replay of the same record changes nothing: not even the version.
	before, _ := s.GetUser(context.Background(), "payroll", "5")
	handle(t, h, batch(record(paystubsARN, "INSERT", "1", keys("5", "p1"), nil, stub("5", "p1"))))
	after, _ := s.GetUser(context.Background(), "payroll", "5")
	if after.Version != before.Version {
		t.Fatalf("a replayed record wrote the user again (version %d -> %d)", before.Version, after.Version)
	}

	// A second paystub, then the first removed: only the first is revoked.
	handle(t, h, batch(record(paystubsARN, "INSERT", "2", keys("5", "p2"), nil, stub("5", "p2"))))
	if f := handle(t, h, batch(record(paystubsARN, "REMOVE", "3", keys("5", "p1"), stub("5", "p1"), nil))); len(f) != 0 {
		t.Fatalf("REMOVE failed: %v", f)
	}
	if decide(t, s, "payroll", "5", "GET", "/api/paystubs/p1") {
		t.Fatal("still allowed after REMOVE")
	}
	if !decide(t, s, "payroll", "5", "GET", "/api/paystubs/p2") {
		t.Fatal("removing one paystub revoked another")
	}
	// REMOVE replayed: still fine.
	if f := handle(t, h, batch(record(paystubsARN, "REMOVE", "3", keys("5", "p1"), stub("5", "p1"), nil))); len(f) != 0 {
		t.Fatalf("replayed REMOVE failed: %v", f)
	}
}

func TestModifyMovesTheGrant(t *testing.T) {
	s := openStore(t)
	// The record's key does not include the owner here, so a MODIFY can
	// hand it to someone else.
	h := newHandler(t, s, `[{table: paystubs, org: payroll, principal: "{owner}", allow: ["GET /api/paystubs/{id}", "GET /api/paystubs/{id}/pdf"]}]`)
	k := map[string]string{"id": "p7"}
	handle(t, h, batch(record(paystubsARN, "INSERT", "1", k, nil, map[string]string{"id": "p7", "owner": "5"})))
	if !decide(t, s, "payroll", "5", "GET", "/api/paystubs/p7/pdf") {
		t.Fatal("owner 5 not allowed")
	}
	f := handle(t, h, batch(record(paystubsARN, "MODIFY", "2", k,
		map[string]string{"id": "p7", "owner": "5"}, map[string]string{"id": "p7", "owner": "6"})))
	if len(f) != 0 {
		t.Fatalf("MODIFY failed: %v", f)
	}
	if decide(t, s, "payroll", "5", "GET", "/api/paystubs/p7") {
		t.Fatal("the previous owner is still allowed after the record changed hands")
	}
	if !decide(t, s, "payroll", "6", "GET", "/api/paystubs/p7") {
		t.Fatal("the new owner is not allowed")
	}
}

func TestBadRecordDoesNotBlockOthers(t *testing.T) {
	s := openStore(t)
	h := newHandler(t, s, paystubRule)
	ev := batch(
		record(paystubsARN, "INSERT", "10", keys("5", "a"), nil, stub("5", "a")),
		// no userId attribute
		record(paystubsARN, "INSERT", "11", map[string]string{"id": "b"}, nil, map[string]string{"id": "b"}),
		// a value that would widen the statement or step out of the path
		record(paystubsARN, "INSERT", "12", keys("5", "*"), nil, stub("5", "*")),
		record(paystubsARN, "INSERT", "13", keys("5", "x/../../admin"), nil, stub("5", "x/../../admin")),
		// a user Latch does not know
		record(paystubsARN, "INSERT", "14", keys("99", "c"), nil, stub("99", "c")),
		// a principal that is not an id
		record(paystubsARN, "INSERT", "15", keys("a b", "d"), nil, stub("a b", "d")),
		// a table without rules
		record(strings.Replace(paystubsARN, "paystubs", "other", 1), "INSERT", "16", keys("5", "e"), nil, stub("5", "e")),
		// a MODIFY without the old image
		record(paystubsARN, "MODIFY", "17", keys("5", "a"), nil, stub("5", "a")),
		// an unknown event name and a record that is not an object
		record(paystubsARN, "UPSERT", "18", keys("5", "f"), nil, stub("5", "f")),
		json.RawMessage(`{"dynamodb": {"SequenceNumber": "19", "Keys": 7}}`),
		record(paystubsARN, "INSERT", "20", keys("6", "g"), nil, stub("6", "g")),
	)
	got := strings.Join(handle(t, h, ev), ",")
	if want := "11,12,13,14,15,16,17,18,19"; got != want {
		t.Fatalf("batchItemFailures = %s, want %s", got, want)
	}
	if !decide(t, s, "payroll", "5", "GET", "/api/paystubs/a") || !decide(t, s, "payroll", "6", "GET", "/api/paystubs/g") {
		t.Fatal("the good records around the bad ones were not applied")
	}
	for _, p := range []string{"/api/paystubs/x", "/api/admin", "/admin", "/api/paystubs/anything"} {
		if decide(t, s, "payroll", "5", "GET", p) {
			t.Fatalf("a bad record granted GET %s", p)
		}
	}
	// An event that is not a stream event at all fails as a whole.
	if _, err := h.Handle(context.Background(), json.RawMessage(`[1,2]`)); err == nil {
		t.Fatal("a non-event was accepted")
	}
}

// failingStore fails GetUser, as a throttled table would.
type failingStore struct {
	latch.Store
}

func (failingStore) GetUser(context.Context, string, string) (latch.User, error) {
	return latch.User{}, latch.Errorf(latch.EUNAVAILABLE, "throttled")
}

func TestStoreFailureIsReported(t *testing.T) {
	s := openStore(t)
	rs, _ := ParseRules(paystubRule)
	h, err := New(failingStore{s}, rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := handle(t, h, batch(
		record(paystubsARN, "INSERT", "1", keys("5", "p1"), nil, stub("5", "p1")),
		record(paystubsARN, "REMOVE", "2", keys("5", "p0"), stub("5", "p0"), nil),
	))
	if strings.Join(got, ",") != "1,2" {
		t.Fatalf("batchItemFailures = %v, want both records (a revocation must not be skipped when the store fails)", got)
	}
}

type recordingInvalidator struct {
	got []latch.Change
	err error
}

func (r *recordingInvalidator) Invalidate(_ context.Context, ch []latch.Change) error {
	r.got = append(r.got, ch...)
	return r.err
}

func TestOwnTableGoesToTheInvalidator(t *testing.T) {
	s := openStore(t)
	rs, _ := ParseRules(paystubRule)
	inv := &recordingInvalidator{}
	changeOf := func(pk, sk string, deleted bool, attr func(string) (string, bool)) (latch.Change, bool) {
		if pk == "skip" {
			return latch.Change{}, false
		}
		ch := latch.Change{Kind: latch.ChangeUser, Org: pk, ID: sk, Deleted: deleted}
		if v, ok := attr("ver"); ok {
			ch.Version = uint64(len(v)) // the test's stand-in: the image reached ChangeOf
		}
		return ch, true
	}
	h, err := New(s, rs, Options{OwnTable: "latch", PK: "pk", SK: "sk", ChangeOf: changeOf, Invalidator: inv})
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Replace(paystubsARN, "paystubs", "latch", 1)
	ev := batch(
		record(own, "MODIFY", "1", map[string]string{"pk": "payroll", "sk": "5"}, map[string]string{}, map[string]string{"ver": "N:123"}),
		record(own, "REMOVE", "2", map[string]string{"pk": "payroll", "sk": "6"}, map[string]string{}, nil),
		record(own, "INSERT", "3", map[string]string{"pk": "skip", "sk": "x"}, nil, map[string]string{}),
	)
	if f := handle(t, h, ev); len(f) != 0 {
		t.Fatalf("failures %v", f)
	}
	want := []latch.Change{{Kind: latch.ChangeUser, Org: "payroll", ID: "5", Version: 3}, {Kind: latch.ChangeUser, Org: "payroll", ID: "6", Deleted: true}}
	if fmt.Sprint(inv.got) != fmt.Sprint(want) {
		t.Fatalf("invalidated %v, want %v", inv.got, want)
	}
	// A failed invalidation reports every record of Latch's table, so that
	// they are retried; an application record in the same batch is not.
	inv.err = errors.New("redis down")
	ev = batch(
		record(own, "MODIFY", "4", map[string]string{"pk": "payroll", "sk": "5"}, map[string]string{}, map[string]string{}),
		record(paystubsARN, "INSERT", "5", keys("5", "p1"), nil, stub("5", "p1")),
		record(own, "MODIFY", "6", map[string]string{"pk": "skip", "sk": "5"}, map[string]string{}, map[string]string{}),
	)
	if f := strings.Join(handle(t, h, ev), ","); f != "4,6" {
		t.Fatalf("failures %s, want 4,6", f)
	}
	// Rules on Latch's own table are refused.
	bad, _ := ParseRules(`[{table: latch, org: payroll, principal: "{pk}", allow: ["GET /x"]}]`)
	if _, err := New(s, bad, Options{OwnTable: "latch", ChangeOf: changeOf}); err == nil {
		t.Fatal("a grant rule on Latch's own table was accepted")
	}
}

func TestParseRules(t *testing.T) {
	good, err := ParseRules(`
- table: paystubs
  org: "{orgId}"
  principal: "emp-{userId}"
  allow: ["GET /api/paystubs/{id}", "GET,HEAD /api/paystubs/{id}/**"]
  deny: ["DELETE /api/paystubs/{id}"]
- name: paystubs-manager
  table: paystubs
  org: payroll
  principal: "{managerId}"
  allow: ["GET /api/paystubs/{id}"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != 2 || good[0].Name != "paystubs" || good[1].Name != "paystubs-manager" {
		t.Fatalf("parsed %+v", good)
	}
	for _, c := range []struct{ text, want string }{
		{`[{table: pa, org: o, principal: "{u}", allow: ["GET /x"]}]`, "rules[0].table"},
		{`[{table: paystubs, principal: "{u}", allow: ["GET /x"]}]`, "rules[0].org: required"},
		{`[{table: paystubs, org: o, principal: "{u", allow: ["GET /x"]}]`, "unclosed"},
		{`[{table: paystubs, org: o, principal: "a b{u}", allow: ["GET /x"]}]`, "does not make an id"},
		{`[{table: paystubs, org: o, principal: "{u}"}]`, "at least one"},
		{`[{table: paystubs, org: o, principal: "{u}", allow: ["GET x/{id}"]}]`, "allow[0]"},
		{`[{table: paystubs, org: o, principal: "{u}", allow: ["GET /x/{}"]}]`, "placeholder"},
		{`[{table: paystubs, org: o, principal: "{u}", allow: ["GET /x"]}, {table: paystubs, org: o, principal: "{u}", allow: ["GET /y"]}]`, "also the name of rule 0"},
		{`[{table: paystubs, org: o, principal: "{u}", allow: ["GET /x"], extra: 1}]`, "extra"},
		{`{table: paystubs}`, "grant rules"},
	} {
		_, err := ParseRules(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) || !latch.IsCode(err, latch.EINVALID) {
			t.Errorf("ParseRules(%s) = %v, want EINVALID containing %q", c.text, err, c.want)
		}
	}
}

func TestTableOf(t *testing.T) {
	for arn, want := range map[string]string{
		paystubsARN: "paystubs",
		"arn:aws-cn:dynamodb:cn-north-1:1:table/a.b-c_d/stream/x": "a.b-c_d",
		"arn:aws:dynamodb:us-east-1:1:table/t":                    "",
		"paystubs":                                                "",
		"":                                                        "",
	} {
		got, err := tableOf(arn)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("tableOf(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
	var _ events.DynamoDBEventResponse // the response type Lambda reads
}
