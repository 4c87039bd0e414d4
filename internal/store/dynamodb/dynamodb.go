// Package dynamodb is Latch's store on one DynamoDB table: a latch.Store for
// servers (and Lambda functions) that share their data. It passes the
// conformance suite in internal/store/storetest, like the embedded store.
//
// # Table
//
// One table, key schema pk (S, hash) and sk (S, range), no GSI. Every item
// keeps its domain value as JSON in the attribute "data"; the attributes that
// conditional writes test or change are kept beside it and override the JSON
// on read. Secrets the domain types hide from JSON (User.PasswordHash,
// Client.SecretHash) are part of the stored JSON record.
//
//	item             pk                  sk                 other attributes
//	org              ORGS                <org id>           data, ver, children
//	user             ORG#<org>           USER#<id>          data, ver
//	login claim      ORG#<org>           LOGIN#<canonical>  owner (user id)
//	role             ORG#<org>           ROLE#<id>          data, ver
//	client           CLIENT#<id>         CLIENT             data, ver
//	client listing   ORG#<org>           CLIENT#<id>        data (a copy, written with the client)
//	audience         AUDIENCES           <id>               data, ver
//	family           FAMILY#<id>         FAMILY             data, exp, ttl, revoked_at
//	family listing   FAMSUB#<org>#<sub>  <family id>        exp, ttl (the family's; written with it)
//	refresh token    REFRESH#<digest>    REFRESH            data, exp, ttl, rotated_at, replaced_by
//	access token     ACCESS#<digest>     ACCESS             data, exp, ttl
//	auth code        CODE#<digest>       CODE               data, exp, ttl, consumed_at, family_id
//	jti revocation   JTI#<jti>           JTI                data, exp, ttl
//	signing key      KEYS                KEY#<kid>          data
//	key-set version  KEYS                SET                ver
//
// exp is the expiry in Unix nanoseconds (conditions compare it with now);
// ttl is the same instant in epoch seconds, for DynamoDB's TTL deletion.
// That deletion lags (typically within two days), so every read checks exp
// in code, by the store's clock, and every create-if-absent treats an
// expired item as absent (condition attribute_not_exists(pk) OR exp <= now).
//
// # Access patterns
//
//   - Get*: GetItem with ConsistentRead. Tokens, codes, families, client
//     secrets and password hashes are only ever read from the base table,
//     strongly consistent, never through an index or a stream.
//   - ListFamilies: Query of FAMSUB#<org>#<subject>, then BatchGetItem
//     (ConsistentRead, 100 keys a request) of the families it names.
//   - FindUser: GetItem of the LOGIN# claim, then of the user.
//   - ListOrgs, ListAudiences, ListSigningKeys: Query of the ORGS, AUDIENCES
//     or KEYS partition; ListUsers, ListRoles, ListClients(org): Query of
//     ORG#<org> with begins_with(sk). ListClients("") is a Scan (admin only).
//   - Create*: conditional write (attribute_not_exists(pk)). CreateFamily
//     puts the family and its listing in one TransactWriteItems. CreateUser,
//     CreateRole and CreateClient run in one TransactWriteItems with an
//     increment of the org's children counter conditioned on the org
//     existing; CreateUser also claims LOGIN#<username> and LOGIN#<email>
//     with attribute_not_exists(pk) in the same transaction, so the id, the
//     username and the email are claimed together or not at all.
//     The org item is thus written by every create and delete of its
//     members: concurrent creates in one org conflict there and are retried
//     (see Errors and retries), which bounds a bulk import's rate per org.
//   - Update*: the compare-and-swap loop of the contract: read, run fn, write
//     with the condition ver = <the version fn saw>; a lost race re-reads
//     and retries (bounded). UpdateUser releases and claims changed logins in
//     the same transaction.
//   - Delete*: conditional on ver as read; users, roles and clients decrement
//     their org's children counter in the same transaction, and DeleteOrg is
//     conditioned on children = 0, so an org never loses its last member to
//     a race.
//   - RotateRefreshToken: one transaction: set rotated_at on the old token
//     (attribute_not_exists(rotated_at) AND exp > now; for a retry in the
//     grace window, rotated_at = the value read), check the family is live
//     and unrevoked, and put the new token if absent.
//   - ConsumeAuthCode: UpdateItem with attribute_not_exists(consumed_at) AND
//     exp > now; a used code is kept (marked) until it expires, so reuse is
//     detected. SetAuthCodeFamily and RevokeFamily are conditional updates
//     as well. RevokeJTI keeps the later of two expiries by condition.
//   - Signing keys: every change of the key set bumps the SET item's ver in
//     the same transaction; ReplaceSigningKeys reads ver, then the keys, and
//     writes conditioned on ver, so two servers rotating at once cannot both
//     win.
//
// # Errors and retries
//
// Requests go through the SDK's standard retryer (exponential backoff with
// jitter). Throttling, transient and network errors that remain surface as
// latch.EUNAVAILABLE; transactions cancelled by a conflicting transaction are
// retried here, with backoff. Conditional-check failures become the
// contract's ECONFLICT or ENOTFOUND. AWS error text is kept only as the
// cause (for logs), never in a client-visible message: an error here is
// never a silent allow.
//
// # Change feed
//
// DynamoDB has no feed across servers that this package could subscribe to
// in process, so Watch fans out this process's own writes, published after
// DynamoDB acknowledged them, with the embedded store's rule for a slow
// subscriber (a latch.ChangeReset in place of what it missed). Changes made
// by other processes reach them through DynamoDB Streams (the table is
// created with NEW_AND_OLD_IMAGES for the stream handler, and a shared cache
// invalidation comes with the Redis issue); until then another server's
// caches are stale for at most their TTL.
//
// The table must stay in one Region: global tables resolve concurrent writes
// last-writer-wins, which would defeat the single-use and rotation
// conditions.
package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/feed"
)

