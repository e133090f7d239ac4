#!/usr/bin/env python3
"""Integration test: `charla check` and `charla graph` as a flow designer runs them.

Run by ctest as:
    python3 test_cli_check_graph.py --charla <path-to-charla> --source <repo root>

Proves, on the real binary:
  - every shipped flow passes `charla check` (exit 0, one "ok" line each, no warnings);
  - a flow with a state nothing leads to gets a "warn" line naming it, exit still 0;
  - a flow returning a state that does not exist fails with file:line, exit 2;
  - `charla graph` prints the reference flow's diagram in Mermaid (default) and DOT,
    with the edges of INICIO -> NEEDS_ANALYSIS -> COTIZACION -> PROPUESTA -> FINALIZADO;
  - an unknown --format is a usage error (exit 2) naming the allowed formats.
Python 3 standard library only; every command is bounded by a timeout.
"""

import argparse
import os
import subprocess
import sys
import tempfile

TIMEOUT_S = 30


def run(charla, *args):
    p = subprocess.run([charla, *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, output=""):
    if not cond:
        print(f"FAIL: {what}\n--- output ---\n{output}", file=sys.stderr)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    src = a.source

    shipped = [os.path.join(src, "flows", "insurance.lua")] + [
        os.path.join(src, "examples", d, "flow.lua") for d in ("insurance", "clinic", "real_estate")
        if os.path.exists(os.path.join(src, "examples", d, "flow.lua"))]
    rc, out, err = run(a.charla, "check", *shipped)
    expect(rc == 0, f"shipped flows pass check (rc={rc})", out + err)
    expect(out.count("ok   ") == len(shipped) and "warn" not in out, "one ok line per flow, no warnings", out)

    with tempfile.TemporaryDirectory(prefix="charla-check-") as tmp:
        orphan = os.path.join(tmp, "orphan.lua")
        with open(orphan, "w") as f:
            f.write('return { name = "o", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg) return "B" end },\n'
                    '  B = { enter = function(ctx) ctx:say("fin") end },\n'
                    '  OLVIDADO = { enter = function(ctx) return "A" end },\n'
                    '} }\n')
        rc, out, err = run(a.charla, "check", orphan)
        expect(rc == 0, f"an unreachable state is a warning, not an error (rc={rc})", out + err)
        expect("warn" in out and "state OLVIDADO is not reached from A" in out, "warning names the state", out)
        expect("state B " not in out, "reachable states are not reported", out)

        broken = os.path.join(tmp, "broken.lua")
        with open(broken, "w") as f:
            f.write('return { name = "b", initial = "A", states = {\n'
                    '  A = { message = function(ctx, msg) return "NO_EXISTE" end },\n'
                    '} }\n')
        rc, out, err = run(a.charla, "check", broken)
        expect(rc == 2, f"unknown state fails check with exit 2 (rc={rc})", out + err)
        expect("broken.lua:2:" in out and "NO_EXISTE" in out, "error names file:line and the state", out)

    flow = os.path.join(src, "flows", "insurance.lua")
    rc, out, err = run(a.charla, "graph", flow)
    expect(rc == 0 and out.startswith("stateDiagram-v2\n"), f"mermaid by default (rc={rc})", out + err)
    for edge in ("[*] --> s_INICIO", "s_INICIO --> s_NEEDS_ANALYSIS", "s_NEEDS_ANALYSIS --> s_COTIZACION",
                 "s_COTIZACION --> s_PROPUESTA", "s_PROPUESTA --> s_FINALIZADO"):
        expect(edge in out, f"mermaid has edge {edge}", out)

    rc, out, err = run(a.charla, "graph", flow, "--format", "dot")
    expect(rc == 0 and out.startswith('digraph "insurance" {'), f"dot output (rc={rc})", out + err)
    expect('"PROPUESTA" -> "FINALIZADO"' in out and out.rstrip().endswith("}"), "dot has the closing edge", out)

    rc, out, err = run(a.charla, "graph", flow, "--format", "svg")
    expect(rc == 2 and "mermaid" in err and "dot" in err, f"unknown format is a usage error (rc={rc})", out + err)
    print("ok: check and graph")


if __name__ == "__main__":
    main()
