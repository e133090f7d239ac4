"""The one list of charla's HTTP routes the tests share: docs/openapi.yaml, checked
against the server's own route table (GET /admin/routes) by test_openapi.py and used
as the table of test_admin_auth.py (401 on every admin operation).

Matching rule: an exact server route (METHOD, /a/b) is the OpenAPI operation METHOD on
/a/b; a prefix server route (METHOD, /a/*) stands for the OpenAPI operations METHOD on
paths /a/{...}... (a path parameter right after the prefix)."""

import os
import re

import yaml  # python3-yaml (.ci/install-deps)

METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"\{[^}]+\}")
# Values that reach each route's handler (so its own token check runs) for path parameters.
SAMPLES = {"key": "whatsapp:1:5215550000000", "seq": "1", "id": "1", "name": "prueba",
           "phone_number_id": "123456124", "file": "app.js"}


class Operation:
    def __init__(self, method, path, security):
        self.method = method.upper()
        self.path = path              # OpenAPI template, e.g. /admin/conversations/{key}/pause
        self.security = security      # e.g. ["adminBearer"]; [] when public

    def concrete_path(self):
        return PARAM.sub(lambda m: SAMPLES.get(m.group(0)[1:-1], "x"), self.path)

    def __repr__(self):
        return "%s %s" % (self.method, self.path)


def load_operations(source):
    with open(os.path.join(source, "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    ops = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            security = [name for req in op.get("security", doc.get("security", [])) for name in req]
            ops.append(Operation(method, path, security))
    return ops


def server_routes(charla):
    r = charla.admin("GET", "/admin/routes")
    if r.status != 200:
        raise AssertionError("GET /admin/routes -> %r" % r)
    return [(x["method"], x["path"]) for x in r.json()["routes"]]


def served_by(op, route):
    """True when the server route (method, path) answers the OpenAPI operation."""
    method, path = route
    if method != op.method:
        return False
    if not path.endswith("*"):
        return path == op.path
    prefix = path[:-1]
    return op.path.startswith(prefix) and op.path[len(prefix):].startswith("{")


def parity_problems(ops, routes):
    """What makes the file and the server disagree, as readable lines (empty: none)."""
    problems = []
    for route in routes:
        if not any(served_by(op, route) for op in ops):
            problems.append("server route %s %s is not in docs/openapi.yaml" % route)
    for op in ops:
        if not any(served_by(op, route) for route in routes):
            problems.append("docs/openapi.yaml has %r but the server has no such route" % op)
    return problems
