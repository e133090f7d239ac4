#!/usr/bin/env bash
# bench/handoff_queue.sh — how long GET /metrics (its charla_handoffs_waiting gauge),
# GET /admin/handoffs and GET /admin/conversations?paused=true take against `charla
# serve` on a preloaded data dir (issue 11, 1,000,000 conversations), for each binary
# given, in one time window.
#
#   build-bench/bench/preload_dir --dir /tmp/million/data --conversations 1000000 --paused-every 10000
#   PRELOAD_DIR=/tmp/million/data bash bench/handoff_queue.sh before=/tmp/charla-old after=build-bench/charla
#
# Each binary serves a fresh copy of PRELOAD_DIR (cp, so both start with the pages in the
# page cache). Measured: seconds from start to /healthz answering (includes a handoff
# index build, if the binary makes one), then REQUESTS [20] requests of each route one
# after another: first, min, p50, max in ms (curl's time_total). Results: $OUT/*.txt.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${PRELOAD_DIR:?set PRELOAD_DIR to a data dir written by bench/preload_dir}"
REQUESTS=${REQUESTS:-20}
CHARLA_PORT=${CHARLA_PORT:-18093}
OUT=${OUT:-$(mktemp -d /tmp/charla-handoff-queue.XXXXXX)}
TOKEN=bench-admin-$$
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/charla-handoff-run.XXXXXX)
PIDS=()
cleanup() {
  stop_started
  rm -rf "$TMP"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# time_route NAME PATH: REQUESTS sequential GETs; prints "first min p50 max" in ms.
time_route() {
  local times=()
  for _ in $(seq 1 "$REQUESTS"); do
    times+=("$(curl -s -o /dev/null --max-time 60 -H "Authorization: Bearer $TOKEN" \
      -w '%{time_total}' "http://127.0.0.1:$CHARLA_PORT$2")")
  done
  printf '%s\n' "${times[@]}" | python3 -c '
import sys
t = [float(x) * 1000 for x in sys.stdin.read().split()]
s = sorted(t)
print("%s first %.1f min %.1f p50 %.1f max %.1f ms (n=%d)" % (sys.argv[1], t[0], s[0], s[len(s) // 2], s[-1], len(t)))' "$1"
}

echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt" >&2
for spec in "$@"; do
  name=${spec%%=*}; bin=${spec#*=}
  dir=$TMP/$name; mkdir -p "$dir"
  log "copying $PRELOAD_DIR for $name"
  cp -r "$PRELOAD_DIR" "$dir/data"
  rm -f "$dir/data/charla.lock"
  # On disk before charla starts: else its first fsync writes back the whole copy.
  sync "$dir/data/data.mdb"
  cat >"$dir/charla.json" <<JSON
{
  "data_dir": "$dir/data", "workers": 2, "flows": ["$SRC/flows/insurance.lua"], "log_level": "info",
  "http": { "bind": "127.0.0.1", "port": $CHARLA_PORT }, "store": { "durable": true },
  "whatsapp": { "api_base": "http://127.0.0.1:9", "numbers": [ { "phone_number_id": "100000000000001" } ] }
}
JSON
  log "charla $name (load $(cut -d' ' -f1 /proc/loadavg))"
  t0=$(date +%s.%N)
  env -u CHARLA_DATA_DIR -u CHARLA_HTTP_PORT CHARLA_ADMIN_TOKEN="$TOKEN" WHATSAPP_APP_SECRET=bench-secret \
    WHATSAPP_API_TOKEN=bench-token "$bin" serve -c "$dir/charla.json" >"$OUT/charla_$name.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 600); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$CHARLA_PORT/healthz" && break; sleep 0.1; done
  t1=$(date +%s.%N)
  {
    echo "$name: up in $(python3 -c "print('%.2f' % ($t1 - $t0))") s"
    time_route "$name GET /metrics" /metrics
    time_route "$name GET /admin/handoffs" /admin/handoffs
    time_route "$name GET /admin/conversations?paused=true" "/admin/conversations?paused=true"
    echo "$name: charla_handoffs_waiting $(curl -s "http://127.0.0.1:$CHARLA_PORT/metrics" | grep '^charla_handoffs_waiting' | cut -d' ' -f2)," \
         "handoffs listed $(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CHARLA_PORT/admin/handoffs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
    grep handoff_index_built "$OUT/charla_$name.log" || true
  } | tee "$OUT/$name.txt"
  stop_pid "$pid"
  rm -rf "$dir/data"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt" >&2
log "results in $OUT"
