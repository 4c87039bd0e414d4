#!/usr/bin/env bash
# Benchmark `latch serve` on a DynamoDB store (DynamoDB Local) and print a
# Markdown table in run.sh's format, plus the DynamoDB requests per request.
#
#   bench/dynamodb.sh                 # each scenario 8 s (+2 s warm-up); about 2 minutes
#   DURATION=20 bench/dynamodb.sh
#
# Environment:
#   DURATION      measured seconds per scenario (default 8)
#   WARMUP        warm-up seconds per scenario (default 2)
#   SIGNING_ALG   ES256 (default), EdDSA or RS256
#   DDB_COUNT     1 (default): put the counting proxy (`loadgen ddb-proxy`)
#                 between latch and DynamoDB Local and report DynamoDB
#                 requests per request; 0: connect latch directly
#   JSON_OUT      if set, a file that receives one JSON result per line
#   LATCH_CACHE_DIR  where the DynamoDB Local jar is kept (default ~/.cache/latch)
#   CACHE         how the server caches: memory (default), redis, redis-only,
#                 none, or all, which runs the forward-auth decisions in each
#                 mode (redis and redis-only need redis-server, run in the
#                 namespace on 127.0.0.1:6379 with nothing persisted; the
#                 table then shows its CPU time and the Redis calls, round
#                 trips, per request):
#       memory      the in-process cache alone (`--cache memory`, the default)
#       redis       both levels, as a fleet runs: `--cache redis://...`
#       redis-only  Redis alone: `--cache redis://... --cache-ttl 1ns`, so
#                   that every read misses in process and asks Redis
#       none        no cache: `--cache memory --cache-ttl 1ns`, every read
#                   goes to DynamoDB
#
# DynamoDB Local (the jar of npm amplify-dynamodb-simulator@2.9.30, fetched
# once; its license forbids redistribution) cannot bind to loopback only, so
# this script runs it, latch and the load generator in a private network
# namespace (`unshare -n`, root needed) where only loopback exists: it
# builds everything outside, then runs itself inside. There it creates the
# table (`latch dynamodb create-table`), starts `latch serve --store
# dynamodb://...`, applies examples/latch.yaml with `latch apply` (random
# secrets and passwords), and runs the scenarios with the premium-reader
# (JWT) and premium-writer (opaque) clients. Removes what it creates.
#
# DynamoDB Local is a Java program on SQLite sharing the machine's cores with
# latch and the load generator: it is much slower than DynamoDB, so read the
# rates as what this machine does, and the DynamoDB requests per request as
# the figure that carries over.
set -euo pipefail

bench_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$bench_dir/.." && pwd)

cache_mode=${CACHE:-memory}
case $cache_mode in
memory | redis | redis-only | none) modes=("$cache_mode") ;;
all) modes=(memory redis redis-only none) ;;
*)
	echo "dynamodb.sh: CACHE=$cache_mode: want memory, redis, redis-only, none or all" >&2
	exit 2
	;;
esac
need_redis=0
for m in "${modes[@]}"; do
	[[ $m == redis* ]] && need_redis=1
