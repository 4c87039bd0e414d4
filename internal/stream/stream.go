// Package stream is the DynamoDB Streams handler of the Lambda deployment.
//
// It reads two kinds of stream:
//
//   - Latch's own table: every record becomes a latch.Change (by the item's
//     key, dynamodb.ChangeOf) handed to an Invalidator, the hook through
//     which a shared cache learns of writes made by any server or function.
//     Without a shared cache there is nothing to drop (each process's
//     in-process cache expires on its own TTL), and the changes are only
//     counted.
//   - An application's table: grant rules (see Rule) turn the record into
//     statements of one user's ACL. INSERT grants, MODIFY replaces the grant
//     (and moves it when the record changed hands), REMOVE revokes it, TTL
//     deletions included. Each record's grant is kept under its own key in
//     the user's RecordGrants, so revoking one record never touches another
//     record's grant or the statements an administrator wrote.
//
// Records can arrive more than once and a failed batch is retried from the
// failed record on: every step sets a state (grant present with these
// statements, or absent) rather than applying a delta, so a replay changes
// nothing, and records of one item arrive in order (DynamoDB Streams keeps
// per-item order within a shard). A record that cannot be applied is
// reported in the batch response's batchItemFailures and the others are
// still applied; the event source mapping retries it a bounded number of
// times and then sends it to its on-failure destination (see deploy/aws).
// A stream without old images (KEYS_ONLY, NEW_IMAGE) cannot revoke, so its
// MODIFY and REMOVE records are failures: use NEW_AND_OLD_IMAGES.
package stream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"latch.dev/latch"
)

// MaxGrantsPerUser bounds a user's record grants: they live in the user's
// item, and DynamoDB items are at most 400 KB.
const MaxGrantsPerUser = 2000

// Invalidator receives the changes read from Latch's own table.
type Invalidator interface {
	Invalidate(ctx context.Context, changes []latch.Change) error
}

// ChangeOfKey maps the key of an item of Latch's table, and its new image
// (attr), to the change it stands for (dynamodb.ChangeOf); ok is false for
// items no cache holds.
type ChangeOfKey func(pk, sk string, deleted bool, attr func(name string) (string, bool)) (latch.Change, bool)

// Options configure a Handler.
type Options struct {
	// OwnTable is the name of Latch's table; its records go to Invalidator.
	OwnTable string
	// PK and SK are the key attribute names of Latch's table.
	PK, SK string
	// ChangeOf maps Latch's keys to changes; required with OwnTable.
	ChangeOf ChangeOfKey
	// Invalidator may be nil: changes are then counted only.
	Invalidator Invalidator
	Log         *slog.Logger
}

// Handler applies stream records. It is safe for concurrent use.
type Handler struct {
	store   latch.Store
	byTable map[string][]compiledRule
	opts    Options
}

type compiledRule struct {
	Rule
	org, principal template
	allow, deny    []template
}

// New returns a Handler that writes grants to store (the uncached store:
// it decides from what it reads) by rules, which must be valid (ParseRules).
func New(store latch.Store, rules []Rule, opts Options) (*Handler, error) {
	if err := Validate(rules); err != nil {
		return nil, err
	}
	if opts.OwnTable != "" && opts.ChangeOf == nil {
		return nil, errors.New("stream: OwnTable needs ChangeOf")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, byTable: map[string][]compiledRule{}, opts: opts}
	for _, r := range rules {
		if r.Name == "" {
			r.Name = r.Table
		}
		if r.Table == opts.OwnTable {
			return nil, latch.Errorf(latch.EINVALID, "grant rules: %q is Latch's own table", r.Table)
		}
		c := compiledRule{Rule: r}
		c.org, _ = parseTemplate(r.Org)
		c.principal, _ = parseTemplate(r.Principal)
		for _, s := range r.Allow {
			t, _ := parseTemplate(s)
			c.allow = append(c.allow, t)
		}
		for _, s := range r.Deny {
			t, _ := parseTemplate(s)
			c.deny = append(c.deny, t)
		}
		h.byTable[r.Table] = append(h.byTable[r.Table], c)
	}
	return h, nil
}

