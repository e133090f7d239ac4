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

from harness import check, parse_args, run  # noqa: E402
from charla_process import CharlaProcess  # noqa: E402


class Env:
    """One `charla serve` with the insurance flow and 2 workers, shared by both tests."""

    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="charla-it-process-")
        config = {"flows": [os.path.join(args.source, "flows", "insurance.lua")], "workers": 2,
                  "whatsapp": {"sink": True}}
        self.charla = CharlaProcess(args.charla, self.root, config)
        self.charla.start()

    def diagnostics(self):
        return self.charla.log_tail()

    def close(self, keep=False):
        self.charla.ensure_dead()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def test_allocator_is_mapped(env):
    out = subprocess.run([env.args.charla, "--version"], capture_output=True, text=True, timeout=20).stdout
    check("allocator: " in out, "--version names the allocator: %r" % out)
    name = out.split("allocator: ", 1)[1].split(")", 1)[0]
    check(name in ("jemalloc", "mimalloc", "system"), "a known allocator: %r" % out)
    with open("/proc/%d/maps" % env.charla.proc.pid) as f:
        maps = f.read()
    if name == "system":
        check("libjemalloc" not in maps and "libmimalloc" not in maps, "a system-allocator build maps no other allocator")
    else:
        check("lib" + name in maps, "charla serve maps lib%s, as --version says" % name)


def thread_names(pid):
    names = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.add(f.read().strip())
        except OSError:  # a thread that ended meanwhile
            pass
    return names


def test_threads_are_named(env):
    want = {"http-0", "writer", "worker-0", "worker-1", "outbox-sender", "timers"}
    deadline = time.monotonic() + 5
    names = thread_names(env.charla.proc.pid)
    while not want <= names and time.monotonic() < deadline:
        time.sleep(0.1)
        names = thread_names(env.charla.proc.pid)
    check(want <= names, "threads named %s; missing %s" % (sorted(names), sorted(want - names)))


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run([("allocator_is_mapped", test_allocator_is_mapped), ("threads_are_named", test_threads_are_named)],
               lambda: Env(args), args, budget_s=30, title="test_process")


if __name__ == "__main__":
    sys.exit(main())
