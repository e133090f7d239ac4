#!/usr/bin/env bash
# bench/run.sh — every charla benchmark in one go, on 127.0.0.1 only.
#
#   1. ceiling: hello_server (bare Beast) under webhook_load, max throughput and
#      fixed rate
#   2. charla serve (flows/insurance.lua, 2 workers, durable LMDB, real sends to
#      fake_graph) under the same load generator, a fresh data dir each time:
#        max         max throughput: intake msg/s; then end-to-end replies/s at the
#                    fake Graph (waits up to DRAIN_MAX s for the outbox to drain)
#        rate        fixed rate RATE msg/s: p99 ack latency; replies/s
#        rate_low    fixed rate LOW_RATE msg/s: p99 ack latency below saturation
#   3. engine_turns: turns through the engine without HTTP (+ store baseline)
#   4. llm_turns: 1,000 conversations calling a fake LLM (200 ms) through ctx:llm
#
# Every process started here is killed on exit (trap); a watchdog ends the whole run
# after MAX_TOTAL seconds. Results (JSON per step, charla logs, a summary) go to OUT.
#
# Environment knobs (defaults in brackets):
#   BUILD [<src>/build-bench]  BUILD_FIRST [1]  REQUESTS [50000] (hello_server)
#   CHARLA_REQUESTS [30000]  RATE [2000]  LOW_RATE [500]
#   RATE_SECONDS [10]  CONNECTIONS [64]  USERS [10000]  CONVERSATIONS [10000]
#   HELLO_PORT [18081]  GRAPH_PORT [18082]  CHARLA_PORT [18080]  DRAIN_MAX [45]
#   MAX_TOTAL [570] (seconds for everything after the build)
#   OUT [a new /tmp/charla-bench-out.XXXXXX]
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build-bench}
BUILD_FIRST=${BUILD_FIRST:-1}
REQUESTS=${REQUESTS:-50000}
CHARLA_REQUESTS=${CHARLA_REQUESTS:-30000}
RATE=${RATE:-2000}
LOW_RATE=${LOW_RATE:-500}
RATE_SECONDS=${RATE_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-10000}
CONVERSATIONS=${CONVERSATIONS:-10000}
HELLO_PORT=${HELLO_PORT:-18081}
GRAPH_PORT=${GRAPH_PORT:-18082}
CHARLA_PORT=${CHARLA_PORT:-18080}
MAX_TOTAL=${MAX_TOTAL:-570}
DRAIN_MAX=${DRAIN_MAX:-45}
OUT=${OUT:-$(mktemp -d /tmp/charla-bench-out.XXXXXX)}
SECRET=bench-app-secret-$$
PHONE_ID=100000000000001

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/charla-bench-run.XXXXXX)
PIDS=()
WATCHDOG=""