// Handle applies the records of one DynamoDB Streams event and reports the
// ones it could not apply. It returns an error (the whole batch is retried)
// only when the event itself cannot be read.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (events.DynamoDBEventResponse, error) {
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	var ev struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return resp, fmt.Errorf("stream: the event is not a DynamoDB Streams event: %w", err)
	}
	var own []string // sequence numbers of Latch's records
	var changes []latch.Change
	fail := func(seq string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	for i, rawRec := range ev.Records {
		var rec events.DynamoDBEventRecord
		if err := json.Unmarshal(rawRec, &rec); err != nil {
			// Report it by its sequence number if that much can be read;
			// else the batch as a whole must be retried.
			var seq struct {
				DynamoDB struct {
					SequenceNumber string `json:"SequenceNumber"`
				} `json:"dynamodb"`
			}
			if json.Unmarshal(rawRec, &seq) != nil || seq.DynamoDB.SequenceNumber == "" {
				return resp, fmt.Errorf("stream: record %d cannot be read: %w", i, err)
			}
			h.opts.Log.ErrorContext(ctx, "stream: a record cannot be read", "seq", seq.DynamoDB.SequenceNumber, "err", err.Error())
			fail(seq.DynamoDB.SequenceNumber)
			continue
		}
		table, err := tableOf(rec.EventSourceArn)
		if err != nil {
			h.opts.Log.ErrorContext(ctx, "stream: record skipped", "seq", rec.Change.SequenceNumber, "err", err.Error())
			fail(rec.Change.SequenceNumber)
			continue
		}
		if table == h.opts.OwnTable {
			own = append(own, rec.Change.SequenceNumber)
			if ch, ok := h.changeOf(rec); ok {
				changes = append(changes, ch)
			}
			continue
		}
		rules, ok := h.byTable[table]
		if !ok {
			// A mapping on a table without rules is a deployment mistake;
			// failing makes it visible (retries, then the failure queue).
			h.opts.Log.ErrorContext(ctx, "stream: no grant rule for the table", "table", table, "seq", rec.Change.SequenceNumber)
			fail(rec.Change.SequenceNumber)
			continue
		}
		if err := h.apply(ctx, rec, rules); err != nil {
			h.opts.Log.ErrorContext(ctx, "stream: record not applied", "table", table, "event", rec.EventName,
				"seq", rec.Change.SequenceNumber, "code", latch.ErrorCode(err), "err", err.Error())
			fail(rec.Change.SequenceNumber)
		}
	}
	if len(changes) > 0 && h.opts.Invalidator != nil {
		if err := h.opts.Invalidator.Invalidate(ctx, changes); err != nil {
			h.opts.Log.ErrorContext(ctx, "stream: invalidation failed", "changes", len(changes), "err", err.Error())
			for _, seq := range own {
				fail(seq)
			}
		}
	}
	if len(own) > 0 {
		h.opts.Log.DebugContext(ctx, "stream: changes of Latch's table", "records", len(own), "changes", len(changes))
	}
	return resp, nil
}

func (h *Handler) changeOf(rec events.DynamoDBEventRecord) (latch.Change, bool) {
	pk, sk := rec.Change.Keys[h.opts.PK], rec.Change.Keys[h.opts.SK]
	if pk.DataType() != events.DataTypeString || sk.DataType() != events.DataTypeString {
		return latch.Change{}, false
	}
	attr := func(name string) (string, bool) {
		a, ok := rec.Change.NewImage[name]
		if !ok {
			return "", false
		}
		switch a.DataType() {
		case events.DataTypeString:
			return a.String(), true
		case events.DataTypeNumber:
			return a.Number(), true
		}
		return "", true
	}
	return h.opts.ChangeOf(pk.String(), sk.String(), rec.EventName == string(events.DynamoDBOperationTypeRemove), attr)
}

// tableOf returns the table name of a stream ARN,
// arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL.
func tableOf(arn string) (string, error) {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return "", fmt.Errorf("eventSourceARN %q is not a DynamoDB stream ARN", arn)
	}
	name, _, ok := strings.Cut(rest, "/stream/")
	if !ok || name == "" {
		return "", fmt.Errorf("eventSourceARN %q is not a DynamoDB stream ARN", arn)
	}
	return name, nil
}

// target is whom a record grants what.
type target struct {
	org, user string
	grant     latch.Grant
}

func (r *compiledRule) target(image map[string]events.DynamoDBAttributeValue) (target, error) {
	attrs := make(map[string]string, len(image))
	for k, v := range image {
		switch v.DataType() {
		case events.DataTypeString:
			attrs[k] = v.String()
		case events.DataTypeNumber:
			attrs[k] = v.Number()
		}
	}
	var t target
	var err error
	if t.org, err = r.org.expand(attrs); err != nil {
		return t, fmt.Errorf("rule %q, org: %w", r.Name, err)
	}
	if t.user, err = r.principal.expand(attrs); err != nil {
		return t, fmt.Errorf("rule %q, principal: %w", r.Name, err)
	}
	if !latch.ValidID(t.org) || !latch.ValidID(t.user) {
		return t, fmt.Errorf("rule %q: org %q and principal %q must be ids (letters, digits, '.', '_', '-')", r.Name, clip(t.org), clip(t.user))
	}
	for _, list := range []struct {
		from []template
		to   *[]string
	}{{r.allow, &t.grant.Allow}, {r.deny, &t.grant.Deny}} {
		for _, tmpl := range list.from {
			s, err := tmpl.expand(attrs)
			if err != nil {
				return t, fmt.Errorf("rule %q, statement: %w", r.Name, err)
			}
			*list.to = append(*list.to, s)
		}
	}
	return t, nil
}