// API is the part of the DynamoDB client this package calls; a
// *dynamodb.Client implements it, and tests fake it.
type API interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *ddb.DeleteItemInput, opts ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *ddb.BatchGetItemInput, opts ...func(*ddb.Options)) (*ddb.BatchGetItemOutput, error)
	Scan(ctx context.Context, in *ddb.ScanInput, opts ...func(*ddb.Options)) (*ddb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, opts ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
}

// TableAPI is what CreateTable calls.
type TableAPI interface {
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, opts ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, opts ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *ddb.UpdateTimeToLiveInput, opts ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error)
}

// Options configure Open and New. The zero value is usable.
type Options struct {
	// Clock decides expiry, grace windows and timestamps; latch.SystemClock{} by default.
	Clock latch.Clock
	// WatchBuffer is the number of changes buffered per subscriber of Watch
	// before it gets a latch.ChangeReset; 256 by default.
	WatchBuffer int
	// MaxAttempts bounds the SDK retryer's attempts per request (OpenEnv
	// and awsconfig.Open only: New uses the client it is given); 5 by
	// default.
	MaxAttempts int
}

const (
	defaultWatchBuffer = 256
	defaultMaxAttempts = 5
	// maxUpdateAttempts bounds the compare-and-swap loop of Update*.
	maxUpdateAttempts = 64
	// maxTxAttempts bounds the retries of a transaction cancelled by a
	// conflicting transaction.
	maxTxAttempts = 20
	// maxBatchGetKeys is DynamoDB's limit on the keys of one BatchGetItem.
	maxBatchGetKeys = 100
	// maxBatchGetAttempts bounds the requests for the keys a BatchGetItem
	// left unprocessed (throttled, or past its 16 MB response).
	maxBatchGetAttempts = 20
)

// Store is a latch.Store on one DynamoDB table. It is safe for concurrent use.
type Store struct {
	api   API
	table string
	clock latch.Clock
	feed  *feed.Feed
}

var _ latch.Store = (*Store)(nil)

// Config is what a store URL says: dynamodb://TABLE?region=R&endpoint=URL.
type Config struct {
	Table    string
	Region   string
	Endpoint string
}

// ParseURL parses dynamodb://TABLE?region=R&endpoint=URL.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "dynamodb" {
		return Config{}, latch.Errorf(latch.EINVALID, "store: want dynamodb://TABLE?region=R&endpoint=URL")
	}
	c := Config{Table: u.Host, Region: u.Query().Get("region"), Endpoint: u.Query().Get("endpoint")}
	if c.Table == "" {
		c.Table = u.Opaque
	}
	if len(c.Table) < 3 || len(c.Table) > 255 {
		return Config{}, latch.Errorf(latch.EINVALID, "store: DynamoDB table name %q must have 3 to 255 characters", c.Table)
	}
	for _, r := range c.Table {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return Config{}, latch.Errorf(latch.EINVALID, "store: invalid DynamoDB table name %q", c.Table)
		}
	}
	if c.Endpoint != "" {
		if e, err := url.Parse(c.Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return Config{}, latch.Errorf(latch.EINVALID, "store: endpoint must be an http(s) URL")
		}
	}
	return c, nil
}

