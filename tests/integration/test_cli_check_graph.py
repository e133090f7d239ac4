#!/usr/bin/env python3
"""Integration test: `charla check` and `charla graph` as a flow designer runs them.

Run by ctest as:
    python3 test_cli_check_graph.py --charla <path-to-charla> --source <repo root>

Proves, on the real binary:
  - every shipped flow passes `charla check` (exit 0, one "ok" line each, no warnings);
  - a flow with a state nothing leads to gets a "warn" line naming it, exit still 0;
  - a flow returning a state that does not exist fails with file:line, exit 2;
  - a state with no way out that is not `final = true` is a warning;
  - an anonymous function returning a string inside a handler does not stop a flow
    from loading (`charla check` passes it), and a typo in a local helper a handler
    returns through fails with the helper's file:line;
  - `check --json` prints one JSON document (files, errors, warnings with file, line,
    message, severity) with the same exit codes;
  - `charla graph` prints the reference flow's diagram in Mermaid (default) and DOT,
    with the edges of INICIO -> NEEDS_ANALYSIS -> COTIZACION -> PROPUESTA -> FINALIZADO;
  - an unknown --format is a usage error (exit 2) naming the allowed formats.
Python 3 standard library only; every command is bounded by a timeout.
"""

import argparse
import json
import os
import sys
import tempfile

TIMEOUT_S = 30

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from cli import expect, run_charla  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    src = a.source

    shipped = [os.path.join(src, "flows", "insurance.lua")] + [
        os.path.join(src, "examples", d, "flow.lua") for d in ("insurance", "clinic", "real_estate")
        if os.path.exists(os.path.join(src, "examples", d, "flow.lua"))]
    rc, out, err = run_charla(a.charla, "check", *shipped, timeout=TIMEOUT_S)
    expect(rc == 0, f"shipped flows pass check (rc={rc})", out + err)
    expect(out.count("ok   ") == len(shipped) and "warn" not in out, "one ok line per flow, no warnings", out)

    with tempfile.TemporaryDirectory(prefix="charla-check-") as tmp:
        orphan = os.path.join(tmp, "orphan.lua")
        with open(orphan, "w") as f:
            f.write('return { name = "o", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg) return "B" end },\n'
                    '  B = { final = true, enter = function(ctx) ctx:say("fin") end },\n'
                    '  OLVIDADO = { enter = function(ctx) return "A" end },\n'
                    '} }\n')
        rc, out, err = run_charla(a.charla, "check", orphan, timeout=TIMEOUT_S)
        expect(rc == 0, f"an unreachable state is a warning, not an error (rc={rc})", out + err)
        expect("warn" in out and "state OLVIDADO is not reached from A" in out, "warning names the state", out)
        expect("state B " not in out, "reachable states are not reported", out)

        broken = os.path.join(tmp, "broken.lua")
        with open(broken, "w") as f:
            f.write('return { name = "b", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg) return "NO_EXISTE" end },\n'
                    '} }\n')
        rc, out, err = run_charla(a.charla, "check", broken, timeout=TIMEOUT_S)
        expect(rc == 2, f"unknown state fails check with exit 2 (rc={rc})", out + err)
        expect("broken.lua:2:" in out and "NO_EXISTE" in out, "error names file:line and the state", out)

        dead_end = os.path.join(tmp, "dead_end.lua")
        with open(dead_end, "w") as f:
            f.write('return { name = "d", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg) return "B" end },\n'
                    '  B = { enter = function(ctx) ctx:say("fin") end },\n'
                    '} }\n')
        rc, out, err = run_charla(a.charla, "check", dead_end, timeout=TIMEOUT_S)
        expect(rc == 0 and "dead_end.lua:3: state B has no way out" in out, f"dead end warned (rc={rc})", out + err)

        nested = os.path.join(tmp, "nested.lua")
        with open(nested, "w") as f:
            f.write('local function a_recepcion(ctx) return "RECEPCION" end\n'
                    'return { name = "n", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg)\n'
                    '    local saludo = function() return "Hola" end\n'
                    '    ctx:say(saludo())\n'
                    '    return a_recepcion(ctx)\n'
                    '  end },\n'
                    '  RECEPCION = { final = true },\n'
                    '} }\n')
        rc, out, err = run_charla(a.charla, "check", nested, timeout=TIMEOUT_S)
        expect(rc == 0 and "warn" not in out, f"nested function and helper pass check (rc={rc})", out + err)
        with open(nested) as f:
            text = f.read()
        with open(nested, "w") as f:
            f.write(text.replace('return "RECEPCION"', 'return "RECEPCIOM"'))
        rc, out, err = run_charla(a.charla, "check", nested, timeout=TIMEOUT_S)
        expect(rc == 2 and "nested.lua:1: returns unknown state 'RECEPCIOM'" in out,
               f"typo in a helper fails at its line (rc={rc})", out + err)

        rc, out, err = run_charla(a.charla, "check", "--json", orphan, broken, nested, timeout=TIMEOUT_S)
        expect(rc == 2, f"--json keeps the exit status (rc={rc})", out + err)
        doc = json.loads(out)
        expect([f["ok"] for f in doc["files"]] == [True, False, False], "one entry per file", out)
        expect(len(doc["errors"]) == 2 and len(doc["warnings"]) == 1, "two errors, one warning", out)
        e = doc["errors"][0]
        expect(e["file"] == broken and e["line"] == 2 and e["severity"] == "error" and "NO_EXISTE" in e["message"],
               "error has file, line, severity, message", out)
        w = doc["warnings"][0]
        expect(w["file"] == orphan and w["line"] == 4 and w["severity"] == "warning" and "OLVIDADO" in w["message"],
               "warning has file, line, severity, message", out)
        rc, out, err = run_charla(a.charla, "check", "--json", *shipped, timeout=TIMEOUT_S)
        expect(rc == 0 and json.loads(out)["warnings"] == [], f"shipped flows: --json, no warnings (rc={rc})", out)

    flow = os.path.join(src, "flows", "insurance.lua")
    rc, out, err = run_charla(a.charla, "graph", flow, timeout=TIMEOUT_S)
    expect(rc == 0 and out.startswith("stateDiagram-v2\n"), f"mermaid by default (rc={rc})", out + err)
    for edge in ("[*] --> s_INICIO", "s_INICIO --> s_NEEDS_ANALYSIS", "s_NEEDS_ANALYSIS --> s_COTIZACION",
                 "s_COTIZACION --> s_PROPUESTA", "s_PROPUESTA --> s_FINALIZADO"):
        expect(edge in out, f"mermaid has edge {edge}", out)

    rc, out, err = run_charla(a.charla, "graph", flow, "--format", "dot", timeout=TIMEOUT_S)
    expect(rc == 0 and out.startswith('digraph "insurance" {'), f"dot output (rc={rc})", out + err)
    expect('"PROPUESTA" -> "FINALIZADO"' in out and out.rstrip().endswith("}"), "dot has the closing edge", out)

    rc, out, err = run_charla(a.charla, "graph", flow, "--format", "svg", timeout=TIMEOUT_S)
    expect(rc == 2 and "mermaid" in err and "dot" in err, f"unknown format is a usage error (rc={rc})", out + err)
    print("ok: check and graph")


if __name__ == "__main__":
    main()
