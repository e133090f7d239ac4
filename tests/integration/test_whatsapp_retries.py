#!/usr/bin/env python3
"""Integration test: how the WhatsApp outbox reacts to Graph API errors.

Run by ctest as:
    python3 test_whatsapp_retries.py --charla <path-to-charla> --source <repo root>

One charla on 127.0.0.1 against a fake Graph API that answers with the real error
shapes of shared/whatsapp/graph-responses. Config: retry_time_scale 0.1 (every backoff,
Retry-After and pair-rate wait is a tenth of the real one), max_attempts 4. Tests:

  retry_500_and_429   500 (HTML body) then success, and 429 with Retry-After: 17 then
                      success: both retried and delivered once, the 429 retry not before
                      the scaled 1.7 s; the outbox rows say accepted (GET /admin/outbox)
  pair_rate_131056    after a 131056 the next attempt to that recipient waits the scaled
                      4 s (then 16 s after a second one); another recipient is served
                      meanwhile
  window_131047       a 131047 falls back to the flow's window_template: the next request
                      is a template message "reengage" (language es) to the same user;
                      with a flow without window_template the message fails, no retry
  non_retryable       131026 and 100 are not retried: row failed with the error; the
                      recipient's next message is still sent; 130429 is retried
  dead_letter         the fake always answers 500: after max_attempts (4) requests the row
                      is in GET /admin/outbox?status=dead with last_error; POST
                      /admin/outbox/<seq>/retry re-sends it (admin auth enforced)
  graceful_stop       SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (INSURANCE_NUMBER, PRUEBA_NUMBER, Env, Reply, check, check_eq, new_user, parse_args, run,  # noqa: E402
                     wait_until)

SCALE = 0.1
MAX_ATTEMPTS = 4
SLACK = 0.02       # timer granularity when checking a minimum wait


def rows_for(env, user, status=None, number=PRUEBA_NUMBER):
    return env.outbox_rows(number, user, status)


def wait_row_status(env, user, status, timeout=10, number=PRUEBA_NUMBER):
    return wait_until(lambda: rows_for(env, user, status, number), timeout,
                      "an outbox row to %s with status %s" % (user, status))[0]


def test_retry_500_and_429(env):
    u500, u429 = new_user(), new_user()
    env.fake.script(u500, [Reply.error("error-500.html")])
    env.fake.script(u429, [Reply.error("error-429-rate-limit.json")])
    check_eq(Reply.error("error-429-rate-limit.json").headers.get("Retry-After"), "17", "fixture Retry-After")
    env.send_text(PRUEBA_NUMBER, u500, "quinientos")
    env.send_text(PRUEBA_NUMBER, u429, "limite")
    r500 = env.fake.wait_count(2, 15, to=u500)
    r429 = env.fake.wait_count(2, 15, to=u429)
    check_eq([r.reply.status for r in r500], [500, 200], "answers to %s" % u500)
    check_eq([r.reply.status for r in r429], [429, 200], "answers to %s" % u429)
    for reqs in (r500, r429):
        check_eq(reqs[1].body, reqs[0].body, "the retry must send the same body")
    gap = r429[1].time - r429[0].answered_at
    check(gap >= 17 * SCALE - SLACK, "429 with Retry-After: 17 retried after %.3f s (< scaled %.1f s)"
          % (gap, 17 * SCALE))
    check(gap < 17 * SCALE + 5, "429 retry took %.1f s: retry_time_scale not applied?" % gap)
    for user, reqs in ((u500, r500), (u429, r429)):
        row = wait_row_status(env, user, "accepted")
        check_eq(row["wamid"], reqs[1].wamid, "outbox wamid for %s" % user)
        check_eq(row["attempts"], 2, "attempts for %s" % user)
        check(row.get("last_error"), "the row should remember the failed attempt's error: %r" % row)
    time.sleep(0.3)
    check_eq((len(env.fake.requests(to=u500)), len(env.fake.requests(to=u429))), (2, 2),
             "requests after delivery (nothing sent twice)")


def test_pair_rate_131056(env):
    a, b = new_user(), new_user()
    env.fake.script(a, [Reply.error("error-131056.json"), Reply.error("error-131056.json")])
    env.send_text(PRUEBA_NUMBER, a, "muchos")
    first = env.fake.wait_count(1, 10, to=a)[0]
    env.send_text(PRUEBA_NUMBER, b, "otro usuario")   # sent while a is throttled
    reqs = env.fake.wait_count(3, 15, to=a)
    gap1 = reqs[1].time - reqs[0].answered_at
    gap2 = reqs[2].time - reqs[1].answered_at
    check(gap1 >= 4 * SCALE - SLACK, "retry after the first 131056 came after %.3f s, expected >= %.2f s (4 s scaled)"
          % (gap1, 4 * SCALE))
    check(gap2 >= 16 * SCALE - SLACK, "retry after the second 131056 came after %.3f s, expected >= %.2f s (16 s scaled)"
          % (gap2, 16 * SCALE))
    check(gap1 < 4 * SCALE + 3 and gap2 < 16 * SCALE + 3, "pair-rate waits too long: %.2f s, %.2f s" % (gap1, gap2))
    check_eq(reqs[2].reply.status, 200, "third attempt answered")
    rb = env.fake.requests(to=b)
    # b was posted while a was throttled (a's waits add up to >= 2 s scaled).
    check(rb and rb[0].time < reqs[2].time,
          "another recipient must not wait for the throttled one (b at %s, a's last retry at %.3f)"
          % ([r.time for r in rb], reqs[2].time))
    check(first.text == reqs[2].text == "eco: muchos", "same message retried")
    row = wait_row_status(env, a, "accepted")
    check_eq(row["attempts"], 3, "attempts after two 131056")


def test_window_131047(env):
    user = new_user()
    env.fake.script(user, [Reply.error("error-131047.json")])
    env.send_text(PRUEBA_NUMBER, user, "ventana")
    reqs = env.fake.wait_count(2, 10, to=user)
    check_eq(reqs[0].text, "eco: ventana", "first attempt is the free-form text")
    check_eq(reqs[0].reply.status, 400, "first answer")
    t = reqs[1].body
    check_eq(t.get("type"), "template", "the request after 131047 (%r)" % t)
    check_eq(t["template"]["name"], "reengage", "template name")
    check_eq(t["template"]["language"], {"code": "es"}, "template language")
    check_eq((t.get("to"), t.get("messaging_product")), (user, "whatsapp"), "template recipient")
    row = wait_row_status(env, user, "accepted")
    check_eq(row.get("window_fallback"), True, "row marked window_fallback")
    check_eq(row["wamid"], reqs[1].wamid, "row wamid is the template's")
    time.sleep(0.3)
    check_eq(len(env.fake.requests(to=user)), 2, "requests (the text is not retried free-form)")
    # A flow without window_template (insurance): the message fails, nothing is retried,
    # and the next message to that user still goes.
    user2 = new_user()
    env.fake.script(user2, [Reply.error("error-131047.json")])
    env.send_text(INSURANCE_NUMBER, user2, "Hola")
    reqs = env.fake.wait_count(2, 15, to=user2)
    check_eq([r.type for r in reqs], ["text", "text"], "no template without window_template")
    check("Vida" in reqs[0].text and "edad" in reqs[1].text.lower(), "greeting failed, question sent: %r"
          % [r.text for r in reqs])
    row = wait_row_status(env, user2, "failed", number=INSURANCE_NUMBER)
    check("131047" in str(row.get("last_error")), "last_error should name 131047: %r" % row)


def test_non_retryable(env):
    u1, u2, u3 = new_user(), new_user(), new_user()
    env.fake.script(u1, [Reply.error("error-131026.json")])
    env.fake.script(u2, [Reply.error("error-100.json")])
    env.fake.script(u3, [Reply.error("error-130429.json")])
    for u in (u1, u2, u3):
        env.send_text(PRUEBA_NUMBER, u, "primero")
    for u, code in ((u1, "131026"), (u2, "100")):
        row = wait_row_status(env, u, "failed")
        check(code in str(row.get("last_error")), "last_error of %s should name %s: %r" % (u, code, row))
        env.send_text(PRUEBA_NUMBER, u, "segundo")
        reqs = env.fake.wait_count(2, 10, to=u)
        check_eq([r.text for r in reqs], ["eco: primero", "eco: segundo"],
                 "after a %s failure the recipient's next message still goes, the failed one is not retried" % code)
    reqs = env.fake.wait_count(2, 10, to=u3)
    check_eq([r.reply.status for r in reqs], [400, 200], "130429 (throughput) is retried")
    wait_row_status(env, u3, "accepted")
    time.sleep(0.3)
    check_eq(len(env.fake.requests(to=u1)), 2, "131026 must not be retried")


def test_dead_letter(env):
    user = new_user()
    always_500 = {"on": True}

    def responder(req):
        if req.to == user and always_500["on"]:
            return Reply.error("error-500.html")
        return None

    env.fake.set_responder(responder)
    try:
        env.send_text(PRUEBA_NUMBER, user, "nunca llega")
        row = wait_until(lambda: [r for r in env.charla.outbox(status="dead") if r.get("to") == user], 20,
                         "the row in /admin/outbox?status=dead")[0]
        check_eq(row["attempts"], MAX_ATTEMPTS, "attempts of the dead row")
        check("500" in str(row.get("last_error")), "last_error should mention the HTTP 500: %r" % row)
        time.sleep(0.5)
        check_eq(len(env.fake.requests(to=user)), MAX_ATTEMPTS, "requests before the dead letter")
        # Admin API: auth enforced, unknown or non-dead rows refused.
        seq = row["seq"]
        r = env.charla.admin("POST", "/admin/outbox/%d/retry" % seq, token="wrong")
        check_eq(r.status, 401, "retry with a wrong admin token")
        r = env.charla.request("GET", "/admin/outbox?status=dead")
        check_eq(r.status, 401, "GET /admin/outbox without a token")
        r = env.charla.admin("POST", "/admin/outbox/999999999/retry")
        check_eq(r.status, 404, "retry of an unknown seq")
        accepted = env.charla.outbox(status="accepted")
        if accepted:
            r = env.charla.admin("POST", "/admin/outbox/%d/retry" % accepted[0]["seq"])
            check_eq(r.status, 404, "retry of an accepted row")
        # The Graph API recovers; the operator retries the dead letter.
        always_500["on"] = False
        r = env.charla.admin("POST", "/admin/outbox/%d/retry" % seq)
        check_eq(r.status, 200, "POST /admin/outbox/%d/retry" % seq)
        reqs = env.fake.wait_count(MAX_ATTEMPTS + 1, 10, to=user)
        check_eq(reqs[-1].reply.status, 200, "answer to the re-sent message")
        check_eq(reqs[-1].text, "eco: nunca llega", "re-sent text")
        done = wait_until(lambda: [r for r in env.outbox_rows(PRUEBA_NUMBER, user) if r["seq"] == seq
                                   and r["status"] == "accepted"], 10, "row %d accepted after retry" % seq)[0]
        check_eq(done["wamid"], reqs[-1].wamid, "wamid after the retry")
        check(not [r for r in env.charla.outbox(status="dead") if r["seq"] == seq], "row still listed as dead")
    finally:
        env.fake.set_responder(None)


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM")


TESTS = [
    ("retry_500_and_429", test_retry_500_and_429),
    ("pair_rate_131056", test_pair_rate_131056),
    ("window_131047", test_window_131047),
    ("non_retryable", test_non_retryable),
    ("dead_letter", test_dead_letter),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "retries", retry_time_scale=SCALE, max_attempts=MAX_ATTEMPTS).start(),
               args, budget_s=85, title="test_whatsapp_retries")


if __name__ == "__main__":
    sys.exit(main())
