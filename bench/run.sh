#!/usr/bin/env bash
# Benchmark a freshly built Latch over loopback and print a Markdown table.
#
#   bench/run.sh                      # each scenario 10 s (+2 s warm-up)
#   DURATION=30 bench/run.sh          # longer runs
#
# Environment:
#   DURATION              measured seconds per scenario (default 10)
#   WARMUP                warm-up seconds per scenario (default 2)
#   SIGNING_ALG           ES256 (default), EdDSA or RS256
#   BENCH_JWT_SECRET      secret of the JWT client (default: random, 64 hex chars)
#   BENCH_OPAQUE_SECRET   secret of the opaque client (default: random)
#   JSON_OUT              if set, a file that receives one JSON result per line
#   CACHE                 how the server caches (see "Cache modes" below):
#                         memory (default), redis, redis-only, none, or all,
#                         which runs the forward-auth decisions in each mode
#
# Cache modes (redis and redis-only need redis-server, run on a random
# loopback port with nothing persisted; the table then shows its CPU time
# and the Redis calls (round trips) per request too):
#   memory      the in-process cache alone (`--cache memory`, the default)
#   redis       both levels, as a fleet runs: `--cache redis://...`
#   redis-only  Redis alone: `--cache redis://... --cache-ttl 1ns`, so that
#               every read misses in process and asks Redis
#   none        no cache: `--cache memory --cache-ttl 1ns`, every read goes
#               to the store
#
# It builds latch and the load generator into a temporary directory, starts
# `latch serve` on a random loopback port with a fresh data directory, runs the
# scenarios one after another with the server's PID (so the table can show
# requests per server CPU-second), then stops the server and removes
# everything it created. Works from any directory; reads no stdin.
set -euo pipefail

bench_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$bench_dir/.." && pwd)
duration=${DURATION:-10}
warmup=${WARMUP:-2}
alg=${SIGNING_ALG:-ES256}
cache_mode=${CACHE:-memory}
case $cache_mode in
memory | redis | redis-only | none) modes=("$cache_mode") ;;
all) modes=(memory redis redis-only none) ;;
*)
	echo "run.sh: CACHE=$cache_mode: want memory, redis, redis-only, none or all" >&2
	exit 2
	;;
esac

