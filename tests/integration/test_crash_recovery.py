#!/usr/bin/env python3
"""Crash test: SIGKILL `charla serve` in the middle of a stream of webhooks, restart it
on the same data directory, and prove that every message that got HTTP 200 had exactly
one turn (one inbound history entry and one reply), and nothing ran twice.

Runs the real binary over real HTTP on 127.0.0.1, in sink mode (no Graph token)."""
import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from payloads import text_webhook  # noqa: E402

SECRET = "crash-test-secret"
ADMIN = "crash-admin-token"
PHONE_ID = "1029384756"
FLOW = """
return {
  name = "eco", initial = "S",
  states = {
    S = { message = function(ctx, msg)
      ctx.data.n = (ctx.data.n or 0) + 1
      ctx:say("eco " .. msg.id)
    end },
  },
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook(user, wamid, text):
    return text_webhook(PHONE_ID, user, wamid, text)


class Charla:
    def __init__(self, binary, workdir, port):
        self.binary, self.workdir, self.port = binary, workdir, port
        self.proc = None

    def start(self):
        env = dict(os.environ, WHATSAPP_APP_SECRET=SECRET, CHARLA_ADMIN_TOKEN=ADMIN)
        for k in ("WHATSAPP_API_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_ACCESS_TOKEN", "LLM_BASE_URL"):
            env.pop(k, None)
        log = open(os.path.join(self.workdir, "charla.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--flow", os.path.join(self.workdir, "eco.lua"),
             "--data", os.path.join(self.workdir, "data"), "--port", str(self.port), "--workers", "2"],
            stdout=log, stderr=log, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"charla exited early with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise SystemExit("charla did not become ready in 20 s")

    def post(self, body):
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/webhook/whatsapp", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status

    def admin(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())


def stream(charla, users, per_user, acked, stop_at, lock, start_index):
    """Posts messages round-robin over `users`; records the wamids that got 200."""
    for i in range(start_index, start_index + per_user):
        for u in users:
            if stop_at.is_set():
                return
            wamid = f"wamid.{u}.{i}"
            try:
                if charla.post(webhook(u, wamid, f"mensaje {i}")) == 200:
                    with lock:
                        acked.add((u, wamid))
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server died under us: this message may or may not be stored


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="charla-crash-") as work:
        with open(os.path.join(work, "eco.lua"), "w") as f:
            f.write(FLOW)
        charla = Charla(args.charla, work, free_port())
        charla.start()
        users = [f"52155500{n:05d}" for n in range(40)]
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        threads = [threading.Thread(target=stream, args=(charla, users[t::4], 10, acked, stop, lock, 0))
                   for t in range(4)]
        for t in threads:
            t.start()
        # Kill once a good part of the stream is in, while turns are still running.
        deadline = time.time() + 30
        while time.time() < deadline and len(acked) < 150:
            time.sleep(0.005)
        charla.proc.send_signal(signal.SIGKILL)
        charla.proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=30)
        killed_after = len(acked)
        if killed_after < 20:
            raise SystemExit(f"too few messages acknowledged before the kill ({killed_after})")

        charla.start()
        threads = [threading.Thread(target=stream, args=(charla, users[t::4], 3, acked, threading.Event(), lock, 100))
                   for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

        # Wait until every acknowledged message has had its turn.
        expected = {}
        for u, wamid in acked:
            expected.setdefault(u, set()).add(wamid)
        problems = []
        deadline = time.time() + 30
        while True:
            problems = []
            for u, wamids in expected.items():
                detail = charla.admin(f"/admin/conversations/whatsapp:{PHONE_ID}:{u}")
                inbound = [h.get("id") for h in detail["history"] if h["dir"] == "in"]
                replies = [h.get("text") for h in detail["history"] if h["dir"] == "out"]
                for w in wamids:
                    if inbound.count(w) != 1:
                        problems.append(f"{u}: {w} has {inbound.count(w)} turns")
                    if replies.count(f"eco {w}") != 1:
                        problems.append(f"{u}: {w} has {replies.count('eco ' + w)} replies")
                for w in set(inbound):
                    if inbound.count(w) > 1:
                        problems.append(f"{u}: {w} ran {inbound.count(w)} times")
                if detail["data"].get("n") != len(inbound):
                    problems.append(f"{u}: data.n={detail['data'].get('n')} but {len(inbound)} turns")
            if not problems or time.time() > deadline:
                break
            time.sleep(0.2)
        charla.proc.send_signal(signal.SIGTERM)
        rc = charla.proc.wait(timeout=20)
        if problems:
            print("\n".join(problems[:20]), file=sys.stderr)
            raise SystemExit(f"FAIL: {len(problems)} problems after SIGKILL and restart")
        if rc != 0:
            raise SystemExit(f"FAIL: graceful stop exited {rc}")
        print(f"ok: {killed_after} messages acknowledged before SIGKILL, {len(acked)} in all; "
              f"each had exactly one turn and one reply after restart")


if __name__ == "__main__":
    main()
