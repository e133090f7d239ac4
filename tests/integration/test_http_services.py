#!/usr/bin/env python3
"""Integration test: named HTTP services keep a CRM's credentials out of flows and logs.

Run by ctest as:
    python3 test_http_services.py --charla <path-to-charla> --source <repo root>

  service_call_sends_secret_header  a flow's ctx:http{service="crm", path="/leads"} reaches a
                                    fake CRM on 127.0.0.1 with the header from CRM_TOKEN; the
                                    flow's reply shows the status; the secret is nowhere in
                                    stderr (debug level)
  missing_variable_exit_2           CRM_TOKEN unset -> `charla serve` exits 2 naming it

Python 3 standard library only; every wait is bounded; the whole file stays < 60 s.
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import Payloads, TestFailure, check, check_eq, new_user, parse_args  # noqa: E402
from charla_process import CharlaProcess  # noqa: E402

NUMBER = "123456888"
SECRET = "Bearer crm-secret-0af3"

FLOW = r'''
return {
  name = "lead", version = 1, initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        local res, err = ctx:http{ service = "crm", path = "/leads", method = "POST", json = { phone = ctx.phone } }
        ctx:say("crm " .. tostring(res and res.status or (err and err.code)))
      end,
    },
  },
}
'''


class FakeCrm:
    def __init__(self):
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outer.seen.append((self.path, self.headers.get("Authorization"), body))
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"id":"L1"}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def config(root, crm_port):
    flow = os.path.join(root, "lead.lua")
    with open(flow, "w") as f:
        f.write(FLOW)
    return {
        "flows": [flow],
        "workers": 1,
        "log_level": "debug",
        "whatsapp": {"sink": True, "numbers": [{"phone_number_id": NUMBER, "token_env": "TEST_WA_TOKEN"}]},
        "plugins": {"http": {"services": [{"name": "crm", "base_url": "http://127.0.0.1:%d/api" % crm_port,
                                           "headers_env": {"Authorization": "CRM_TOKEN"}}]}},
    }


def test_service_call_sends_secret_header(args):
    root = tempfile.mkdtemp(prefix="charla-it-svc-")
    crm = FakeCrm()
    proc = CharlaProcess(args.charla, root, config(root, crm.port), env={"TEST_WA_TOKEN": "t", "CRM_TOKEN": SECRET})
    try:
        proc.start()
        body, _ = Payloads(args.shared).text(NUMBER, new_user(), "quiero una cotización")
        check_eq(proc.post_webhook(body).status, 200, "webhook POST")
        deadline = time.monotonic() + 10
        while not proc.log_events("whatsapp_sink"):
            if time.monotonic() > deadline:
                raise TestFailure("no reply within 10 s\n" + proc.log_tail())
            time.sleep(0.05)
        check_eq(len(crm.seen), 1, "one CRM request")
        path, auth, sent = crm.seen[0]
        check_eq(path, "/api/leads", "path joined to the base URL")
        check_eq(auth, SECRET, "the secret header from CRM_TOKEN")
        check("phone" in json.loads(sent), "the flow's json body")
        check_eq(proc.log_events("whatsapp_sink")[0]["message"]["text"], "crm 201", "the flow saw the status")
        check_eq(proc.stop(timeout=15), 0, "exit code after SIGTERM")
        with open(proc.stderr_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check("crm-secret-0af3" not in log, "the secret must not appear in stderr")
    finally:
        proc.ensure_dead()
        crm.close()
        shutil.rmtree(root, ignore_errors=True)


def test_missing_variable_exit_2(args):
    root = tempfile.mkdtemp(prefix="charla-it-svc-")
    try:
        path = os.path.join(root, "charla.json")
        with open(path, "w") as f:
            json.dump(config(root, 9), f)
        p = subprocess.run([args.charla, "serve", "-c", path, "--data", os.path.join(root, "data"), "--port", "0"],
                           capture_output=True, timeout=20,
                           env={"PATH": os.environ.get("PATH", ""), "TEST_WA_TOKEN": "t"})
        check_eq(p.returncode, 2, "exit code with CRM_TOKEN unset (stderr %r)" % p.stderr)
        check(b"CRM_TOKEN" in p.stderr and b"crm" in p.stderr, "the error names the service and variable: %r" % p.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    args = parse_args(__doc__.split("\n")[1])
    failures = 0
    for name, fn in [("service_call_sends_secret_header", test_service_call_sends_secret_header),
                     ("missing_variable_exit_2", test_missing_variable_exit_2)]:
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn(args)
            print("ok   %-45s %6.2f s" % (name, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - reported, then the next test runs
            failures += 1
            print("FAIL %-45s %6.2f s\n%s" % (name, time.monotonic() - t0, e))
    print("test_http_services: %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
