#!/usr/bin/env bash
# bench/intake.sh — the intake part of run.sh only, for A/B runs in one time window:
# hello_server (the Beast ceiling) max + fixed rate, then charla serve (durable LMDB,
# sends to fake_graph) max and fixed rate, for each charla binary given.
#
#   BUILD=build-bench bash bench/intake.sh NAME=path/to/charla [NAME2=other/charla ...]
#   bash bench/intake.sh t1=build-bench/charla@1 t2=build-bench/charla@2   # http.threads 1 vs 2
#
# NAME=path@N sets http.threads N in that run's config (binaries older than the key
# reject it: give those no @). CONFIG_<NAME>='"worker_nice": 5,' adds top-level config keys
# to that run's config (end the fragment with a comma). PERF=1 samples each charla's max phase with
# `perf record -g` (99 Hz; PERF_ARGS replaces "-F 99 -g", e.g. "-F 499 --call-graph dwarf") into $OUT/perf_<name>.data and a top-frames summary in
# $OUT/perf_<name>.txt.
#
# PRELOAD_DIR=dir (a data dir written by build-bench/bench/preload_dir, e.g. 1,000,000
# conversations) runs each binary twice in the same window: NAME on an empty store, then
# NAME_1m on a fresh copy of PRELOAD_DIR per phase (cp; ~760 MB at 1M), for the
# "intake with 1M conversations present vs empty" ratio of issue 11.
#
# Knobs as in run.sh: REQUESTS [50000] CHARLA_REQUESTS [30000] RATE [2000]
# RATE_SECONDS [10] CONNECTIONS [64] USERS [10000] OUT [new temp dir]. RUN_DIR_ROOT [/tmp]
# holds the data dirs: /dev/shm (tmpfs) makes fdatasync free, for CPU A/B runs while other
# work keeps the disk busy; such figures are not durable intake.
# Results: $OUT/<step>.json (webhook_load output), $OUT/metrics_<name>_<phase>.txt, and
# $OUT/cpu_<name>_<phase>.json: charla's CPU (user + system) from the start of the load
# until its turns stop (each message acknowledged, its turn run, its reply sent), per
# message: less sensitive than msg/s to what else runs on the machine.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build-bench}
REQUESTS=${REQUESTS:-50000}
CHARLA_REQUESTS=${CHARLA_REQUESTS:-30000}
RATE=${RATE:-2000}
RATE_SECONDS=${RATE_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-10000}
HELLO_PORT=${HELLO_PORT:-18091}
GRAPH_PORT=${GRAPH_PORT:-18092}
CHARLA_PORT=${CHARLA_PORT:-18090}
OUT=${OUT:-$(mktemp -d /tmp/charla-intake-out.XXXXXX)}
SECRET=bench-app-secret-$$
PHONE_ID=100000000000001
mkdir -p "$OUT"
TMP=$(mktemp -d "${RUN_DIR_ROOT:-/tmp}/charla-intake-run.XXXXXX")
PIDS=()
cleanup() {
  stop_started
  rm -rf "$TMP"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$BUILD/bench/webhook_load"
load_max()  { timeout 90 "$LOAD" --port "$1" --connections "$CONNECTIONS" --requests "$3" --users "$USERS" --secret "$SECRET" --label "$2" --max-seconds 60; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, 1/100 s
metric() { curl -s "http://127.0.0.1:$CHARLA_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
turns_total() { metric charla_turns_total; }
# The CPU figure counts each message's turn and send too: wait (at most 60 s) until no
# conversation has a queued or running turn and the turn count stood still for 2 s
# (longer than the reference flow's 1.5 s double-text debounce, which holds messages
# without counting them as active).
wait_turns_settled() {
  local last=-1 now
  for _ in $(seq 1 30); do
    now="$(turns_total) $(metric charla_active_conversations) $(metric charla_suspended_turns)"
    [[ $now == "$last" && $now == *" 0 0" ]] && return 0
    last=$now; sleep 2
  done
}
load_rate() { timeout 90 "$LOAD" --port "$1" --connections "$CONNECTIONS" --rate "$RATE" --duration "$RATE_SECONDS" --users "$USERS" --secret "$SECRET" --label "$2" --max-seconds 60; }

echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt" >&2
log "hello_server"
"$BUILD/bench/hello_server" --port "$HELLO_PORT" --seconds 200 >"$OUT/hello_server.log" 2>&1 &
HELLO=$!; PIDS+=("$HELLO")
wait_http "http://127.0.0.1:$HELLO_PORT/"
load_max "$HELLO_PORT" hello_max "$REQUESTS" >"$OUT/hello_max.json"
load_rate "$HELLO_PORT" hello_rate >"$OUT/hello_rate.json"
stop_pid "$HELLO"

"$BUILD/bench/fake_graph" --port "$GRAPH_PORT" --seconds 600 --quiet 1 >"$OUT/fake_graph.log" 2>&1 &
GRAPH=$!; PIDS+=("$GRAPH")
wait_http "http://127.0.0.1:$GRAPH_PORT/stats"

VARIANTS=()
for spec in "$@"; do
  VARIANTS+=("$spec")
  if [[ -n ${PRELOAD_DIR:-} ]]; then VARIANTS+=("${spec%%=*}_1m=${spec#*=}"); fi
done
for spec in "${VARIANTS[@]}"; do
  name=${spec%%=*}; bin=${spec#*=}; threads_json=""
  extra_var="CONFIG_${name%_1m}"; extra_json=${!extra_var:-}  # NAME_1m takes NAME's fragment
  if [[ $bin == *@* ]]; then threads_json=", \"threads\": ${bin##*@}"; bin=${bin%@*}; fi
  for phase in max rate; do
    dir=$TMP/$name-$phase; mkdir -p "$dir"
    if [[ $name == *_1m ]]; then
      log "copying $PRELOAD_DIR for $name $phase"
      cp -r "$PRELOAD_DIR" "$dir/data"
      rm -f "$dir/data/charla.lock"
      # On disk before charla starts: else its first fsync writes back the whole copy.
      sync "$dir/data/data.mdb"
    fi
    cat >"$dir/charla.json" <<JSON
{
  "data_dir": "$dir/data", "workers": 2, $extra_json "flows": ["$SRC/flows/insurance.lua"], "log_level": "warn",
  "http": { "bind": "127.0.0.1", "port": $CHARLA_PORT$threads_json }, "store": { "durable": true },
  "whatsapp": { "api_base": "http://127.0.0.1:$GRAPH_PORT",
                "numbers": [ { "phone_number_id": "$PHONE_ID", "max_per_second": 100000 } ] }
}
JSON
    log "charla $name $phase (load $(cut -d' ' -f1 /proc/loadavg))"
    env -u CHARLA_DATA_DIR -u CHARLA_HTTP_PORT WHATSAPP_APP_SECRET="$SECRET" WHATSAPP_API_TOKEN=bench-token \
      "$bin" serve -c "$dir/charla.json" >"$OUT/charla_${name}_$phase.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_http "http://127.0.0.1:$CHARLA_PORT/healthz"
    cpu0=$(cpu_ticks "$pid")
    if [[ $phase == max ]]; then
      perf_pid=""
      if [[ ${PERF:-0} == 1 ]]; then
        timeout 120 perf record ${PERF_ARGS:--F 99 -g} -p "$pid" -o "$OUT/perf_$name.data" >/dev/null 2>&1 &
        perf_pid=$!
      fi
      load_max "$CHARLA_PORT" "${name}_max" "$CHARLA_REQUESTS" >"$OUT/${name}_max.json"
      if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
        perf report -i "$OUT/perf_$name.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
          grep -v '^#' | grep '%' | head -40 >"$OUT/perf_$name.txt" || true
        perf report -i "$OUT/perf_$name.data" --no-children --sort comm --stdio 2>/dev/null |
          grep -v '^#' | grep '%' | head -12 >"$OUT/perf_${name}_threads.txt" || true
      fi
    else load_rate "$CHARLA_PORT" "${name}_rate" >"$OUT/${name}_rate.json"; fi
    wait_turns_settled
    cpu1=$(cpu_ticks "$pid")
    sent=$([[ $phase == max ]] && echo "$CHARLA_REQUESTS" || echo $((RATE * RATE_SECONDS)))
    echo "{\"label\": \"${name}_$phase\", \"cpu_seconds\": $(( cpu1 - cpu0 ))e-2, \"messages\": $sent, \"turns\": $(turns_total)," \
         "\"cpu_us_per_message\": $(( (cpu1 - cpu0) * 10000 / sent ))}" >"$OUT/cpu_${name}_$phase.json"
    curl -s "http://127.0.0.1:$CHARLA_PORT/metrics" >"$OUT/metrics_${name}_$phase.txt" || true
    stop_pid "$pid"
    rm -rf "$dir/data"  # a preloaded copy is ~760 MB
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt" >&2
for f in "$OUT"/*.json; do echo "$(basename "$f"): $(cat "$f")"; done
log "results in $OUT"
