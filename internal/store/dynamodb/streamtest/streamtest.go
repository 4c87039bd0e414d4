// Package streamtest reads a DynamoDB stream (DynamoDB Local's, in tests)
// the way Lambda's event source mapping does, and renders the records as
// the JSON event Lambda delivers to a function, so that the stream handler
// is tested on real records rather than on hand-written ones. Tests only.
package streamtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Reader follows every shard of one stream from its start.
type Reader struct {
	api    *dynamodbstreams.Client
	arn    string
	region string
	iters  map[string]string // shard id -> next iterator ("" once closed)
}

// New returns a Reader of the stream streamARN on the DynamoDB endpoint.
func New(ctx context.Context, endpoint, region, streamARN string) (*Reader, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, err
	}
	api := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(endpoint) })
	return &Reader{api: api, arn: streamARN, region: region, iters: map[string]string{}}, nil
}

// Read returns the records that arrived since the last Read, as Lambda
// event records, in shard order.
func (r *Reader) Read(ctx context.Context) ([]json.RawMessage, error) {
	desc, err := r.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(r.arn)})
	if err != nil {
		return nil, fmt.Errorf("DescribeStream: %w", err)
	}
	var out []json.RawMessage
	for _, sh := range desc.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		it, seen := r.iters[id]
		if !seen {
			got, err := r.api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(r.arn), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				return nil, fmt.Errorf("GetShardIterator: %w", err)
			}
			it = aws.ToString(got.ShardIterator)
		}
		for it != "" {
			recs, err := r.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
			if err != nil {
				return nil, fmt.Errorf("GetRecords: %w", err)
			}
			for _, rec := range recs.Records {
				b, err := r.render(rec)
				if err != nil {
					return nil, err
				}
				out = append(out, b)
			}
			next := aws.ToString(recs.NextShardIterator)
			if len(recs.Records) == 0 || next == "" {
				it = next
				break
			}
			it = next
		}
		r.iters[id] = it
	}
	return out, nil
}

// Wait reads until at least n records arrived or the timeout passed.
func (r *Reader) Wait(ctx context.Context, n int, timeout time.Duration) ([]json.RawMessage, error) {
	deadline := time.Now().Add(timeout)
	var all []json.RawMessage
	for {
		got, err := r.Read(ctx)
		if err != nil {
			return all, err
		}
		all = append(all, got...)
		if len(all) >= n {
			return all, nil
		}
		if time.Now().After(deadline) {
			return all, fmt.Errorf("streamtest: %d records after %s, want %d", len(all), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Event wraps records in a DynamoDB Streams event.
func Event(records []json.RawMessage) []byte {
	b, _ := json.Marshal(map[string]any{"Records": records})
	return b
}

func (r *Reader) render(rec types.Record) (json.RawMessage, error) {
	ddb := map[string]any{}
	if sr := rec.Dynamodb; sr != nil {
		if sr.ApproximateCreationDateTime != nil {
			ddb["ApproximateCreationDateTime"] = sr.ApproximateCreationDateTime.Unix()
		}
		for name, img := range map[string]map[string]types.AttributeValue{"Keys": sr.Keys, "NewImage": sr.NewImage, "OldImage": sr.OldImage} {
			if img != nil {
				ddb[name] = attrs(img)
			}
		}
		ddb["SequenceNumber"] = aws.ToString(sr.SequenceNumber)
		ddb["SizeBytes"] = aws.ToInt64(sr.SizeBytes)
		ddb["StreamViewType"] = string(sr.StreamViewType)
	}
	ev := map[string]any{
		"eventID": aws.ToString(rec.EventID), "eventName": string(rec.EventName), "eventVersion": aws.ToString(rec.EventVersion),
		"eventSource": aws.ToString(rec.EventSource), "awsRegion": r.region, "dynamodb": ddb, "eventSourceARN": r.arn,
	}
	if id := rec.UserIdentity; id != nil {
		ev["userIdentity"] = map[string]string{"type": aws.ToString(id.Type), "principalId": aws.ToString(id.PrincipalId)}
	}
	return json.Marshal(ev)
}

func attrs(m map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = attr(v)
	}
	return out
}

// attr renders an attribute value in DynamoDB's JSON form ({"S": "x"}).
func attr(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]string{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]string{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]string{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]bool{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]bool{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string][]string{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string][]string{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string][]string{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, x := range v.Value {
			l[i] = attr(x)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": attrs(v.Value)}
	}
	return map[string]bool{"NULL": true}
}