done

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) == 0 ]] || { echo "dynamodb.sh: run as root (unshare -n)" >&2; exit 1; }
	if [[ $need_redis == 1 ]] && ! command -v redis-server >/dev/null; then
		echo "dynamodb.sh: CACHE=$cache_mode needs redis-server" >&2
		exit 1
	fi
	command -v java >/dev/null || { echo "dynamodb.sh: java is needed for DynamoDB Local" >&2; exit 1; }
	cache="${LATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latch}"
	for v in ${!LATCH_@} ${!AWS_@}; do unset "$v"; done
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench-ddb.XXXXXX")
	trap 'rm -rf -- "$tmp"' EXIT
	trap 'exit 130' INT TERM
	if [[ ! -f $cache/ddblocal/DynamoDBLocal.jar ]]; then
		(cd "$tmp" && npm pack --silent amplify-dynamodb-simulator@2.9.30 >/dev/null &&
			tar xzf amplify-dynamodb-simulator-2.9.30.tgz)
		mkdir -p "$cache/ddblocal"
		cp -r "$tmp/package/emulator/." "$cache/ddblocal/"
		rm -rf "$tmp/package" "$tmp"/*.tgz
	fi
	echo "building latch and the load generator..." >&2
	(cd -- "$root" && go build -o "$tmp/latch" ./cmd/latch) </dev/null
	(cd -- "$bench_dir" && go build -o "$tmp/loadgen" ./loadgen) </dev/null
	version="$(cd -- "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
	BENCH_DDB="$cache/ddblocal" BENCH_VERSION=$version BENCH_GOVERSION=$(go env GOVERSION) \
		unshare -n "${BASH_SOURCE[0]}" --inside "$tmp" </dev/null
	exit
fi

# Inside the namespace.
tmp=$2
duration=${DURATION:-8}
warmup=${WARMUP:-2}
alg=${SIGNING_ALG:-ES256}
count=${DDB_COUNT:-1}
pids=()
cleanup() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip link set lo up
cd "$tmp" # DynamoDB Local writes a metadata file into its directory

# wait_for <file> <pattern> <pid>: the first line of file matching pattern.
wait_for() {
	local line
	for _ in $(seq 300); do
		if line=$(grep -m1 "$2" "$1" 2>/dev/null); then
			printf '%s\n' "$line"
			return 0
		fi
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

java -Djava.library.path="$BENCH_DDB/DynamoDBLocal_lib" -jar "$BENCH_DDB/DynamoDBLocal.jar" \
	-inMemory -sharedDb -disableTelemetry -port 8000 >"$tmp/ddb.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null http://127.0.0.1:8000/ && break; sleep 0.1; done
endpoint=http://127.0.0.1:8000
counts_url=""
if [[ $count == 1 ]]; then
	"$tmp/loadgen" ddb-proxy -listen 127.0.0.1:0 -upstream "$endpoint" >"$tmp/proxy.out" 2>"$tmp/proxy.log" &
	pids+=($!)
	line=$(wait_for "$tmp/proxy.out" '^ddb-proxy listening on ' "${pids[-1]}") || {
		echo "the counting proxy did not start:" >&2; cat "$tmp/proxy.log" >&2; exit 1; }
	endpoint=${line#ddb-proxy listening on }
	counts_url=$endpoint/_ddbproxy/counts
fi

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy
"$tmp/latch" dynamodb create-table --endpoint http://127.0.0.1:8000 latch-bench >&2

redis_port=6379 redis_pid=""
# redis_cmd <command...>: one command to the benchmark's Redis, the first
# line of its reply (bash's /dev/tcp: no redis-cli needed).
redis_cmd() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$redis_port" || return 1
	printf '%s\r\n' "$*" >&3
	IFS= read -r -t 2 reply <&3 || true
	exec 3>&-
	printf '%s\n' "${reply%$'\r'}"
}
if [[ $need_redis == 1 ]]; then
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
		>"$tmp/redis.log" 2>&1 &
	redis_pid=$!
	pids+=("$redis_pid")
	for _ in $(seq 100); do
		[[ $(redis_cmd PING 2>/dev/null) == +PONG ]] && break
		sleep 0.05
	done
	[[ $(redis_cmd PING 2>/dev/null) == +PONG ]] || {
		echo "redis-server did not start:" >&2; cat "$tmp/redis.log" >&2; exit 1; }
fi

# cache_flags <mode>: the `latch serve` flags of a cache mode.
cache_flags() {
	case $1 in
	memory) ;;
	redis) echo "--cache redis://127.0.0.1:$redis_port/0" ;;
	redis-only) echo "--cache redis://127.0.0.1:$redis_port/0 --cache-ttl 1ns" ;;
	none) echo "--cache memory --cache-ttl 1ns" ;;
	esac
}

server_pid=""
# start_server <mode>: `latch serve` on the table with the mode's cache.
start_server() {
	local mode=$1 line
	if [[ $mode == redis* ]]; then
		# Every mode starts from an empty Redis.
		[[ $(redis_cmd FLUSHALL) == +OK ]] || { echo "dynamodb.sh: FLUSHALL failed" >&2; exit 1; }
	fi
	: >"$tmp/server.out"
	# shellcheck disable=SC2046 # the flags are words
	"$tmp/latch" serve --addr 127.0.0.1:0 --data "$tmp/data" --signing-alg "$alg" \
		--store "dynamodb://latch-bench?region=us-east-1&endpoint=$endpoint" $(cache_flags "$mode") \
		>"$tmp/server.out" 2>>"$tmp/server.log" &
	server_pid=$!
	pids+=("$server_pid")
	line=$(wait_for "$tmp/server.out" '^latch listening on ' "$server_pid") || {
		echo "latch did not start; its log:" >&2; tail -n 50 "$tmp/server.log" >&2; exit 1; }
	url=${line#latch listening on }
	echo "latch (pid $server_pid, cache: $mode) listening on $url, store on DynamoDB Local${counts_url:+ through the counting proxy}" >&2
}

stop_server() {
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	unset 'pids[-1]'
}

randsecret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
for v in PAYROLL_PASSWORD_5 PAYROLL_PASSWORD_6 PAYROLL_PASSWORD_C PAYROLL_PASSWORD_7 \
	PAYROLL_APP_SECRET PREMIUM_READER_SECRET PREMIUM_WRITER_SECRET; do
	export "$v=$(randsecret)"
done

rows=()
# scenario <name> <mode> <concurrency> <client id> <secret>
scenario() {
	local name=$1 mode=$2 c=$3 id=$4 secret=$5 out
	local redis_args=()
	if [[ $cache == redis* ]]; then
		redis_args=(-redis-pid "$redis_pid" -redis "127.0.0.1:$redis_port")
	fi
	if [[ $cache_mode == all ]]; then
		name="$name, cache $cache"
	fi
	echo "running: $name c=$c for ${duration}s..." >&2
	if ! out=$(LATCH_BENCH_CLIENT_SECRET=$secret "$tmp/loadgen" -url "$url" -mode "$mode" -c "$c" \
		-d "${duration}s" -warmup "${warmup}s" -client-id "$id" -scope premium/read -uri /premium/item/1 \
		-pid "$server_pid" "${redis_args[@]}" -label "$name" ${counts_url:+-ddb-counts "$counts_url"} -json); then
		echo "scenario $name c=$c failed; server log:" >&2
		tail -n 20 "$tmp/server.log" >&2 || true
		exit 1
	fi
	if [[ -n ${JSON_OUT:-} ]]; then
		printf '%s\n' "$out" >>"$JSON_OUT"
	fi
	rows+=("$(printf '%s\n' "$out" | row "$name")")
}

# row turns one JSON result (flat, as loadgen prints it) into a table row.
row() {
	local name=$1 json
	json=$(cat)
	field() { printf '%s' "$json" | grep -o "\"$1\":[^,}]*" | head -n1 | cut -d: -f2 | tr -d '"'; }
	local redis_cpu redis_per
	redis_cpu=$(field redis_cpu_seconds || true)
	redis_per=$(field redis_calls_per_request || true)
	printf '| %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %s | %.2f | %s | %s | %s | %s |' \
		"$name" "$(field concurrency)" "$(field requests_per_second)" \
		"$(field p50_ms)" "$(field p99_ms)" "$(field errors)" \
		"$(field server_cpu_seconds || echo 0)" \
		"$(printf '%.0f' "$(field requests_per_server_cpu_second)" 2>/dev/null || echo -)" \
		"$(field loadgen_cpu_seconds || echo 0)" \
		"$(per=$(field ddb_requests_per_request) && [[ -n $per ]] && printf '%.3f' "$per" || echo -)" \
		"$(ops=$(field ddb_ops_per_request) && [[ -n $ops ]] && echo "$ops" || echo -)" \
		"$([[ -n $redis_cpu ]] && printf '%.2f' "$redis_cpu" || echo -)" \
		"$([[ -n $redis_per ]] && printf '%.3f' "$redis_per" || echo -)"
}

jwt=premium-reader opaque=premium-writer
applied=0
for cache in "${modes[@]}"; do
	start_server "$cache"
	if [[ $applied == 0 ]]; then
		"$tmp/latch" apply -f "$root/examples/latch.yaml" --endpoint "$url" --data "$tmp/data" >&2
		applied=1
	fi
	if [[ $cache_mode != all ]]; then
		scenario "client_credentials, JWT ($alg)" client_credentials 16 $jwt "$PREMIUM_READER_SECRET"
		scenario "client_credentials, JWT ($alg)" client_credentials 64 $jwt "$PREMIUM_READER_SECRET"
		scenario "client_credentials, opaque" client_credentials 16 $opaque "$PREMIUM_WRITER_SECRET"
		scenario "introspection, JWT ($alg)" introspect 16 $jwt "$PREMIUM_READER_SECRET"
	fi
	scenario "forward-auth decision, JWT ($alg)" forward-auth 16 $jwt "$PREMIUM_READER_SECRET"
	scenario "forward-auth decision, JWT ($alg)" forward-auth 64 $jwt "$PREMIUM_READER_SECRET"
	scenario "forward-auth decision, opaque" forward-auth 16 $opaque "$PREMIUM_WRITER_SECRET"
	stop_server
done

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo
echo "Latch $BENCH_VERSION, $BENCH_GOVERSION, $(nproc) CPUs (${cpu:-unknown}), store on DynamoDB Local 1.25.1 (in memory)${counts_url:+ behind a counting proxy}, all on loopback in one network namespace, load generator on the same machine; ${duration}s per scenario after ${warmup}s warm-up; cache: ${modes[*]}."
echo
echo "| Scenario | Concurrency | Requests/s | p50 (ms) | p99 (ms) | Errors | Server CPU-s | Requests per server CPU-s | Load generator CPU-s | DynamoDB requests per request | of which, per request | Redis CPU-s | Redis calls per request |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
