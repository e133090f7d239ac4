# Shell helpers shared by the benchmark scripts (run.sh, intake.sh, handoff_queue.sh). Sourced, not run.

log() { echo "[$(date +%T)] $*" >&2; }

stop_started() {  # on exit: kill every background pid the script put in PIDS, then reap them
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

stop_pid() {  # graceful SIGTERM, then wait (bounded), then SIGKILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

wait_http() {  # wait_http URL: up to 15 s
  for _ in $(seq 1 150); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  return 1
}
