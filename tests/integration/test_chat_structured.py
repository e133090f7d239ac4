#!/usr/bin/env python3
"""Integration test: `charla chat` speaks like WhatsApp and runs on a fake clock.

Run by ctest as:
    python3 test_chat_structured.py --charla <path-to-charla> --source <repo root>

One `charla chat --now 2026-03-02T09:00:00-03:00` session (a Monday, 09:00 in
Santiago) over a small flow written to a temp dir, fed JSON-lines input:
  - structured lines: {"text":"2"} is a text even after buttons (a bare "2" picks),
    {"button":"dolor"}, {"list":"x1"}, {"type":"location",...};
  - {"wait":"10m"} moves the fake clock: the 10-minute timer fires, its turn is
    marked "timer": true, and ctx:clock inside it reads 09:10; ctx:is_open follows
    the fake clock past closing time;
  - WhatsApp's limits: a 23-character button title fails the turn with the reason,
    as `serve` would, instead of passing in chat;
  - a bad structured line stops a script with exit 2 and says why;
  - with -c, the config's flow_settings reach the flow as ctx.settings, and a
    flow_settings block naming no loaded flow stops chat with exit 2.
Python 3 standard library only; every wait bounded.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

FLOW = r'''
return {
  name = "citas", version = 1, initial = "INICIO", timezone = "America/Santiago",
  open_hours = { mon_fri = "09:00-19:00" },
  states = {
    INICIO = {
      final = true,
      message = function(ctx, msg)
        if msg.type == "location" then
          return ctx:say(string.format("ubicación %.1f %.1f", msg.location.latitude, msg.location.longitude))
        end
        if msg.button then return ctx:say("botón " .. msg.button.id) end
        if msg.list then return ctx:say("fila " .. msg.list.id) end
        if msg.text == "menu" then
          return ctx:buttons("¿Qué necesitas?", { { id = "dolor", title = "Dolor" }, { id = "control", title = "Control" } })
        end
        if msg.text == "ajustes" then return ctx:say("ajuste " .. tostring(ctx.settings.saludo)) end
        if msg.text == "largo" then return ctx:buttons("Elige", { "Agendar hora con doctor" }) end
        if msg.text == "recordar" then
          ctx:after("10m", "aviso")
          return ctx:say("te aviso en 10 minutos")
        end
        ctx:say("texto " .. msg.text .. " " .. ctx:format_date(ctx:clock(), "%A %H:%M") ..
                (ctx:is_open() and " abierto" or " cerrado"))
      end,
      timers = { aviso = function(ctx) ctx:say("aviso " .. ctx:format_date(ctx:clock(), "%H:%M")) end },
    },
  },
}
'''

INPUT = [
    "menu",
    {"text": "2"},
    "menu",
    "2",
    {"button": "dolor"},
    {"list": "x1"},
    {"type": "location", "location": {"latitude": -33.4, "longitude": -70.6}},
    "recordar",
    {"wait": "10m"},
    "largo",
    {"wait": "10h"},
    "hola",
]


def run_chat(charla, flow, data, lines, timeout=60, config=None):
    text = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    source = ["-c", config] if config else ["--flow", flow]
    proc = subprocess.run(
        [charla, "chat"] + source + ["--data", data, "--now", "2026-03-02T09:00:00-03:00",
         "--workers", "1", "--log-level", "error"],
        input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    events = [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]
    return proc.returncode, events, proc.stderr.decode()


def check(cond, what, events):
    if not cond:
        print("FAIL: " + what)
        for e in events:
            print("  " + json.dumps(e, ensure_ascii=False))
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="charla-chat-structured-")
    try:
        flow = os.path.join(tmp, "citas.lua")
        with open(flow, "w", encoding="utf-8") as f:
            f.write(FLOW)
        code, events, err = run_chat(args.charla, flow, os.path.join(tmp, "data"), INPUT)
        check(code == 0, "exit status %d (stderr: %s)" % (code, err), events)
        texts = [e["message"].get("text") for e in events if e["event"] == "message"]
        turns = [e for e in events if e["event"] == "turn"]
        check(texts[1] == "texto 2 lunes 09:00 abierto", '{"text":"2"} is a text, read at the fake 09:00', events)
        check(texts[3] == "botón control", 'a bare "2" picks the second button', events)
        check(texts[4] == "botón dolor", '{"button":"dolor"} taps by id', events)
        check(texts[5] == "fila x1", '{"list":"x1"} chooses a row', events)
        check(texts[6] == "ubicación -33.4 -70.6", "a location message arrives", events)
        check(texts[8] == "aviso 09:10", "the timer fires after {\"wait\":\"10m\"} at the fake 09:10", events)
        timer_turns = [t for t in turns if t.get("timer")]
        check(len(timer_turns) == 1 and timer_turns[0]["ok"], "exactly one turn is marked as a timer turn", events)
        clocks = [e for e in events if e["event"] == "clock"]
        check([c["now"] for c in clocks] == ["2026-03-02T12:10:00+00:00", "2026-03-02T22:10:00+00:00"],
              "each wait reports the fake clock", events)
        failed = [t for t in turns if not t["ok"]]
        check(len(failed) == 1 and "20" in failed[0]["error"] and "title" in failed[0]["error"]
              and "Agendar hora con doctor" not in texts,
              "a 23-character button title fails the turn with WhatsApp's limit", events)
        check(texts[-1] == "texto hola lunes 19:10 cerrado", "ctx:is_open follows the fake clock", events)

        code, events, err = run_chat(args.charla, flow, os.path.join(tmp, "data2"), ["hola", {"buton": "x"}, "hola"])
        check(code == 2 and "input line 2" in err and "buton" in err,
              "a bad structured line stops a script with exit 2 naming the line (got %d, %s)" % (code, err), events)

        config = os.path.join(tmp, "charla.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"flows": ["citas.lua"], "flow_settings": {"citas": {"saludo": "hola desde config"}}}, f)
        code, events, err = run_chat(args.charla, flow, os.path.join(tmp, "data4"), ["ajustes"], config=config)
        texts = [e["message"].get("text") for e in events if e["event"] == "message"]
        check(code == 0 and texts == ["ajuste hola desde config"],
              "flow_settings reach the flow as ctx.settings (exit %d, %s)" % (code, err), events)
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"flows": ["citas.lua"], "flow_settings": {"cita": {"saludo": "x"}}}, f)
        code, events, err = run_chat(args.charla, flow, os.path.join(tmp, "data5"), ["ajustes"], config=config)
        check(code == 2 and "flow_settings.cita: no loaded flow is named 'cita'" in err,
              "a flow_settings block for no loaded flow is a configuration error (exit %d, %s)" % (code, err), events)
        print("ok: chat structured input, fake clock, timer turns, WhatsApp limits")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
