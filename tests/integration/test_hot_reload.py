#!/usr/bin/env python3
"""Integration test: hot reload of the flows (POST /admin/flows/reload and SIGHUP) of the
real `charla serve`, with signed webhooks arriving during the reload.

Run by ctest as:
    python3 test_hot_reload.py --charla <path-to-charla> --source <repo root>

Tests, in order:
  reload_under_stream  v1 answers "v1:<text>", v2 "v2:<text>". Five customers stream
                       messages; the file is replaced and POST /admin/flows/reload is
                       called mid-stream: every message gets exactly one reply, v1 or v2,
                       and every message sent after the reload returned gets v2.
                       /admin/status shows the new generation, version and digest.
  state_gone           a conversation parked in a state v2 no longer has goes to the
                       initial state on its next message (answered by v2)
  reload_refused       a syntax error, and a transition to an unknown state: 422 with the
                       errors (file:line); nothing changes (generation, replies)
  sighup               SIGHUP reloads (v3 answers); a broken file + SIGHUP is refused and
                       logged with file:line, and the flows in use stay
Python 3 standard library only; every wait is bounded.
"""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import Env, check, check_eq, new_user, parse_args, run, wait_until  # noqa: E402

NUMBER = "123456127"

V1 = r'''
return {
  name = "recarga",
  version = 1,
  initial = "ECO",
  states = {
    ECO = {
      message = function(ctx, msg)
        local t = msg.text or ""
        if t == "esperar" then return "ESPERA" end
        ctx:say("v1:" .. t)
      end,
    },
    ESPERA = {
      enter = function(ctx) ctx:say("v1:esperando") end,
      message = function(ctx, msg) ctx:say("v1:espera:" .. (msg.text or "")) end,
    },
  },
}
'''

V2 = V1.replace("version = 1", "version = 2").replace('"v1:', '"v2:')
V2 = V2[:V2.index("    ESPERA = {")] + "  },\n}\n"   # ESPERA is gone in v2
V2 = V2.replace('        if t == "esperar" then return "ESPERA" end\n', "")
V3 = V2.replace("version = 2", "version = 3").replace('"v2:', '"v3:')
BROKEN_SYNTAX = V3.replace("ctx:say(\"v3:\" .. t)", "ctx:say(\"v4:\" .. t")   # a missing ')'
BROKEN_STATE = V3.replace('ctx:say("v3:" .. t)', 'if t == "x" then return "NOPE" end\n        ctx:say("v3:" .. t)')


def flow_path(env):
    return os.path.join(env.root, "flows", "recarga.lua")


def write_flow(env, text):
    tmp = flow_path(env) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, flow_path(env))   # as an editor or a deploy would: never half a file


def make_env(args):
    env = Env(args, "reload", extra_numbers=[
        {"phone_number_id": NUMBER, "flow": "recarga", "token_env": "TEST_WA_TOKEN", "max_per_second": 200}])
    write_flow(env, V1)
    env.config["flows"].append(flow_path(env))
    with open(env.charla.config_path, "w") as f:
        json.dump(env.config, f, indent=2)
    return env.start()


def texts_to(env, user):
    return [r.text for r in env.fake.requests(to=user) if r.text is not None]


def flow_load(env):
    r = env.charla.admin("GET", "/admin/status")
    check(r.status == 200, "GET /admin/status -> %r" % r)
    return r.json()["flow_load"]


def recarga(load):
    return [f for f in load["flows"] if f["name"] == "recarga"][0]


def reply_to(env, user, text, timeout=10):
    n = len(texts_to(env, user))
    env.send_text(NUMBER, user, text)
    wait_until(lambda: len(texts_to(env, user)) > n or None, timeout, "a reply to %r" % text)
    return texts_to(env, user)[-1]