// apply sets or removes the grants rules make of one record.
func (h *Handler) apply(ctx context.Context, rec events.DynamoDBEventRecord, rules []compiledRule) error {
	key, err := recordKey(rec.Change.Keys)
	if err != nil {
		return err
	}
	op := events.DynamoDBOperationType(rec.EventName)
	switch op {
	case events.DynamoDBOperationTypeInsert, events.DynamoDBOperationTypeModify, events.DynamoDBOperationTypeRemove:
	default:
		return fmt.Errorf("unknown eventName %q", rec.EventName)
	}
	if op != events.DynamoDBOperationTypeInsert && rec.Change.OldImage == nil {
		return fmt.Errorf("a %s record without the old image cannot revoke: the stream's view type must be NEW_AND_OLD_IMAGES (it is %q)", op, rec.Change.StreamViewType)
	}
	if op != events.DynamoDBOperationTypeRemove && rec.Change.NewImage == nil {
		return fmt.Errorf("an %s record without the new image cannot grant: the stream's view type must be NEW_AND_OLD_IMAGES (it is %q)", op, rec.Change.StreamViewType)
	}
	for i := range rules {
		r := &rules[i]
		gk := latch.GrantKey(r.Name, key)
		var old, next *target
		if rec.Change.OldImage != nil {
			// An old image the rule cannot read never granted anything (its
			// own record failed), so there is nothing of it to revoke.
			if t, err := r.target(rec.Change.OldImage); err == nil {
				old = &t
			}
		}
		if op != events.DynamoDBOperationTypeRemove {
			t, err := r.target(rec.Change.NewImage)
			if err != nil {
				return err
			}
			next = &t
		}
		if old != nil && (next == nil || old.org != next.org || old.user != next.user) {
			if err := h.revoke(ctx, old.org, old.user, gk); err != nil {
				return err
			}
		}
		if next != nil {
			if err := h.grant(ctx, next.org, next.user, gk, next.grant); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordKey renders a record's key attributes as one string, the same for
// every record of the item: name=value pairs, sorted and URL-encoded.
func recordKey(keys map[string]events.DynamoDBAttributeValue) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("the record has no Keys")
	}
	v := url.Values{}
	for name, a := range keys {
		switch a.DataType() {
		case events.DataTypeString:
			v.Set(name, a.String())
		case events.DataTypeNumber:
			v.Set(name, a.Number())
		case events.DataTypeBinary:
			v.Set(name, base64.RawURLEncoding.EncodeToString(a.Binary()))
		default:
			return "", fmt.Errorf("key attribute %q has an unexpected type", name)
		}
	}
	return v.Encode(), nil
}

func (h *Handler) grant(ctx context.Context, org, user, key string, g latch.Grant) error {
	u, err := h.store.GetUser(ctx, org, user)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return latch.Errorf(latch.ENOTFOUND, "user %q of org %q does not exist (yet): nothing to grant to", user, org)
		}
		return err
	}
	if cur, ok := u.RecordGrants[key]; ok && sameGrant(cur, g) {
		return nil // a replay
	}
	_, err = h.store.UpdateUser(ctx, org, user, func(x *latch.User) error {
		if cur, ok := x.RecordGrants[key]; ok && sameGrant(cur, g) {
			return nil
		}
		if _, ok := x.RecordGrants[key]; !ok && len(x.RecordGrants) >= MaxGrantsPerUser {
			return latch.Errorf(latch.EINVALID, "user %q of org %q has %d record grants, the most one user may have", user, org, MaxGrantsPerUser)
		}
		if x.RecordGrants == nil {
			x.RecordGrants = map[string]latch.Grant{}
		}
		x.RecordGrants[key] = g
		return nil
	})
	return err
}

func (h *Handler) revoke(ctx context.Context, org, user, key string) error {
	u, err := h.store.GetUser(ctx, org, user)
	if err != nil {
		if latch.IsCode(err, latch.ENOTFOUND) {
			return nil // a user who is gone holds no grant
		}
		return err
	}
	if _, ok := u.RecordGrants[key]; !ok {
		return nil
	}
	_, err = h.store.UpdateUser(ctx, org, user, func(x *latch.User) error {
		delete(x.RecordGrants, key)
		return nil
	})
	if latch.IsCode(err, latch.ENOTFOUND) {
		return nil
	}
	return err
}

func sameGrant(a, b latch.Grant) bool {
	return slices.Equal(a.Allow, b.Allow) && slices.Equal(a.Deny, b.Deny)
}
