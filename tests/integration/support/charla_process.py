"""Runs the real `charla serve` for integration tests (Python 3 stdlib only).

    proc = CharlaProcess(charla_binary, workdir, config_dict)
    proc.start()                      # free port, env, waits for GET /readyz == 200
    proc.post_webhook(body_bytes)     # signed X-Hub-Signature-256 over the exact bytes
    proc.admin("GET", "/admin/outbox?status=dead")
    proc.kill(signal.SIGKILL); proc.restart()
    proc.stop()                       # SIGTERM, waits, returns the exit code

The config dict is written to <workdir>/charla.json; the data directory is
<workdir>/data (kept across restart()). stderr (JSON log lines) goes to
<workdir>/charla.stderr.log, appended across restarts; `log_tail()` returns its end for
failure messages. Only 127.0.0.1 is used.
"""

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import time

APP_SECRET = "test-app-secret"          # the secret of shared/whatsapp/signatures/vectors.json
VERIFY_TOKEN = "verify-me-please"
ADMIN_TOKEN = "admin-token-for-tests"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def signature_for(body, secret=APP_SECRET):
    """The X-Hub-Signature-256 value Meta would send for `body` (bytes)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def __repr__(self):
        return "<HTTP %s %s>" % (self.status, self.text[:300])


class CharlaError(Exception):
    pass


class CharlaProcess:
    def __init__(self, charla, workdir, config, env=None, app_secret=APP_SECRET,
                 verify_token=VERIFY_TOKEN, admin_token=ADMIN_TOKEN, port=None, preexec_fn=None):
        self.charla = charla
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.config_path = os.path.join(workdir, "charla.json")
        self.stderr_path = os.path.join(workdir, "charla.stderr.log")
        self.app_secret = app_secret
        self.admin_token = admin_token
        self.port = port or free_port()
        self.proc = None
        self.preexec_fn = preexec_fn    # e.g. resource.setrlimit in the child
        self.starts = 0
        os.makedirs(workdir, exist_ok=True)
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("WHATSAPP_", "CHARLA_", "LLM_"))}
        base.update({
            "WHATSAPP_APP_SECRET": app_secret,
            "WHATSAPP_VERIFY_TOKEN": verify_token,
            "CHARLA_ADMIN_TOKEN": admin_token,
        })
        base.update(env or {})
        self.env = base

    # --- lifecycle -------------------------------------------------------------------
    def start(self, timeout=20.0):
        if self.proc is not None and self.proc.poll() is None:
            raise CharlaError("charla is already running")
        cmd = [self.charla, "serve", "-c", self.config_path, "--data", self.data_dir,
               "--port", str(self.port), "--bind", "127.0.0.1"]
        self.cmd = cmd
        err = open(self.stderr_path, "ab")
        err.write(("--- start #%d: %s\n" % (self.starts + 1, " ".join(cmd))).encode())
        err.flush()
        try:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, preexec_fn=self.preexec_fn)
        finally:
            err.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CharlaError("charla exited with code %s before it was ready\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            try:
                r = self.request("GET", "/readyz", timeout=1.0)
                if r.status == 200:
                    return self
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise CharlaError("charla not ready within %.0f s (last: %r)\n%s" % (timeout, last, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL, timeout=10.0):
        """Sends `sig` to charla and waits for it to exit; returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise CharlaError("charla did not exit within %.0f s of signal %d\n%s"
                              % (timeout, sig, self.log_tail()))

    def restart(self, timeout=20.0):
        """Starts charla again on the same port, config and data directory."""
        if self.alive():
            raise CharlaError("restart() while charla is still running")
        return self.start(timeout)

    def stop(self, timeout=15.0):
        """Graceful stop: SIGTERM, wait; returns the exit code (the caller asserts 0)."""
        return self.kill(signal.SIGTERM, timeout)

    def ensure_dead(self):
        if self.alive():
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, lines=60):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()[-200000:]
        except OSError:
            return "(no stderr log)"
        tail = data.decode("utf-8", "replace").splitlines()[-lines:]
        return "charla stderr (last %d lines):\n  %s" % (len(tail), "\n  ".join(tail))

    def log_events(self, event=None):
        """The JSON log lines (dicts), optionally only those whose "event"/"msg" is `event`."""
        out = []
        try:
            with open(self.stderr_path, "rb") as f:
                for line in f:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and (event is None or event in (obj.get("event"), obj.get("msg"))):
                        out.append(obj)
        except OSError:
            pass
        return out

    # --- HTTP --------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def post_webhook(self, body, sign=True, signature=None, path="/webhook/whatsapp", headers=None,
                     secret=None, timeout=10.0):
        """POSTs `body` (bytes, sent byte for byte). sign: add X-Hub-Signature-256
        computed over those exact bytes; `signature` overrides the header value."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        h = {"Content-Type": "application/json"}
        if signature is not None:
            h["X-Hub-Signature-256"] = signature
        elif sign:
            h["X-Hub-Signature-256"] = signature_for(body, secret or self.app_secret)
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h, timeout=timeout)

    def admin(self, method, path, body=None, token=None, timeout=10.0):
        h = {"Authorization": "Bearer " + (self.admin_token if token is None else token)}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json"
        return self.request(method, path, body=data, headers=h, timeout=timeout)

    def outbox(self, status=None, limit=1000):
        path = "/admin/outbox?limit=%d" % limit
        if status:
            path += "&status=" + status
        r = self.admin("GET", path)
        if r.status != 200:
            raise CharlaError("GET %s -> %r" % (path, r))
        return r.json()["messages"]

    def conversation(self, key):
        r = self.admin("GET", "/admin/conversations/" + key)
        if r.status == 404:
            return None
        if r.status != 200:
            raise CharlaError("GET /admin/conversations/%s -> %r" % (key, r))
        return r.json()