cleanup() {
  local rc=$?
  stop_started
  if [[ -n "$WATCHDOG" ]]; then kill "$WATCHDOG" 2>/dev/null || true; wait "$WATCHDOG" 2>/dev/null || true; fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_bg() {  # start_bg LOGFILE CMD... ; remembers the pid in LAST_PID
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

graph_count() { curl -s --max-time 2 "http://127.0.0.1:$GRAPH_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# Waits until the fake Graph count stops moving for 3 s (the outbox drained), at most $1 s.
wait_drain() {
  local end=$((SECONDS + $1)) last=-1 since=$SECONDS n
  while [[ $SECONDS -lt $end ]]; do
    n=$(graph_count || echo -1)
    if [[ "$n" != "$last" ]]; then last=$n; since=$SECONDS; fi
    [[ $((SECONDS - since)) -ge 3 ]] && return 0
    sleep 0.5
  done
  log "   drain: still moving after $1 s"
}

# ------------------------------------------------------------------------------------
if [[ "$BUILD_FIRST" == "1" ]]; then
  log "building (Release) in $BUILD"
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHARLA_TESTS=OFF -DCHARLA_BENCH=ON \
    >"$OUT/cmake.log" 2>&1
  ninja -C "$BUILD" -j2 charla engine_turns llm_turns hello_server fake_graph webhook_load >"$OUT/build.log" 2>&1
fi
CHARLA=$BUILD/charla
[[ -x "$CHARLA" ]] || CHARLA=$(find "$BUILD" -type f -name charla -perm -u+x | head -1)
for b in engine_turns hello_server fake_graph webhook_load; do
  [[ -x "$BUILD/bench/$b" ]] || { echo "run.sh: $BUILD/bench/$b missing (build first)" >&2; exit 1; }
done

{
  echo "date: $(date -Is)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "mem: $(free -h | awk '/Mem:/ {print $2}')"
  echo "kernel: $(uname -r)"
  echo "load (1/5/15 min) at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) (working tree may have uncommitted changes)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# Watchdog: the benchmark run (after the build) is bounded.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$MAX_TOTAL" & sleeper=$!
  wait "$sleeper"
  echo "run.sh: MAX_TOTAL=${MAX_TOTAL}s reached, stopping" >&2
  kill -TERM $$
) &
WATCHDOG=$!

LOAD="$BUILD/bench/webhook_load"
load_max()  { "$LOAD" --port "$1" --connections "$CONNECTIONS" --requests "${3:-$REQUESTS}" --users "$USERS" --secret "$SECRET" --label "$2" --max-seconds 60; }
load_rate() { "$LOAD" --port "$1" --connections "$CONNECTIONS" --rate "${3:-$RATE}" --duration "$RATE_SECONDS" --users "$USERS" --secret "$SECRET" --label "$2" --max-seconds 60; }
charla_max()      { load_max "$1" "$2" "$CHARLA_REQUESTS"; }
charla_rate()     { load_rate "$1" "$2" "$RATE"; }
charla_rate_low() { load_rate "$1" "$2" "$LOW_RATE"; }

# ------------------------------------------------------------------------------------
log "1. ceiling: hello_server"
start_bg "$OUT/hello_server.log" "$BUILD/bench/hello_server" --port "$HELLO_PORT" --seconds 200
HELLO=$LAST_PID
wait_http "http://127.0.0.1:$HELLO_PORT/"
load_max "$HELLO_PORT" hello_max >"$OUT/hello_max.json"
load_rate "$HELLO_PORT" hello_rate >"$OUT/hello_rate.json"
stop_pid "$HELLO"

# ------------------------------------------------------------------------------------
start_graph() {
  start_bg "$OUT/fake_graph_$1.log" "$BUILD/bench/fake_graph" --port "$GRAPH_PORT" --seconds 300 --quiet 1
  GRAPH=$LAST_PID
  wait_http "http://127.0.0.1:$GRAPH_PORT/stats"
}

start_charla() {  # start_charla NAME [PRELOAD]
  local dir=$TMP/charla-$1
  mkdir -p "$dir"
  cat >"$dir/charla.json" <<EOF
{
  "data_dir": "$dir/data",
  "workers": 2,
  "flows": ["$SRC/flows/insurance.lua"],
  "log_level": "warn",
  "http": { "bind": "127.0.0.1", "port": $CHARLA_PORT },
  "store": { "durable": true },
  "whatsapp": {
    "api_base": "http://127.0.0.1:$GRAPH_PORT",
    "numbers": [ { "phone_number_id": "$PHONE_ID", "max_per_second": 100000 } ]
  }
}
EOF
  cp "$dir/charla.json" "$OUT/charla-$1.json"
  start_bg "$OUT/charla-$1.log" env -u CHARLA_DATA_DIR -u CHARLA_HTTP_PORT \
    WHATSAPP_APP_SECRET="$SECRET" WHATSAPP_API_TOKEN=bench-token LD_PRELOAD="${2:-}" \
    "$CHARLA" serve -c "$dir/charla.json"
  CHARLA_PID=$LAST_PID
  wait_http "http://127.0.0.1:$CHARLA_PORT/healthz"
}

charla_phase() {  # charla_phase NAME LOADFN DRAIN_SECONDS [PRELOAD]
  log "2. charla intake + end-to-end: $1"
  start_graph "$1"
  start_charla "$1" "${4:-}"
  local t0 t1
  t0=$(date +%s.%N)
  "$2" "$CHARLA_PORT" "charla_$1" >"$OUT/charla_$1.json"
  log "   load done; waiting (<= $3 s) for the outbox to drain"
  wait_drain "$3"
  t1=$(date +%s.%N)
  curl -s "http://127.0.0.1:$CHARLA_PORT/metrics" >"$OUT/metrics_$1.txt" || true
  grep -E '^charla_(store_(commits|writes|max)|turns|whatsapp_(sent|retries|resends))' "$OUT/metrics_$1.txt" >&2 || true
  curl -s "http://127.0.0.1:$GRAPH_PORT/stats" >"$OUT/graph_$1.json"
  ps -o rss= -p "$CHARLA_PID" >"$OUT/charla_rss_kb_$1.txt" || true
  grep -c '"whatsapp_send_retry"' "$OUT/charla-$1.log" >"$OUT/charla_send_retries_$1.txt" || true
  python3 -c "print('   load + drain wall time: %.1f s' % ($t1 - $t0))" >&2
  stop_pid "$CHARLA_PID"
  stop_pid "$GRAPH"
}

charla_phase max charla_max "$DRAIN_MAX"
charla_phase rate charla_rate 30
charla_phase rate_low charla_rate_low 15

# ------------------------------------------------------------------------------------
log "3. engine_turns"
timeout 150 "$BUILD/bench/engine_turns" --flow "$SRC/flows/insurance.lua" --conversations "$CONVERSATIONS" \
  >"$OUT/engine_turns.json" 2>"$OUT/engine_turns.log"

log "4. llm_turns"
timeout 120 "$BUILD/bench/llm_turns" >"$OUT/llm_turns.json" 2>"$OUT/llm_turns.log"

# ------------------------------------------------------------------------------------
python3 "$SRC/bench/summarize.py" "$OUT" | tee "$OUT/summary.md"
log "results in $OUT"
