// Package awsconfig opens the DynamoDB store with the AWS SDK's full
// configuration chain (environment, shared config and credentials files,
// SSO, web identity, container and instance roles), for servers. It is kept
// out of package dynamodb so that the Lambda binary, whose credentials are
// always in its environment (dynamodb.OpenEnv), does not link the chain.
package awsconfig

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"latch.dev/latch"
	"latch.dev/latch/internal/store/dynamodb"
)

const defaultMaxAttempts = 5

// NewClient returns a DynamoDB client for c, from the SDK's default
// configuration (the environment variable AWS_ENDPOINT_URL_DYNAMODB
// included), with the standard retryer.
func NewClient(ctx context.Context, c dynamodb.Config, maxAttempts int) (*ddb.Client, error) {
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	loads := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return dynamodb.NewRetryer(maxAttempts) }),
	}
	if c.Region != "" {
		loads = append(loads, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, latch.Wrap(latch.EUNAVAILABLE, "dynamodb.Open", err)
	}
	return ddb.NewFromConfig(cfg, dynamodb.ClientOptions(c)), nil
}

// Open returns a store on the table a dynamodb:// URL names. It does not
// create the table (see dynamodb.CreateTable) and does not contact DynamoDB
// (see Ping).
func Open(ctx context.Context, rawURL string, opts dynamodb.Options) (*dynamodb.Store, error) {
	c, err := dynamodb.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client, err := NewClient(ctx, c, opts.MaxAttempts)
	if err != nil {
		return nil, err
	}
	return dynamodb.New(client, c.Table, opts), nil
}
