#!/usr/bin/env python3
"""Integration test: the clinic example books through its fake agenda over real HTTP.

Run by ctest as:
    python3 test_clinic_agenda.py --charla <path-to-charla> --source <repo root>

Starts examples/clinic/agenda_server.py on a free 127.0.0.1 port and `charla chat` on
examples/clinic/flow.lua with the http plugin allowed to reach it (flow_settings gives
the flow the agenda's URL), then, as a customer:
  1. asks for a peeling: the slots shown are the agenda's;
  2. picks the first slot, which someone else takes (POST /take) before the customer
     confirms: the booking POST gets 409 and the remaining slots are offered;
  3. books the next slot: the agenda holds the booking, with the customer's phone;
  4. cancels by message: the agenda marks the booking cancelled.

Python 3 standard library only; every wait is bounded (the whole test: 60 s).
"""

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DEADLINE = time.monotonic() + 60.0
TURN_TIMEOUT_S = 15.0
PHONE = "56922220001"


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agenda(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read().decode())


def wait_listening(port):
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise Failure("the fake agenda did not start listening on port %d" % port)


class Chat:
    def __init__(self, cmd, cwd):
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        for raw in iter(self.proc.stdout.readline, b""):
            try:
                self.lines.put(json.loads(raw.decode("utf-8", "replace")))
            except ValueError:
                pass
        self.lines.put(None)

    def _err(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.stderr.append(raw.decode("utf-8", "replace").rstrip())
            del self.stderr[:-30]

    def send(self, text):
        """One input line -> (outbound messages, turn event)."""
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()
        messages = []
        end = min(time.monotonic() + TURN_TIMEOUT_S, DEADLINE)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Failure("no turn for input %r; messages so far: %s" % (text, messages))
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if obj is None:
                raise Failure("charla chat exited (input %r)" % text)
            if obj.get("event") == "message":
                messages.append(obj["message"])
            elif obj.get("event") == "turn":
                if not obj.get("ok"):
                    raise Failure("turn failed for %r: %s" % (text, obj))
                return messages, obj

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=5)


def rows(message):
    return [r for s in message.get("sections") or [] for r in s.get("rows") or []]


def expect(cond, what, detail=""):
    if not cond:
        raise Failure(what + ("\n  " + str(detail) if detail else ""))


def run(charla, source, tmp):
    port = free_port()
    clinic = os.path.join(source, "examples", "clinic")
    server = subprocess.Popen([sys.executable, os.path.join(clinic, "agenda_server.py"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chat = None
    try:
        wait_listening(port)
        config = os.path.join(tmp, "charla.json")
        with open(config, "w") as f:
            json.dump({
                "flows": [os.path.join(clinic, "flow.lua")],
                "data_dir": os.path.join(tmp, "data"),
                "plugins": {"http": {"allow_hosts": {"clinic": ["127.0.0.1:%d" % port]}, "timeout_ms": 5000}},
                "flow_settings": {"clinic": {"agenda_url": "http://127.0.0.1:%d" % port}},
            }, f)
        env_cmd = [charla, "chat", "-c", config, "--phone", PHONE, "--name", "Ana"]
        chat = Chat(env_cmd, tmp)

        out, turn = chat.send("hola, quiero un peeling")
        expect(turn["state"] == "HORARIO", "a named service goes straight to the slots", (turn, out))
        offered = [r["id"] for r in rows(out[-1]) if r["id"][0].isdigit()]
        served = [s["id"] for s in agenda(port, "GET", "/slots/peeling")["slots"]]
        expect(offered and offered == served[:len(offered)], "the slots shown are the agenda's", (offered, served))

        out, turn = chat.send("1")
        expect(turn["state"] == "CONFIRMAR", "picking a slot asks for confirmation", (turn, out))
        agenda(port, "POST", "/take", {"slot": offered[0]})      # someone else is faster
        out, turn = chat.send("1")                                 # Confirmar
        text = json.dumps(out, ensure_ascii=False)
        expect(turn["state"] == "HORARIO" and "alguien acaba de tomar" in text,
               "a slot taken meanwhile (409) offers the remaining ones", text)
        expect(offered[0] not in [r["id"] for r in rows(out[-1])], "the taken slot is not offered again", text)

        out, turn = chat.send("1")
        out, turn = chat.send("1")                                 # Confirmar
        text = json.dumps(out, ensure_ascii=False)
        expect(turn["state"] == "AGENDADA" and "Agendé *Peeling químico*" in text, "the booking is confirmed", text)
        bookings = agenda(port, "GET", "/bookings")["bookings"]
        expect(len(bookings) == 1 and bookings[0]["phone"] == PHONE and bookings[0]["status"] == "booked"
               and bookings[0]["slot"] == offered[1], "the agenda holds the booking", bookings)

        out, turn = chat.send("quiero cancelar mi cita")
        expect(turn["state"] == "ESPECIALIDAD" and "Cancelé tu cita" in json.dumps(out, ensure_ascii=False),
               "cancel by message", (turn, out))
        bookings = agenda(port, "GET", "/bookings")["bookings"]
        expect(bookings[0]["status"] == "cancelled", "the agenda marks the booking cancelled", bookings)
    except Failure:
        if chat:
            print("charla stderr (tail):\n  " + "\n  ".join(chat.stderr[-15:]), file=sys.stderr)
        raise
    finally:
        if chat:
            chat.close()
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="charla-clinic-") as tmp:
        try:
            run(os.path.abspath(a.charla), os.path.abspath(a.source), tmp)
        except Failure as e:
            print("FAIL: %s" % e, file=sys.stderr)
            return 1
    print("ok: clinic books, meets a taken slot and cancels through the fake agenda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
