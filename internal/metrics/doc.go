// Package metrics is the few Prometheus metric types Latch's servers use,
// behind a build tag. The default build wraps
// github.com/prometheus/client_golang and serves the Prometheus text format
// at /metrics. With the tag latch.lambda every metric is a no-op and the
// handler answers 404: a Lambda function is never scraped, and leaving the
// client library (with protobuf, expvar and procfs) out keeps the bootstrap
// below its size budget (see cmd/latch-lambda).
//
// Metrics are created unregistered, by the component that counts, and added
// to the one Registry of a server with Register.
package metrics