// NewEnvClient returns a DynamoDB client configured from the environment
// alone, as the Lambda runtime sets it: the region from c or AWS_REGION,
// the credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, the endpoint from c, AWS_ENDPOINT_URL_DYNAMODB or
// AWS_ENDPOINT_URL, with the standard retryer. It reads no shared config
// file and runs no credential chain, so that the Lambda binary does not link
// the SDK's configuration loader (package awsconfig has the full one, for
// servers).
func NewEnvClient(c Config, getenv func(string) string, maxAttempts int) (*ddb.Client, error) {
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	region := c.Region
	if region == "" {
		region = getenv("AWS_REGION")
	}
	if region == "" {
		return nil, latch.Errorf(latch.EINVALID, "store: no region (add ?region=R to the store URL or set AWS_REGION)")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, latch.Errorf(latch.EINVALID, "store: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
	}
	token := getenv("AWS_SESSION_TOKEN")
	endpoint := c.Endpoint
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} {
		if endpoint == "" {
			endpoint = getenv(name)
		}
	}
	opts := ddb.Options{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "environment"}, nil
		}),
		Retryer: NewRetryer(maxAttempts),
		Logger:  logging.NewStandardLogger(os.Stderr),
	}
	return ddb.New(opts, ClientOptions(Config{Endpoint: endpoint})), nil
}

// MaxBackoff caps the wait between two attempts of a request. The SDK's
// default (20 s) made a request that needs a table that is down wait up to
// half a minute before it failed (closed): a decision waiting that long is
// as good as refused, and holds a connection meanwhile.
const MaxBackoff = 2 * time.Second

// NewRetryer is the SDK's standard retryer (exponential backoff with
// jitter, throttling and transient errors retried) with maxAttempts
// attempts and MaxBackoff.
func NewRetryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = MaxBackoff
	})
}

// ClientOptions are what every client of this package needs on top of the
// SDK's defaults: c's endpoint, and a logger without the SDK's noise.
func ClientOptions(c Config) func(*ddb.Options) {
	return func(o *ddb.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		if o.Logger != nil {
			o.Logger = quietLogger{o.Logger}
		}
	}
}

// quietLogger drops the SDK's warning about closing an error response
// without an X-Amz-Crc32 header (aws/aws-sdk-go-v2#3545): DynamoDB sends none
// on errors, so every failed condition (a reused code, a lost race) would
// log it. Checksums of successful responses are still validated.
type quietLogger struct{ next logging.Logger }

func (l quietLogger) Logf(c logging.Classification, format string, v ...any) {
	if strings.HasPrefix(format, "failed to close HTTP response body") {
		return
	}
	l.next.Logf(c, format, v...)
}

// OpenEnv returns a store on the table a dynamodb:// URL names, with a
// client from the environment (NewEnvClient). It does not create the table
// (see CreateTable) and does not contact DynamoDB (see Ping).
func OpenEnv(rawURL string, getenv func(string) string, opts Options) (*Store, error) {
	c, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client, err := NewEnvClient(c, getenv, opts.MaxAttempts)
	if err != nil {
		return nil, err
	}
	return New(client, c.Table, opts), nil
}

// New returns a store on table through api.
func New(api API, table string, opts Options) *Store {
	if opts.Clock == nil {
		opts.Clock = latch.SystemClock{}
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = defaultWatchBuffer
	}
	if opts.WatchBuffer < 2 {
		opts.WatchBuffer = 2
	}
	return &Store{api: api, table: table, clock: opts.Clock, feed: feed.New(opts.WatchBuffer)}
}

