"""The fault run's Graph API: the integration tests' FakeGraph (real wire format, real
HTTP on 127.0.0.1) in a child process of its own, so its Python work does not share a
GIL with the load generator, failing a share of sends on purpose.

Faults, drawn per request while faults are on (seeded, so a run can be repeated):
  500       the HTML 500 of graph-responses/error-500.html
  429       graph-responses/error-429-rate-limit.json (code 4) with Retry-After
  131056    the pair rate limit (HTTP 400, code 131056)
  reset     no answer: the connection is aborted; the message is NOT delivered
  latency   a success answered after `latency` seconds (delivered)

Only a 200 answer delivers a message, so "what the customer received" is exactly the
list of 200 answers in the dump.

Each request also names the engine process that sent it (the fault run restarts it
many times): the first time a connection is seen, the socket's inode is looked up in
/proc/net/tcp and searched among the open files of the engine processes. Timestamps
alone cannot do this on a loaded machine: a request the engine wrote just before its
kill may be read by this process a second later.
"""

import json
import multiprocessing
import os
import random
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "support"))

from fake_graph import FakeGraph, Reply  # noqa: E402

FAULT_KINDS = ("500", "429", "131056", "reset", "latency")


def _fault_reply(kind, fake, req, retry_after, latency):
    if kind == "500":
        return Reply.error("error-500.html")
    if kind == "429":
        return Reply.error("error-429-rate-limit.json", headers={"Retry-After": str(retry_after)})
    if kind == "131056":
        return Reply.error("error-131056.json")
    if kind == "reset":
        return Reply.reset_connection()
    return fake.success(req, delay=latency)


def _inode_of(client_port, server_port):
    """The inode of the client's end of a 127.0.0.1 connection, or None."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if (int(parts[1].rsplit(":", 1)[1], 16) == client_port
                    and int(parts[2].rsplit(":", 1)[1], 16) == server_port):
                return parts[9]
    return None


def _owned_by(pid, inode):
    target = "socket:[%s]" % inode
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                return True
        except OSError:
            pass
    return False


class _OwnerOf:
    """The pid of the engine process a connection came from (see the module
    docstring), or None when that process was already gone. Engines are the `serve`
    children of the fault run's process."""

    def __init__(self, server_port):
        self.server_port, self.parent = server_port, os.getppid()
        self.cache, self.lock = {}, threading.Lock()

    def engines(self):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid != self.parent:
                    continue
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if b"\0serve\0" in f.read():
                        yield int(d)
            except (OSError, ValueError, IndexError):
                pass

    def __call__(self, client):
        with self.lock:
            if client in self.cache:
                return self.cache[client]
        inode = _inode_of(client[0], self.server_port)
        found = None
        if inode is not None and inode != "0":
            found = next((pid for pid in self.engines() if _owned_by(pid, inode)), None)
        with self.lock:
            self.cache[client] = found
        return found


def _serve(conn, responses_dir, fail_rate, seed, retry_after, latency):
    fake = FakeGraph(responses_dir)
    owner_of = _OwnerOf(fake.port)
    rng = random.Random(seed)
    lock = threading.Lock()
    state = {"faults": True}
    counts = {k: 0 for k in FAULT_KINDS}

    def responder(req):
        req.pid = owner_of(req.client)
        with lock:
            if not state["faults"] or rng.random() >= fail_rate:
                return None
            kind = rng.choice(FAULT_KINDS)
            counts[kind] += 1
        return _fault_reply(kind, fake, req, retry_after, latency)

    fake.set_responder(responder)
    conn.send(fake.port)
    while True:
        cmd = conn.recv()
        if cmd[0] == "faults":
            with lock:
                state["faults"] = cmd[1]
            conn.send(True)
        elif cmd[0] == "count":
            reqs = fake.requests()
            conn.send({"requests": len(reqs), "ok": sum(1 for r in reqs if r.reply and r.reply.status == 200)})
        elif cmd[0] == "dump":
            rows = [{"t": r.time, "answered": r.answered_at, "pnid": r.phone_number_id, "to": r.to, "text": r.text,
                     "status": r.reply.status if r.reply else None, "label": r.reply.label if r.reply else None,
                     "pid": getattr(r, "pid", None)}
                    for r in fake.requests()]
            with open(cmd[1], "w") as f:
                json.dump({"requests": rows, "faults": counts}, f)
            conn.send(len(rows))
        elif cmd[0] == "stop":
            fake.close()
            conn.send(True)
            return


class GraphProcess:
    """Handle on the fake Graph child process; every call is bounded in time."""

    def __init__(self, responses_dir, fail_rate, seed, retry_after, latency):
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, responses_dir, fail_rate, seed, retry_after, latency),
                                 daemon=True)
        self._proc.start()
        self.port = self._call(None, 10)

    def _call(self, cmd, timeout):
        if cmd is not None:
            self._conn.send(cmd)
        if not self._conn.poll(timeout):
            raise TimeoutError("fake Graph process did not answer %r within %.0f s" % (cmd, timeout))
        return self._conn.recv()

    def faults(self, on):
        return self._call(("faults", on), 10)

    def count(self):
        return self._call(("count",), 10)

    def dump(self, path):
        self._call(("dump", path), 60)
        with open(path) as f:
            return json.load(f)

    def stop(self):
        try:
            self._call(("stop",), 10)
        except (TimeoutError, OSError, EOFError):
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
