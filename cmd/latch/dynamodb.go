package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"latch.dev/latch/internal/store/dynamodb"
	"latch.dev/latch/internal/store/dynamodb/awsconfig"
)

func dynamodbCommand(e env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "dynamodb",
		Usage: "manage the DynamoDB table of a fleet or of the Lambda deployment",
		Commands: []*cli.Command{{
			Name:      "create-table",
			Usage:     "create the table (on-demand, streams NEW_AND_OLD_IMAGES, TTL on ttl) and wait until it is active",
			ArgsUsage: "TABLE",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "region", Usage: "AWS region (default: the SDK's configuration)", Sources: e.sources("AWS_REGION")},
				&cli.StringFlag{Name: "endpoint", Usage: "a DynamoDB endpoint URL (DynamoDB Local); AWS_ENDPOINT_URL_DYNAMODB works too"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.NArg() != 1 {
					return usageErrorf("want the table name: latch dynamodb create-table TABLE")
				}
				u := "dynamodb://" + cmd.Args().First()
				var q []string
				if r := cmd.String("region"); r != "" {
					q = append(q, "region="+r)
				}
				if ep := cmd.String("endpoint"); ep != "" {
					q = append(q, "endpoint="+ep)
				}
				if len(q) > 0 {
					u += "?" + strings.Join(q, "&")
				}
				c, err := dynamodb.ParseURL(u)
				if err != nil {
					return err
				}
				client, err := awsconfig.NewClient(ctx, c, 0)
				if err != nil {
					return err
				}
				if err := dynamodb.CreateTable(ctx, client, c.Table); err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "table %s is ready; run: latch serve --store 'dynamodb://%s?region=...'\n", c.Table, c.Table)
				return err
			},
		}},
	}
}
