#!/usr/bin/env python3
"""Integration test: docs/openapi.yaml lists exactly the routes the real `charla serve`
has. The server's route table comes from GET /admin/routes (the list Server::route
filled); the matching rule is in support/api_routes.py.

  parity          every server route is documented, every documented operation is served
  matcher_fails   the check itself fails for a route missing from the file, and for an
                  operation the server lacks (so the parity test can fail)
  routes_auth     /admin/routes needs the admin token
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import Env, check, check_eq, parse_args, run  # noqa: E402
from api_routes import Operation, load_operations, parity_problems, server_routes  # noqa: E402


def test_parity(env):
    ops = load_operations(env.source)
    routes = server_routes(env.charla)
    check(len(routes) >= 20, "expected the server's ~30 routes, got %r" % routes)
    problems = parity_problems(ops, routes)
    check(not problems, "docs/openapi.yaml and the server disagree:\n  " + "\n  ".join(problems))


def test_matcher_fails(env):
    ops = load_operations(env.source)
    routes = server_routes(env.charla)
    extra = routes + [("POST", "/admin/not-documented")]
    check_eq(parity_problems(ops, extra), ["server route POST /admin/not-documented is not in docs/openapi.yaml"],
             "an undocumented server route")
    more = ops + [Operation("get", "/admin/conversations/{key}/nothing-serves-this-method-put", [])]
    more[-1].method = "PUT"
    problems = parity_problems(more, routes)
    check(len(problems) == 1 and "no such route" in problems[0], "a documented operation the server lacks: %r" % problems)


def test_routes_auth(env):
    check_eq(env.charla.admin("GET", "/admin/routes", token="wrong").status, 401, "GET /admin/routes with a wrong token")


def main():
    args = parse_args(__doc__)
    tests = [("parity", test_parity), ("matcher_fails", test_matcher_fails), ("routes_auth", test_routes_auth)]
    return run(tests, lambda: Env(args, "openapi").start(), args, budget_s=60, title="test_openapi")


if __name__ == "__main__":
    sys.exit(main())
