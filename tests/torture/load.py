"""The fault run's load: signed WhatsApp text webhooks at a fixed rate, from several
processes (so the Python work spreads over cores) with several keep-alive connections
each.

Every phone belongs to one thread, which sends that phone's messages in order and
sends message i+1 only after message i got HTTP 200: a message that got no answer (the
engine was killed, the connection refused) is posted again until it does, as Meta
retries an unacknowledged webhook. So the order in which the engine acknowledged a
phone's messages is known, and every message is eventually acknowledged.

A share of the acknowledged messages is delivered again with the same wamid (Meta's
redeliveries): half soon after (0.05-1.5 s), half after the engine's next restart.

Message k of a thread is due at start + k / thread_rate (open loop); a thread behind
schedule sends as fast as the engine answers, and the lag is reported.
"""

import http.client
import json
import multiprocessing
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "support"))

from charla_process import signature_for  # noqa: E402
from harness import Payloads  # noqa: E402


def wamid_for(user, index):
    return "wamid.TORTURE.%s.%05d" % (user, index)


class _Poster:
    """One keep-alive connection to charla; post() never raises, it returns the status
    (0 when the connection failed: refused, reset, timed out)."""

    def __init__(self, port, secret):
        self.port, self.secret, self.conn = port, secret, None

    def post(self, body):
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.conn.request("POST", "/webhook/whatsapp", body=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": signature_for(body, self.secret)})
            resp = self.conn.getresponse()
            resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return resp.status
        except (OSError, http.client.HTTPException):
            self.close()
            return 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _thread_main(plan, phones, port, restarts, out, rng, scheduling):
    """Sends `phones`' messages on schedule, then the redeliveries still due."""
    payloads = Payloads(plan["shared"])
    poster = _Poster(port, plan["secret"])
    per_phone = plan["messages_per_phone"]
    total = len(phones) * per_phone
    thread_rate = plan["rate"] * len(phones) / plan["phones"]
    start, deadline = plan["start_at"], plan["deadline"]
    redeliveries = []   # [due, needs_restart_above, pnid, user, index, wamid]

    def post_until_acked(pnid, user, index, wamid):
        body, _ = payloads.text(pnid, user, "m%d" % index, wamid=wamid)
        attempts, pause = 0, 0.02
        while time.monotonic() < deadline:
            attempts += 1
            status = poster.post(body)
            if status == 200:
                return attempts, time.monotonic()
            out["non_200"][str(status)] = out["non_200"].get(str(status), 0) + 1
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        return attempts, None

    def serve_redeliveries(final):
        now = time.monotonic()
        for r in list(redeliveries):
            due, above, pnid, user, index, wamid = r
            if now < due or restarts.value <= above:
                continue
            redeliveries.remove(r)
            attempts, acked = post_until_acked(pnid, user, index, wamid)
            out["redeliveries"].append({"user": user, "pnid": pnid, "index": index, "wamid": wamid,
                                        "after_restart": above >= 0, "acked": acked is not None})

    for k in range(total):
        pnid, user = phones[k % len(phones)]
        index = k // len(phones)
        due = start + k / thread_rate
        while True:
            serve_redeliveries(False)
            wait = due - time.monotonic()
            if wait <= 0:
                break
            time.sleep(min(wait, 0.05))
        wamid = wamid_for(user, index)
        t_send = time.monotonic()
        attempts, acked = post_until_acked(pnid, user, index, wamid)
        out["messages"].append({"pnid": pnid, "user": user, "index": index, "wamid": wamid, "due": due,
                                "sent": t_send, "acked": acked, "attempts": attempts})
        if acked is None:
            break   # past the deadline: the rest of this thread's messages are not sent
        if rng.random() < plan["redeliver"]:
            if rng.random() < 0.5:
                redeliveries.append([acked + rng.uniform(0.05, 1.5), -1, pnid, user, index, wamid])
            else:
                redeliveries.append([acked, restarts.value, pnid, user, index, wamid])
    with scheduling.get_lock():
        scheduling.value -= 1
    while redeliveries and time.monotonic() < deadline:
        serve_redeliveries(True)
        time.sleep(0.02)
    out["redeliveries_not_sent"] += len(redeliveries)
    poster.close()


def _process_main(index, plan, port, restarts, scheduling, out_path):
    import threading
    rng = random.Random(plan["seed"] * 1000 + index)
    out = {"messages": [], "redeliveries": [], "non_200": {}, "redeliveries_not_sent": 0}
    threads = []
    for t in range(plan["threads"]):
        g = index * plan["threads"] + t
        mine = plan["phone_list"][g::plan["senders"] * plan["threads"]]
        if not mine:
            with scheduling.get_lock():
                scheduling.value -= 1
        else:
            threads.append(threading.Thread(target=_thread_main,
                                             args=(plan, mine, port, restarts, out, random.Random(rng.random()),
                                                   scheduling)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out_path, "w") as f:
        json.dump(out, f)


class Load:
    """Starts the sender processes; `restarts` (a shared counter) is raised by the
    caller after each restart of the engine."""

    def __init__(self, plan, port, workdir):
        ctx = multiprocessing.get_context("fork")
        self.restarts = ctx.Value("i", 0, lock=False)
        # Threads still sending their scheduled messages (then only redeliveries).
        self.scheduling = ctx.Value("i", plan["senders"] * plan["threads"])
        self.paths = [os.path.join(workdir, "load-%d.json" % i) for i in range(plan["senders"])]
        self.procs = [ctx.Process(target=_process_main, args=(i, plan, port, self.restarts, self.scheduling, self.paths[i]),
                                  daemon=True) for i in range(plan["senders"])]
        for p in self.procs:
            p.start()

    def scheduled_done(self):
        """Every scheduled message has been sent (acknowledged or given up)."""
        return self.scheduling.value <= 0 or not self.running()

    def running(self):
        return any(p.is_alive() for p in self.procs)

    def join(self, timeout):
        end = time.monotonic() + timeout
        for p in self.procs:
            p.join(max(0.0, end - time.monotonic()))
        for p in self.procs:
            if p.is_alive():
                p.kill()
                p.join(5)

    def results(self):
        merged = {"messages": [], "redeliveries": [], "non_200": {}, "redeliveries_not_sent": 0, "missing": 0}
        for path in self.paths:
            try:
                with open(path) as f:
                    part = json.load(f)
            except (OSError, ValueError):
                merged["missing"] += 1   # a sender process that did not finish
                continue
            merged["messages"] += part["messages"]
            merged["redeliveries"] += part["redeliveries"]
            merged["redeliveries_not_sent"] += part["redeliveries_not_sent"]
            for k, v in part["non_200"].items():
                merged["non_200"][k] = merged["non_200"].get(k, 0) + v
        return merged
