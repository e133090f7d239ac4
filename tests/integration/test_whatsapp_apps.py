#!/usr/bin/env python3
"""Integration test: numbers of two Meta apps in one charla, and bytes that are not UTF-8.

Run by ctest as:
    python3 test_whatsapp_apps.py --charla <path-to-charla> --source <repo root>

One charla with the harness numbers (app A, secret WHATSAPP_APP_SECRET) plus APP_B_NUMBER
of a second app (its own secret, app_secret_env). Tests, in order:

  own_app_answered        a body for each number signed with its own app's secret -> 200,
                          and that number's flow answers
  other_app_refused       a body for B signed with A's secret (and for A with B's) -> 403
                          naming the number; no conversation, no reply; the same for a
                          status webhook; a body addressing numbers of both apps -> 403
                          whichever secret signed it; a number that is not configured:
                          200 and dropped whichever app signed
  invalid_utf8            a signed body whose text holds a raw 0xFF byte -> 400 (twice, the
                          same answer, a JSON body that is valid UTF-8), the process lives,
                          and a normal message right after is answered
  graceful_stop           SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 60 s.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (PRUEBA_NUMBER, SECOND_APP_SECRET, Env, check, check_eq, new_user, parse_args,  # noqa: E402
                     run, signature_for)
from charla_process import APP_SECRET  # noqa: E402

APP_B_NUMBER = "123456199"   # "prueba" flow, second Meta app
UNKNOWN_NUMBER = "123456000"  # not configured


def conversation(env, number, user):
    return env.charla.conversation("whatsapp:%s:%s" % (number, user))


def test_own_app_answered(env):
    for number, secret in ((PRUEBA_NUMBER, APP_SECRET), (APP_B_NUMBER, SECOND_APP_SECRET)):
        user = new_user()
        body, _ = env.payloads.text(number, user, "hola %s" % number)
        r = env.charla.post_webhook(body, secret=secret)
        check_eq(r.status, 200, "body for %s signed with its own app's secret" % number)
        reqs = env.fake.wait_count(1, 10, to=user)
        check_eq((reqs[0].phone_number_id, reqs[0].text), (number, "eco: hola %s" % number),
                 "reply of %s's flow" % number)


def test_other_app_refused(env):
    for number, wrong in ((APP_B_NUMBER, APP_SECRET), (PRUEBA_NUMBER, SECOND_APP_SECRET)):
        user = new_user()
        body, _ = env.payloads.text(number, user, "suplantado")
        r = env.charla.post_webhook(body, secret=wrong)
        check_eq(r.status, 403, "body for %s signed with the other app's secret" % number)
        check(number in (r.json() or {}).get("error", ""), "the 403 should name the number: %r" % r)
        check(conversation(env, number, user) is None, "a refused body created a conversation for %s" % number)
        # A status for that number signed by the other app is refused too.
        r = env.charla.post_webhook(env.payloads.status(number, "wamid.X", "read", user), secret=wrong)
        check_eq(r.status, 403, "status webhook for %s signed with the other app's secret" % number)

    # One body addressing a number of each app: no single app secret may sign it.
    user = new_user()
    doc = json.loads(env.payloads.text(PRUEBA_NUMBER, user, "mezcla")[0])
    doc_b = json.loads(env.payloads.text(APP_B_NUMBER, user, "mezcla")[0])
    doc["entry"].extend(doc_b["entry"])
    body = json.dumps(doc, separators=(",", ":")).encode()
    for secret in (APP_SECRET, SECOND_APP_SECRET):
        r = env.charla.post_webhook(body, secret=secret)
        check_eq(r.status, 403, "body addressing both apps' numbers signed with one secret")
    check(conversation(env, PRUEBA_NUMBER, user) is None and conversation(env, APP_B_NUMBER, user) is None,
          "a refused mixed body created a conversation")
    # A number that is not configured: its items are dropped (200, so Meta does not
    # redeliver), whichever of our apps signed the body.
    user = new_user()
    for secret in (APP_SECRET, SECOND_APP_SECRET):
        body, _ = env.payloads.text(UNKNOWN_NUMBER, user, "desconocido")
        check_eq(env.charla.post_webhook(body, secret=secret).status, 200, "body for a number that is not ours")
        r = env.charla.post_webhook(env.payloads.status(UNKNOWN_NUMBER, "wamid.Y", "read", user), secret=secret)
        check_eq(r.status, 200, "status for a number that is not ours")
    check(conversation(env, UNKNOWN_NUMBER, user) is None, "a conversation for a number that is not ours")
    env.fake.settle(0.5)
    check_eq([r.describe() for r in env.fake.requests() if r.text in ("eco: suplantado", "eco: mezcla")], [],
             "replies to refused bodies")


def test_invalid_utf8(env):
    user = new_user()
    body, _ = env.payloads.text(PRUEBA_NUMBER, user, "MARK")
    check(body.count(b"MARK") == 1, "the payload template changed")
    raw = body.replace(b"MARK", b"hola \xff adios")
    for attempt in (1, 2):
        r = env.charla.post_webhook(raw)
        check_eq(r.status, 400, "signed body with a raw 0xFF byte (attempt %d)" % attempt)
        check(r.json() is not None and "error" in r.json(), "the 400 body should be JSON with an error: %r" % r)
        r.body.decode("utf-8")  # the answer itself is valid UTF-8
        check(env.charla.alive(), "charla died on a raw 0xFF byte\n%s" % env.charla.log_tail())
    body, _ = env.payloads.text(PRUEBA_NUMBER, user, "después")
    check_eq(env.charla.post_webhook(body).status, 200, "a normal message after the invalid one")
    reqs = env.fake.wait_count(1, 10, to=user)
    check_eq(reqs[0].text, "eco: después", "reply to the normal message")


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM\n" + env.charla.log_tail(20))


TESTS = [
    ("own_app_answered", test_own_app_answered),
    ("other_app_refused", test_other_app_refused),
    ("invalid_utf8", test_invalid_utf8),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    numbers = [{"phone_number_id": APP_B_NUMBER, "flow": "prueba", "token_env": "TEST_WA_TOKEN",
                "app_secret_env": "TEST_WA_SECRET_2"}]
    return run(TESTS, lambda: Env(args, "apps", extra_numbers=numbers).start(), args, budget_s=55,
               title="test_whatsapp_apps")


if __name__ == "__main__":
    sys.exit(main())
