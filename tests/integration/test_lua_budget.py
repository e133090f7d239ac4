#!/usr/bin/env python3
"""Integration test: a flow's CPU-bound turn cannot hold its worker.

Run by ctest as:
    python3 test_lua_budget.py --charla <path-to-charla> --source <repo root>

One charla with ONE worker (so every conversation shares the attacked Lua VM) and
lua.turn_time_budget_ms = 1000, against the fake Graph API. Tests, in order:

  backtracking_pattern  a message whose turn runs an exponentially backtracking
                        pattern (string.find in C, which the instruction hook never
                        sees) gets the flow's fallback text; a message to another
                        conversation sent right after it is answered within seconds
  realistic_pattern     msg.text:match("(%w+)%s*(%w+)%s*(%w+)@") on a 400-letter message
                        (14.6 s before the fix) ends the same way
  graceful_stop         SIGTERM -> exit code 0 (the worker is not stuck)

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args, run  # noqa: E402

ATTACK_NUMBER = "123456199"
ATTACK_FLOW = r'''
return {
  name = "ataque", initial = "S", fallback = "fallo controlado",
  states = { S = { message = function(ctx, msg)
    if msg.text == "ataque" then
      local ok, err = pcall(string.find, string.rep("a", 200000),
                            string.rep("a?", 60) .. string.rep("a", 60) .. "b")
      return ctx:say("sobrevivio " .. tostring(err))
    end
    local a, b, c = msg.text:match("(%w+)%s*(%w+)%s*(%w+)@")
    ctx:say(a and (a .. "|" .. b .. "|" .. c) or ("eco " .. msg.text))
  end } },
}
'''


def texts_to(env, user):
    return [r.text for r in env.fake.requests(to=user) if r.text is not None]


def attack_then_neighbour(env, attack_text):
    attacker, neighbour = new_user(), new_user()
    t0 = time.monotonic()
    env.send_text(ATTACK_NUMBER, attacker, attack_text)
    env.send_text(PRUEBA_NUMBER, neighbour, "hola")
    env.fake.wait_count(1, timeout=10, to=neighbour)
    waited = time.monotonic() - t0
    check(waited < 4.0, "the neighbour's reply took %.1f s (the attacked turn held the worker)" % waited)
    check_eq(texts_to(env, neighbour), ["eco: hola"], "neighbour's reply")
    env.fake.wait_count(1, timeout=10, to=attacker)
    check_eq(texts_to(env, attacker), ["fallo controlado"], "attacker's reply (the flow's fallback)")
    errors = [e for e in env.charla.log_events("turn_failed") if e.get("kind") == "budget"]
    check(errors, "a turn_failed event of kind budget is logged")
    return errors[-1]


def test_backtracking_pattern(env):
    error = attack_then_neighbour(env, "ataque")
    check("turn time budget of 1000 ms" in error.get("error", "") or "instruction budget" in error.get("error", ""),
          "the error names the budget: %r" % error)


def test_realistic_pattern(env):
    error = attack_then_neighbour(env, "a" * 400)
    check("pattern matching exceeded" in error.get("error", ""), "the error names pattern matching: %r" % error)


def test_graceful_stop(env):
    env.charla.proc.send_signal(signal.SIGTERM)
    code = env.charla.proc.wait(timeout=15)
    check_eq(code, 0, "exit code after SIGTERM")


TESTS = [
    ("backtracking_pattern", test_backtracking_pattern),
    ("realistic_pattern", test_realistic_pattern),
    ("graceful_stop", test_graceful_stop),
]


def make_env(args):
    env = Env(args, "lua-budget",
              extra_numbers=[{"phone_number_id": ATTACK_NUMBER, "flow": "ataque", "token_env": "TEST_WA_TOKEN"}])
    flow = os.path.join(env.root, "flows", "ataque.lua")
    with open(flow, "w") as f:
        f.write(ATTACK_FLOW)
    env.config["flows"].append(flow)
    env.config["workers"] = 1
    env.config["lua"] = {"turn_time_budget_ms": 1000}
    with open(env.charla.config_path, "w") as f:
        json.dump(env.config, f, indent=2)
    return env.start()


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: make_env(args), args, budget_s=85, title="test_lua_budget")


if __name__ == "__main__":
    sys.exit(main())
