#!/usr/bin/env python3
"""Integration test: every admin operation answers 401 with no token and with a wrong
token, table-driven from the route list of docs/openapi.yaml (support/api_routes.py),
which test_openapi.py keeps equal to the server's route table. Nothing is changed by
the refused requests: the conversation created first is still there afterwards.

  table_is_complete   every documented operation is either in the short PUBLIC list
                      (health, webhooks, console files) or marked with a bearer scheme,
                      so no route escapes the table
  admin_401           no Authorization, a wrong token, a token of another scheme, and
                      the right token with a suffix -> 401 on every adminBearer operation
  metrics_401         /metrics with CHARLA_METRICS_TOKEN set: none or wrong -> 401
  nothing_changed     the conversation made before the table ran is untouched
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args, run, wait_until  # noqa: E402
from charla_process import ADMIN_TOKEN  # noqa: E402
from api_routes import load_operations  # noqa: E402

METRICS_TOKEN = "metrics-token-for-tests"
# Everything else needs a token: a new route is in the 401 table unless it is added here.
PUBLIC = {"/healthz", "/readyz", "/console", "/console/{file}", "/webhook/whatsapp", "/webhook", "/whatsapp/webhook",
          "/api/integrations/whatsapp/webhook", "/api/webhooks/whatsapp"}
ADMIN_PREFIXES = ("/admin/", "/webhook/status", "/webhook/conversations", "/webhook/conversation/", "/whatsapp/send",
                  "/whatsapp/status", "/api/integrations/whatsapp/send")
BAD_HEADERS = [("none", None), ("wrong", "Bearer not-the-token"), ("basic", "Basic " + ADMIN_TOKEN),
               ("suffix", "Bearer " + ADMIN_TOKEN + "x"), ("empty", "Bearer ")]
STATE = {}


def test_table_is_complete(env):
    ops = load_operations(env.source)
    unmarked = [op for op in ops if not op.security and op.path not in PUBLIC]
    check(not unmarked, "operations neither public nor marked adminBearer in docs/openapi.yaml: %r" % unmarked)
    marked_public = [op for op in ops if "adminBearer" in op.security and (op.path in PUBLIC or not op.path.startswith(ADMIN_PREFIXES))]
    check(not marked_public, "unexpected adminBearer operations: %r" % marked_public)
    check(len([op for op in ops if "adminBearer" in op.security]) >= 20, "expected >= 20 admin operations")


def test_admin_401(env):
    user = new_user()
    env.send_text(PRUEBA_NUMBER, user, "hola")
    key = "whatsapp:%s:%s" % (PRUEBA_NUMBER, user)
    wait_until(lambda: env.charla.conversation(key), 15, "the conversation of the first message")
    STATE["key"], STATE["before"] = key, env.charla.conversation(key)
    failures = []
    ops = [op for op in load_operations(env.source) if "adminBearer" in op.security]
    for op in ops:
        path = op.concrete_path().replace("whatsapp:1:5215550000000", key)
        body = b"{}" if op.method in ("POST", "PUT", "PATCH") else None
        for label, value in BAD_HEADERS:
            headers = {"Content-Type": "application/json"} if body else {}
            if value is not None:
                headers["Authorization"] = value
            r = env.charla.request(op.method, path, body=body, headers=headers)
            if r.status != 401:
                failures.append("%s %s (%s token) -> %d %s" % (op.method, path, label, r.status, r.text[:120]))
    check(not failures, "admin operations that did not answer 401:\n  " + "\n  ".join(failures))
    print("     checked %d admin operations x %d bad tokens" % (len(ops), len(BAD_HEADERS)))


def test_metrics_401(env):
    ops = [op for op in load_operations(env.source) if "metricsBearer" in op.security]
    check_eq([op.path for op in ops], ["/metrics"], "operations marked metricsBearer")
    for label, value in BAD_HEADERS:
        r = env.charla.request("GET", "/metrics", headers={"Authorization": value} if value else {})
        check_eq(r.status, 401, "/metrics with %s token" % label)
    ok = env.charla.request("GET", "/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN})
    check_eq(ok.status, 200, "/metrics with the metrics token")


def test_nothing_changed(env):
    after = env.charla.conversation(STATE["key"])
    for field in ("state", "paused", "data", "history"):
        check_eq(after[field], STATE["before"][field], "conversation %s after the refused requests" % field)
    check_eq(env.charla.admin("GET", "/admin/status").status, 200, "the right token still works")


def main():
    args = parse_args(__doc__)
    tests = [("table_is_complete", test_table_is_complete), ("admin_401", test_admin_401),
             ("metrics_401", test_metrics_401), ("nothing_changed", test_nothing_changed)]
    return run(tests, lambda: Env(args, "admin-auth", extra_env={"CHARLA_METRICS_TOKEN": METRICS_TOKEN}).start(),
               args, budget_s=90, title="test_admin_auth")


if __name__ == "__main__":
    sys.exit(main())