// CreateTable creates the table with Latch's key schema, on-demand capacity,
// a stream of new and old images, and TTL on the attribute "ttl". It waits
// until the table is active.
func CreateTable(ctx context.Context, api TableAPI, table string) error {
	const op = "dynamodb.CreateTable"
	_, err := api.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(aPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(aSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(aPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(aSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		return mapErr(op, err)
	}
	w := ddb.NewTableExistsWaiter(api, func(o *ddb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return mapErr(op, err)
	}
	_, err = api.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(aTTL),
			Enabled:       aws.Bool(true),
		},
	})
	return mapErr(op, err)
}

// Close closes every Watch channel. The client needs no closing.
func (s *Store) Close() error {
	s.feed.Close()
	return nil
}

// Ping reports whether the table is reachable and active.
func (s *Store) Ping(ctx context.Context) error {
	const op = "dynamodb.Ping"
	out, err := s.api.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(s.table)})
	if err != nil {
		return mapErr(op, err)
	}
	if out.Table == nil || (out.Table.TableStatus != types.TableStatusActive && out.Table.TableStatus != types.TableStatusUpdating) {
		return latch.Wrap(latch.EUNAVAILABLE, op, fmt.Errorf("table %s is not active", s.table))
	}
	return nil
}

// Watch returns the changes this process makes from now on; see the package doc.
func (s *Store) Watch(ctx context.Context) <-chan latch.Change {
	return s.feed.Subscribe(ctx)
}

// Attribute names.
const (
	aPK         = "pk"
	aSK         = "sk"
	aData       = "data"
	aVer        = "ver"
	aChildren   = "children"
	aOwner      = "owner"
	aExp        = "exp"
	aTTL        = "ttl"
	aRevokedAt  = "revoked_at"
	aRotatedAt  = "rotated_at"
	aReplacedBy = "replaced_by"
	aConsumedAt = "consumed_at"
	aFamilyID   = "family_id"
)

// names aliases every attribute an expression may use: several (data, ttl)
// are reserved words.
var names = map[string]string{
	"#pk": aPK, "#sk": aSK, "#data": aData, "#ver": aVer, "#children": aChildren, "#owner": aOwner,
	"#exp": aExp, "#ttl": aTTL, "#revoked_at": aRevokedAt, "#rotated_at": aRotatedAt,
	"#replaced_by": aReplacedBy, "#consumed_at": aConsumedAt, "#family_id": aFamilyID,
}

// namesFor returns the aliases expr uses (DynamoDB refuses unused ones).
func namesFor(exprs ...string) map[string]string {
	out := map[string]string{}
	for alias, name := range names {
		for _, e := range exprs {
			if containsAlias(e, alias) {
				out[alias] = name
			}
		}
	}
	return out
}

