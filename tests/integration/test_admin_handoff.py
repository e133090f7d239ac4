#!/usr/bin/env python3
"""Integration test: the admin conversation routes and human handoff, over HTTP against
the real `charla serve` (fake Graph API, signed webhooks).

Run by ctest as:
    python3 test_admin_handoff.py --charla <path-to-charla> --source <repo root>

Tests, in order:
  aliases              /webhook/status, /webhook/conversations and
                       DELETE /webhook/conversation/{phone} work with the admin token and
                       answer 401 without it or with a wrong one; the new routes too
  pause_resume_state   pause (reason) -> inbound stored, not answered, shown in
                       GET /admin/handoffs and the charla_handoffs_waiting gauge; resume ->
                       answered again; set state (unknown -> 400 naming the states;
                       without enter: silent; "enter": true runs enter; 409 while paused);
                       resume {"state"} runs that state's enter
  handoff_queue        ctx:handoff from two customers: oldest first, with reason, phone,
                       flow, state, waiting time and the messages received since
  timers_held          a 1 s timer armed before ctx:handoff (and one before an admin
                       pause) does not fire while paused; it fires right after resume
  ambiguous_phone      a bare phone with two conversations -> 409 listing both keys on every
                       route taking a key; the full key works; an unknown phone -> 404
  reset_during_stream  a reset while a stream of messages for that phone arrives: every
                       message answered exactly once, and the fresh conversation holds
                       exactly the messages after the reset (no old record brought back)
Python 3 standard library only; every wait is bounded.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args, run, wait_until  # noqa: E402

MESA_NUMBER = "123456126"

MESA_FLOW = r'''
return {
  name = "mesa",
  version = 1,
  initial = "INICIO",
  states = {
    INICIO = {
      message = function(ctx, msg)
        local t = msg.text or ""
        if t == "humano" then
          ctx:after("1s", "recordatorio")
          ctx:say("te paso con una persona")
          ctx:handoff("quiere humano")
        elseif t == "timer" then
          ctx:after("1s", "recordatorio")
          ctx:say("timer armado")
        elseif t == "otro" then
          return "OTRO"
        else
          ctx:say("inicio: " .. t)
        end
      end,
    },
    OTRO = {
      enter = function(ctx) ctx:say("entrando a OTRO") end,
      message = function(ctx, msg) ctx:say("otro: " .. (msg.text or "")) end,
    },
  },
  timers = {
    recordatorio = function(ctx) ctx:say("recordatorio") end,
  },
}
'''


def make_env(args):
    env = Env(args, "handoff", extra_numbers=[
        {"phone_number_id": MESA_NUMBER, "flow": "mesa", "token_env": "TEST_WA_TOKEN", "max_per_second": 80}])
    path = os.path.join(env.root, "flows", "mesa.lua")
    with open(path, "w") as f:
        f.write(MESA_FLOW)
    env.config["flows"].append(path)
    env.config["store"] = {"history_limit": 500}  # the reset test reads a whole stream back
    with open(env.charla.config_path, "w") as f:
        json.dump(env.config, f, indent=2)
    return env.start()


def key_of(number, user):
    return "whatsapp:%s:%s" % (number, user)


def texts_to(env, user):
    return [r.text for r in env.fake.requests(to=user) if r.text is not None]


def wait_texts(env, user, expected, timeout=10):
    """Waits until the texts sent to `user` are exactly `expected` (a list, in order)."""
    try:
        return wait_until(lambda: texts_to(env, user) == expected or None, timeout,
                          "texts to %s to be %r" % (user, expected))
    except AssertionError:
        raise AssertionError("texts to %s: expected %r, got %r" % (user, expected, texts_to(env, user)))


def admin_ok(env, method, path, body=None, status=200):
    r = env.charla.admin(method, path, body)
    check(r.status == status, "%s %s %r -> %r (expected %d)" % (method, path, body, r, status))
    return r.json()


def history_texts(env, key, direction):
    c = env.charla.conversation(key)
    return [h.get("text") for h in (c or {}).get("history", []) if h.get("dir") == direction]


def metric(env, name):
    r = env.charla.request("GET", "/metrics")
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("metric %s not in /metrics" % name)


def test_aliases(env):
    user = new_user()
    env.send_text(PRUEBA_NUMBER, user, "hola")
    wait_texts(env, user, ["eco: hola"])
    key = key_of(PRUEBA_NUMBER, user)
    status = admin_ok(env, "GET", "/webhook/status")
    check(status.get("running") is True, "/webhook/status running: %r" % status)
    listed = admin_ok(env, "GET", "/webhook/conversations?limit=1000")
    check(key in [c["conversation"] for c in listed["conversations"]], "/webhook/conversations lists %s" % key)
    routes = [("GET", "/webhook/status"), ("GET", "/webhook/conversations"),
              ("DELETE", "/webhook/conversation/" + user), ("GET", "/admin/handoffs"),
              ("POST", "/admin/flows/reload"), ("POST", "/admin/conversations/%s/pause" % key),
              ("POST", "/admin/conversations/%s/resume" % key), ("POST", "/admin/conversations/%s/state" % key),
              ("POST", "/admin/conversations/%s/reset" % key)]
    for method, path in routes:
        for token in ("", "wrong-token"):
            h = {"Authorization": "Bearer " + token} if token else {}
            r = env.charla.request(method, path, headers=h)
            check_eq(r.status, 401, "%s %s with %s" % (method, path, "a wrong token" if token else "no token"))
    check(env.charla.conversation(key) is not None, "401s changed nothing")
    admin_ok(env, "DELETE", "/webhook/conversation/" + user)
    check(env.charla.conversation(key) is None, "DELETE /webhook/conversation/{phone} reset the conversation")
    env.send_text(PRUEBA_NUMBER, user, "otra vez")
    wait_texts(env, user, ["eco: hola", "eco: otra vez"])
    c = env.charla.conversation(key)
    check_eq(c["turns"], 1, "turns of the fresh conversation")


def test_pause_resume_state(env):
    user = new_user()
    key = key_of(MESA_NUMBER, user)
    env.send_text(MESA_NUMBER, user, "hola")
    wait_texts(env, user, ["inicio: hola"])
    before = metric(env, "charla_handoffs_waiting")
    out = admin_ok(env, "POST", "/admin/conversations/%s/pause" % key, {"reason": "revisión manual"})
    check(out["paused"] is True and out["handoff_reason"] == "revisión manual", "pause answer: %r" % out)
    env.send_text(MESA_NUMBER, user, "sigo aquí")
    wait_until(lambda: "sigo aquí" in history_texts(env, key, "in"), 10, "the paused message in history")
    time.sleep(0.8)
    check_eq(texts_to(env, user), ["inicio: hola"], "texts while paused (the bot must not answer)")
    queue = admin_ok(env, "GET", "/admin/handoffs")["handoffs"]
    mine = [h for h in queue if h["conversation"] == key]
    check(len(mine) == 1, "paused conversation in /admin/handoffs: %r" % queue)
    h = mine[0]
    check_eq((h["reason"], h["phone"], h["flow"], h["state"]), ("revisión manual", user, "mesa", "INICIO"),
             "handoff entry (reason, phone, flow, state)")
    check_eq((h["messages_since"], h["last_message"]), (1, "sigo aquí"), "messages since the pause")
    check(h["waiting_seconds"] >= 0, "waiting_seconds: %r" % h)
    check_eq(metric(env, "charla_handoffs_waiting"), before + 1, "charla_handoffs_waiting after pause")

    out = admin_ok(env, "POST", "/admin/conversations/%s/resume" % key)
    check(out["paused"] is False and out["state"] == "INICIO", "resume answer: %r" % out)
    check_eq(metric(env, "charla_handoffs_waiting"), before, "charla_handoffs_waiting after resume")
    env.send_text(MESA_NUMBER, user, "de vuelta")
    wait_texts(env, user, ["inicio: hola", "inicio: de vuelta"])

    r = env.charla.admin("POST", "/admin/conversations/%s/state" % key, {"state": "NOPE"})
    check_eq(r.status, 400, "set an unknown state")
    check("NOPE" in r.text and "INICIO" in r.text and "OTRO" in r.text, "400 names the flow's states: %r" % r)
    r = env.charla.admin("POST", "/admin/conversations/%s/state" % key, {"state": "OTRO", "enter": "yes"})
    check_eq(r.status, 400, "'enter' that is not a boolean")
    out = admin_ok(env, "POST", "/admin/conversations/%s/state" % key, {"state": "OTRO"})
    check_eq(out["state"], "OTRO", "state after set-state")
    admin_ok(env, "POST", "/admin/conversations/%s/state" % key, {"state": "INICIO"})
    time.sleep(0.5)
    check_eq(len(texts_to(env, user)), 2, "set-state without enter sends nothing")
    admin_ok(env, "POST", "/admin/conversations/%s/state" % key, {"state": "OTRO", "enter": True})
    wait_texts(env, user, ["inicio: hola", "inicio: de vuelta", "entrando a OTRO"])
    env.send_text(MESA_NUMBER, user, "y ahora")
    wait_texts(env, user, ["inicio: hola", "inicio: de vuelta", "entrando a OTRO", "otro: y ahora"])

    admin_ok(env, "POST", "/admin/conversations/%s/state" % key, {"state": "INICIO"})
    admin_ok(env, "POST", "/admin/conversations/%s/pause" % key)
    r = env.charla.admin("POST", "/admin/conversations/%s/state" % key, {"state": "OTRO", "enter": True})
    check_eq(r.status, 409, "state with enter while paused")
    out = admin_ok(env, "POST", "/admin/conversations/%s/resume" % key, {"state": "OTRO"})
    check(out["state"] == "OTRO" and out["paused"] is False, "resume with state: %r" % out)
    wait_texts(env, user, ["inicio: hola", "inicio: de vuelta", "entrando a OTRO", "otro: y ahora", "entrando a OTRO"])
    r = env.charla.admin("POST", "/admin/conversations/%s/resume" % key, {"state": "NADA"})
    check(r.status == 400 and "OTRO" in r.text, "resume to an unknown state -> 400 naming the states: %r" % r)
    r = env.charla.admin("POST", "/admin/conversations/whatsapp:%s:000/pause" % MESA_NUMBER)
    check_eq(r.status, 404, "pause of an unknown conversation")


def test_handoff_queue(env):
    a, b = new_user(), new_user()
    for user in (a, b):
        env.send_text(MESA_NUMBER, user, "humano")
        wait_texts(env, user, ["te paso con una persona"])
        time.sleep(0.05)
    env.send_text(MESA_NUMBER, a, "¿hola?")
    wait_until(lambda: "¿hola?" in history_texts(env, key_of(MESA_NUMBER, a), "in"), 10, "a's message in history")
    queue = admin_ok(env, "GET", "/admin/handoffs")
    keys = [h["conversation"] for h in queue["handoffs"]]
    ka, kb = key_of(MESA_NUMBER, a), key_of(MESA_NUMBER, b)
    check(ka in keys and kb in keys and keys.index(ka) < keys.index(kb), "oldest first: %r" % keys)
    check_eq(queue["count"], len(keys), "count")
    ha = queue["handoffs"][keys.index(ka)]
    check_eq((ha["reason"], ha["state"], ha["messages_since"], ha["last_message"]),
             ("quiere humano", "INICIO", 2, "¿hola?"), "a's entry (reason, state, messages since, last)")
    for k in (ka, kb):
        admin_ok(env, "POST", "/admin/conversations/%s/resume" % k)
    keys = [h["conversation"] for h in admin_ok(env, "GET", "/admin/handoffs")["handoffs"]]
    check(ka not in keys and kb not in keys, "resumed conversations leave the queue: %r" % keys)


def test_timers_held(env):
    # ctx:handoff in the same turn that armed the timer.
    user = new_user()
    key = key_of(MESA_NUMBER, user)
    env.send_text(MESA_NUMBER, user, "humano")
    wait_texts(env, user, ["te paso con una persona"])
    wait_until(lambda: "recordatorio" in env.charla.conversation(key).get("held_timers", {}) or None, 5,
               "the timer held in the record")
    time.sleep(1.0)
    check_eq(texts_to(env, user), ["te paso con una persona"], "no timer reply while paused")
    t0 = time.monotonic()
    admin_ok(env, "POST", "/admin/conversations/%s/resume" % key)
    wait_texts(env, user, ["te paso con una persona", "recordatorio"], timeout=5)
    check(time.monotonic() - t0 < 3, "the overdue timer fires right after resume")
    check_eq(env.charla.conversation(key).get("held_timers"), {}, "no timer held after it fired")
    # An admin pause right after the timer was armed.
    user = new_user()
    key = key_of(MESA_NUMBER, user)
    env.send_text(MESA_NUMBER, user, "timer")
    wait_texts(env, user, ["timer armado"])
    admin_ok(env, "POST", "/admin/conversations/%s/pause" % key)
    time.sleep(2.0)
    check_eq(texts_to(env, user), ["timer armado"], "no timer reply while paused by an operator")
    admin_ok(env, "POST", "/admin/conversations/%s/resume" % key)
    wait_texts(env, user, ["timer armado", "recordatorio"], timeout=5)


def test_ambiguous_phone(env):
    user = new_user()
    env.send_text(PRUEBA_NUMBER, user, "uno")
    env.send_text(MESA_NUMBER, user, "dos")
    wait_until(lambda: len(texts_to(env, user)) == 2 or None, 10, "two replies")
    keys = sorted([key_of(PRUEBA_NUMBER, user), key_of(MESA_NUMBER, user)])
    for method, path, body in [("GET", "/admin/conversations/" + user, None),
                               ("POST", "/admin/conversations/%s/pause" % user, None),
                               ("POST", "/admin/conversations/%s/resume" % user, None),
                               ("POST", "/admin/conversations/%s/state" % user, {"state": "ECO"}),
                               ("POST", "/admin/conversations/%s/reset" % user, None),
                               ("DELETE", "/admin/conversations/" + user, None),
                               ("DELETE", "/webhook/conversation/" + user, None)]:
        r = env.charla.admin(method, path, body)
        check_eq(r.status, 409, "%s %s with a phone of two conversations" % (method, path))
        check_eq(sorted(r.json().get("candidates", [])), keys, "candidates of %s %s" % (method, path))
    for k in keys:
        check(env.charla.conversation(k) is not None, "the 409s changed nothing (%s)" % k)
    admin_ok(env, "POST", "/admin/conversations/%s/pause" % keys[0])
    check(env.charla.conversation(keys[0])["paused"] and not env.charla.conversation(keys[1])["paused"],
          "the full key acts on that conversation only")
    r = env.charla.admin("GET", "/admin/conversations/5219999999999")
    check_eq(r.status, 404, "a phone with no conversation")
    admin_ok(env, "DELETE", "/webhook/conversation/" + keys[0])
    admin_ok(env, "GET", "/admin/conversations/" + user)  # now one match: the bare phone works


def test_reset_during_stream(env):
    user = new_user()
    key = key_of(PRUEBA_NUMBER, user)
    total, threads_n = 40, 4
    sent = []
    lock = threading.Lock()
    errors = []

    reset_done = threading.Event()
    started_after_reset = set()

    def sender(t):
        for i in range(total // threads_n):
            text = "m%d-%d" % (t, i)
            if reset_done.is_set():
                with lock:
                    started_after_reset.add(text)
            try:
                env.send_text(PRUEBA_NUMBER, user, text)
            except Exception as e:  # reported below; the main thread must not hang
                errors.append("%s: %s" % (text, e))
                return
            with lock:
                sent.append(text)
            time.sleep(0.005)

    env.send_text(PRUEBA_NUMBER, user, "inicio")
    wait_texts(env, user, ["eco: inicio"])
    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(threads_n)]
    for t in threads:
        t.start()
    wait_until(lambda: len(sent) >= total // 2 or None, 20, "half of the stream sent")
    admin_ok(env, "POST", "/admin/conversations/%s/reset" % key)
    reset_done.set()
    for t in threads:
        t.join(30)
    check(not errors, "webhook errors: %r" % errors)
    check_eq(len(sent), total, "messages sent")
    expected = sorted(["eco: inicio"] + ["eco: " + s for s in sent])
    wait_until(lambda: len(texts_to(env, user)) >= len(expected) or None, 20, "a reply to every message")
    time.sleep(0.5)
    check_eq(sorted(texts_to(env, user)), expected, "one reply per message (nothing lost, nothing twice)")
    c = env.charla.conversation(key)
    check(c is not None, "the fresh conversation exists")
    inbound = [h["text"] for h in c["history"] if h["dir"] == "in"]
    # A message still queued when the reset ran is the fresh conversation's (reset runs
    # between turns); one whose turn had run was answered by the old one. Either way,
    # once: the replies above. The fresh record starts from nothing.
    check(set(inbound) <= set(sent) and len(inbound) < total, "fresh history: only messages of the stream, "
          "not all of them: %r" % inbound)
    check(started_after_reset <= set(inbound), "every message sent after the reset returned is in the "
          "fresh history: %r" % inbound)
    check_eq(c["turns"], len(inbound), "turns of the fresh conversation = its inbound messages (no old record back)")
    outbound = [h["text"] for h in c["history"] if h["dir"] == "out"]
    check_eq(sorted(outbound), sorted("eco: " + t for t in inbound), "fresh history: each message with its reply")


def main():
    args = parse_args(__doc__)
    tests = [("aliases", test_aliases), ("pause_resume_state", test_pause_resume_state),
             ("handoff_queue", test_handoff_queue), ("timers_held", test_timers_held),
             ("ambiguous_phone", test_ambiguous_phone), ("reset_during_stream", test_reset_during_stream)]
    return run(tests, lambda: make_env(args), args, budget_s=120.0, title="test_admin_handoff")


if __name__ == "__main__":
    sys.exit(main())
