#!/usr/bin/env python3
"""Poison messages on the real binary: an inbound message whose turn is running each
time the process dies (here: suspended on an LLM that never answers, then kill -9) is
run again at every start. After store.inbox_max_attempts (3) interrupted runs it is
quarantined instead of run: listed in GET /admin/quarantine, the conversation answers
its next message, and POST /admin/quarantine/{id}/retry runs it again.

Runs in sink mode (no Graph token): replies are read from the conversation's history.
Every wait is bounded; only 127.0.0.1 is used."""
import http.server
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from charla_process import CharlaProcess, CharlaError  # noqa: E402
from harness import check, check_eq, wait_until  # noqa: E402
from payloads import text_webhook  # noqa: E402

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

PHONE_ID = "1122334455"
USER = "5215550001111"
OTHER = "5215550002222"
KEY = "whatsapp:%s:%s" % (PHONE_ID, USER)
OTHER_KEY = "whatsapp:%s:%s" % (PHONE_ID, OTHER)

FLOW = """
return {
  name = "veneno", initial = "S",
  states = {
    S = { message = function(ctx, msg)
      if msg.text == "pregunta" then
        local text, err = ctx:llm{ prompt = msg.text }
        ctx:say("llm: " .. tostring(text or err.code))
      else
        ctx:say("eco " .. msg.text)
      end
    end },
  },
}
"""


class FakeLlm:
    """OpenAI-compatible /chat/completions that hangs (bounded) until told to answer."""

    def __init__(self):
        self.requests = 0
        self.lock = threading.Lock()
        self.answer = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with fake.lock:
                    fake.requests += 1
                fake.answer.wait(60)  # a hung provider; the test kills charla meanwhile
                body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "respuesta"}}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # charla was killed while we waited

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return self.requests

    def close(self):
        self.answer.set()
        self.server.shutdown()


def webhook(user, wamid, text):
    return text_webhook(PHONE_ID, user, wamid, text)


def replies(charla, key):
    conv = charla.conversation(key)
    return [e.get("text") for e in (conv or {}).get("history", []) if e.get("dir") == "out"]


def quarantine(charla):
    r = charla.admin("GET", "/admin/quarantine")
    check(r.status == 200, "GET /admin/quarantine -> %r" % r)
    return r.json()["quarantine"]


def run(charla, llm):
    charla.start()
    check_eq(charla.post_webhook(webhook(USER, "wamid.poison.1", "pregunta")).status, 200, "webhook status")
    # Three runs, each suspended on the LLM when the process is killed: the first, then
    # two at recovery. The third restart finds the entry interrupted 3 times.
    for attempt in (1, 2, 3):
        wait_until(lambda: llm.count() >= attempt, 15, "LLM request of run %d" % attempt)
        check(quarantine(charla) == [], "nothing quarantined while the entry may still finish (run %d)" % attempt)
        charla.kill(signal.SIGKILL)
        charla.restart()
    entries = wait_until(lambda: quarantine(charla), 10, "the interrupted entry in the quarantine")
    check_eq(len(entries), 1, "quarantined entries")
    entry = entries[0]
    check_eq(entry["kind"], "message", "kind")
    check_eq(entry["conversation"], KEY, "conversation of the quarantined entry")
    check_eq(entry["event"]["payload"]["text"], "pregunta", "the quarantined message")
    check(entry["retryable"] is True, "a readable entry is retryable: %r" % entry)
    time.sleep(0.5)
    check_eq(llm.count(), 3, "LLM requests (the quarantined turn did not run a 4th time)")
    detail = charla.conversation(KEY)
    check(detail is None or [q["id"] for q in detail.get("quarantine", [])] == [entry["id"]],
          "conversation detail shows its quarantined message: %r" % detail)

    # The conversation goes on with its next message, and so does everyone else.
    check_eq(charla.post_webhook(webhook(USER, "wamid.poison.2", "hola")).status, 200, "webhook status")
    check_eq(charla.post_webhook(webhook(OTHER, "wamid.other.1", "hola")).status, 200, "webhook status")
    wait_until(lambda: replies(charla, KEY) == ["eco hola"], 10, "the next message of the conversation answered")
    wait_until(lambda: replies(charla, OTHER_KEY) == ["eco hola"], 10, "another conversation answered")
    r = charla.admin("GET", "/metrics")
    check("charla_quarantined_messages 1" in r.text, "metric charla_quarantined_messages 1 in /metrics")

    # Retry runs it again; the LLM answers now.
    llm.answer.set()
    r = charla.admin("POST", "/admin/quarantine/%s/retry" % entry["id"])
    check_eq(r.status, 200, "retry status (%r)" % r)
    wait_until(lambda: replies(charla, KEY) == ["eco hola", "llm: respuesta"], 15, "the retried message answered")
    check_eq(quarantine(charla), [], "quarantine after retry")
    r = charla.admin("POST", "/admin/quarantine/%s/retry" % entry["id"])
    check_eq(r.status, 404, "retry of an id no longer quarantined")
    check_eq(charla.stop(), 0, "exit code after SIGTERM")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="charla-it-poison-")
    llm = FakeLlm()
    with open(os.path.join(root, "veneno.lua"), "w") as f:
        f.write(FLOW)
    config = {
        "flows": [os.path.join(root, "veneno.lua")],
        "workers": 2,
        "store": {"inbox_max_attempts": 3},
        "plugins": {"llm": {"base_url": "http://127.0.0.1:%d/v1" % llm.port, "model": "fake",
                            "timeout_ms": 60000, "max_retries": 0}},
    }
    charla = CharlaProcess(os.path.abspath(args.charla), root, config)
    watchdog = threading.Timer(120, lambda: (print("FAIL: poison test exceeded 120 s\n" + charla.log_tail(),
                                                   file=sys.stderr), charla.ensure_dead(), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    t0 = time.monotonic()
    try:
        run(charla, llm)
        print("ok   poison message quarantined after 3 interrupted runs  %.2f s" % (time.monotonic() - t0))
        return 0
    except (AssertionError, TimeoutError, CharlaError) as e:
        print("FAIL poison message: %s\n%s\nworkdir: %s" % (e, charla.log_tail(), root), file=sys.stderr)
        return 1
    finally:
        watchdog.cancel()
        charla.ensure_dead()
        llm.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
