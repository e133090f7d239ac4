#!/usr/bin/env python3
"""A fake clinic agenda for running examples/clinic locally (Python 3 standard library only).

    python3 examples/clinic/agenda_server.py [--port 8765] [--tz America/Santiago]

Listens on 127.0.0.1 only. Appointments live in memory (a restart forgets them).

  GET  /slots/<service>          {"slots": [{"id": "2026-03-03T10:00", "start": "2026-03-03T10:00:00-03:00"}, ...]}
                                 the free slots of the next 6 working days (Monday to Saturday), from tomorrow
  POST /bookings                 {"slot": "<id>", "service": "...", "phone": "...", "name": "..."}
                                 201 {"id": "AURA-0001", "start": "...", "service": "..."}
                                 409 {"error": "slot_taken"} when the slot is no longer free
                                 400 {"error": "..."} for a malformed request
  POST /bookings/<id>/cancel     200 {"id": "...", "status": "cancelled"}; 404 when unknown
  GET  /bookings                 every booking, for a look at what the bot did
  POST /take                     {"slot": "<id>"}: mark a slot as taken by someone else, to try
                                 the "slot taken meanwhile" path by hand
"""

import argparse
import datetime
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from zoneinfo import ZoneInfo
except ImportError:  # Python < 3.9: fixed offset
    ZoneInfo = None

WEEKDAY_TIMES = ["10:00", "11:30", "15:00", "17:30"]
SATURDAY_TIMES = ["10:00", "11:30"]
DAYS_AHEAD = 6
MAX_BODY = 64 * 1024

LOCK = threading.Lock()
TAKEN = {}        # slot id -> booking id ("" when taken by someone else)
BOOKINGS = {}     # booking id -> booking


def zone(name):
    if ZoneInfo is not None:
        try:
            return ZoneInfo(name)
        except Exception:  # no tzdata on this machine
            pass
    return datetime.timezone(datetime.timedelta(hours=-3))


def free_slots(tz, now=None):
    now = now or datetime.datetime.now(tz)
    day = now.date()
    slots, found = [], 0
    while found < DAYS_AHEAD:
        day += datetime.timedelta(days=1)
        if day.weekday() == 6:          # Sunday: closed
            continue
        found += 1
        for hhmm in SATURDAY_TIMES if day.weekday() == 5 else WEEKDAY_TIMES:
            hour, minute = map(int, hhmm.split(":"))
            start = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
            slot_id = start.strftime("%Y-%m-%dT%H:%M")
            if slot_id not in TAKEN:
                slots.append({"id": slot_id, "start": start.isoformat(timespec="seconds")})
    return slots


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-agenda/1"

    def reply(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            return None
        try:
            value = json.loads(self.rfile.read(length).decode("utf-8"))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def do_GET(self):
        m = re.fullmatch(r"/slots/([a-z0-9_]+)", self.path)
        with LOCK:
            if m:
                return self.reply(200, {"service": m.group(1), "slots": free_slots(self.server.tz)})
            if self.path == "/bookings":
                return self.reply(200, {"bookings": list(BOOKINGS.values())})
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        needs_body = self.path in ("/bookings", "/take")
        body = self.body() if needs_body else {}
        if body is None:
            return self.reply(400, {"error": "expected a JSON object body"})
        with LOCK:
            if self.path == "/bookings":
                slot = body.get("slot")
                if not isinstance(slot, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", slot):
                    return self.reply(400, {"error": "'slot' must be a slot id such as 2026-03-03T10:00"})
                if slot in TAKEN or slot not in {s["id"] for s in free_slots(self.server.tz)}:
                    return self.reply(409, {"error": "slot_taken"})
                booking_id = "AURA-%04d" % (len(BOOKINGS) + 1)
                start = datetime.datetime.strptime(slot, "%Y-%m-%dT%H:%M").replace(tzinfo=self.server.tz)
                booking = {"id": booking_id, "slot": slot, "start": start.isoformat(timespec="seconds"),
                           "service": body.get("service"), "phone": body.get("phone"),
                           "name": body.get("name"), "status": "booked"}
                BOOKINGS[booking_id] = booking
                TAKEN[slot] = booking_id
                return self.reply(201, booking)
            m = re.fullmatch(r"/bookings/([A-Z0-9-]+)/cancel", self.path)
            if m:
                booking = BOOKINGS.get(m.group(1))
                if not booking:
                    return self.reply(404, {"error": "unknown booking"})
                booking["status"] = "cancelled"
                TAKEN.pop(booking["slot"], None)
                return self.reply(200, {"id": booking["id"], "status": "cancelled"})
            if self.path == "/take":
                TAKEN[str(body.get("slot"))] = ""
                return self.reply(200, {"taken": body.get("slot")})
        self.reply(404, {"error": "not_found"})

    def log_message(self, fmt, *args):
        sys.stderr.write("agenda: " + (fmt % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tz", default="America/Santiago")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.tz = zone(args.tz)
    print("agenda: http://127.0.0.1:%d (zona %s)" % (args.port, args.tz), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
