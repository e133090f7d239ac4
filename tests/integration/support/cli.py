"""For integration tests that run charla's commands and stop at the first failed expectation
(`charla check`, `graph`, `test`, an installed binary). Python 3 standard library only."""

import subprocess
import sys


def run_charla(charla, *args, timeout, cwd=None):
    """Runs `charla ARGS...` (bounded by `timeout` seconds); returns (exit code, stdout, stderr)."""
    p = subprocess.run([charla, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, output=""):
    """Ends the test with exit 1, saying what was expected and the output it saw."""
    if not cond:
        print(f"FAIL: {what}\n--- output ---\n{output}", file=sys.stderr)
        sys.exit(1)
