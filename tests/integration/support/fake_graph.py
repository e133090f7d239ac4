"""A fake WhatsApp Graph API for charla's integration tests (Python 3 stdlib only).

It serves `POST /{version}/{phone_number_id}/messages` on 127.0.0.1, records every
request (arrival time, path, Authorization header, parsed JSON body) and answers it
with a reply chosen, in this order, by:

  1. the per-recipient script (`script(to, [Reply, ...])`, consumed one per request),
  2. the responder function (`set_responder(fn)`, `fn(request) -> Reply or None`),
  3. the default: a success in the shape of graph-responses/send-success.json with a
     fresh, unique wamid (send-success-template.json for template messages).

Error replies are built from the real files in shared/whatsapp/graph-responses with the
HTTP status and headers listed in its responses.json (`Reply.error("error-131056.json")`,
`Reply.error("error-500.html")`, `Reply.error("error-429-rate-limit.json")` which carries
`Retry-After: 17` ...). Any reply can carry a delay (seconds) applied before answering.
`Reply.reset_connection()` answers nothing: the connection is closed abruptly (SO_LINGER 0),
as when a proxy or the network drops it; the request counts as not delivered.

The server can be created bound but not listening (`FakeGraph(listen=False)`, then
`listen()`): connections are refused until then, which is how a test makes the Graph
API "not yet reachable" on a port already written into charla's config.

Thread-safe; every wait is bounded (`wait_for`).
"""

import copy
import http.server
import itertools
import json
import os
import socket
import struct
import sys
import threading
import time


class Reply:
    """One scripted answer: HTTP status, body bytes, headers, optional delay."""

    def __init__(self, status, body=b"", headers=None, delay=0.0, label=""):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.headers = dict(headers or {})
        self.headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        self.delay = delay
        self.label = label or str(status)
        self.reset = False   # True: close the connection instead of answering

    def with_delay(self, delay):
        r = copy.copy(self)
        r.headers = dict(self.headers)
        r.delay = delay
        return r

    @classmethod
    def reset_connection(cls, delay=0.0):
        """No answer: the connection is aborted (RST) after `delay` seconds."""
        r = cls(0, b"", delay=delay, label="reset")
        r.reset = True
        return r

    # Filled in by FakeGraph (needs the graph-responses directory).
    _responses_dir = None
    _catalog = None

    @classmethod
    def configure(cls, responses_dir):
        cls._responses_dir = responses_dir
        with open(os.path.join(responses_dir, "responses.json"), "rb") as f:
            cls._catalog = {row["file"]: row for row in json.load(f)}

    @classmethod
    def error(cls, file_name, delay=0.0, status=None, headers=None):
        """An error reply from graph-responses/<file_name> with its documented status/headers."""
        if cls._catalog is None:
            raise RuntimeError("Reply.configure(responses_dir) was not called")
        row = cls._catalog[file_name]
        with open(os.path.join(cls._responses_dir, file_name), "rb") as f:
            body = f.read()
        h = dict(row.get("headers") or {})
        if headers:
            h.update(headers)
        return cls(status or row["http_status"], body, h, delay, label=file_name)


class Request:
    """One request the fake received."""

    def __init__(self, seq, method, path, headers, raw):
        self.seq = seq
        self.time = time.monotonic()
        self.answered_at = None
        self.method = method
        self.path = path
        self.headers = headers
        self.authorization = headers.get("Authorization", "")
        self.raw = raw
        try:
            self.body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.body = None
        parts = path.split("?")[0].strip("/").split("/")
        self.version = parts[0] if len(parts) == 3 else None
        self.phone_number_id = parts[1] if len(parts) == 3 else None
        b = self.body if isinstance(self.body, dict) else {}
        self.to = b.get("to") or b.get("recipient")
        self.type = b.get("type")
        self.reply = None          # the Reply sent back
        self.wamid = None          # the wamid of a success reply
        self.write_failed = False  # the answer could not be written (client gone)
        self.client = None         # (client port, connection number): which connection it came on

    @property
    def text(self):
        """The text body of a text message, else None."""
        b = self.body if isinstance(self.body, dict) else {}
        t = b.get("text")
        return t.get("body") if isinstance(t, dict) else None

    @property
    def template_name(self):
        b = self.body if isinstance(self.body, dict) else {}
        t = b.get("template")
        return t.get("name") if isinstance(t, dict) else None

    def describe(self):
        status = self.reply.label if self.reply else "-"
        what = self.text if self.text is not None else (
            "template:%s" % self.template_name if self.template_name else self.type)
        return "#%d %s %s to=%s auth=%r %r -> %s" % (
            self.seq, self.method, self.path, self.to, self.authorization, what, status)


