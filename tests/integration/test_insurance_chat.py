#!/usr/bin/env python3
"""Integration test: the reference insurance flow through `charla chat` (JSON mode).

Run by ctest as:
    python3 test_insurance_chat.py --charla <path-to-charla> --source <repo root>

`charla chat --flow FILE --phone N --data DIR` with a non-terminal stdin reads one
customer text message per line (a bare number N selects the Nth button/row of the last
interactive message shown) and writes one JSON object per line on stdout:
    {"event":"message","phone":N,"message":{...}}            one per outbound message
    {"event":"turn","phone":N,"state":"...","ok":true}        after each turn
At EOF it finishes pending turns and exits 0. Logs go to stderr.

Scenarios (each in its own temp data dir, run concurrently to stay well under 60 s
even with the flow's 1.5 s double-text debounce):
  full      INICIO -> NEEDS_ANALYSIS (with invalid answers that must not advance)
            -> COTIZACION -> PROPUESTA -> "1" (Aceptar) -> FINALIZADO
  restart   "3" (Empezar de nuevo) on the proposal goes back to NEEDS_ANALYSIS with
            the answers cleared
  persist   stop the process in the middle of NEEDS_ANALYSIS, start a new one on the
            same data dir and phone: the conversation continues on the same question

Python 3 standard library only. Every wait is bounded; exit 0 on success, 1 with a
message naming the scenario, the step and the recent output on failure.
"""

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOTAL_BUDGET_S = 55.0     # the whole test, all scenarios
TURN_TIMEOUT_S = 15.0     # one input line -> its turn event
EXIT_TIMEOUT_S = 10.0     # EOF on stdin -> process exit

PREMIUM_RE = re.compile(r"\$\d{1,3}(?:,\d{3})*\.\d{2} MXN")

DEADLINE = time.monotonic() + TOTAL_BUDGET_S
_PROCESSES = []
_PROCESSES_LOCK = threading.Lock()


class TestFailure(Exception):
    pass


def remaining(limit):
    left = DEADLINE - time.monotonic()
    if left <= 0:
        raise TestFailure("total time budget of %.0f s exhausted" % TOTAL_BUDGET_S)
    return min(limit, left)


def message_text(message):
    """Everything a customer would read in one outbound message, as one string."""
    parts = []
    for key in ("text", "body", "header", "footer", "caption", "button"):
        value = message.get(key)
        if isinstance(value, str):
            parts.append(value)
    for button in message.get("buttons") or []:
        if isinstance(button, dict):
            parts.append(str(button.get("title", "")))
    for section in message.get("sections") or []:
        if isinstance(section, dict):
            for row in section.get("rows") or []:
                parts.append(str(row.get("title", "")) if isinstance(row, dict) else str(row))
    for row in message.get("rows") or []:
        parts.append(str(row.get("title", "")) if isinstance(row, dict) else str(row))
    return "\n".join(parts) if parts else json.dumps(message, ensure_ascii=False)


def button_titles(message):
    return [b.get("title") for b in (message.get("buttons") or []) if isinstance(b, dict)]


class Turn:
    def __init__(self, sent, messages, event):
        self.sent = sent
        self.messages = messages          # outbound "message" objects, in order
        self.event = event                # the "turn" event
        self.state = event.get("state")

    @property
    def text(self):
        return "\n".join(message_text(m) for m in self.messages)

    def describe(self):
        return "input %r -> state %r, ok=%r, messages=%s" % (
            self.sent, self.state, self.event.get("ok"),
            json.dumps(self.messages, ensure_ascii=False))