# Settings of the caller's environment must not change what is measured.
for v in ${!LATCH_@}; do unset "$v"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench.XXXXXX")
server_pid=""
redis_pid=""
stop_server() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}
cleanup() {
	stop_server
	if [[ -n $redis_pid ]]; then
		kill -TERM "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

randsecret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
export BENCH_JWT_SECRET=${BENCH_JWT_SECRET:-$(randsecret)}
export BENCH_OPAQUE_SECRET=${BENCH_OPAQUE_SECRET:-$(randsecret)}

echo "building latch and the load generator..." >&2
(cd -- "$root" && go build -o "$tmp/latch" ./cmd/latch) </dev/null
(cd -- "$bench_dir" && go build -o "$tmp/loadgen" ./loadgen) </dev/null

cat >"$tmp/latch.yaml" <<'EOF'
orgs:
  - id: bench
    name: Benchmark
audiences:
  - id: bench
    name: Benchmark API
    scopes:
      read:
        - GET /bench/**
clients:
  - id: bench-jwt
    org: bench
    secret: ${BENCH_JWT_SECRET}
    grants: [client_credentials]
    scopes: [bench/read]
    access_token_format: jwt
  - id: bench-opaque
    org: bench
    secret: ${BENCH_OPAQUE_SECRET}
    grants: [client_credentials]
    scopes: [bench/read]
    access_token_format: opaque
EOF

# redis_cmd <command...>: send one command to the benchmark's Redis and
# print the first line of the reply (bash's /dev/tcp: no redis-cli needed).
redis_cmd() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$redis_port" || return 1
	printf '%s\r\n' "$*" >&3
	IFS= read -r -t 2 reply <&3 || true
	exec 3>&-
	printf '%s\n' "${reply%$'\r'}"
}

# start_redis: redis-server on a free loopback port, nothing persisted.
start_redis() {
	command -v redis-server >/dev/null || { echo "run.sh: CACHE=$cache_mode needs redis-server" >&2; exit 1; }
	local port
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue # taken
		fi
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
			</dev/null >"$tmp/redis.log" 2>&1 &
		redis_pid=$!
		redis_port=$port
		for _ in $(seq 100); do
			if [[ $(redis_cmd PING 2>/dev/null) == +PONG ]]; then
				echo "redis-server (pid $redis_pid) listening on 127.0.0.1:$redis_port" >&2
				return 0
			fi
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		redis_pid=""
	done
	echo "run.sh: redis-server did not start; its log:" >&2
	cat "$tmp/redis.log" >&2 || true
	exit 1
}

# cache_flags <mode>: the `latch serve` flags of a cache mode.
cache_flags() {
	case $1 in
	memory) ;;
	redis) echo "--cache redis://127.0.0.1:$redis_port/0" ;;
	redis-only) echo "--cache redis://127.0.0.1:$redis_port/0 --cache-ttl 1ns" ;;
	none) echo "--cache memory --cache-ttl 1ns" ;;
	esac
}

# start_server <mode>: `latch serve` with the mode's cache, on a fresh port
# and the same data directory (the config file is applied again: a no-op).
start_server() {
	local mode=$1
	if [[ $mode == redis* ]]; then
		# Every mode starts from an empty Redis.
		[[ $(redis_cmd FLUSHALL) == +OK ]] || { echo "run.sh: FLUSHALL failed" >&2; exit 1; }
	fi
	: >"$tmp/server.out"
	# shellcheck disable=SC2046 # the flags are words
	"$tmp/latch" serve --addr 127.0.0.1:0 --data "$tmp/data" --store "bolt://$tmp/data/latch.db" \
		--config "$tmp/latch.yaml" --signing-alg "$alg" $(cache_flags "$mode") \
		</dev/null >"$tmp/server.out" 2>>"$tmp/server.log" &
	server_pid=$!

	url=""
	for _ in $(seq 300); do
		if line=$(grep -m1 '^latch listening on ' "$tmp/server.out"); then
			url=${line#latch listening on }
			break
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [[ -z $url ]]; then
		echo "latch did not start; its log:" >&2
		tail -n 50 "$tmp/server.log" >&2 || true
		exit 1
	fi
	echo "latch (pid $server_pid, cache: $mode) listening on $url" >&2
}

redis_port=""
for m in "${modes[@]}"; do
	if [[ $m == redis* && -z $redis_pid ]]; then
		start_redis
	fi
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
		-d "${duration}s" -warmup "${warmup}s" -client-id "$id" -scope bench/read \
		-pid "$server_pid" "${redis_args[@]}" -label "$name" -json </dev/null); then
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
	field() { printf '%s' "$json" | grep -o "\"$1\":[^,}]*" | head -n1 | cut -d: -f2; }
	local redis_cpu redis_per
	redis_cpu=$(field redis_cpu_seconds || true)
	redis_per=$(field redis_calls_per_request || true)
	printf '| %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %s | %.2f | %s | %s |' \
		"$name" "$(field concurrency)" "$(field requests_per_second)" \
		"$(field p50_ms)" "$(field p99_ms)" "$(field errors)" \
		"$(field server_cpu_seconds || echo 0)" \
		"$(printf '%.0f' "$(field requests_per_server_cpu_second)" 2>/dev/null || echo -)" \
		"$(field loadgen_cpu_seconds || echo 0)" \
		"$([[ -n $redis_cpu ]] && printf '%.2f' "$redis_cpu" || echo -)" \
		"$([[ -n $redis_per ]] && printf '%.3f' "$redis_per" || echo -)"
}

for cache in "${modes[@]}"; do
	start_server "$cache"
	if [[ $cache_mode != all ]]; then
		scenario "client_credentials, JWT ($alg)" client_credentials 16 bench-jwt "$BENCH_JWT_SECRET"
		scenario "client_credentials, JWT ($alg)" client_credentials 64 bench-jwt "$BENCH_JWT_SECRET"
		scenario "client_credentials, opaque" client_credentials 16 bench-opaque "$BENCH_OPAQUE_SECRET"
		scenario "introspection, opaque token" introspect 16 bench-opaque "$BENCH_OPAQUE_SECRET"
		scenario "introspection, opaque token" introspect 64 bench-opaque "$BENCH_OPAQUE_SECRET"
		scenario "introspection, JWT ($alg)" introspect 16 bench-jwt "$BENCH_JWT_SECRET"
		scenario "introspection, JWT ($alg)" introspect 64 bench-jwt "$BENCH_JWT_SECRET"
	fi
	scenario "forward-auth decision, JWT ($alg)" forward-auth 16 bench-jwt "$BENCH_JWT_SECRET"
	scenario "forward-auth decision, JWT ($alg)" forward-auth 64 bench-jwt "$BENCH_JWT_SECRET"
	scenario "forward-auth decision, opaque" forward-auth 16 bench-opaque "$BENCH_OPAQUE_SECRET"
	stop_server
done

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo
echo "Latch $(cd -- "$root" && git describe --always --dirty 2>/dev/null || echo unknown), $(go env GOVERSION), $(nproc) CPUs (${cpu:-unknown}), loopback, load generator on the same machine; ${duration}s per scenario after ${warmup}s warm-up; cache: ${modes[*]}."
echo
echo "| Scenario | Concurrency | Requests/s | p50 (ms) | p99 (ms) | Errors | Server CPU-s | Requests per server CPU-s | Load generator CPU-s | Redis CPU-s | Redis calls per request |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
