#!/usr/bin/env python3
"""charla's fault run: the guarantees of DESIGN.md under load, failures and kill -9.

    python3 tests/torture/fault_run.py --charla build/charla --source .
    python3 tests/torture/fault_run.py --charla ... --source . --seconds 15              # short (CI)
    python3 tests/torture/fault_run.py --rejudge WORKDIR [KNOWN-GAP...]   # checks again on a --keep dir

What it does (Python 3 stdlib only, everything on 127.0.0.1, bounded in time):
  - starts the real `charla serve` on a temp data dir with a flow that answers every
    message with "eco <wamid> <n>" (n = the conversation's turn number), several
    business numbers, against a fake Graph API (tests/integration/support/fake_graph.py);
  - posts signed webhooks (X-Hub-Signature-256) at --rate msg/s for --seconds s, from
    several processes, several phones, each phone's messages in order (load.py), with
    --redeliver of them delivered again with the same wamid (half after a restart);
  - the fake Graph fails --fail-rate of the sends: 500, 429 + Retry-After, 131056,
    connection reset, --latency s of latency (graph_faults.py);
  - SIGKILLs the engine every --kill-every s and restarts it on the same data dir;
  - then stops the faults and the kills, lets the engine drain (at most --drain s),
    and checks (verdict.py): 0 acknowledged messages without a turn, 0 duplicate turns,
    every reply delivered or dead-lettered with its reason, order per recipient, crash
    resends only inside the crash window and counted by the engine.
Prints the figures and one PASS/FAIL line per check; exit 0 if all pass, 1 if any
fails, 2 on a setup error, 3 if the run exceeded its time budget.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration", "support"))

from charla_process import APP_SECRET, CharlaError, CharlaProcess  # noqa: E402
from graph_faults import GraphProcess  # noqa: E402
from load import Load  # noqa: E402
from verdict import judge  # noqa: E402

FLOW = r'''
return {
  name = "torture", version = 1, initial = "ECO",
  states = {
    ECO = {
      message = function(ctx, msg)
        ctx.data.n = (ctx.data.n or 0) + 1
        ctx:say("eco " .. msg.id .. " " .. ctx.data.n)
      end,
    },
  },
}
'''
TOKEN = "torture-token"
COUNTERS = ("charla_whatsapp_resends_total", "charla_whatsapp_sent_total", "charla_whatsapp_retries_total",
            "charla_whatsapp_dead_letters_total", "charla_whatsapp_failed_total", "charla_store_commits_total",
            "charla_store_writes_total")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--charla", required=True, help="the charla binary")
    p.add_argument("--source", required=True, help="repository root")
    p.add_argument("--shared", help="dir with whatsapp/payloads and whatsapp/graph-responses "
                                    "(default: <source>/tests/fixtures)")
    p.add_argument("--seconds", type=float, default=60, help="load phase length (default 60)")
    p.add_argument("--rate", type=float, default=1000, help="inbound messages per second (default 1000)")
    p.add_argument("--phones", type=int, help="customers (default rate, at most 1000)")
    p.add_argument("--numbers", type=int, default=4, help="business numbers (default 4)")
    p.add_argument("--redeliver", type=float, default=0.10, help="share delivered twice (default 0.10)")
    p.add_argument("--fail-rate", type=float, default=0.20, help="share of sends the fake fails (default 0.20)")
    p.add_argument("--latency", type=float, default=2.0, help="seconds of a slow answer (default 2)")
    p.add_argument("--retry-after", type=int, default=2, help="Retry-After of the 429s, s (default 2)")
    p.add_argument("--kill-every", type=float, default=3.0, help="SIGKILL period, s (default 3; 0: never)")
    p.add_argument("--max-load-seconds", type=float,
                   help="the faults and kills last until every scheduled message is sent, at most this long "
                        "(default 3 x seconds + 30): a slow machine sends late, not less")
    p.add_argument("--drain", type=float, default=120, help="max drain after the faults, s (default 120)")
    p.add_argument("--resend-window-ms", type=float, default=1000,
                   help="max time between the Graph API accepting a row and the kill that made it be sent "
                        "again (default 1000)")
    p.add_argument("--max-attempts", type=int, default=4, help="whatsapp.max_attempts (default 4)")
    p.add_argument("--retry-time-scale", type=float, default=0.01, help="whatsapp.retry_time_scale (default 0.01)")
    p.add_argument("--senders", type=int, default=4, help="load processes (default 4)")
    p.add_argument("--threads", type=int, default=8, help="connections per load process (default 8)")
    p.add_argument("--seed", type=int, default=8, help="random seed (faults, redeliveries)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (data, logs, dumps)")
    p.add_argument("--known-gap", action="append", default=[], metavar="CHECK",
                   help="report this check's failure as a known gap instead of failing the run "
                        "(e.g. 'crash resends counted in a metric'); repeatable")
    a = p.parse_args()
    a.charla, a.source = os.path.abspath(a.charla), os.path.abspath(a.source)
    if not a.shared:
        a.shared = os.path.join(a.source, "tests", "fixtures")  # in the repository: a clone needs nothing beside it
    a.shared = os.path.abspath(a.shared)
    a.phones = a.phones or int(min(1000, max(1, a.rate)))
    for need in (os.path.join(a.shared, "whatsapp", "payloads"), os.path.join(a.shared, "whatsapp", "graph-responses")):
        if not os.path.isdir(need):
            _die(2, "%s not found (pass --shared)" % need)
    if not os.access(a.charla, os.X_OK):
        _die(2, "charla binary not executable: %s" % a.charla)
    return a


def _die(code, message):
    print("fault run: %s" % message, file=sys.stderr)
    sys.exit(code)


def metrics_of(charla):
    """The counters we sum over the engine's runs; {} if it does not answer."""
    try:
        text = charla.request("GET", "/metrics", timeout=1.0).text
    except OSError:
        return {}
    out = {}
    for name in COUNTERS:
        m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % name, text, re.M)
        if m:
            out[name] = float(m.group(1))
    return out


