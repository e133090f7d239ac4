#!/usr/bin/env python3
"""Integration test: log.redact_text keeps customers' words out of the logs.

Run by ctest as:
    python3 test_log_redaction.py --charla <path-to-charla> --source <repo root>

A flow that logs msg.text (ctx:log) and echoes it, in sink mode (replies are logged,
not sent), at log level debug: the two places a customer's words reach stderr.

  words_in_logs_without_redaction   log.redact_text false: the words are in stderr (the
                                    test below would catch their return)
  words_redacted                    log.redact_text true: the words are nowhere in stderr;
                                    "[redacted N chars]" stands in their place
  bad_value_exit_2                  "log": {"redact_text": "yes"} -> exit 2 naming the key

Python 3 standard library only; every wait is bounded; the whole file stays < 60 s.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import Payloads, TestFailure, check, check_eq, new_user, parse_args  # noqa: E402
from charla_process import CharlaProcess  # noqa: E402

NUMBER = "123456777"
WORDS = "mi diagnóstico es confidencial 4242"

FLOW = r'''
return {
  name = "eco", version = 1, initial = "ECO",
  states = {
    ECO = {
      message = function(ctx, msg)
        ctx:log("el cliente dijo: " .. (msg.text or ""))
        ctx:say("recibido: " .. (msg.text or ""))
      end,
    },
  },
}
'''


def config(root, redact):
    flow = os.path.join(root, "eco.lua")
    with open(flow, "w") as f:
        f.write(FLOW)
    c = {
        "flows": [flow],
        "workers": 1,
        "log_level": "debug",
        "whatsapp": {"sink": True, "numbers": [{"phone_number_id": NUMBER, "token_env": "TEST_WA_TOKEN"}]},
    }
    if redact is not None:
        c["log"] = {"redact_text": redact}
    return c


def run_once(args, redact):
    """Starts charla, sends WORDS, waits for the sink line, stops; returns stderr."""
    root = tempfile.mkdtemp(prefix="charla-it-redact-")
    proc = CharlaProcess(args.charla, root, config(root, redact), env={"TEST_WA_TOKEN": "t"})
    try:
        proc.start()
        body, _ = Payloads(args.shared).text(NUMBER, new_user(), WORDS)
        r = proc.post_webhook(body)
        check_eq(r.status, 200, "webhook POST")
        deadline = time.monotonic() + 10
        while not proc.log_events("whatsapp_sink"):
            if time.monotonic() > deadline:
                raise TestFailure("no whatsapp_sink line within 10 s\n" + proc.log_tail())
            time.sleep(0.05)
        check_eq(proc.stop(timeout=15), 0, "exit code after SIGTERM")
        with open(proc.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()
    finally:
        proc.ensure_dead()
        shutil.rmtree(root, ignore_errors=True)


def test_words_in_logs_without_redaction(args):
    log = run_once(args, None)
    check(WORDS in log, "without log.redact_text the flow's log line and the sink line hold the words")


def test_words_redacted(args):
    log = run_once(args, True)
    for fragment in (WORDS, "diagnóstico", "diagn\\u00f3stico", "confidencial", "4242"):
        check(fragment not in log, "with log.redact_text the customer's words (%r) must not be in stderr:\n%s"
              % (fragment, log[-3000:]))
    check("[redacted" in log, "redacted texts are marked:\n%s" % log[-3000:])


def test_bad_value_exit_2(args):
    root = tempfile.mkdtemp(prefix="charla-it-redact-")
    try:
        path = os.path.join(root, "charla.json")
        import json
        with open(path, "w") as f:
            json.dump(config(root, "yes"), f)
        p = subprocess.run([args.charla, "serve", "-c", path, "--data", os.path.join(root, "data"), "--port", "0"],
                           capture_output=True, timeout=20, env={"PATH": os.environ.get("PATH", ""),
                                                                 "TEST_WA_TOKEN": "t"})
        check_eq(p.returncode, 2, "exit code for a non-boolean log.redact_text")
        check(b"log.redact_text" in p.stderr, "the error names the key: %r" % p.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    args = parse_args(__doc__.split("\n")[1])
    failures = 0
    for name, fn in [("words_in_logs_without_redaction", test_words_in_logs_without_redaction),
                     ("words_redacted", test_words_redacted), ("bad_value_exit_2", test_bad_value_exit_2)]:
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn(args)
            print("ok   %-45s %6.2f s" % (name, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - reported, then the next test runs
            failures += 1
            print("FAIL %-45s %6.2f s\n%s" % (name, time.monotonic() - t0, e))
    print("test_log_redaction: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