class _QuietServer(http.server.ThreadingHTTPServer):
    """Connections reset by a killed charla are expected: no tracebacks for those."""

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeGraph:
    def __init__(self, responses_dir, port=0, listen=True):
        Reply.configure(responses_dir)
        self._responses_dir = responses_dir
        with open(os.path.join(responses_dir, "send-success.json"), "rb") as f:
            self._success_shape = json.load(f)
        with open(os.path.join(responses_dir, "send-success-template.json"), "rb") as f:
            self._template_shape = json.load(f)
        self._cond = threading.Condition()
        self._requests = []
        self._scripts = {}
        self._responder = None
        self._default_delay = 0.0
        self._ids = itertools.count(1)
        self._in_flight = {}
        self.max_in_flight = {}       # recipient -> highest concurrent requests seen
        self._total_in_flight = 0
        self.max_total_in_flight = 0  # highest concurrent requests seen, all recipients
        self._open_connections = 0
        self._connection_numbers = itertools.count(1)
        self.max_open_connections = 0  # highest number of client connections open at once
        self.handler_errors = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.connection_number = next(fake._connection_numbers)
                with fake._cond:
                    fake._open_connections += 1
                    fake.max_open_connections = max(fake.max_open_connections, fake._open_connections)

            def finish(self):
                try:
                    super().finish()
                finally:
                    with fake._cond:
                        fake._open_connections -= 1

            def _handle(self):
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length) if length else b""
                    fake._serve(self, raw)
                except Exception as e:  # never let a bug here hang charla
                    fake.handler_errors.append("%s: %s" % (type(e).__name__, e))
                    raise

            do_POST = _handle
            do_GET = _handle

        self._server = _QuietServer(("127.0.0.1", port), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        self._server.server_bind()
        self.port = self._server.server_address[1]
        self._thread = None
        if listen:
            self.listen()

    # --- lifecycle -------------------------------------------------------------------
    def listen(self):
        """Starts accepting connections (until then they are refused)."""
        if self._thread:
            return
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self):
        if self._thread:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    # --- scripting -------------------------------------------------------------------
    def script(self, to, replies):
        """Queues replies for requests to recipient `to` (one per request, in order)."""
        with self._cond:
            self._scripts.setdefault(to, []).extend(replies)

    def set_responder(self, fn):
        """fn(Request) -> Reply, or None for the default success."""
        with self._cond:
            self._responder = fn

    def set_default_delay(self, seconds):
        with self._cond:
            self._default_delay = seconds

    def success(self, request, delay=None):
        """The default success reply for `request` (unique wamid)."""
        n = next(self._ids)
        wamid = "wamid.FAKE%06d%s" % (n, os.urandom(6).hex().upper())
        shape = copy.deepcopy(self._template_shape if request.type == "template" else self._success_shape)
        shape["contacts"][0]["input"] = request.to or ""
        shape["contacts"][0]["wa_id"] = request.to or ""
        shape["messages"][0]["id"] = wamid
        r = Reply(200, shape, delay=self._default_delay if delay is None else delay, label="200 " + wamid)
        r.wamid = wamid
        return r

    # --- serving ---------------------------------------------------------------------
    def _serve(self, handler, raw):
        headers = {k: v for k, v in handler.headers.items()}
        with self._cond:
            req = Request(len(self._requests) + 1, handler.command, handler.path, headers, raw)
            req.client = (handler.client_address[1], getattr(handler, "connection_number", 0))
            self._requests.append(req)
            key = req.to or ""
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), self._in_flight[key])
            self._total_in_flight += 1
            self.max_total_in_flight = max(self.max_total_in_flight, self._total_in_flight)
            reply = None
            if handler.command != "POST" or not req.path.endswith("/messages") or req.version is None:
                reply = Reply(404, {"error": {"message": "fake graph: unknown path", "code": 100}})
            elif self._scripts.get(key):
                reply = self._scripts[key].pop(0)
            responder = self._responder
            self._cond.notify_all()
        if reply is None and responder is not None:
            reply = responder(req)
        if reply is None:
            reply = self.success(req)
        if reply.delay:
            time.sleep(reply.delay)
        with self._cond:
            req.reply = reply
            req.wamid = getattr(reply, "wamid", None) if reply.status == 200 else None
            req.answered_at = time.monotonic()
            # Not in flight any more before charla can see the answer, so a next
            # request sent right after it is never counted as concurrent.
            self._in_flight[key] -= 1
            self._total_in_flight -= 1
            self._cond.notify_all()
        if reply.reset:
            # Abortive close: linger 0 turns the server's close into a RST.
            try:
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            handler.close_connection = True
            return
        try:
            handler.send_response(reply.status)
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
            handler.wfile.flush()
        except OSError:   # charla went away (killed or stopped) while we were answering
            req.write_failed = True
            handler.close_connection = True

    # --- inspection ------------------------------------------------------------------
    def requests(self, to=None, phone_number_id=None, answered=False):
        with self._cond:
            out = list(self._requests)
        if to is not None:
            out = [r for r in out if r.to == to]
        if phone_number_id is not None:
            out = [r for r in out if r.phone_number_id == phone_number_id]
        if answered:
            out = [r for r in out if r.reply is not None]
        return out

    def wait_for(self, predicate, timeout, what="condition"):
        """Waits until predicate(list of all requests) is true; returns the list.
        Raises TimeoutError (with the requests seen) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                snapshot = list(self._requests)
                if predicate(snapshot):
                    return snapshot
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("fake graph: timed out after %.1f s waiting for %s; requests:\n  %s"
                                       % (timeout, what, "\n  ".join(r.describe() for r in snapshot[-30:])))
                self._cond.wait(min(left, 0.2))

    def wait_count(self, n, timeout, to=None, answered=True):
        """Waits until at least n requests (to `to`, if given) have been answered."""
        def ok(reqs):
            sel = [r for r in reqs if (to is None or r.to == to) and (not answered or r.reply is not None)]
            return len(sel) >= n
        self.wait_for(ok, timeout, "%d answered request(s)%s" % (n, " to %s" % to if to else ""))
        return self.requests(to=to, answered=answered)

    def settle(self, seconds, to=None):
        """Sleeps `seconds` and returns the requests (to `to`) seen by then."""
        time.sleep(seconds)
        return self.requests(to=to)

    def dump(self, last=40):
        return "\n  ".join(r.describe() for r in self.requests()[-last:]) or "(none)"


def free_port():
    """A port that was free a moment ago on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()