// containsAlias reports whether alias occurs in e as a whole token.
func containsAlias(e, alias string) bool {
	for i := 0; i+len(alias) <= len(e); i++ {
		if e[i:i+len(alias)] != alias {
			continue
		}
		end := i + len(alias)
		if end == len(e) || !isNameChar(e[end]) {
			return true
		}
	}
	return false
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

type item = map[string]types.AttributeValue

func keyOf(pk, sk string) item { return item{aPK: str(pk), aSK: str(sk)} }

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it item, name string) (int64, bool) {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// stamp is t in Unix nanoseconds, clamped to int64.
func stamp(t time.Time) int64 {
	switch {
	case t.Unix() <= math.MinInt64/int64(time.Second):
		return math.MinInt64
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func fromStamp(n int64) time.Time { return time.Unix(0, n).UTC() }

// ttlOf is t in epoch seconds for DynamoDB's TTL, never negative.
func ttlOf(t time.Time) int64 { return max(t.Unix(), 0) }

// liveAt reports whether an item with exp attribute is unexpired at now: an
// item is gone once its expiry is at or before now.
func liveAt(it item, now time.Time) bool {
	exp, ok := getN(it, aExp)
	return ok && exp > stamp(now)
}

func decodeData[T any](it item) (T, error) {
	var v T
	raw := getS(it, aData)
	if raw == "" {
		return v, errors.New("corrupt item: no data")
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("corrupt item: %w", err)
	}
	return v, nil
}

func encodeData(v any) (types.AttributeValue, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return str(string(raw)), nil
}

// get reads one item, strongly consistent; nil if absent.
func (s *Store) get(ctx context.Context, op, pk, sk string) (item, error) {
	out, err := s.api.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            keyOf(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// query returns every item of partition pk whose sk starts with prefix, in
// sk order, strongly consistent.
func (s *Store) query(ctx context.Context, op, pk, prefix string) ([]item, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(s.table),
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeValues: item{":pk": str(pk)},
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
		in.ExpressionAttributeValues[":prefix"] = str(prefix)
	}
	in.ExpressionAttributeNames = namesFor(*in.KeyConditionExpression)
	var out []item
	for {
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// batchGet reads the items at keys, strongly consistent, in requests of at
// most maxBatchGetKeys keys, and requests again (with backoff) the keys
// DynamoDB left unprocessed. It returns the items that exist, in no
// particular order. keys must not repeat (DynamoDB refuses the request).
func (s *Store) batchGet(ctx context.Context, op string, keys []item) ([]item, error) {
	var out []item
	for chunk := range slices.Chunk(keys, maxBatchGetKeys) {
		pending := chunk
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == maxBatchGetAttempts {
				return nil, latch.Wrap(latch.EUNAVAILABLE, op,
					fmt.Errorf("BatchGetItem left %d keys unprocessed after %d attempts", len(pending), attempt))
			}
			if attempt > 0 {
				if err := backoff(ctx, op, attempt-1); err != nil {
					return nil, err
				}
			}
			res, err := s.api.BatchGetItem(ctx, &ddb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{
					s.table: {Keys: pending, ConsistentRead: aws.Bool(true)},
				},
			})
			if err != nil {
				return nil, mapErr(op, err)
			}
			out = append(out, res.Responses[s.table]...)
			pending = res.UnprocessedKeys[s.table].Keys
		}
	}
	return out, nil
}

// write is one conditional write of a transaction: exactly one of the
// fields of item is set. onFail is returned when its condition fails (nil:
// the caller lost a race and should read again).
type write struct {
	item   types.TransactWriteItem
	onFail error
}

// errLostRace makes Update* and Delete* read again.
var errLostRace = errors.New("dynamodb: item changed since read")

func (s *Store) put(it item, cond string, values item, onFail error) write {
	p := &types.Put{TableName: aws.String(s.table), Item: it}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
		p.ExpressionAttributeNames = namesFor(cond)
		p.ExpressionAttributeValues = values
	}
	return write{item: types.TransactWriteItem{Put: p}, onFail: onFail}
}

func (s *Store) update(key item, set, cond string, values item, onFail error) write {
	u := &types.Update{TableName: aws.String(s.table), Key: key, UpdateExpression: aws.String(set)}
	if cond != "" {
		u.ConditionExpression = aws.String(cond)
	}
	u.ExpressionAttributeNames = namesFor(set, cond)
	if len(values) > 0 {
		u.ExpressionAttributeValues = values
	}
	return write{item: types.TransactWriteItem{Update: u}, onFail: onFail}
}

func (s *Store) del(key item, cond string, values item, onFail error) write {
	d := &types.Delete{TableName: aws.String(s.table), Key: key}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
		d.ExpressionAttributeNames = namesFor(cond)
		if len(values) > 0 {
			d.ExpressionAttributeValues = values
		}
	}
	return write{item: types.TransactWriteItem{Delete: d}, onFail: onFail}
}

func (s *Store) check(key item, cond string, values item, onFail error) write {
	c := &types.ConditionCheck{
		TableName: aws.String(s.table), Key: key, ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: namesFor(cond),
	}
	if len(values) > 0 {
		c.ExpressionAttributeValues = values
	}
	return write{item: types.TransactWriteItem{ConditionCheck: c}, onFail: onFail}
}

// commit writes ws atomically: one conditional request for a single write,
// TransactWriteItems for more. A failed condition returns the onFail of the
// first write whose condition failed; a transaction cancelled by another
// transaction is retried.
func (s *Store) commit(ctx context.Context, op string, ws ...write) error {
	if len(ws) == 1 {
		return s.commitOne(ctx, op, ws[0])
	}
	items := make([]types.TransactWriteItem, len(ws))
	for i, w := range ws {
		items[i] = w.item
	}
	for attempt := 0; ; attempt++ {
		_, err := s.api.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			var tip *types.TransactionInProgressException
			var tc *types.TransactionConflictException
			if (errors.As(err, &tip) || errors.As(err, &tc)) && attempt < maxTxAttempts {
				if err := backoff(ctx, op, attempt); err != nil {
					return err
				}
				continue
			}
			return mapErr(op, err)
		}
		retryable, malformed := false, false
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				if i < len(ws) {
					if ws[i].onFail == nil {
						return errLostRace
					}
					return ws[i].onFail
				}
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				retryable = true
			case "ValidationError", "ItemCollectionSizeLimitExceeded":
				malformed = true
			}
		}
		if malformed {
			return latch.Wrap(latch.EINTERNAL, op, err)
		}
		if !retryable || attempt >= maxTxAttempts {
			return mapErr(op, err)
		}
		if err := backoff(ctx, op, attempt); err != nil {
			return err
		}
	}
}

