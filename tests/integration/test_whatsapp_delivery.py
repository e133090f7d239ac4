#!/usr/bin/env python3
"""Integration test: inbound WhatsApp messages get their replies through the Graph API.

Run by ctest as:
    python3 test_whatsapp_delivery.py --charla <path-to-charla> --source <repo root>

One charla on 127.0.0.1 against a fake Graph API. Tests, in order:

  text_reply          a text webhook to the insurance bot -> POST /v21.0/<phone_number_id>/messages
                      with "Authorization: Bearer <token>", messaging_product whatsapp,
                      to = the sender's wa_id, the greeting (with the profile's first name)
                      and then the age question; outbox rows accepted with the fake's wamids
  duplicate_wamid     the same wamid posted 5 times (one after the other, and 5 at once
                      for another wamid) -> five 200s each, exactly one reply per wamid
  ordered_parts       a 3-part reply ("uno", "dos", "tres") while the fake answers in
                      300 ms: sent in order, one request at a time per recipient, and two
                      recipients are served concurrently
  statuses            sent/delivered/read status webhooks move the outbox row forward; a
                      late "delivered" after "read" does not move it back; "failed" (with its
                      errors) is terminal; unknown wamids
                      are acknowledged (200) and change nothing
  graceful_stop       SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (API_VERSION, INSURANCE_NUMBER, PRUEBA_NUMBER, TOKEN, Env, check, check_eq,  # noqa: E402
                     dumps, new_user, new_wamid, parse_args, run, wait_until)


def test_text_reply(env):
    user = new_user()
    env.send_text(INSURANCE_NUMBER, user, "Hola, quiero cotizar un seguro de vida", name="María Fernanda López")
    # INICIO.enter greets, INICIO.message moves to NEEDS_ANALYSIS which asks the age:
    # two messages, after the flow's 1.5 s double-text debounce.
    reqs = env.fake.wait_count(2, 15, to=user)
    for r in reqs:
        check_eq(r.method, "POST", "method")
        check_eq(r.path, "/%s/%s/messages" % (API_VERSION, INSURANCE_NUMBER), "request path")
        check_eq(r.authorization, "Bearer " + TOKEN, "Authorization header")
        check_eq(r.headers.get("Content-Type", "").split(";")[0], "application/json", "Content-Type")
        check_eq(r.body.get("messaging_product"), "whatsapp", "messaging_product")
        check_eq(r.body.get("to"), user, "to (the sender's wa_id)")
        check_eq(r.body.get("type"), "text", "type")
        check("recipient" not in r.body, "a phone recipient must not also get 'recipient': %r" % r.body)
    greeting, question = reqs[0].text, reqs[1].text
    check("Soy *Vida*" in greeting, "first message should be the insurance greeting, got %r" % greeting)
    check("María" in greeting, "the greeting should use the profile's first name, got %r" % greeting)
    check("edad" in question.lower(), "second message should ask the age, got %r" % question)
    time.sleep(0.5)
    check_eq(len(env.fake.requests(to=user)), 2, "requests for one first message")
    # The outbox rows are accepted and carry the wamids the fake returned.
    rows = wait_until(lambda: [r for r in env.outbox_rows(INSURANCE_NUMBER, user) if r.get("status") == "accepted"]
                      if len(env.outbox_rows(INSURANCE_NUMBER, user, "accepted")) == 2 else None,
                      5, "2 accepted outbox rows")
    check_eq(sorted(r["wamid"] for r in rows), sorted(q.wamid for q in reqs), "outbox wamids vs the fake's")
    conv = env.charla.conversation("whatsapp:%s:%s" % (INSURANCE_NUMBER, user))
    check(conv is not None, "no conversation for the sender")
    check_eq(conv["state"], "NEEDS_ANALYSIS", "conversation state after the first message")


def test_duplicate_wamid(env):
    # Sequential redeliveries.
    user = new_user()
    body, wamid = env.payloads.text(PRUEBA_NUMBER, user, "solo una vez")
    codes = [env.charla.post_webhook(body).status for _ in range(5)]
    check_eq(codes, [200] * 5, "five posts of the same wamid")
    # Concurrent redeliveries of another wamid from another user.
    user2 = new_user()
    body2, wamid2 = env.payloads.text(PRUEBA_NUMBER, user2, "a la vez")
    results = []
    barrier = threading.Barrier(5)

    def post():
        barrier.wait(5)
        results.append(env.charla.post_webhook(body2).status)

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    check_eq(sorted(results), [200] * 5, "five concurrent posts of the same wamid")
    env.fake.wait_count(1, 10, to=user)
    env.fake.wait_count(1, 10, to=user2)
    time.sleep(1.5)   # settle: a second turn would have replied by now
    got = [r.text for r in env.fake.requests(to=user)]
    check_eq(got, ["eco: solo una vez"], "replies to a wamid posted 5 times")
    got2 = [r.text for r in env.fake.requests(to=user2)]
    check_eq(got2, ["eco: a la vez"], "replies to a wamid posted 5 times concurrently")
    for u in (user, user2):
        conv = env.charla.conversation("whatsapp:%s:%s" % (PRUEBA_NUMBER, u))
        check_eq(conv["turns"], 1, "turns of the conversation of %s" % u)
        inbound = [h for h in conv["history"] if h.get("dir") == "in"]
        check_eq(len(inbound), 1, "inbound history entries of %s" % u)


def test_ordered_parts(env):
    a, b = new_user(), new_user()
    env.fake.set_default_delay(0.3)
    try:
        env.send_text(PRUEBA_NUMBER, a, "tres")
        env.send_text(PRUEBA_NUMBER, b, "tres")
        env.fake.wait_count(3, 15, to=a)
        env.fake.wait_count(3, 15, to=b)
    finally:
        env.fake.set_default_delay(0.0)
    time.sleep(0.5)
    for u in (a, b):
        reqs = env.fake.requests(to=u)
        check_eq([r.text for r in reqs], ["uno", "dos", "tres"], "order of the parts to %s" % u)
        check_eq(env.fake.max_in_flight.get(u), 1, "max requests in flight for recipient %s" % u)
        for prev, nxt in zip(reqs, reqs[1:]):
            check(nxt.time >= prev.answered_at,
                  "part %r to %s was sent before %r was answered" % (nxt.text, u, prev.text))
    # The per-recipient rule must not serialise different recipients.
    ra, rb = env.fake.requests(to=a), env.fake.requests(to=b)
    overlap = any(x.time < y.answered_at and y.time < x.answered_at for x in ra for y in rb)
    check(overlap, "two recipients' replies were never in flight together (sender serialises all recipients?)")


def test_statuses(env):
    user = new_user()
    env.send_text(PRUEBA_NUMBER, user, "estado")
    req = env.fake.wait_count(1, 10, to=user)[0]
    wamid = req.wamid
    check(wamid, "the fake did not return a wamid")

    def row():
        rows = [r for r in env.outbox_rows(PRUEBA_NUMBER, user) if r.get("wamid") == wamid]
        return rows[0] if rows else None

    wait_until(lambda: row() and row()["status"] == "accepted", 5, "row accepted with wamid %s" % wamid)

    def post_status(status):
        r = env.charla.post_webhook(env.payloads.status(PRUEBA_NUMBER, wamid, status, user))
        check_eq(r.status, 200, "status webhook %s" % status)
        return row()["status"]

    check_eq(post_status("sent"), "sent", "after 'sent'")
    check_eq(post_status("delivered"), "delivered", "after 'delivered'")
    check_eq(post_status("read"), "read", "after 'read'")
    check_eq(post_status("delivered"), "read", "a late 'delivered' after 'read' (monotonic)")
    check_eq(post_status("sent"), "read", "a late 'sent' after 'read' (monotonic)")
    # Out of order from the start: read arrives before delivered.
    user2 = new_user()
    env.send_text(PRUEBA_NUMBER, user2, "otro")
    w2 = env.fake.wait_count(1, 10, to=user2)[0].wamid
    wait_until(lambda: any(r.get("wamid") == w2 and r["status"] == "accepted"
                           for r in env.outbox_rows(PRUEBA_NUMBER, user2)), 5, "second row accepted")
    for st in ("read", "delivered", "sent"):
        r = env.charla.post_webhook(env.payloads.status(PRUEBA_NUMBER, w2, st, user2))
        check_eq(r.status, 200, "status %s" % st)
    check_eq([r["status"] for r in env.outbox_rows(PRUEBA_NUMBER, user2) if r.get("wamid") == w2], ["read"],
             "read, then delivered, then sent")
    # "failed" (with errors, as in payloads/23) is terminal: later statuses don't undo it.
    user3 = new_user()
    env.send_text(PRUEBA_NUMBER, user3, "fallara")
    w3 = env.fake.wait_count(1, 10, to=user3)[0].wamid
    wait_until(lambda: any(r.get("wamid") == w3 and r["status"] == "accepted"
                           for r in env.outbox_rows(PRUEBA_NUMBER, user3)), 5, "third row accepted")
    doc = env.payloads.load("23-status-failed-131047.json")
    st = doc["entry"][0]["changes"][0]["value"]["statuses"][0]
    doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = PRUEBA_NUMBER
    st["id"], st["recipient_id"] = w3, user3
    r = env.charla.post_webhook(dumps(doc))
    check_eq(r.status, 200, "failed status webhook")
    for late in ("delivered", "read"):
        check_eq(env.charla.post_webhook(env.payloads.status(PRUEBA_NUMBER, w3, late, user3)).status, 200, late)
    row3 = [r for r in env.outbox_rows(PRUEBA_NUMBER, user3) if r.get("wamid") == w3][0]
    check_eq(row3["status"], "failed", "status after 'failed' then late delivered/read")
    check("131047" in str(row3.get("last_error")), "failed status should keep the error: %r" % row3)
    # Unknown wamids: 200, nothing changes.
    before = {r["seq"]: r["status"] for r in env.charla.outbox()}
    for st in ("sent", "delivered", "read", "failed"):
        r = env.charla.post_webhook(env.payloads.status(PRUEBA_NUMBER, new_wamid(), st, user))
        check_eq(r.status, 200, "status %s for an unknown wamid" % st)
    after = {r["seq"]: r["status"] for r in env.charla.outbox()}
    check_eq(after, before, "outbox statuses after statuses for unknown wamids")
    check_eq(len(env.fake.requests(to=user)), 1, "status webhooks must not trigger sends")


def test_graceful_stop(env):
    # Stop while a send is in progress (the fake answers slowly): still exit 0.
    user = new_user()
    env.fake.set_default_delay(1.0)
    env.send_text(PRUEBA_NUMBER, user, "adios")
    env.fake.wait_for(lambda rs: any(r.to == user for r in rs), 10, "a request in flight")
    t0 = time.monotonic()
    code = env.charla.stop(timeout=15)
    check_eq(code, 0, "exit code after SIGTERM")
    check(time.monotonic() - t0 < 10, "SIGTERM took %.1f s" % (time.monotonic() - t0))
    env.fake.set_default_delay(0.0)


TESTS = [
    ("text_reply", test_text_reply),
    ("duplicate_wamid", test_duplicate_wamid),
    ("ordered_parts", test_ordered_parts),
    ("statuses", test_statuses),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "delivery").start(), args, budget_s=85, title="test_whatsapp_delivery")


if __name__ == "__main__":
    sys.exit(main())
