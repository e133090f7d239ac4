#!/usr/bin/env python3
"""Operational hardening of `charla serve`, on the real binary over 127.0.0.1:

- a flood of idle, slow connections under a low fd limit: /healthz still answers
  within a second and the process does not spin (CPU time read from /proc);
- a second `charla serve` on the same data directory refuses to start (exit 2),
  naming the directory and the pid that holds it;
- a store that cannot commit (LMDB map full) turns /readyz 503 and is logged once;
- /metrics needs CHARLA_METRICS_TOKEN as a bearer token when it is set.

Self-contained (no fixtures outside this file); sink mode (no WhatsApp number).
Every wait is bounded; a watchdog ends the run after BUDGET_S."""
import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from charla_process import CharlaProcess, free_port  # noqa: E402
from payloads import text_webhook  # noqa: E402

BUDGET_S = 150
PHONE_ID = "5550001111"
FLOW = """
return {
  name = "eco", initial = "S",
  states = { S = { message = function(ctx, msg) ctx:say("eco: " .. (msg.text or "")) end } },
}
"""
_PROCS = []


class Failure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def make_charla(args, name, config=None, env=None, preexec_fn=None):
    root = tempfile.mkdtemp(prefix="charla-it-http-%s-" % name)
    flow = os.path.join(root, "eco.lua")
    with open(flow, "w") as f:
        f.write(FLOW)
    cfg = {"flows": [flow], "workers": 2, "log_level": "info"}
    cfg.update(config or {})
    proc = CharlaProcess(args.charla, root, cfg, env=env, preexec_fn=preexec_fn)
    _PROCS.append(proc)
    return proc


def webhook(user, wamid, text):
    return text_webhook(PHONE_ID, user, wamid, text)