// backoff sleeps before retry attempt+1: exponential with full jitter.
func backoff(ctx context.Context, op string, attempt int) error {
	d := time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt, 6)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return latch.Wrap(latch.EUNAVAILABLE, op, ctx.Err())
	case <-t.C:
		return nil
	}
}

func (s *Store) commitOne(ctx context.Context, op string, w write) error {
	var err error
	switch it := w.item; {
	case it.Put != nil:
		_, err = s.api.PutItem(ctx, &ddb.PutItemInput{
			TableName: it.Put.TableName, Item: it.Put.Item, ConditionExpression: it.Put.ConditionExpression,
			ExpressionAttributeNames: it.Put.ExpressionAttributeNames, ExpressionAttributeValues: it.Put.ExpressionAttributeValues,
		})
	case it.Update != nil:
		_, err = s.api.UpdateItem(ctx, &ddb.UpdateItemInput{
			TableName: it.Update.TableName, Key: it.Update.Key, UpdateExpression: it.Update.UpdateExpression,
			ConditionExpression:      it.Update.ConditionExpression,
			ExpressionAttributeNames: it.Update.ExpressionAttributeNames, ExpressionAttributeValues: it.Update.ExpressionAttributeValues,
		})
	case it.Delete != nil:
		_, err = s.api.DeleteItem(ctx, &ddb.DeleteItemInput{
			TableName: it.Delete.TableName, Key: it.Delete.Key, ConditionExpression: it.Delete.ConditionExpression,
			ExpressionAttributeNames: it.Delete.ExpressionAttributeNames, ExpressionAttributeValues: it.Delete.ExpressionAttributeValues,
		})
	default:
		return latch.Wrap(latch.EINTERNAL, op, errors.New("a lone condition check"))
	}
	if isCCF(err) {
		if w.onFail == nil {
			return errLostRace
		}
		return w.onFail
	}
	return mapErr(op, err)
}

func isCCF(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// mapErr passes domain errors through and turns everything else into
// EUNAVAILABLE (throttling, transient faults, the network, a cancelled
// context: retrying may succeed) or EINTERNAL (a request DynamoDB refuses as
// malformed, a corrupt item), keeping the cause for logs only.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var le *latch.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return latch.Wrap(latch.EUNAVAILABLE, op, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
			"InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
			"TransactionConflictException", "TransactionCanceledException", "LimitExceededException",
			"ResourceNotFoundException", "ResourceInUseException", "UnrecognizedClientException":
			return latch.Wrap(latch.EUNAVAILABLE, op, err)
		}
		if api.ErrorFault() == smithy.FaultServer {
			return latch.Wrap(latch.EUNAVAILABLE, op, err)
		}
		return latch.Wrap(latch.EINTERNAL, op, err)
	}
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		return latch.Wrap(latch.EINTERNAL, op, err)
	}
	// No API error: the request never got an answer (network, retries
	// exhausted on a transport error, a credential provider that failed).
	return latch.Wrap(latch.EUNAVAILABLE, op, err)
}

type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// corrupt marks a decoding failure as a bug or corrupt data (EINTERNAL).
func corrupt(op string, err error) error {
	return latch.Wrap(latch.EINTERNAL, op, &corruptError{err})
}

func notFound(what string) error { return latch.Errorf(latch.ENOTFOUND, "%s not found", what) }

func conflict(format string, args ...any) error {
	return latch.Errorf(latch.ECONFLICT, format, args...)
}

func invalid(format string, args ...any) error {
	return latch.Errorf(latch.EINVALID, format, args...)
}

func checkCtx(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return latch.Wrap(latch.EUNAVAILABLE, op, err)
	}
	return nil
}
