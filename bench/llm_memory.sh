#!/usr/bin/env bash
# Memory per suspended LLM turn, A/B in one time window: each llm_turns binary runs only
# its suspended phase (a fresh process per run, so no earlier phase's pages are reused),
# once with glibc malloc and once with jemalloc preloaded, REPEAT times each; prints one
# line per run and the median per configuration.
#
#   bash bench/llm_memory.sh before=/tmp/llm_turns.main after=build-bench/bench/llm_turns@1.1 \
#        h2c=build-bench/bench/llm_turns@h2c
#
# label=binary[@http_version]: @http_version passes --http-version (binaries from before
# it existed take none). A binary that links jemalloc (CHARLA_MALLOC=jemalloc, the
# default) gets no glibc row: build it with -DCHARLA_MALLOC=system for that one. Env: REPEAT (3), CONVERSATIONS (1000), HOLD_MS (2000),
# JEMALLOC (/usr/lib/x86_64-linux-gnu/libjemalloc.so.2), EXTRA_ARGS (more llm_turns options for
# every run, e.g. "--tls-dir tests/fixtures/tls" for a provider over TLS).
set -euo pipefail
REPEAT=${REPEAT:-3}
CONVERSATIONS=${CONVERSATIONS:-1000}
HOLD_MS=${HOLD_MS:-2000}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
[ $# -gt 0 ] || { echo "usage: $0 label=binary[@http_version] ..." >&2; exit 2; }

echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-8s %-4s %12s %12s %10s\n' config malloc run rss_B/turn live_B/turn errors
declare -A results
for round in $(seq 1 "$REPEAT"); do
  for spec in "$@"; do
    label=${spec%%=*}
    rest=${spec#*=}
    binary=${rest%@*}
    args=(--phases suspended --conversations "$CONVERSATIONS" --hold-ms "$HOLD_MS")
    [[ $rest == *@* ]] && args+=(--http-version "${rest#*@}")
    # shellcheck disable=SC2206  # EXTRA_ARGS is a list of words
    args+=(${EXTRA_ARGS:-})
    for malloc in glibc jemalloc; do
      preload=""
      [ "$malloc" = jemalloc ] && preload=$JEMALLOC
      out=$(LD_PRELOAD=$preload timeout 120 "$binary" "${args[@]}" 2>/dev/null)
      line=$(python3 -c '
import json, sys
s = json.loads(sys.stdin.read())["suspended"]
print(round(s["bytes_per_suspended_turn"]), round(s.get("live_bytes_per_suspended_turn", -1)), s.get("turn_errors", 0), s.get("allocator", "?"))
' <<<"$out")
      read -r rss live errors allocator <<<"$line"
      if [ "$allocator" != "$malloc" ] && [ "$allocator" != "?" ]; then
        # A binary that links jemalloc (CHARLA_MALLOC, the default) has no glibc column:
        # build one with -DCHARLA_MALLOC=system for it.
        printf '%-10s %-8s %-4s %s\n' "$label" "$malloc" "$round" "skipped: the binary runs $allocator"
        continue
      fi
      printf '%-10s %-8s %-4s %12s %12s %10s\n' "$label" "$malloc" "$round" "$rss" "$live" "$errors"
      results["$label $malloc"]+="$rss/$live "
    done
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median of $REPEAT (bytes per suspended turn: RSS growth / allocator live bytes):"
for key in "${!results[@]}"; do
  python3 -c '
import statistics, sys
key, runs = sys.argv[1], sys.argv[2].split()
rss = statistics.median(int(r.split("/")[0]) for r in runs)
live = statistics.median(int(r.split("/")[1]) for r in runs)
print(f"  {key:<20} {rss:>8.0f} {live:>8.0f}")
' "$key" "${results[$key]}"
done | sort
