#!/usr/bin/env python3
"""Integration test: the WhatsApp channel loses nothing when the token expires or the
process is killed.

Run by ctest as:
    python3 test_whatsapp_recovery.py --charla <path-to-charla> --source <repo root>

Tests:

  token_pause_190       the fake answers 190 (401) to the old token: after it no request
                        for that number for 1.5 s although new messages keep arriving (other
                        numbers keep sending); POST /admin/whatsapp/<id>/token resumes it and
                        every held message is sent with the new bearer token, in order,
                        nothing lost, nothing twice
  token_rotated_in_flight  the token is replaced while a request with the old one is in
                        flight: its late 190 must not pause the number again; the message
                        is re-sent with the new token
  crash_after_ack       SIGKILL right after the webhook's 200, while the Graph API is not
                        even listening; restart on the same data dir: the insurance bot's
                        reply is sent exactly once, the conversation is in NEEDS_ANALYSIS
                        after one turn, and a redelivery of the same wamid is ignored
  crash_send_in_flight  SIGKILL while the first reply is in flight (the fake kills charla
                        before answering); restart: the unanswered message is sent again,
                        then the rest, in order; the turn is not run again
  graceful_stop         SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (API_VERSION, INSURANCE_NUMBER, PAUSE_NUMBER, PRUEBA_NUMBER, TOKEN, TOKEN_B, Env,  # noqa: E402
                     Reply, TestFailure, check, check_eq, new_user, parse_args, run, wait_until)

NEW_TOKEN = "test-token-B-new"


def test_token_pause_190(env):
    def responder(req):
        if req.phone_number_id == PAUSE_NUMBER and req.authorization != "Bearer " + NEW_TOKEN:
            return Reply.error("error-190.json")
        return None

    env.fake.set_responder(responder)
    try:
        p1, p2, p3, other = new_user(), new_user(), new_user(), new_user()
        env.send_text(PAUSE_NUMBER, p1, "tres")
        first = env.fake.wait_count(1, 10, to=p1)[0]
        check_eq((first.reply.status, first.authorization), (401, "Bearer " + TOKEN_B), "first answer")
        t_pause = time.monotonic()
        # New inbound messages while paused: acknowledged, processed, but not sent.
        env.send_text(PAUSE_NUMBER, p1, "mas")
        env.send_text(PAUSE_NUMBER, p2, "hola")
        env.send_text(PAUSE_NUMBER, p3, "tres")
        env.send_text(PRUEBA_NUMBER, other, "otro numero")     # another number is not paused
        env.fake.wait_count(1, 10, to=other)
        # Every turn has run (its rows exist) but nothing is sent for the paused number.
        wait_until(lambda: len(env.outbox_rows(PAUSE_NUMBER)) == 8, 10, "8 outbox rows for the paused number")
        time.sleep(max(0.0, 1.5 - (time.monotonic() - t_pause)))
        during = env.fake.requests(phone_number_id=PAUSE_NUMBER)
        check(len(during) <= 3,   # p1's first, plus at most p2/p3 already in flight when the 190 came back
              "requests for the paused number during the pause:\n  " + "\n  ".join(r.describe() for r in during))
        check(all(r.reply and r.reply.status == 401 for r in during), "only 190s expected during the pause")
        rows = env.outbox_rows(PAUSE_NUMBER)
        check(all(r["status"] == "pending" for r in rows),
              "held rows must stay pending (not failed/dead): %r" % [(r["seq"], r["status"]) for r in rows])
        metrics = env.charla.request("GET", "/metrics").text
        check("charla_whatsapp_token_pauses_total 1" in metrics, "token pause metric:\n%s" %
              "\n".join(l for l in metrics.splitlines() if "token_pauses" in l))
        # Bad admin calls change nothing.
        r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": NEW_TOKEN}, token="nope")
        check_eq(r.status, 401, "token replacement with a wrong admin token")
        r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": ""})
        check_eq(r.status, 400, "empty token")
        time.sleep(0.3)
        check_eq(len(env.fake.requests(phone_number_id=PAUSE_NUMBER)), len(during), "requests after refused calls")
        # Resume.
        r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": NEW_TOKEN})
        check_eq(r.status, 200, "POST /admin/whatsapp/%s/token" % PAUSE_NUMBER)
        expected = {p1: ["uno", "dos", "tres", "eco: mas"], p2: ["eco: hola"], p3: ["uno", "dos", "tres"]}
        for user, texts in expected.items():
            env.fake.wait_for(lambda rs, u=user, n=len(texts): len([r for r in rs if r.to == u and r.reply
                                                                    and r.reply.status == 200]) >= n,
                              15, "%d delivered messages to %s" % (len(texts), user))
        time.sleep(0.5)
        for user, texts in expected.items():
            ok = [r for r in env.fake.requests(to=user) if r.reply and r.reply.status == 200]
            check_eq([r.text for r in ok], texts, "messages delivered to %s after the token change" % user)
            check(all(r.authorization == "Bearer " + NEW_TOKEN for r in ok),
                  "sent with the new bearer token: %r" % [r.authorization for r in ok])
            check(all(r.path == "/%s/%s/messages" % (API_VERSION, PAUSE_NUMBER) for r in ok), "paths")
        total = env.fake.requests(phone_number_id=PAUSE_NUMBER)
        check_eq(len(total), len(during) + 8, "requests for the number in all (190s + 8 deliveries, nothing twice)")
        rows = wait_until(lambda: [r for r in env.outbox_rows(PAUSE_NUMBER) if r["status"] == "accepted"]
                          if all(r["status"] == "accepted" for r in env.outbox_rows(PAUSE_NUMBER)) else None,
                          5, "all 8 rows accepted")
        check_eq(len(rows), 8, "accepted rows")
    finally:
        env.fake.set_responder(None)


def test_token_rotated_in_flight(env):
    """The token is replaced while a request with the old one is still in flight; its
    late 190 is about the old token and must not pause the number."""
    rotated = "test-token-B-rotated"

    def responder(req):
        if req.phone_number_id == PAUSE_NUMBER and req.authorization != "Bearer " + rotated:
            return Reply.error("error-190.json", delay=1.0)   # slow: the operator is faster
        return None

    env.fake.set_responder(responder)
    try:
        pauses_before = len(env.charla.log_events("whatsapp_token_invalid"))
        user = new_user()
        env.send_text(PAUSE_NUMBER, user, "rotar")
        env.fake.wait_for(lambda rs: any(r.to == user for r in rs), 10, "the request with the old token")
        r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": rotated})
        check_eq(r.status, 200, "token replacement")
        try:
            reqs = env.fake.wait_for(lambda rs: any(q.to == user and q.reply and q.reply.status == 200 for q in rs),
                                     6, "the message sent again with the new token")
        except TimeoutError as e:
            raise TestFailure(
                "BUG: a 190 for a request sent with the OLD token, arriving after the token was replaced, "
                "paused the number; the message is held until the token is replaced once more.\n%s" % e)
        ok = [q for q in reqs if q.to == user]
        check_eq([(q.authorization, q.reply.status) for q in ok],
                 [("Bearer " + NEW_TOKEN, 401), ("Bearer " + rotated, 200)], "requests to %s" % user)
        check_eq(len(env.charla.log_events("whatsapp_token_invalid")), pauses_before,
                 "whatsapp_token_invalid logged (number paused) by a stale 190")
        other = new_user()
        env.send_text(PAUSE_NUMBER, other, "sigue")
        env.fake.wait_count(1, 10, to=other)
    finally:
        env.fake.set_responder(None)


def test_crash_after_ack(env_main):
    env = Env(env_main.args, "crash", fake_listening=False)   # Graph API not reachable yet
    try:
        env.start()
        user = new_user()
        body, wamid = env.payloads.text(INSURANCE_NUMBER, user, "Hola, quiero cotizar un seguro de vida",
                                        name="Lucía Hernández")
        r = env.charla.post_webhook(body)
        check_eq(r.status, 200, "webhook before the crash")
        env.charla.kill(signal.SIGKILL)
        check_eq(env.fake.requests(), [], "nothing can have reached the Graph API")
        env.fake.listen()
        env.charla.restart()
        reqs = env.fake.wait_count(2, 20, to=user)
        time.sleep(2.0)    # settle: a duplicate turn would answer after the 1.5 s debounce
        reqs = env.fake.requests(to=user)
        texts = [r.text for r in reqs]
        check_eq(len(reqs), 2, "replies after the restart (greeting + age question, each once): %r" % texts)
        check("Soy *Vida*" in texts[0] and "Lucía" in texts[0], "first reply is the greeting: %r" % texts[0])
        check("edad" in texts[1].lower(), "second reply asks the age: %r" % texts[1])
        check(all(r.authorization == "Bearer " + TOKEN for r in reqs), "bearer token after restart")
        key = "whatsapp:%s:%s" % (INSURANCE_NUMBER, user)
        conv = env.charla.conversation(key)
        check(conv is not None, "conversation %s missing after the restart" % key)
        check_eq(conv["state"], "NEEDS_ANALYSIS", "state of %s" % key)
        check_eq(conv["turns"], 1, "turns of %s" % key)
        check_eq(len([h for h in conv["history"] if h.get("dir") == "in"]), 1, "inbound history entries")
        # Meta redelivers the same wamid after the restart: acknowledged, ignored.
        r = env.charla.post_webhook(body)
        check_eq(r.status, 200, "redelivery after the restart")
        time.sleep(2.0)
        check_eq(len(env.fake.requests(to=user)), 2, "replies after a redelivery of the same wamid")
        check_eq(env.charla.conversation(key)["turns"], 1, "turns after the redelivery")
        check_eq(env.charla.stop(), 0, "exit code after SIGTERM")
    except Exception as e:
        raise type(e)("%s\n[crash env]\n%s" % (e, env.diagnostics())) from e
    finally:
        env.close()


def test_crash_send_in_flight(env):
    user = new_user()
    charla = env.charla
    killed = {"done": False}

    def responder(req):
        # The first request to this user reaches the Graph API, but charla dies before
        # it can hear the answer.
        if req.to == user and not killed["done"]:
            killed["done"] = True
            os.kill(charla.proc.pid, signal.SIGKILL)
            return Reply.error("error-500.html")  # never read by anyone
        return None

    env.fake.set_responder(responder)
    try:
        env.send_text(PRUEBA_NUMBER, user, "tres")
        charla.proc.wait(timeout=10)
        check(killed["done"], "the fake did not see the first reply")
        check_eq(len(env.fake.requests(to=user)), 1, "requests before the crash")
        charla.restart()
        env.fake.wait_count(4, 15, to=user)
        time.sleep(0.5)
        reqs = env.fake.requests(to=user)
        check_eq([r.text for r in reqs], ["uno", "uno", "dos", "tres"],
                 "after the crash the unanswered message is sent again, then the rest in order")
        check_eq(env.fake.max_in_flight.get(user), 1, "max in flight for the recipient")
        rows = wait_until(lambda: env.outbox_rows(PRUEBA_NUMBER, user)
                          if all(r["status"] == "accepted" for r in env.outbox_rows(PRUEBA_NUMBER, user)) else None,
                          5, "rows accepted")
        check_eq(len(rows), 3, "outbox rows of the turn")
        conv = charla.conversation("whatsapp:%s:%s" % (PRUEBA_NUMBER, user))
        check_eq(conv["turns"], 1, "the turn must not run again after the crash")
    finally:
        env.fake.set_responder(None)


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM")


TESTS = [
    ("token_pause_190", test_token_pause_190),
    ("token_rotated_in_flight", test_token_rotated_in_flight),
    ("crash_after_ack", test_crash_after_ack),
    ("crash_send_in_flight", test_crash_send_in_flight),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])

    return run(TESTS, lambda: Env(args, "recovery").start(), args, budget_s=85, title="test_whatsapp_recovery")


if __name__ == "__main__":
    sys.exit(main())
