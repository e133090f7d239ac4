#!/usr/bin/env python3
"""Integration test: an app/number-level rate limit slows the whole business number.

Run by ctest as:
    python3 test_whatsapp_number_backoff.py --charla <path-to-charla> --source <repo root>

shared/whatsapp/graph-responses/responses.json, for error-429-rate-limit.json (HTTP 429,
code 4 "Application request limit reached", Retry-After: 17): "wait max(Retry-After,
backoff) before the next call on this number"; README §4.1: codes 4/80007 are app/WABA
call limits, "back off". The limit is not about one recipient, so after such an answer
charla must not keep calling the Graph API for *other* recipients of that number either.

  retry_after_number_wide   recipient A gets the 429 (Retry-After 17, scaled by 0.1 ->
                            1.7 s); recipient B's message, produced right after, must not
                            be sent before that wait is over; both are then delivered
  graceful_stop             SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, Reply, check, check_eq, new_user, parse_args, run  # noqa: E402

SCALE = 0.1


def test_retry_after_number_wide(env):
    a, b = new_user(), new_user()
    env.fake.script(a, [Reply.error("error-429-rate-limit.json")])
    env.send_text(PRUEBA_NUMBER, a, "primero")
    first = env.fake.wait_count(1, 10, to=a)[0]
    env.send_text(PRUEBA_NUMBER, b, "segundo")
    env.fake.wait_count(2, 15, to=a)
    rb = env.fake.wait_count(1, 15, to=b)[0]
    wait = 17 * SCALE
    early = rb.time - first.answered_at
    check(early >= wait - 0.02,
          "after a 429 (code 4, Retry-After: 17 -> %.1f s scaled) for one recipient, another recipient of the "
          "same number was sent to after only %.2f s: the app-level rate limit is honoured per recipient, "
          "not per number (responses.json: 'wait max(Retry-After, backoff) before the next call on this "
          "number')" % (wait, early))
    check_eq(rb.reply.status, 200, "b delivered")


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM")


TESTS = [
    ("retry_after_number_wide", test_retry_after_number_wide),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "numbackoff", retry_time_scale=SCALE).start(), args, budget_s=60,
               title="test_whatsapp_number_backoff")


if __name__ == "__main__":
    sys.exit(main())
