#!/usr/bin/env python3
"""Integration test: `charla test` as a flow designer and CI run it.

Run by ctest as:
    python3 test_flow_tests.py --charla <path-to-charla> --source <repo root>

Proves, on the real binary:
  - a directory is searched for *_test.lua; one line per test, the closing line
    "N passed, N failed" and exit 1 when a test fails (tests/fixtures/flowtest holds
    a passing and a failing file);
  - the failure names the test file's line, expected vs actual and the conversation;
  - --junit writes JUnit XML with one testcase per test and the failure;
  - the passing file alone exits 0;
  - a path that does not exist is a usage error (exit 2);
  - every example's tests pass (`charla test examples`, as `make test` runs it).
Python 3 standard library only; every command is bounded by a timeout.
"""

import argparse
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

TIMEOUT_S = 240

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from cli import expect, run_charla  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charla", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    fixtures = os.path.join(a.source, "tests", "fixtures", "flowtest")

    with tempfile.TemporaryDirectory(prefix="charla-flowtest-") as tmp:
        junit = os.path.join(tmp, "junit.xml")
        rc, out, err = run_charla(a.charla, "test", fixtures, "--junit", junit, timeout=TIMEOUT_S)
        both = out + err
        expect(rc == 1, f"a failing test gives exit 1 (rc={rc})", both)
        expect(out.rstrip().endswith("4 passed, 1 failed"), "closing line counts every test", both)
        for line in ("FAIL expects the wrong state", "ok   still passes", "ok   order a coffee",
                     "ok   a reminder after 15 minutes", "ok   the shop is down"):
            expect(line + "\n" in out, f"a line per test: {line!r}", both)
        expect("failing_test.lua:4: expected state \"CONFIRM\", but the conversation is in \"MENU\"" in out,
               "the failure names file:line, expected and actual", both)
        expect("conversation so far:" in out and "user: hola" in out, "the failure shows the conversation", both)

        root = ET.parse(junit).getroot()
        expect(root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "1",
               "JUnit totals", open(junit).read())
        cases = root.findall(".//testcase")
        expect(len(cases) == 5, "one testcase per test", open(junit).read())
        failed = [c for c in cases if c.find("failure") is not None]
        expect(len(failed) == 1 and failed[0].get("name") == "expects the wrong state",
               "the failing testcase carries its failure", open(junit).read())

    rc, out, err = run_charla(a.charla, "test", os.path.join(fixtures, "passing_test.lua"), timeout=TIMEOUT_S)
    expect(rc == 0 and out.rstrip().endswith("3 passed, 0 failed"), f"a passing file exits 0 (rc={rc})", out + err)

    rc, out, err = run_charla(a.charla, "test", os.path.join(fixtures, "no_such_test.lua"), timeout=TIMEOUT_S)
    expect(rc == 2 and "no such file or directory" in out + err, f"a missing path is a usage error (rc={rc})", out + err)

    rc, out, err = run_charla(a.charla, "test", "examples", cwd=a.source, timeout=TIMEOUT_S)
    expect(rc == 0, f"every example's tests pass (rc={rc})", out + err)
    expect(", 0 failed" in out and "FAIL" not in out, "examples: closing line with 0 failed", out + err)
    print("ok: charla test")


if __name__ == "__main__":
    main()
