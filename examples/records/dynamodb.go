package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dynamoAPI is the part of the DynamoDB client the store calls; tests fake
// it.
type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// dynamoStore keeps every org's records in one table, as the seed document
// does: the partition key pk is "ORG#<org id>" and the sort key sk the
// record id, so that one org's records are one partition, read with one
// Query and never with a Scan.
type dynamoStore struct {
	api   dynamoAPI
	table string
}

func orgKey(org string) string { return "ORG#" + org }

// openDynamoDB opens dynamodb://TABLE?region=R[&endpoint=URL] with the
// SDK's default credential chain; endpoint is for DynamoDB Local.
func openDynamoDB(ctx context.Context, u *url.URL) (*dynamoStore, error) {
	table := u.Host
	if table == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("the store is dynamodb://TABLE?region=REGION, not %q", u.Redacted())
	}
	q := u.Query()
	var opts []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: add ?region=... to the store URL or set AWS_REGION")
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if e := q.Get("endpoint"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
	})
	return &dynamoStore{api: client, table: table}, nil
}

func (s *dynamoStore) Add(ctx context.Context, org string, r Record) (Record, error) {
	if !validOrgID(org) {
		return Record{}, fmt.Errorf("invalid org id %q", org)
	}
	r.Org, r.Created = org, time.Now().UTC()
	r.ID = newRecordID(r.Created)
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			"pk":      str(orgKey(org)),
			"sk":      str(r.ID),
			"org":     str(org),
			"title":   str(r.Title),
			"text":    str(r.Text),
			"author":  str(r.Author),
			"created": str(r.Created.Format(time.RFC3339Nano)),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		return Record{}, fmt.Errorf("dynamodb PutItem: %w", err)
	}
	return r, nil
}

func (s *dynamoStore) List(ctx context.Context, org string, limit int) ([]Record, error) {
	var out []Record
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(orgKey(org))},
		ScanIndexForward:          aws.Bool(false), // newest first: ids sort by time
		ConsistentRead:            aws.Bool(true),  // a record just added is listed
	}
	for len(out) < limit {
		in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamodb Query: %w", err)
		}
		for _, item := range res.Items {
			r, err := itemRecord(org, item)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return out, nil
}

func (s *dynamoStore) Get(ctx context.Context, org, id string) (Record, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": str(orgKey(org)), "sk": str(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, fmt.Errorf("dynamodb GetItem: %w", err)
	}
	if len(res.Item) == 0 {
		return Record{}, errNotFound
	}
	return itemRecord(org, res.Item)
}

func (s *dynamoStore) Close() error { return nil }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// itemRecord reads an item of org's partition; an item whose keys or org
// say otherwise is refused rather than shown.
func itemRecord(org string, item map[string]types.AttributeValue) (Record, error) {
	get := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	r := Record{Org: get("org"), ID: get("sk"), Title: get("title"), Text: get("text"), Author: get("author")}
	if get("pk") != orgKey(org) || r.Org != org || !validRecordID(r.ID) {
		return Record{}, fmt.Errorf("an item of partition %q is not a record of org %q", get("pk"), org)
	}
	created, err := time.Parse(time.RFC3339Nano, get("created"))
	if err != nil {
		return Record{}, fmt.Errorf("record %s of org %q: bad creation time", r.ID, org)
	}
	r.Created = created
	return r, nil
}
