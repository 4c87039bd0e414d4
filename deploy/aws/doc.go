// Package awsdeploy is Latch's AWS deployment: template.yaml, an AWS SAM
// template that deploys the token endpoint and the API Gateway Lambda
// authorizer (cmd/latch-lambda) on one DynamoDB table, with the stream and
// sign-up functions and the payroll example API; Makefile, the build that
// `sam build` runs for the functions; and README.md, how to deploy and run
// it and what it costs.
//
// The package has no code. Its test reads the template offline and checks
// what a deployment would otherwise find out late: that every reference
// resolves, that the table is the one internal/store/dynamodb.CreateTable
// makes, that the functions set only variables the bootstrap reads, that
// stream failures cannot block a shard, that the authorizer guards the
// payroll routes and caches safely, and that no function holds more of the
// table than its code uses.
package awsdeploy