def config_for(a, workdir, graph_port, numbers):
    flow = os.path.join(workdir, "torture.lua")
    with open(flow, "w") as f:
        f.write(FLOW)
    return {
        "flows": [flow], "default_flow": "torture", "workers": 2, "log_level": "warn",
        "whatsapp": {
            "api_base": "http://127.0.0.1:%d" % graph_port, "api_version": "v21.0",
            "retry_time_scale": a.retry_time_scale, "max_attempts": a.max_attempts, "request_timeout_ms": 10000,
            "numbers": [{"phone_number_id": n, "flow": "torture", "token_env": "TORTURE_WA_TOKEN",
                         "max_per_second": 100000} for n in numbers],
        },
    }


class Killer:
    """SIGKILLs the engine every `period` s and starts it again on the same data dir.
    Before each kill it reads the engine's counters, so they can be summed over runs."""

    def __init__(self, charla, period, restarts):
        self.charla, self.period, self.restarts = charla, period, restarts
        self.pids = [charla.proc.pid]   # the engine process of each run
        self.kills, self.restart_s, self.metric_runs = [], [], []
        self.error = None

    def run_until(self, done, end):
        """Kills every `period` s until done() or the time `end`."""
        next_kill = time.monotonic() + self.period
        while time.monotonic() < end and not done() and self.error is None:
            if self.period <= 0 or time.monotonic() < next_kill:
                time.sleep(0.05)
                continue
            self.kill_and_restart()
            next_kill = max(next_kill + self.period, time.monotonic() + 0.5)

    def kill_and_restart(self):
        self.metric_runs.append(metrics_of(self.charla))
        self.kills.append(time.monotonic())
        self.charla.kill(signal.SIGKILL)
        t0 = time.monotonic()
        try:
            self.charla.restart(timeout=60)
        except CharlaError as e:
            self.error = "the engine did not come back after SIGKILL #%d: %s" % (len(self.kills), e)
            return
        self.restart_s.append(time.monotonic() - t0)
        self.pids.append(self.charla.proc.pid)
        self.restarts.value += 1


def attribute_runs(requests, pids):
    """Sets each Graph request's "run" (0 = the engine's first start) from the pid the
    fake found; None when its sender was already dead when the fake read it."""
    run_of = {pid: i for i, pid in enumerate(pids)}
    for q in requests:
        q["run"] = run_of.get(q.get("pid"))


def drain(charla, graph, deadline):
    """Waits until no reply is pending and the Graph API saw nothing new for 2 s."""
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            pending = charla.outbox(status="pending", limit=1)
        except (OSError, CharlaError):
            pending = ["?"]
        count = graph.count()["requests"]
        if count != last:
            last, stable_since = count, time.monotonic()
        if not pending and time.monotonic() - stable_since >= 2.0:
            return True
        time.sleep(0.25)
    return False


