"""Shared plumbing for the WhatsApp integration tests (Python 3 stdlib only):
argument parsing, the whole-file time budget, the charla + fake Graph environment,
webhook payload builders based on the real files in tests/fixtures/whatsapp/payloads, and a
small runner that runs named test functions and reports failures with diagnostics.
"""

import argparse
import copy
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from charla_process import ADMIN_TOKEN, APP_SECRET, CharlaError, CharlaProcess, signature_for  # noqa: E402
from fake_graph import FakeGraph, Reply  # noqa: E402

API_VERSION = "v21.0"
TOKEN = "test-token-A"          # env TEST_WA_TOKEN
TOKEN_B = "test-token-B-old"    # env TEST_WA_TOKEN_B (the number used by the 190 test)

# Business numbers of the tests (each with a flow), plus the ones the shared payloads use.
INSURANCE_NUMBER = "123456123"   # flows/insurance.lua
PRUEBA_NUMBER = "123456124"      # the small "prueba" flow below
PAUSE_NUMBER = "123456125"       # "prueba", own token: paused by error 190
PAYLOAD_NUMBERS = ["100000000000001", "100000000000002", "100000000000003"]
SECOND_APP_SECRET = "charla-dev-secret-2"   # vectors.json, payloads/12 (another Meta app)
SECRET_KEY = "0123456789abcdef" * 4        # CHARLA_SECRET_KEY: seals replaced tokens in the store

# A small flow for the channel tests: "tres" -> three texts in order; anything else ->
# one echo text. window_template is what a 131047 falls back to.
PRUEBA_FLOW = r'''
return {
  name = "prueba",
  version = 1,
  initial = "ECO",
  window_template = { name = "reengage", language = "es" },
  states = {
    ECO = {
      message = function(ctx, msg)
        local text = msg.text or ""
        if text == "tres" then
          ctx:say("uno")
          ctx:say("dos")
          ctx:say("tres")
        else
          ctx:say("eco: " .. text)
        end
      end,
    },
  },
}
'''


