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

# Settings of the caller's environment must not change what is measured.
for v in ${!LATCH_@}; do unset "$v"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latch-bench.XXXXXX")
server_pid=""
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
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

"$tmp/latch" serve --addr 127.0.0.1:0 --data "$tmp/data" --store "bolt://$tmp/data/latch.db" \
	--config "$tmp/latch.yaml" --signing-alg "$alg" \
	</dev/null >"$tmp/server.out" 2>"$tmp/server.log" &
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
echo "latch (pid $server_pid) listening on $url" >&2

rows=()
# scenario <name> <mode> <concurrency> <client id> <secret>
scenario() {
	local name=$1 mode=$2 c=$3 id=$4 secret=$5 out
	echo "running: $name c=$c for ${duration}s..." >&2
	if ! out=$(LATCH_BENCH_CLIENT_SECRET=$secret "$tmp/loadgen" -url "$url" -mode "$mode" -c "$c" \
		-d "${duration}s" -warmup "${warmup}s" -client-id "$id" -scope bench/read \
		-pid "$server_pid" -label "$name" -json </dev/null); then
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
	printf '| %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %s | %.2f |' \
		"$name" "$(field concurrency)" "$(field requests_per_second)" \
		"$(field p50_ms)" "$(field p99_ms)" "$(field errors)" \
		"$(field server_cpu_seconds || echo 0)" \
		"$(printf '%.0f' "$(field requests_per_server_cpu_second)" 2>/dev/null || echo -)" \
		"$(field loadgen_cpu_seconds || echo 0)"
}

scenario "client_credentials, JWT ($alg)" client_credentials 16 bench-jwt "$BENCH_JWT_SECRET"
scenario "client_credentials, JWT ($alg)" client_credentials 64 bench-jwt "$BENCH_JWT_SECRET"
scenario "client_credentials, opaque" client_credentials 16 bench-opaque "$BENCH_OPAQUE_SECRET"
scenario "introspection, opaque token" introspect 16 bench-opaque "$BENCH_OPAQUE_SECRET"
scenario "introspection, opaque token" introspect 64 bench-opaque "$BENCH_OPAQUE_SECRET"
scenario "introspection, JWT ($alg)" introspect 16 bench-jwt "$BENCH_JWT_SECRET"
scenario "introspection, JWT ($alg)" introspect 64 bench-jwt "$BENCH_JWT_SECRET"
scenario "forward-auth decision, JWT ($alg)" forward-auth 16 bench-jwt "$BENCH_JWT_SECRET"
scenario "forward-auth decision, JWT ($alg)" forward-auth 64 bench-jwt "$BENCH_JWT_SECRET"

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo
echo "Latch $(cd -- "$root" && git describe --always --dirty 2>/dev/null || echo unknown), $(go env GOVERSION), $(nproc) CPUs (${cpu:-unknown}), loopback, load generator on the same machine; ${duration}s per scenario after ${warmup}s warm-up."
echo
echo "| Scenario | Concurrency | Requests/s | p50 (ms) | p99 (ms) | Errors | Server CPU-s | Requests per server CPU-s | Load generator CPU-s |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
