#!/usr/bin/env bash
# run-local.sh runs the dynamodb package's tests (the conformance suite
# included) against a real DynamoDB Local, in a private network namespace.
#
# DynamoDB Local cannot bind to loopback only, so it and the test binary run
# together inside `unshare -n` (root needed), where only loopback exists. The
# jar comes from the npm package amplify-dynamodb-simulator@2.9.30, fetched
# once into a cache directory; its license forbids redistribution, so it is
# never committed. Extra arguments go to the test binary, e.g.
#
#	internal/store/dynamodb/testdata/run-local.sh -test.run 'TestConformance/Org'
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pkgdir="$(dirname "$here")"
cache="${LATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latch}"
DDB="$cache/ddblocal"
version=2.9.30

command -v java >/dev/null || { echo "run-local.sh: java is needed for DynamoDB Local" >&2; exit 1; }
if [ ! -f "$DDB/DynamoDBLocal.jar" ]; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$version" >/dev/null &&
		tar xzf "amplify-dynamodb-simulator-$version.tgz")
	mkdir -p "$DDB"
	cp -r "$tmp/package/emulator/." "$DDB/"
fi

# Compile outside the namespace: the module proxy is unreachable inside. The
# second binary is cmd/latch's tests: two `latch serve` processes on one table
# (it builds the latch binary inside, from the warm build cache). The third
# is cmd/latch-lambda's: the Lambda bootstrap (built inside the same way, with
# its deployment flags) under a fake Runtime API.
bin="$cache/dynamodb.test"
cmdbin="$cache/latch-cmd.test"
cmddir="$(cd "$pkgdir/../../../cmd/latch" && pwd)"
lambdabin="$cache/latch-lambda.test"
lambdadir="$(cd "$pkgdir/../../../cmd/latch-lambda" && pwd)"
(cd "$pkgdir" && go test -c -o "$bin" .)
(cd "$cmddir" && go test -c -o "$cmdbin" . && go build -o /dev/null .)
(cd "$lambdadir" && go test -c -o "$lambdabin" . && CGO_ENABLED=0 go build -tags lambda.norpc,latch.lambda -o /dev/null .)

export DDB bin cmdbin cmddir lambdabin lambdadir
# DynamoDB Local writes dynamodb-local-metadata.json into its working directory.
cd "$cache"
unshare -n bash -c '
set -e
ip link set lo up
java -Djava.library.path="$DDB/DynamoDBLocal_lib" -jar "$DDB/DynamoDBLocal.jar" \
	-inMemory -sharedDb -disableTelemetry -port 8000 </dev/null >/dev/null 2>&1 & jpid=$!
for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:8000/ && break; sleep 0.1; done
rc=0
LATCH_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 LATCH_REQUIRE_DYNAMODB=1 \
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy \
	"$bin" -test.count=1 "$@" || rc=$?
if [ $# -eq 0 ]; then
	(cd "$cmddir" && LATCH_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 LATCH_REQUIRE_DYNAMODB=1 \
		"$cmdbin" -test.count=1 -test.run "^TestDynamoDB") || rc=$?
	(cd "$lambdadir" && LATCH_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 LATCH_REQUIRE_DYNAMODB=1 \
		"$lambdabin" -test.count=1 -test.run "^TestBootstrap") || rc=$?
fi
kill $jpid; wait $jpid 2>/dev/null || true
exit $rc' run-local "$@"