class TestFailure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def wait_until(fn, timeout, what, interval=0.05):
    """Polls fn() until it returns a truthy value (returned); TestFailure after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (OSError, CharlaError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


_user_ids = itertools.count(1)


def new_user():
    """A unique customer wa_id (13 digits, like Mexican numbers), per test file run."""
    return "52155%04d%04d" % (os.getpid() % 10000, next(_user_ids))


_wamid_ids = itertools.count(1)


def new_wamid():
    return "wamid.TEST%d%06d%s" % (os.getpid(), next(_wamid_ids), os.urandom(4).hex().upper())


def dumps(obj):
    """Compact JSON with \\uXXXX escapes, as Meta sends it."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class Payloads:
    def __init__(self, shared_dir):
        self.dir = os.path.join(shared_dir, "whatsapp", "payloads")
        self.shared_dir = shared_dir

    def path(self, name):
        return os.path.join(self.dir, name)

    def raw(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def load(self, name):
        return json.loads(self.raw(name).decode("utf-8"))

    def files(self):
        return sorted(f for f in os.listdir(self.dir) if f.endswith(".json"))

    def text(self, phone_number_id, user, text, wamid=None, name="Cliente Prueba", timestamp=None):
        """payloads/01-text.json rewritten for (phone_number_id, user) with a new wamid."""
        doc = self.load("01-text.json")
        value = doc["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = phone_number_id
        value["contacts"][0]["wa_id"] = user
        value["contacts"][0]["profile"]["name"] = name
        msg = value["messages"][0]
        msg["from"] = user
        msg["id"] = wamid or new_wamid()
        msg["timestamp"] = str(int(timestamp if timestamp is not None else time.time()))
        msg["text"]["body"] = text
        return dumps(doc), msg["id"]

    def status(self, phone_number_id, wamid, status, recipient, timestamp=None):
        """payloads/21-status-delivered.json rewritten to `status` for `wamid`."""
        doc = self.load("21-status-delivered.json")
        value = doc["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = phone_number_id
        st = value["statuses"][0]
        st["id"] = wamid
        st["status"] = status
        st["recipient_id"] = recipient
        st["timestamp"] = str(int(timestamp if timestamp is not None else time.time()))
        return dumps(doc)


def base_config(source, workdir, fake_port, retry_time_scale=0.01, max_attempts=4, extra_numbers=(), whatsapp=None):
    flows_dir = os.path.join(workdir, "flows")
    os.makedirs(flows_dir, exist_ok=True)
    prueba = os.path.join(flows_dir, "prueba.lua")
    with open(prueba, "w") as f:
        f.write(PRUEBA_FLOW)
    numbers = [
        {"phone_number_id": INSURANCE_NUMBER, "flow": "insurance", "token_env": "TEST_WA_TOKEN", "max_per_second": 80},
        {"phone_number_id": PRUEBA_NUMBER, "flow": "prueba", "token_env": "TEST_WA_TOKEN", "max_per_second": 80},
        {"phone_number_id": PAUSE_NUMBER, "flow": "prueba", "token_env": "TEST_WA_TOKEN_B", "max_per_second": 80},
    ]
    numbers.extend(extra_numbers)
    config = {
        "flows": [os.path.join(source, "flows", "insurance.lua"), prueba],
        "default_flow": "insurance",
        "workers": 2,
        "log_level": "info",
        "whatsapp": {
            "api_base": "http://127.0.0.1:%d" % fake_port,
            "api_version": API_VERSION,
            "retry_time_scale": retry_time_scale,
            "max_attempts": max_attempts,
            "request_timeout_ms": 10000,
            "numbers": numbers,
        },
    }
    config["whatsapp"].update(whatsapp or {})
    return config


def payload_numbers():
    """The shared payloads' three business numbers, all of the first app (the payloads
    are signed with its secret; a body for them signed by another app is refused)."""
    return [
        {"phone_number_id": PAYLOAD_NUMBERS[0], "flow": "insurance", "token_env": "TEST_WA_TOKEN"},
        {"phone_number_id": PAYLOAD_NUMBERS[1], "flow": "insurance", "token_env": "TEST_WA_TOKEN"},
        {"phone_number_id": PAYLOAD_NUMBERS[2], "flow": "insurance", "token_env": "TEST_WA_TOKEN"},
    ]


_ALL_ENVS = []   # every Env created, so the watchdog can kill every charla


class Env:
    """One charla + one fake Graph API in a temp directory."""

    def __init__(self, args, name, retry_time_scale=0.01, max_attempts=4, extra_numbers=(),
                 fake_listening=True, whatsapp=None, extra_env=None):
        _ALL_ENVS.append(self)
        self.args = args
        self.source = args.source
        self.shared = args.shared
        self.root = tempfile.mkdtemp(prefix="charla-it-%s-" % name)
        self.fake = FakeGraph(os.path.join(self.shared, "whatsapp", "graph-responses"), listen=fake_listening)
        self.payloads = Payloads(self.shared)
        config = base_config(self.source, self.root, self.fake.port, retry_time_scale, max_attempts, extra_numbers,
                             whatsapp)
        self.config = config
        self.charla = CharlaProcess(args.charla, self.root, config, env={
            "TEST_WA_TOKEN": TOKEN, "TEST_WA_TOKEN_B": TOKEN_B, "TEST_WA_SECRET_2": SECOND_APP_SECRET,
            "CHARLA_SECRET_KEY": SECRET_KEY, **(extra_env or {}),
        })

    def start(self):
        self.charla.start()
        return self

    def close(self, keep=False):
        self.charla.ensure_dead()
        self.fake.close()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def diagnostics(self):
        return "%s\nfake graph requests (last 40):\n  %s\nworkdir: %s (removed unless --keep)" % (
            self.charla.log_tail(), self.fake.dump(), self.root)

    # Convenience --------------------------------------------------------------------
    def send_text(self, number, user, text, wamid=None, name="Cliente Prueba"):
        body, wamid = self.payloads.text(number, user, text, wamid=wamid, name=name)
        r = self.charla.post_webhook(body)
        check(r.status == 200, "webhook POST of %r from %s to %s -> %r (expected 200)" % (text, user, number, r))
        return wamid

    def outbox_rows(self, number=None, to=None, status=None):
        rows = self.charla.outbox(status=status)
        return [r for r in rows if (number is None or r.get("account") == number) and (to is None or r.get("to") == to)]


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--charla", required=True, help="path to the charla binary")
    p.add_argument("--source", required=True, help="repository root")
    p.add_argument("--shared", help="fixtures dir holding whatsapp/ (default: <source>/tests/fixtures)")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs")
    p.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = p.parse_args()
    args.charla = os.path.abspath(args.charla)
    args.source = os.path.abspath(args.source)
    args.shared = os.path.abspath(args.shared or os.path.join(args.source, "tests", "fixtures"))
    if not os.access(args.charla, os.X_OK):
        print("FAIL: charla binary not found or not executable: %s" % args.charla, file=sys.stderr)
        sys.exit(2)
    if not os.path.isdir(os.path.join(args.shared, "whatsapp", "payloads")):
        print("FAIL: WhatsApp fixtures not found under %s" % args.shared, file=sys.stderr)
        sys.exit(2)
    return args


def run(tests, env_factory, args, budget_s=85.0, title=""):
    """Runs `tests` [(name, fn(env))] in order on one Env; the last one usually stops
    charla. Prints one line per test with its duration; exits 0 if all passed."""
    started = time.monotonic()
    env_holder = {}

    def watchdog():
        print("FAIL: %s exceeded its time budget of %.0f s" % (title, budget_s), file=sys.stderr)
        env = env_holder.get("env")
        if env:
            print(env.diagnostics(), file=sys.stderr)
        for e in _ALL_ENVS:
            e.charla.ensure_dead()
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(budget_s, watchdog)
    timer.daemon = True
    timer.start()
    failures = []
    try:
        try:
            env = env_factory()
            env_holder["env"] = env
        except Exception as e:
            print("FAIL: could not set up %s: %s" % (title, e), file=sys.stderr)
            return 1
        try:
            for name, fn in tests:
                if args.only and args.only not in name:
                    continue
                t0 = time.monotonic()
                try:
                    fn(env)
                    print("ok   %-45s %6.2f s" % (name, time.monotonic() - t0))
                except Exception as e:
                    kind = "" if isinstance(e, (TestFailure, TimeoutError)) else "(test error) "
                    detail = str(e) if isinstance(e, (TestFailure, TimeoutError)) else traceback.format_exc()
                    print("FAIL %-45s %6.2f s" % (name, time.monotonic() - t0))
                    failures.append((name, "%s%s\n%s" % (kind, detail, env.diagnostics())))
                sys.stdout.flush()
        finally:
            env.close(keep=args.keep)
    finally:
        timer.cancel()
    for name, text in failures:
        print("\nFAIL %s:\n%s" % (name, text), file=sys.stderr)
    print("%s: %d failed, total %.1f s" % (title, len(failures), time.monotonic() - started))
    return 1 if failures else 0