class ChatProcess:
    """One `charla chat` process, driven line by line."""

    def __init__(self, charla, flow, phone, data_dir, cwd, label):
        self.phone = phone
        self.label = label
        self.lines = queue.Queue()
        self.stderr_tail = []
        self.stray_stdout = []
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LLM_") and not k.startswith("WHATSAPP_")}
        env.pop("CHARLA_DATA_DIR", None)
        cmd = [charla, "chat", "--flow", flow, "--phone", phone, "--data", data_dir]
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, bufsize=0)
        with _PROCESSES_LOCK:
            _PROCESSES.append(self.proc)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.stray_stdout.append(line)
                continue
            if isinstance(obj, dict):
                self.lines.put(obj)
            else:
                self.stray_stdout.append(line)
        self.lines.put(None)  # EOF marker

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip())
            del self.stderr_tail[:-40]

    def diagnostics(self):
        out = ["command: " + " ".join(self.cmd)]
        if self.proc.poll() is not None:
            out.append("exit code: %r" % self.proc.returncode)
        if self.stray_stdout:
            out.append("non-JSON stdout lines:\n  " + "\n  ".join(self.stray_stdout[-10:]))
        if self.stderr_tail:
            out.append("stderr (last lines):\n  " + "\n  ".join(self.stderr_tail[-20:]))
        return "\n".join(out)

    def fail(self, what):
        raise TestFailure("[%s] %s\n%s" % (self.label, what, self.diagnostics()))

    def send(self, line):
        """Writes one customer line and returns the Turn it produced."""
        try:
            self.proc.stdin.write((line + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.fail("could not write %r to charla: %s" % (line, e))
        messages = []
        while True:
            try:
                obj = self.lines.get(timeout=remaining(TURN_TIMEOUT_S))
            except queue.Empty:
                self.fail("no turn event within %.0f s after sending %r (messages so far: %s)"
                          % (TURN_TIMEOUT_S, line, json.dumps(messages, ensure_ascii=False)))
            if obj is None:
                self.fail("charla closed stdout before the turn for %r ended" % line)
            event = obj.get("event")
            if "phone" in obj and str(obj["phone"]) != self.phone:
                self.fail("event for phone %r, expected %r: %r" % (obj["phone"], self.phone, obj))
            if event == "message":
                if not isinstance(obj.get("message"), dict):
                    self.fail("message event without a message object: %r" % obj)
                messages.append(obj["message"])
            elif event == "turn":
                turn = Turn(line, messages, obj)
                if obj.get("ok") is not True:
                    self.fail("turn failed: %s (error: %r)" % (turn.describe(), obj.get("error")))
                if not isinstance(turn.state, str) or not turn.state:
                    self.fail("turn event without a state: %r" % obj)
                return turn
            # any other event kind is informational: ignore it

    def close(self):
        """EOF on stdin; the process must finish and exit 0."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout=remaining(EXIT_TIMEOUT_S))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.fail("charla did not exit within %.0f s after EOF on stdin" % EXIT_TIMEOUT_S)
        # Turns still queued after the last one we waited for would be a protocol error.
        leftovers = []
        while True:
            try:
                obj = self.lines.get(timeout=remaining(2.0))
            except queue.Empty:
                break
            if obj is None:
                break
            leftovers.append(obj)
        if code != 0:
            self.fail("charla exited with code %r after EOF (expected 0)" % code)
        if any(o.get("event") == "turn" for o in leftovers):
            self.fail("unexpected turns after the last input: %r" % leftovers)


def expect(proc, turn, condition, what):
    if not condition:
        proc.fail("%s\n  %s" % (what, turn.describe()))


def expect_state(proc, turn, state):
    expect(proc, turn, turn.state == state, "expected state %s, got %s" % (state, turn.state))


def start_conversation(proc):
    """First message: greeting, then the age question. Works whether the engine passes
    the first message to INICIO's handler in the same turn or waits for a second one."""
    turn = proc.send("Hola")
    greeting = turn.text
    expect(proc, turn, "Vida" in greeting, "the greeting should introduce Vida")
    if turn.state == "INICIO":
        turn = proc.send("Quiero cotizar un seguro de vida")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "edad" in turn.text.lower(), "NEEDS_ANALYSIS should ask for the age first")
    return turn


def ask_smoker_ok(proc, turn):
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    buttons = [m for m in turn.messages if m.get("type") == "buttons"]
    expect(proc, turn, buttons, "the smoker question should come with buttons")
    expect(proc, turn, button_titles(buttons[-1]) == ["Sí", "No"],
           "the smoker buttons should be Sí / No")
    expect(proc, turn, "fum" in turn.text.lower(), "the smoker question should mention fumar")


def reach_proposal(proc, turn):
    """Checks the turn that answered the last question: quote said, proposal shown."""
    expect_state(proc, turn, "PROPUESTA")
    premiums = PREMIUM_RE.findall(turn.text)
    expect(proc, turn, premiums, "the quote should state a premium like $1,234.50 MXN")
    proposal = [m for m in turn.messages if m.get("type") == "buttons"]
    expect(proc, turn, proposal, "PROPUESTA should present buttons")
    titles = button_titles(proposal[-1])
    expect(proc, turn, titles == ["Aceptar", "Hablar con asesor", "Empezar de nuevo"],
           "PROPUESTA buttons should be Aceptar / Hablar con asesor / Empezar de nuevo, got %r"
           % titles)
    expect(proc, turn, all(len(t) <= 20 for t in titles), "button titles must be <= 20 chars")
    expect(proc, turn, PREMIUM_RE.search(message_text(proposal[-1])),
           "the proposal text itself should show the premium")
    return premiums


def scenario_full(charla, flow, root, cwd):
    data = os.path.join(root, "full")
    proc = ChatProcess(charla, flow, "5215550000001", data, cwd, "full")
    start_conversation(proc)

    turn = proc.send("abc")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "edad" in turn.text.lower() and re.search(r"\d", turn.text),
           "an invalid age should re-ask the age with an example")

    turn = proc.send("150")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "edad" in turn.text.lower(), "age 150 should re-ask the age")
    expect(proc, turn, "fum" not in turn.text.lower(), "age 150 must not advance to the smoker question")

    turn = proc.send("tengo 35 años")
    ask_smoker_ok(proc, turn)

    turn = proc.send("quizás")
    ask_smoker_ok(proc, turn)   # re-asked, not advanced
    expect(proc, turn, "suma asegurada" not in turn.text.lower(),
           "'quizás' must not advance to the coverage question")

    turn = proc.send("no")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "suma asegurada" in turn.text.lower(), "next should be the coverage question")

    turn = proc.send("500 mil")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "dependen" in turn.text.lower(), "next should be the dependents question")

    turn = proc.send("2 hijos")
    reach_proposal(proc, turn)

    turn = proc.send("1")                       # first button: Aceptar
    expect_state(proc, turn, "FINALIZADO")
    expect(proc, turn, "gracias" in turn.text.lower(), "FINALIZADO should thank the customer")
    expect(proc, turn, PREMIUM_RE.search(turn.text), "FINALIZADO should summarise the premium")

    turn = proc.send("hola")
    expect_state(proc, turn, "FINALIZADO")
    expect(proc, turn, any(m.get("type") == "buttons" for m in turn.messages),
           "a message after FINALIZADO should offer a new quote with a button")
    proc.close()


