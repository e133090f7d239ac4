#!/usr/bin/env python3
"""Integration test: `make install` (cmake --install) lays out a working deployment.

Run by ctest as:
    python3 test_install.py --charla <path-to-charla> --source <repo root>

Installs the build (the directory holding the charla binary) into a temporary DESTDIR
and proves what an operator relies on:
  - the installed binary runs (`--version`) and passes `charla check` on the installed
    reference flow;
  - the production config example points at the installed flow, and `charla serve` with
    it reaches readiness when given a data directory and a port;
  - the env file for secrets is installed readable by its owner only;
  - the systemd unit passes `systemd-analyze verify` (when systemd-analyze exists).
Python 3 standard library only; every command is bounded by a timeout.
"""

import argparse
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

TIMEOUT_S = 60

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from cli import expect, run_charla  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    build_dir = os.path.dirname(os.path.abspath(args.charla))

    with tempfile.TemporaryDirectory() as dest:
        env = dict(os.environ, DESTDIR=dest)
        p = subprocess.run(["cmake", "--install", build_dir, "--prefix", "/usr/local"],
                           env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        expect(p.returncode == 0, "cmake --install succeeds", p.stdout + p.stderr)

        charla = os.path.join(dest, "usr/local/bin/charla")
        flow = os.path.join(dest, "usr/local/share/charla/flows/insurance.lua")
        expect(os.access(charla, os.X_OK), "the binary is installed executable")
        p = subprocess.run([charla, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
        expect(p.returncode == 0 and "charla" in (p.stdout + p.stderr), "installed charla --version", p.stdout + p.stderr)
        p = subprocess.run([charla, "check", flow], capture_output=True, text=True, timeout=TIMEOUT_S)
        expect(p.returncode == 0, "installed reference flow passes charla check", p.stdout + p.stderr)
        for doc in ("README.md", "flows.md", "operations.md"):
            expect(os.path.exists(os.path.join(dest, "usr/local/share/doc/charla", doc)), f"doc {doc} installed")

        env_file = os.path.join(dest, "etc/charla/charla.env.example")
        expect(os.path.exists(env_file), "env file example installed")
        mode = stat.S_IMODE(os.stat(env_file).st_mode)
        expect(mode & 0o077 == 0, f"env file is private to its owner (mode {oct(mode)})")

        config_path = os.path.join(dest, "etc/charla/charla.json.example")
        with open(config_path) as f:
            config = json.load(f)
        expect(config["flows"] == ["/usr/local/share/charla/flows/insurance.lua"],
               "the config example names the installed flow", json.dumps(config))
        # Serve the example as installed, with its flow path moved under DESTDIR.
        config["flows"] = [flow]
        config["data_dir"] = os.path.join(dest, "data")
        port = free_port()
        config["http"]["port"] = port
        test_config = os.path.join(dest, "charla.json")
        with open(test_config, "w") as f:
            json.dump(config, f)
        serve_env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "CHARLA_"))}
        serve_env["WHATSAPP_SINK"] = "1"
        proc = subprocess.Popen([charla, "serve", "-c", test_config], env=serve_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ready = False
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                        ready = r.status == 200
                        break
                except OSError:
                    time.sleep(0.1)
            err = "" if ready else (proc.stderr.read() if proc.poll() is not None else "")
            expect(ready, "charla serve with the installed config becomes ready", err)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

        unit = os.path.join(dest, "etc/systemd/system/charla.service")
        expect(os.path.exists(unit), "systemd unit installed")
        analyze = shutil.which("systemd-analyze")
        if analyze:
            # verify checks that ExecStart's binary exists: point it at the installed one.
            with open(unit) as f:
                text = f.read().replace("/usr/local/bin/charla", charla)
            local_unit = os.path.join(dest, "charla.service")
            with open(local_unit, "w") as f:
                f.write(text)
            p = subprocess.run([analyze, "verify", local_unit], capture_output=True, text=True, timeout=TIMEOUT_S)
            problems = [l for l in (p.stdout + p.stderr).splitlines()
                        if "charla.service" in l and "Documentation" not in l]
            expect(p.returncode == 0 and not problems, "systemd-analyze verify passes on the unit", p.stdout + p.stderr)
        else:
            print("systemd-analyze not found: unit syntax not verified")
    print("ok: install layout, installed binary, config example, env file mode, systemd unit")


if __name__ == "__main__":
    main()