def cpu_seconds(pid):
    """utime + stime of the process, from /proc/<pid>/stat (fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(proc, name, headers=None):
    r = proc.request("GET", "/metrics", headers=headers)
    check(r.status == 200, "GET /metrics -> %r" % r)
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise Failure("metric %s not in /metrics" % name)


# --- tests ---------------------------------------------------------------------------

FD_LIMIT = 256
FLOOD = 400   # more idle connections than the fd limit


def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_connection_flood(args):
    proc = make_charla(args, "flood", preexec_fn=low_fd_limit)
    proc.start()
    stop = threading.Event()
    socks = []

    def trickle():  # a byte a second on every connection still open, never a whole request
        while not stop.wait(1.0):
            for s in list(socks):
                try:
                    s.send(b"X")
                except OSError:
                    pass

    try:
        for _ in range(FLOOD):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(("127.0.0.1", proc.port))   # the kernel's backlog takes it even if charla cannot
            s.setblocking(False)
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            except OSError:
                pass
            socks.append(s)
        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)
        for i in range(5):
            t0 = time.monotonic()
            try:
                r = proc.request("GET", "/healthz", timeout=1.0)
            except OSError as e:
                raise Failure("/healthz #%d under the flood did not answer within 1 s: %r" % (i, e))
            took = time.monotonic() - t0
            check(r.status == 200 and took < 1.0, "/healthz #%d under the flood: %r in %.2f s" % (i, r, took))
        before = cpu_seconds(proc.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(proc.proc.pid) - before
        check(used < 0.5, "charla used %.2f s of CPU in 2 s with %d idle connections (accept loop spinning?)"
              % (used, FLOOD))
        cap = metric(proc, "charla_http_connections_max")
        check(cap < FD_LIMIT, "connection cap %d not below the fd limit %d" % (cap, FD_LIMIT))
        check(metric(proc, "charla_http_connections_open") <= cap + 2, "more connections open than the cap")
        evicted = metric(proc, "charla_http_connections_evicted_total")
        check(evicted > 0, "no idle connection was evicted")
        print("     flood of %d under RLIMIT_NOFILE %d: cap %d, evicted %d, CPU %.2f s in 2 s"
              % (FLOOD, FD_LIMIT, cap, evicted, used))
    finally:
        stop.set()
        for s in socks:
            s.close()
    check(proc.stop() == 0, "charla did not stop cleanly after the flood\n" + proc.log_tail())


def test_second_server_refused(args):
    first = make_charla(args, "lock")
    first.start()
    cmd = [args.charla, "serve", "-c", first.config_path, "--data", first.data_dir,
           "--port", str(free_port()), "--bind", "127.0.0.1"]
    try:
        second = subprocess.run(cmd, env=first.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise Failure("a second charla on the same data dir kept running (no lock)")
    err = second.stderr.decode("utf-8", "replace")
    check(second.returncode == 2, "second charla exit code %r, expected 2\n%s" % (second.returncode, err))
    check(first.data_dir in err, "the message does not name the data dir: %r" % err)
    check("pid %d" % first.proc.pid in err, "the message does not name the pid %d: %r" % (first.proc.pid, err))
    check(first.request("GET", "/readyz").status == 200, "the first charla is no longer ready")
    check(first.stop() == 0, "first charla did not stop cleanly")
    first.start()  # the lock went with the process: the same dir opens again
    check(first.stop() == 0, "restarted charla did not stop cleanly")


def test_readyz_when_store_full(args):
    proc = make_charla(args, "full", config={"store": {"map_size_mb": 1, "max_map_size_mb": 1}})
    proc.start()
    text = "x" * 60000
    refused = None
    for i in range(60):   # 60 x 60 KB: several times the 1 MiB map
        r = proc.post_webhook(webhook("5215550100%03d" % i, "wamid.FULL%03d" % i, text))
        if r.status != 200:
            refused = r
            break
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    ready = proc.request("GET", "/readyz")
    while ready.status == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        ready = proc.request("GET", "/readyz")
    check(ready.status == 503, "/readyz stayed %r with a full store (webhook refused: %r)" % (ready, refused))
    check((ready.json() or {}).get("cause") == "map full", "/readyz body does not name the cause: %r" % ready)
    time.sleep(2.5)  # turns retry their commits every second meanwhile
    for i in range(10):
        proc.post_webhook(webhook("5215550200%03d" % i, "wamid.MORE%03d" % i, text))
    check(proc.request("GET", "/readyz").status == 503, "/readyz recovered although the map is still full")
    failing = proc.log_events("store_commit_failing")
    check(len(failing) == 1, "expected one store_commit_failing line, got %d" % len(failing))
    check(failing[0].get("cause") == "map full", "the log line does not name the cause: %r" % failing[0])
    errors = [e for e in proc.log_events() if e.get("level") == "error"]
    check(len(errors) <= 3, "%d error lines while the store was full (one per retry?): %r"
          % (len(errors), [e.get("event") for e in errors][:10]))
    check(metric(proc, "charla_store_commit_failing") == 1, "charla_store_commit_failing is not 1")
    check(proc.stop() == 0, "charla did not stop cleanly with a full store")


def test_metrics_token(args):
    proc = make_charla(args, "metrics", env={"CHARLA_METRICS_TOKEN": "metrics-secret"})
    proc.start()
    check(proc.request("GET", "/metrics").status == 401, "/metrics answered without the token")
    wrong = proc.request("GET", "/metrics", headers={"Authorization": "Bearer nope"})
    check(wrong.status == 401, "/metrics answered a wrong token: %r" % wrong)
    good = proc.request("GET", "/metrics", headers={"Authorization": "Bearer metrics-secret"})
    check(good.status == 200 and "charla_turns_total" in good.text, "/metrics with the token -> %r" % good)
    check(proc.request("GET", "/healthz").status == 200, "/healthz needs no token")
    check(proc.stop() == 0, "charla did not stop cleanly")


TESTS = [
    ("connection_flood_keeps_healthz_answering", test_connection_flood),
    ("second_server_on_same_data_dir_refused", test_second_server_refused),
    ("readyz_503_while_store_cannot_commit", test_readyz_when_store_full),
    ("metrics_token_required_when_set", test_metrics_token),
]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--charla", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--keep", action="store_true")
    p.add_argument("-k", dest="only")
    args = p.parse_args()
    args.charla = os.path.abspath(args.charla)

    def watchdog():
        print("FAIL: test_http_hardening exceeded %d s" % BUDGET_S, file=sys.stderr)
        for proc in _PROCS:
            proc.ensure_dead()
        os._exit(3)

    timer = threading.Timer(BUDGET_S, watchdog)
    timer.daemon = True
    timer.start()
    failures = 0
    for name, fn in TESTS:
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        before = len(_PROCS)
        try:
            fn(args)
            print("ok   %-45s %6.2f s" % (name, time.monotonic() - t0))
        except Exception as e:
            failures += 1
            print("FAIL %-45s %6.2f s" % (name, time.monotonic() - t0))
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
            tails = "\n".join(p.log_tail(30) for p in _PROCS[before:])
            print("%s\n%s" % (detail, tails), file=sys.stderr)
        finally:
            for proc in _PROCS[before:]:
                proc.ensure_dead()
                if not args.keep:
                    shutil.rmtree(proc.workdir, ignore_errors=True)
        sys.stdout.flush()
    timer.cancel()
    print("test_http_hardening: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
