#!/usr/bin/env python3
"""Integration test: outbound WhatsApp messages never vanish quietly because of the
configuration (sink mode, tokens, flows, the API base URL).

Run by ctest as:
    python3 test_whatsapp_config.py --charla <path-to-charla> --source <repo root>

One charla whose api_base is written the way other WhatsApp tools write it
(".../v21.0", with api_version saying v20.0: the base's version wins), started with
WHATSAPP_SINK=1 and CHARLA_SECRET_KEY. Tests, in order:

  refuses_number_without_token  a number whose token_env is misspelled: `serve` exits 2
                        naming the number and the variable (no silent sink mode)
  token_fallback_warned  the same with WHATSAPP_API_TOKEN set: it starts with that token
                        and warns (whatsapp_token_fallback) naming the variable
  refuses_unknown_flow  a number whose flow is not loaded: exit 2 naming the flow and the
                        loaded ones
  sink_explicit_and_loud  WHATSAPP_SINK=1: a warning at start and "whatsapp": {"sink":
                        true, "warning": ...} in /admin/status; a reply is stored as "sink"
                        and nothing reaches the Graph API
  sink_row_retried      restarted without WHATSAPP_SINK: the sink row is not re-labelled
                        or sent by itself; POST /admin/outbox/{seq}/retry sends it, to
                        /v21.0/{id}/messages
  token_survives_restart  POST /admin/whatsapp/<unknown>/token -> 404; a replaced token is
                        used at once and again after a restart (the environment still
                        holds the old one)
  token_needs_secret_key  without CHARLA_SECRET_KEY: the stored token is reported as
                        unreadable at start, and replacing a token answers 409 saying why
  removed_number_fails_not_sink  kill -9 with a reply in flight, restart without its
                        number: the reply is "failed" with the reason (never "sink"), and
                        once the number is back POST /admin/outbox/{seq}/retry sends it
  graceful_stop         SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 80 s.
"""

import copy
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (API_VERSION, PAUSE_NUMBER, PRUEBA_NUMBER, TOKEN_B, Env, Reply, TestFailure,  # noqa: E402
                     check, check_eq, new_user, parse_args, run, wait_until)
from charla_process import CharlaError, CharlaProcess  # noqa: E402

NEW_TOKEN = "test-token-B-replaced"


def refusal(env, name, number, drop_env=("WHATSAPP_SINK",)):
    """Starts a second charla with `number` added to the config; returns (exit code, stderr)."""
    config = copy.deepcopy(env.config)
    config["whatsapp"]["numbers"].append(number)
    proc = CharlaProcess(env.args.charla, os.path.join(env.root, name), config, env=dict(env.charla.env))
    for k in drop_env:
        proc.env.pop(k, None)
    try:
        proc.start(timeout=10)
    except CharlaError:
        pass
    else:
        proc.ensure_dead()
        raise TestFailure("charla started with %r in its config\n%s" % (number, proc.log_tail()))
    with open(proc.stderr_path, "rb") as f:
        return proc.proc.returncode, f.read().decode("utf-8", "replace")


def test_refuses_number_without_token(env):
    code, err = refusal(env, "no-token", {"phone_number_id": "123456777", "flow": "prueba",
                                          "token_env": "TEST_WA_TOKEN_MISSPELLED"})
    check_eq(code, 2, "exit code of serve with a number without a token\n" + err)
    check("123456777" in err and "TEST_WA_TOKEN_MISSPELLED" in err and "WHATSAPP_SINK" in err,
          "the error should name the number, the variable and the way to sink mode:\n" + err)


def test_token_fallback_warned(env):
    # The same misspelled variable with a shared WHATSAPP_API_TOKEN: it starts, and says so.
    config = copy.deepcopy(env.config)
    config["whatsapp"]["numbers"].append({"phone_number_id": "123456779", "flow": "prueba",
                                          "token_env": "TEST_WA_TOKEN_MISSPELLED"})
    proc = CharlaProcess(env.args.charla, os.path.join(env.root, "fallback"), config,
                         env=dict(env.charla.env, WHATSAPP_API_TOKEN="shared-token"))
    proc.env.pop("WHATSAPP_SINK", None)
    try:
        proc.start(timeout=10)
        warned = [e for e in proc.log_events("whatsapp_token_fallback") if e.get("phone_number_id") == "123456779"]
        check(warned and warned[0].get("token_env") == "TEST_WA_TOKEN_MISSPELLED",
              "no whatsapp_token_fallback warning naming the variable\n" + proc.log_tail())
        check_eq(proc.stop(), 0, "exit code of the fallback run")
    finally:
        proc.ensure_dead()


