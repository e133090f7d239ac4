"""A fake event webhook (a CRM) on 127.0.0.1: records every POST charla makes and
answers from a per-phone script (default 200). Python 3 standard library only."""

import hashlib
import hmac
import http.server
import json
import threading
import time


class Post:
    def __init__(self, at, headers, raw, status):
        self.at = at                   # time.monotonic() when received
        self.headers = headers         # lower-cased names
        self.raw = raw                 # body bytes, as signed
        self.status = status           # what the fake answered
        self.body = json.loads(raw.decode("utf-8"))

    def signature_ok(self, secret):
        expected = "sha256=" + hmac.new(secret.encode(), self.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-charla-signature", ""))

    def __repr__(self):
        b = self.body
        return "<%s %s %s %s -> %d>" % (b.get("name"), b.get("phone"), json.dumps(b.get("payload")), b.get("id"),
                                      self.status)


class FakeReceiver:
    def __init__(self):
        self.posts = []
        self.scripts = {}              # phone -> [(status, headers)], consumed in order
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    phone = json.loads(raw.decode("utf-8")).get("phone", "")
                except ValueError:
                    phone = ""
                with receiver.lock:
                    script = receiver.scripts.get(phone) or []
                    status, extra = script.pop(0) if script else (200, {})
                    receiver.posts.append(Post(time.monotonic(), headers, raw, status))
                body = b'{"ok":true}' if status < 300 else b'{"error":"scripted"}'
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def script(self, phone, replies):
        """replies: [status] or [(status, headers)] answered in order to events of `phone`."""
        with self.lock:
            self.scripts[phone] = [r if isinstance(r, tuple) else (r, {}) for r in replies]

    def for_phone(self, phone, name=None, delivered=None):
        with self.lock:
            return [p for p in self.posts if p.body.get("phone") == phone and (name is None or p.body["name"] == name)
                    and (delivered is None or (200 <= p.status < 300) == delivered)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