def scenario_restart(charla, flow, root, cwd):
    data = os.path.join(root, "restart")
    proc = ChatProcess(charla, flow, "5215550000002", data, cwd, "restart")
    start_conversation(proc)
    ask_smoker_ok(proc, proc.send("40"))
    turn = proc.send("sí")
    expect(proc, turn, "suma asegurada" in turn.text.lower(), "'sí' should answer the smoker question")
    turn = proc.send("1 millón")
    expect(proc, turn, "dependen" in turn.text.lower(), "'1 millón' should be a valid coverage")
    reach_proposal(proc, proc.send("ninguno"))

    turn = proc.send("3")                       # third button: Empezar de nuevo
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "edad" in turn.text.lower(), "starting over should ask the age again")
    # Data was cleared: a valid age leads to the smoker question again, not to a quote.
    turn = proc.send("tengo 28")   # not a bare number: that would pick a button
    ask_smoker_ok(proc, turn)
    expect(proc, turn, not PREMIUM_RE.search(turn.text), "no quote before the questions are answered")
    proc.close()


def scenario_persist(charla, flow, root, cwd):
    data = os.path.join(root, "persist")
    phone = "5215550000003"
    proc = ChatProcess(charla, flow, phone, data, cwd, "persist/1")
    start_conversation(proc)
    ask_smoker_ok(proc, proc.send("30"))
    turn = proc.send("no")
    expect(proc, turn, "suma asegurada" in turn.text.lower(), "should be on the coverage question")
    proc.close()                                # process exits; state is in LMDB

    proc = ChatProcess(charla, flow, phone, data, cwd, "persist/2")
    turn = proc.send("1.5 millones")
    expect_state(proc, turn, "NEEDS_ANALYSIS")
    expect(proc, turn, "edad" not in turn.text.lower(),
           "after a restart the conversation must not start over")
    expect(proc, turn, "dependen" in turn.text.lower(),
           "after a restart the coverage answer should lead to the dependents question")
    reach_proposal(proc, proc.send("un hijo"))
    proc.close()


SCENARIOS = [scenario_full, scenario_restart, scenario_persist]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charla", required=True, help="path to the charla binary")
    parser.add_argument("--source", required=True, help="repository root")
    args = parser.parse_args()

    charla = os.path.abspath(args.charla)
    flow = os.path.join(os.path.abspath(args.source), "flows", "insurance.lua")
    if not os.access(charla, os.X_OK):
        print("FAIL: charla binary not found or not executable: %s" % charla, file=sys.stderr)
        return 1
    if not os.path.isfile(flow):
        print("FAIL: flow not found: %s" % flow, file=sys.stderr)
        return 1

    root = tempfile.mkdtemp(prefix="charla-insurance-chat-")
    failures = {}

    def run(scenario):
        try:
            scenario(charla, flow, root, os.path.abspath(args.source))
        except TestFailure as e:
            failures[scenario.__name__] = str(e)
        except Exception as e:  # a bug in the test itself: report it, do not hang
            failures[scenario.__name__] = "%s: %s" % (type(e).__name__, e)

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in SCENARIOS]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, DEADLINE - time.monotonic()) + 5.0)
        for s, t in zip(SCENARIOS, threads):
            if t.is_alive():
                failures.setdefault(s.__name__, "did not finish within the time budget")
    finally:
        with _PROCESSES_LOCK:
            for p in _PROCESSES:
                if p.poll() is None:
                    p.kill()
                    try:
                        p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
        shutil.rmtree(root, ignore_errors=True)

    if failures:
        for name in sorted(failures):
            print("FAIL %s:\n%s\n" % (name, failures[name]), file=sys.stderr)
        return 1
    print("ok: %d scenarios (full flow, start over, restart persistence)" % len(SCENARIOS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