def test_refuses_unknown_flow(env):
    code, err = refusal(env, "bad-flow", {"phone_number_id": "123456778", "flow": "prueva",
                                          "token_env": "TEST_WA_TOKEN"}, drop_env=())
    check_eq(code, 2, "exit code of serve with a number whose flow is not loaded\n" + err)
    check("'prueva'" in err and "insurance, prueba" in err,
          "the error should name the flow and the loaded ones:\n" + err)


def status(env):
    r = env.charla.admin("GET", "/admin/status")
    check_eq(r.status, 200, "GET /admin/status")
    return r.json()


def test_sink_explicit_and_loud(env):
    s = status(env)["whatsapp"]
    check(s.get("sink") is True and "WHATSAPP_SINK" in s.get("warning", ""), "/admin/status whatsapp: %r" % s)
    check(env.charla.log_events("whatsapp_sink_mode"), "no whatsapp_sink_mode warning at start")
    user = new_user()
    env.send_text(PRUEBA_NUMBER, user, "en sink")
    rows = wait_until(lambda: env.outbox_rows(to=user, status="sink"), 10, "the reply stored as sink")
    check_eq(len(rows), 1, "sink rows for %s" % user)
    env.state["sink_user"], env.state["sink_seq"] = user, rows[0]["seq"]
    check_eq(env.fake.settle(0.3), [], "Graph requests in sink mode")


def test_sink_row_retried(env):
    check_eq(env.charla.stop(), 0, "exit code of the sink-mode run")
    env.charla.env.pop("WHATSAPP_SINK")
    env.charla.restart()
    s = status(env)["whatsapp"]
    check(s.get("sink") is False and "warning" not in s, "/admin/status whatsapp after leaving sink mode: %r" % s)
    user, seq = env.state["sink_user"], env.state["sink_seq"]
    check_eq(env.fake.settle(0.3, to=user), [], "a sink row sent without being asked")
    check_eq([r["status"] for r in env.outbox_rows(to=user)], ["sink"], "the row after the restart")
    r = env.charla.admin("POST", "/admin/outbox/%d/retry" % seq)
    check_eq(r.status, 200, "POST /admin/outbox/%d/retry of a sink row" % seq)
    req = env.fake.wait_count(1, 10, to=user)[0]
    check_eq((req.path, req.text), ("/%s/%s/messages" % (API_VERSION, PRUEBA_NUMBER), "eco: en sink"),
             "the retried sink row (api_base ends in /v21.0)")
    wait_until(lambda: env.outbox_rows(to=user, status="accepted"), 10, "the retried row accepted")


def send_and_token(env, text):
    user = new_user()
    env.send_text(PAUSE_NUMBER, user, text)
    return env.fake.wait_count(1, 10, to=user)[0].authorization


def test_token_survives_restart(env):
    r = env.charla.admin("POST", "/admin/whatsapp/999000999/token", {"token": NEW_TOKEN})
    check_eq(r.status, 404, "token for a number that is not configured: %r" % r)
    check_eq(send_and_token(env, "antes"), "Bearer " + TOKEN_B, "token before the replacement")
    r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": NEW_TOKEN})
    check_eq(r.status, 200, "POST /admin/whatsapp/%s/token: %r" % (PAUSE_NUMBER, r))
    check_eq(send_and_token(env, "despues"), "Bearer " + NEW_TOKEN, "token right after the replacement")
    with open(os.path.join(env.charla.data_dir, "data.mdb"), "rb") as f:
        check(NEW_TOKEN.encode() not in f.read(), "the replaced token is stored in clear")
    check_eq(env.charla.stop(), 0, "exit code before the restart")
    env.charla.restart()
    check(env.charla.log_events("whatsapp_token_from_store"), "no whatsapp_token_from_store at start")
    check_eq(send_and_token(env, "reinicio"), "Bearer " + NEW_TOKEN, "token after a restart")