def collect_outbox(charla):
    out = {"truncated": []}
    for status in ("dead", "failed", "pending"):
        rows = charla.outbox(status=status, limit=1000)
        out[status] = rows
        if len(rows) >= 1000:
            out["truncated"].append(status)
    return out


def rejudge(workdir, resend_window_s, known_gaps):
    """Runs the checks again on a work dir kept with --keep (graph.json, run.json)."""
    with open(os.path.join(workdir, "graph.json")) as f:
        dump = json.load(f)
    with open(os.path.join(workdir, "run.json")) as f:
        run = json.load(f)
    attribute_runs(dump["requests"], run["pids"])
    summed = {k: sum(m.get(k, 0) for m in run["metric_runs"]) for k in COUNTERS}
    conversations = {(p, u): c for p, u, c in run["conversations"]}
    v = judge(run["load"]["messages"], dump["requests"], run["outbox"], conversations, run["kills"], summed,
              resend_window_s, run["metric_runs"])
    v.known_gaps = set(known_gaps)
    v.print(sys.stdout)
    return 0 if v.ok else 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--rejudge":
        return rejudge(sys.argv[2], float(os.environ.get("RESEND_WINDOW_MS", "1000")) / 1000.0, sys.argv[3:])
    a = parse_args()
    max_load = a.max_load_seconds or 3 * a.seconds + 30
    budget = max_load + a.drain + 240
    workdir = tempfile.mkdtemp(prefix="charla-torture-")
    started = time.monotonic()
    numbers = ["10900000000%02d" % i for i in range(1, a.numbers + 1)]
    phone_list = [(numbers[i % len(numbers)], "521550%07d" % i) for i in range(a.phones)]
    per_phone = max(1, int(round(a.rate * a.seconds / a.phones)))
    graph = GraphProcess(os.path.join(a.shared, "whatsapp", "graph-responses"), a.fail_rate, a.seed,
                         a.retry_after, a.latency)
    charla = CharlaProcess(a.charla, workdir, config_for(a, workdir, graph.port, numbers),
                           env={"TORTURE_WA_TOKEN": TOKEN})

    def watchdog():
        print("FAIL: the fault run exceeded its time budget of %.0f s (work dir %s)" % (budget, workdir),
              file=sys.stderr)
        print(charla.log_tail(30), file=sys.stderr)
        charla.ensure_dead()
        os._exit(3)

    timer = threading.Timer(budget, watchdog)
    timer.daemon = True
    timer.start()
    load = None
    try:
        charla.start(timeout=30)
        plan = {"shared": a.shared, "secret": APP_SECRET, "rate": a.rate, "phones": a.phones,
                "phone_list": phone_list, "messages_per_phone": per_phone, "redeliver": a.redeliver,
                "senders": a.senders, "threads": a.threads, "seed": a.seed,
                "start_at": time.monotonic() + 0.5, "deadline": time.monotonic() + max_load + a.drain * 0.5}
        print("fault run: %d msg/s for %.0f s (%d phones x %d messages, %d business numbers), %.0f %% redelivered, "
              "%.0f %% of sends failed, SIGKILL every %.1f s; work dir %s"
              % (a.rate, a.seconds, a.phones, per_phone, a.numbers, a.redeliver * 100, a.fail_rate * 100,
                 a.kill_every, workdir), flush=True)
        load = Load(plan, charla.port, workdir)
        killer = Killer(charla, a.kill_every, load.restarts)
        killer.run_until(lambda: time.monotonic() >= plan["start_at"] + a.seconds and load.scheduled_done(),
                         plan["start_at"] + max_load)
        if killer.error:
            _die(1, "FAIL " + killer.error)
        t_load_end = time.monotonic()
        graph.faults(False)
        if a.kill_every > 0:
            killer.kill_and_restart()   # redeliveries held for "after a restart" go now
            if killer.error:
                _die(1, "FAIL " + killer.error)
        load.join(timeout=plan["deadline"] - time.monotonic() + 10)
        t_sent = time.monotonic()
        drained = drain(charla, graph, time.monotonic() + a.drain)
        t_drained = time.monotonic()

        results = load.results()
        dump = graph.dump(os.path.join(workdir, "graph.json"))
        outbox = collect_outbox(charla)
        conversations = {}
        for pnid, user in phone_list:
            conversations[(pnid, user)] = charla.conversation("whatsapp:%s:%s" % (pnid, user))
        final = metrics_of(charla)
        summed = {k: sum(run.get(k, 0) for run in killer.metric_runs + [final]) for k in COUNTERS}
        stop_code = charla.stop(timeout=30)
    finally:
        if load is not None and load.running():
            load.join(timeout=1)
        charla.ensure_dead()
        graph.stop()
        timer.cancel()

    attribute_runs(dump["requests"], killer.pids)
    with open(os.path.join(workdir, "run.json"), "w") as f:
        json.dump({"kills": killer.kills, "pids": killer.pids, "metric_runs": killer.metric_runs + [final],
                   "load": results, "outbox": outbox,
                   "conversations": [[k[0], k[1], c] for k, c in conversations.items()]}, f)
    v = judge(results["messages"], dump["requests"], outbox, conversations, killer.kills, summed,
              a.resend_window_ms / 1000.0, killer.metric_runs + [final])
    v.known_gaps = set(a.known_gap)
    msgs = results["messages"]
    acked = [m for m in msgs if m["acked"] is not None]
    late = [m["sent"] - m["due"] for m in msgs]
    graph_ok = sum(1 for q in dump["requests"] if q["status"] == 200)
    v.figures[:0] = [
        ("command", " ".join(sys.argv)),
        ("inbound messages sent / acknowledged", "%d / %d (planned %d)" % (len(msgs), len(acked),
                                                                        a.phones * per_phone)),
        ("acknowledged msg/s over the load phase",
         "%.0f (%.0f s with faults and kills)" % (sum(1 for m in acked if m["acked"] <= t_load_end)
                                                  / (t_load_end - plan["start_at"]), t_load_end - plan["start_at"])),
        ("send lag behind schedule, s (p50 / max)",
         "%.2f / %.2f" % (sorted(late)[len(late) // 2], max(late)) if late else "-"),
        ("webhook posts answered non-200 (status: count)", results["non_200"] or "-"),
        ("redeliveries acknowledged (after a restart)",
         "%d (%d); not sent: %d" % (sum(1 for r in results["redeliveries"] if r["acked"]),
                                    sum(1 for r in results["redeliveries"] if r["acked"] and r["after_restart"]),
                                    results["redeliveries_not_sent"])),
        ("SIGKILLs / restart time, s (median / max)",
         "%d / %s" % (len(killer.kills), "%.2f / %.2f" % (sorted(killer.restart_s)[len(killer.restart_s) // 2],
                                                         max(killer.restart_s)) if killer.restart_s else "-")),
        ("Graph requests / accepted (200)", "%d / %d" % (len(dump["requests"]), graph_ok)),
        ("  sender identified / already dead when read", "%d / %d" % (
            sum(1 for q in dump["requests"] if q.get("pid") is not None),
            sum(1 for q in dump["requests"] if q.get("pid") is None))),
        ("faults injected (share of the fault phase's requests)", "%s (%.1f %%)" % (
            dump["faults"], 100.0 * sum(dump["faults"].values())
            / max(1, sum(1 for q in dump["requests"] if q["t"] <= t_load_end)))),
        ("engine counters summed over runs", {k.replace("charla_whatsapp_", "").replace("charla_", ""): int(x)
                                              for k, x in summed.items()}),
        ("store commits/s, writes per commit (fault phase)", "%.0f, %.1f" % (
            sum(run.get("charla_store_commits_total", 0) for run in killer.metric_runs)
            / max(1e-9, t_load_end - plan["start_at"]),
            sum(run.get("charla_store_writes_total", 0) for run in killer.metric_runs)
            / max(1, sum(run.get("charla_store_commits_total", 0) for run in killer.metric_runs)))),
        ("load end -> all sent -> drained, s", "%.1f -> %.1f (drained: %s)" % (t_sent - t_load_end,
                                                                          t_drained - t_load_end, drained)),
        ("total run time, s", "%.1f" % (time.monotonic() - started)),
    ]
    if results["missing"]:
        v.check("load generator finished", ["%d sender process(es) wrote no results" % results["missing"]], "")
    v.check("graceful stop at the end", [] if stop_code == 0 else ["SIGTERM -> exit code %s" % stop_code],
            "exit code %s" % stop_code)
    v.check("drained within %.0f s" % a.drain, [] if drained else ["replies still pending or being sent"], "")
    v.print(sys.stdout)
    print("\n%s (work dir %s)" % ("PASS" if v.ok else "FAIL", workdir if a.keep else "removed; --keep keeps it"))
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
