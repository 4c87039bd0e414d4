#!/usr/bin/env bash
# Measure the Lambda bootstrap (cmd/latch-lambda): its size for amd64 and
# arm64, its cold start under a fake Lambda Runtime API, and the DynamoDB
# requests per authorization and per token, against DynamoDB Local.
#
#   bench/lambda.sh                    # about 1-2 minutes
#   COLD_RUNS=50 BENCHTIME=5s bench/lambda.sh
#
# Environment:
#   COLD_RUNS    cold starts measured (default 30)
#   BENCHTIME    -test.benchtime of the other benchmarks (default 2s)
#   BENCH        which other benchmarks (default: Authorizer and TokenIssue)
#   LATCH_CACHE_DIR  where the DynamoDB Local jar is kept (default ~/.cache/latch)
#
# Needs root (unshare -n), java, npm (first run only) and curl. DynamoDB Local
# cannot bind to loopback only, so it runs with the benchmarks in a private
# network namespace where only loopback exists, as
# internal/store/dynamodb/testdata/run-local.sh does. Everything is compiled
# outside first (the module proxy is unreachable inside): the bootstraps with
# the deployment flags, and cmd/latch-lambda's test binary, whose benchmarks
# (bench_test.go) start the amd64 bootstrap. The arm64 one is only measured
# (it cannot run here). Removes what it creates; reads no stdin.
set -euo pipefail

bench_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$bench_dir/.." && pwd)
cold_runs=${COLD_RUNS:-30}
benchtime=${BENCHTIME:-2s}
bench=${BENCH:-^Benchmark(Authorizer|TokenIssue)}
cache="${LATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latch}"
DDB="$cache/ddblocal"

[[ $(id -u) == 0 ]] || { echo "lambda.sh: run as root (unshare -n)" >&2; exit 1; }
command -v java >/dev/null || { echo "lambda.sh: java is needed for DynamoDB Local" >&2; exit 1; }
for v in ${!LATCH_@} ${!AWS_@}; do unset "$v"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latch-lambda-bench.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM

# The jar of amplify-dynamodb-simulator@2.9.30 (its license forbids
# redistribution: fetched, never committed), as run-local.sh does.
if [[ ! -f $DDB/DynamoDBLocal.jar ]]; then
	(cd "$tmp" && npm pack --silent amplify-dynamodb-simulator@2.9.30 >/dev/null &&
		tar xzf amplify-dynamodb-simulator-2.9.30.tgz)
	mkdir -p "$DDB"
	cp -r "$tmp/package/emulator/." "$DDB/"
	rm -rf "$tmp/package" "$tmp"/*.tgz
fi

echo "building the bootstraps and the benchmarks..." >&2
for arch in amd64 arm64; do
	(cd -- "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -tags lambda.norpc,latch.lambda \
		-ldflags "-s -w" -o "$tmp/$arch/bootstrap" ./cmd/latch-lambda) </dev/null
	(cd "$tmp/$arch" && zip -q -9 bootstrap.zip bootstrap)
done
(cd -- "$root" && go test -c -o "$tmp/latch-lambda.test" ./cmd/latch-lambda) </dev/null

mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
echo
echo "Bootstrap (CGO_ENABLED=0 go build -trimpath -tags lambda.norpc,latch.lambda -ldflags \"-s -w\"), $(go env GOVERSION):"
echo
echo "| GOARCH | bootstrap | zip (-9) |"
echo "|---|---|---|"
for arch in amd64 arm64; do
	b=$(stat -c %s "$tmp/$arch/bootstrap")
	z=$(stat -c %s "$tmp/$arch/bootstrap.zip")
	echo "| $arch | $b bytes ($(mib "$b") MiB) | $z bytes ($(mib "$z") MiB) |"
done
echo

export DDB tmp cold_runs benchtime bench
cd "$tmp"
unshare -n bash -c '
set -e
ip link set lo up
java -Djava.library.path="$DDB/DynamoDBLocal_lib" -jar "$DDB/DynamoDBLocal.jar" \
	-inMemory -sharedDb -disableTelemetry -port 8000 </dev/null >"$tmp/ddb.log" 2>&1 & jpid=$!
trap "kill $jpid 2>/dev/null; wait $jpid 2>/dev/null || true" EXIT
for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:8000/ && break; sleep 0.1; done
export LATCH_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8000 LATCH_BENCH_BOOTSTRAP="$tmp/amd64/bootstrap"
# The steady-state benchmarks first: they also warm DynamoDB Local'"'"'s JIT,
# which the cold starts would otherwise pay for.
"$tmp/latch-lambda.test" -test.run "^\$" -test.bench "$bench" -test.benchtime "$benchtime" -test.v </dev/null
"$tmp/latch-lambda.test" -test.run "^\$" -test.bench "^BenchmarkColdStart\$" -test.benchtime "${cold_runs}x" -test.v </dev/null
'
