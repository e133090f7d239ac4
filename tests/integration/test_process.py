#!/usr/bin/env python3
"""Integration test: what an operator sees of a running `charla serve` process.

Run by ctest as:
    python3 test_process.py --charla <path-to-charla> --source <repo root>

  allocator_is_mapped   `charla --version` names the allocator (jemalloc by default,
                        CHARLA_MALLOC), and the serving process really maps it: a build
                        that fell back to glibc's malloc silently would lose about half
                        its intake speed (bench/README.md, "Allocator")
  threads_are_named     top -H, perf and gdb show what each thread is: http-0, writer,
                        worker-0/1, outbox-sender, timers (and
                        event-sender when events are configured)

Python 3 standard library only; every wait is bounded; the whole file stays < 30 s.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import check, check_eq, parse_args  # noqa: E402
from charla_process import CharlaProcess  # noqa: E402


def serve(args, body):
    """Runs body(proc) against a started `charla serve` with the insurance flow, 2 workers."""
    root = tempfile.mkdtemp(prefix="charla-it-process-")
    config = {"flows": [os.path.join(args.source, "flows", "insurance.lua")], "workers": 2,
              "whatsapp": {"sink": True}}
    proc = CharlaProcess(args.charla, root, config)
    try:
        proc.start()
        body(proc)
        check_eq(proc.stop(timeout=15), 0, "exit code after SIGTERM")
    finally:
        proc.ensure_dead()
        shutil.rmtree(root, ignore_errors=True)


def allocator_named():
    out = subprocess.run([ARGS.charla, "--version"], capture_output=True, text=True, timeout=20).stdout
    check("allocator: " in out, "--version names the allocator: %r" % out)
    name = out.split("allocator: ", 1)[1].split(")", 1)[0]
    check(name in ("jemalloc", "mimalloc", "system"), "a known allocator: %r" % out)
    return name


def test_allocator_is_mapped(args):
    name = allocator_named()

    def body(proc):
        with open("/proc/%d/maps" % proc.proc.pid) as f:
            maps = f.read()
        if name == "system":
            check("libjemalloc" not in maps and "libmimalloc" not in maps,
                  "a system-allocator build maps no other allocator")
        else:
            check("lib" + name in maps, "charla serve maps lib%s, as --version says" % name)
    serve(args, body)


def test_threads_are_named(args):
    def body(proc):
        want = {"http-0", "writer", "worker-0", "worker-1", "outbox-sender", "timers"}
        deadline = time.monotonic() + 5
        while True:
            task_dir = "/proc/%d/task" % proc.proc.pid
            names = set()
            for tid in os.listdir(task_dir):
                try:
                    with open(os.path.join(task_dir, tid, "comm")) as f:
                        names.add(f.read().strip())
                except OSError:  # a thread that ended meanwhile
                    pass
            if want <= names or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(want <= names, "threads named %s; missing %s" % (sorted(names), sorted(want - names)))
    serve(args, body)


def main():
    global ARGS
    ARGS = args = parse_args(__doc__.split("\n")[1])
    failures = 0
    for name, fn in [("allocator_is_mapped", test_allocator_is_mapped),
                     ("threads_are_named", test_threads_are_named)]:
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn(args)
            print("ok   %-45s %6.2f s" % (name, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - reported, then the next test runs
            failures += 1
            print("FAIL %-45s %6.2f s\n%s" % (name, time.monotonic() - t0, e))
    print("test_process: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
