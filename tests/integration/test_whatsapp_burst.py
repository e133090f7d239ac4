#!/usr/bin/env python3
"""Integration test: a burst of replies to many recipients stays within whatsapp.max_in_flight.

Run by ctest as:
    python3 test_whatsapp_burst.py --charla <path-to-charla> --source <repo root>

One charla on 127.0.0.1 with whatsapp.max_in_flight 4, against a fake Graph API that
answers every send after 100 ms. Without a cap the sender puts every ready recipient's
send on the wire at once (one connection each); with it, the rest wait in the sender.

  burst_within_cap     40 customers each write "tres" (three replies each: uno, dos,
                       tres): the fake never has more than 4 requests in flight nor more
                       than 4 connections open, every reply arrives exactly once and in
                       order per customer, nothing is retried, and /metrics shows
                       charla_whatsapp_resends_total 0 and charla_whatsapp_in_flight 0
  graceful_stop        SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 60 s.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args, run  # noqa: E402

CAP = 4
CUSTOMERS = 40
DELAY = 0.1


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("metric %s missing from /metrics" % name)


def test_burst_within_cap(env):
    env.fake.set_default_delay(DELAY)
    users = [new_user() for _ in range(CUSTOMERS)]
    for u in users:
        env.send_text(PRUEBA_NUMBER, u, "tres")
    total = 3 * CUSTOMERS
    # 120 sends, 4 at a time, 100 ms each: about 3 s.
    env.fake.wait_count(total, 30)
    reqs = env.fake.settle(0.3)
    check_eq(len(reqs), total, "requests the fake Graph API received (one per reply, no retries)")
    check(env.fake.max_total_in_flight <= CAP,
          "the fake saw %d requests in flight at once; whatsapp.max_in_flight is %d"
          % (env.fake.max_total_in_flight, CAP))
    check(env.fake.max_total_in_flight >= 2, "sends ran one at a time (max %d in flight): no parallelism"
          % env.fake.max_total_in_flight)
    check(env.fake.max_open_connections <= CAP,
          "charla opened %d connections to the fake at once; whatsapp.max_in_flight is %d"
          % (env.fake.max_open_connections, CAP))
    for u in users:
        texts = [r.text for r in reqs if r.to == u]
        check_eq(texts, ["uno", "dos", "tres"], "replies to %s, in order, each once" % u)
    metrics = env.charla.request("GET", "/metrics").text
    check_eq(metric(metrics, "charla_whatsapp_sent_total"), float(total), "charla_whatsapp_sent_total")
    check_eq(metric(metrics, "charla_whatsapp_retries_total"), 0.0, "charla_whatsapp_retries_total")
    check_eq(metric(metrics, "charla_whatsapp_resends_total"), 0.0, "charla_whatsapp_resends_total")
    check_eq(metric(metrics, "charla_whatsapp_in_flight"), 0.0, "charla_whatsapp_in_flight")


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM")


TESTS = [
    ("burst_within_cap", test_burst_within_cap),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "burst", whatsapp={"max_in_flight": CAP}).start(), args, budget_s=60,
               title="test_whatsapp_burst")


if __name__ == "__main__":
    sys.exit(main())