def test_token_needs_secret_key(env):
    check_eq(env.charla.stop(), 0, "exit code before the restart without key")
    env.charla.env.pop("CHARLA_SECRET_KEY")
    env.charla.restart()
    unreadable = env.charla.log_events("whatsapp_stored_token_unreadable")
    check(unreadable and "CHARLA_SECRET_KEY" in unreadable[-1].get("why", ""),
          "no clear whatsapp_stored_token_unreadable at start: %r" % unreadable)
    r = env.charla.admin("POST", "/admin/whatsapp/%s/token" % PAUSE_NUMBER, {"token": "another"})
    check_eq(r.status, 409, "replacing a token without CHARLA_SECRET_KEY: %r" % r)
    check("CHARLA_SECRET_KEY" in r.json().get("error", ""), "the 409 should say why: %r" % r)
    # Without the key the environment's token is used: replies still go out (a stale
    # token would pause the number, never sink its replies).
    check_eq(send_and_token(env, "sin clave"), "Bearer " + TOKEN_B, "token without the key")


def write_config(env, config):
    with open(env.charla.config_path, "w") as f:
        json.dump(config, f, indent=2)


def test_removed_number_fails_not_sink(env):
    user = new_user()
    env.fake.script(user, [Reply.error("error-500.html", delay=5.0)])
    env.send_text(PRUEBA_NUMBER, user, "en vuelo")
    env.fake.wait_for(lambda rs: any(r.to == user for r in rs), 10, "the reply in flight")
    env.charla.kill(signal.SIGKILL)
    # Restarted without that number: its pending reply fails visibly, it is not sunk.
    without = copy.deepcopy(env.config)
    without["whatsapp"]["numbers"] = [n for n in without["whatsapp"]["numbers"]
                                      if n["phone_number_id"] != PRUEBA_NUMBER]
    write_config(env, without)
    env.charla.restart()
    row = wait_until(lambda: env.outbox_rows(to=user, status="failed"), 10, "the reply of the removed number failed")[0]
    check("not a configured number" in row.get("last_error", ""), "last_error should say why: %r" % row)
    check_eq(env.outbox_rows(to=user, status="sink"), [], "rows re-labelled sink by the restart")
    # With the number back, the failed reply is retried and sent.
    check_eq(env.charla.stop(), 0, "exit code before restoring the number")
    write_config(env, env.config)
    env.charla.restart()
    check_eq(env.charla.admin("POST", "/admin/outbox/%d/retry" % row["seq"]).status, 200, "retry of the failed row")
    env.fake.wait_for(lambda rs: any(r.to == user and r.reply and r.reply.status == 200 for r in rs), 10,
                      "the retried reply accepted")


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM\n" + env.charla.log_tail(20))


TESTS = [
    ("refuses_number_without_token", test_refuses_number_without_token),
    ("token_fallback_warned", test_token_fallback_warned),
    ("refuses_unknown_flow", test_refuses_unknown_flow),
    ("sink_explicit_and_loud", test_sink_explicit_and_loud),
    ("sink_row_retried", test_sink_row_retried),
    ("token_survives_restart", test_token_survives_restart),
    ("token_needs_secret_key", test_token_needs_secret_key),
    ("removed_number_fails_not_sink", test_removed_number_fails_not_sink),
    ("graceful_stop", test_graceful_stop),
]


def make_env(args):
    env = Env(args, "config", extra_env={"WHATSAPP_SINK": "1"})
    env.state = {}
    wa = env.config["whatsapp"]
    wa["api_base"] += "/" + API_VERSION + "/"
    wa["api_version"] = "v20.0"
    write_config(env, env.config)
    return env.start()


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: make_env(args), args, budget_s=80, title="test_whatsapp_config")


if __name__ == "__main__":
    sys.exit(main())
