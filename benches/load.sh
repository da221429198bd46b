#!/usr/bin/env bash
# Load runs against the release `mignet serve` on loopback: start-to-ready time, idle memory, closed-loop
# throughput, open-loop latency at a fixed rate, a new TLS handshake per request, and 100k NADs.
# Every figure is printed with the command that produced it; JSON reports go to $OUT.
#
# Knobs (environment): DURATION (10s), WARMUP (2s), CONNECTIONS (32), RATE (5000), PORT (18443),
# OUT (target/bench-load), SKIP_BUILD=1 to use binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
RATE=${RATE:-5000}
PORT=${PORT:-18443}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET_DIR/bench-load}
MIGNET=$TARGET_DIR/release/mignet
LOADGEN=$TARGET_DIR/release/mignet-loadgen

if [[ -z "${SKIP_BUILD:-}" ]]; then
  cargo build --release --locked -p mignet -p mignet-loadgen --bin mignet --bin mignet-loadgen
fi
for bin in "$MIGNET" "$LOADGEN"; do
  [[ -x "$bin" ]] || { echo "load.sh: $bin is missing (build it, or unset SKIP_BUILD)" >&2; exit 2; }
done
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "load.sh: something already listens on 127.0.0.1:$PORT; set PORT" >&2
  exit 2
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

"$MIGNET" certs --out "$WORK/certs" >/dev/null
"$LOADGEN" gen-state --nads 10000 >"$WORK/nads-10000.json"
"$LOADGEN" gen-state --nads 100000 >"$WORK/nads-100000.json"
"$LOADGEN" gen-state --nads 100000 --list >"$WORK/nads-100000-list.json"

URL=https://127.0.0.1:$PORT
CA=$WORK/certs/ca.crt
EXAMPLES=(--cluster-state examples/migration-nad.yaml --cluster-state examples/hyperconverged.yaml
  --cluster-state examples/cluster)
SERVE=("$MIGNET" serve --addr "127.0.0.1:$PORT" --cert "$WORK/certs/tls.crt" --key "$WORK/certs/tls.key"
  --cluster off --log-format json "${EXAMPLES[@]}")
MIX=(--request examples/reviews/nad-create.json --request examples/reviews/nad-create-overlaps-pod-network.json)

echo "== machine"
echo "nproc: $(nproc)"
lscpu | head -n 15
free -h
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

# start_server NAME [extra serve args]: starts the server in the background, logs to $WORK/NAME.log
start_server() {
  local name=$1
  shift
  "${SERVE[@]}" "$@" >/dev/null 2>"$WORK/$name.log" &
  SERVER_PID=$!
  "$LOADGEN" wait-ready --url "$URL/readyz" --ca "$CA" --timeout 120s >/dev/null
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# run NAME ARGS...: one load run, printed with its command line, JSON kept in $OUT/NAME.json
run() {
  local name=$1
  shift
  local cmd=("$LOADGEN" run --url "$URL/validate" --ca "$CA" "${MIX[@]}" --duration "$DURATION"
    --warmup "$WARMUP" --server-pid "$SERVER_PID" "$@")
  echo
  echo "== $name"
  echo "\$ ${cmd[*]}"
  "${cmd[@]}" --json-out "$OUT/$name.json"
}

startup() {
  local name=$1
  shift
  local cmd=("$LOADGEN" startup --url "$URL/readyz" --ca "$CA" --settle 2s --json-out "$OUT/$name.json"
    -- "${SERVE[@]}" "$@")
  echo
  echo "== $name"
  echo "\$ ${cmd[*]}"
  "${cmd[@]}"
}

startup startup-examples
startup startup-100k-nads --cluster-state "$WORK/nads-100000.json"
startup startup-100k-nads-list --cluster-state "$WORK/nads-100000-list.json"

start_server closed --cluster-state "$WORK/nads-10000.json"
run closed-http1 --http 1 --connections "$CONNECTIONS"
run open-http1 --http 1 --connections "$CONNECTIONS" --rate "$RATE" --threads 1
run closed-http2 --http 2 --connections 4 --streams 8
run new-connection-http1 --http 1 --connections "$CONNECTIONS" --new-connection
stop_server

start_server nads-100000 --cluster-state "$WORK/nads-100000.json"
run closed-http1-100k-nads --http 1 --connections "$CONNECTIONS"
stop_server

echo
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg); JSON reports in $OUT"