def test_reload_under_stream(env):
    before = flow_load(env)
    check_eq(recarga(before)["version"], 1, "version before the reload")
    users = [new_user() for _ in range(5)]
    started_after = set()
    sent = {u: [] for u in users}
    errors = []
    stop = threading.Event()
    reloaded = threading.Event()

    def stream(user):
        for i in range(150):
            if stop.is_set():
                return
            text = "%s-%d" % (user[-4:], i)
            after = reloaded.is_set()
            try:
                env.send_text(NUMBER, user, text)
            except Exception as e:  # reported below
                errors.append("%s: %s" % (text, e))
                return
            sent[user].append(text)
            if after:
                started_after.add(text)
            time.sleep(0.01)

    threads = [threading.Thread(target=stream, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    wait_until(lambda: sum(len(v) for v in sent.values()) >= 40 or None, 20, "40 messages streamed before the reload")
    write_flow(env, V2)
    r = env.charla.admin("POST", "/admin/flows/reload")
    reloaded.set()
    check(r.status == 200, "POST /admin/flows/reload -> %r" % r)
    check_eq(recarga(r.json()["flow_load"])["version"], 2, "version in the reload's answer")
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(30)
    check(not errors, "webhook errors: %r" % errors)
    check(len(started_after) >= 10, "messages sent after the reload returned: %d" % len(started_after))
    for user in users:
        n = len(sent[user])
        wait_until(lambda: len(texts_to(env, user)) >= n or None, 30, "%d replies to %s" % (n, user))
    time.sleep(0.3)
    versions = {"v1": 0, "v2": 0}
    for user in users:
        replies = texts_to(env, user)
        check_eq(len(replies), len(sent[user]), "replies to %s (exactly one per message)" % user)
        by_text = {}
        for reply in replies:
            version, _, text = reply.partition(":")
            check(version in versions, "reply %r is neither v1 nor v2" % reply)
            versions[version] += 1
            check(text not in by_text, "two replies to %r: %r and %r" % (text, by_text.get(text), reply))
            by_text[text] = version
        check_eq(sorted(by_text), sorted(sent[user]), "messages answered for %s" % user)
        late_v1 = [t for t in sent[user] if t in started_after and by_text[t] != "v2"]
        check(not late_v1, "sent after the reload returned but answered by v1: %r" % late_v1)
    check(versions["v1"] > 0 and versions["v2"] > 0, "the stream crossed the reload: %r" % versions)
    after = flow_load(env)
    check_eq(after["generation"], before["generation"] + 1, "generation after one reload")
    check(recarga(after)["digest"] != recarga(before)["digest"], "the digest tells the versions apart")
    check(after["loaded_ms"] >= before["loaded_ms"], "loaded_ms moves forward")


def test_state_gone(env):
    # Parked in ESPERA under v1 (the previous test left v2 loaded: go back to v1 first).
    write_flow(env, V1)
    check_eq(env.charla.admin("POST", "/admin/flows/reload").status, 200, "reload to v1")
    user = new_user()
    check_eq(reply_to(env, user, "esperar"), "v1:esperando", "entering ESPERA under v1")
    key = "whatsapp:%s:%s" % (NUMBER, user)
    check_eq(env.charla.conversation(key)["state"], "ESPERA", "state under v1")
    write_flow(env, V2)
    check_eq(env.charla.admin("POST", "/admin/flows/reload").status, 200, "reload to v2")
    check_eq(reply_to(env, user, "hola"), "v2:hola", "next message after its state vanished")
    check_eq(env.charla.conversation(key)["state"], "ECO", "moved to the initial state")


def test_reload_refused(env):
    user = new_user()
    generation = flow_load(env)["generation"]
    for broken, what in [(BROKEN_SYNTAX, "a syntax error"), (BROKEN_STATE, "a transition to an unknown state")]:
        write_flow(env, broken)
        r = env.charla.admin("POST", "/admin/flows/reload")
        check_eq(r.status, 422, "reload of a flow with %s" % what)
        errors = r.json().get("errors", [])
        check(any("recarga.lua:" in e for e in errors), "errors name file:line for %s: %r" % (what, errors))
        check_eq(flow_load(env)["generation"], generation, "generation after a refused reload")
        check_eq(reply_to(env, user, "sigue"), "v2:sigue", "the flow in use after a refused reload")
    write_flow(env, V2)


def test_sighup(env):
    user = new_user()
    generation = flow_load(env)["generation"]
    write_flow(env, V3)
    env.charla.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: flow_load(env)["generation"] == generation + 1 or None, 10, "SIGHUP to reload")
    check_eq(reply_to(env, user, "hola"), "v3:hola", "reply after SIGHUP")
    write_flow(env, BROKEN_SYNTAX)
    env.charla.proc.send_signal(signal.SIGHUP)
    refused = wait_until(lambda: env.charla.log_events("flows_reload_refused") or None, 10,
                         "flows_reload_refused in the log")
    check(any("recarga.lua:" in e for e in refused[-1].get("errors", [])), "logged errors: %r" % refused[-1])
    check_eq(flow_load(env)["generation"], generation + 1, "generation after a refused SIGHUP")
    check_eq(reply_to(env, user, "otra"), "v3:otra", "reply after a refused SIGHUP")
    check(env.charla.alive(), "charla still running")
    check_eq(env.charla.stop(), 0, "graceful stop after SIGHUPs")


def main():
    args = parse_args(__doc__)
    tests = [("reload_under_stream", test_reload_under_stream), ("state_gone", test_state_gone),
             ("reload_refused", test_reload_refused), ("sighup", test_sighup)]
    return run(tests, lambda: make_env(args), args, budget_s=150.0, title="test_hot_reload")


if __name__ == "__main__":
    sys.exit(main())
