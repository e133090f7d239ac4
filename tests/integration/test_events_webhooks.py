#!/usr/bin/env python3
"""Integration test: business events (ctx:emit and the engine's own) delivered durably
to signed webhooks.

Run by ctest as:
    python3 test_events_webhooks.py --charla <path-to-charla> --source <repo root>

One charla on 127.0.0.1 with a fake Graph API and two fake receivers: "crm" (every
event, secret CRM_SECRET) and "desk" (filter ["lead.*", "handoff.started"], secret
DESK_SECRET). events.retry_time_scale 0.01 (backoff 10 ms, 20 ms, ...; Retry-After is
never scaled), events.max_attempts 3. Tests:

  signed_post         "lead 7" -> one POST of lead.qualified per receiver, body
                      {id,name,conversation,phone,time,payload}, signature verifies
                      with the receiver's secret, delivered once
  filter              desk gets lead.* and handoff.started only; crm gets
                      conversation.started and state.changed too
  retry_503           503 then 200: delivered once, after one retry, same id
  retry_after         503 with Retry-After: 2 -> the retry waits >= 2 s
  order               three events of one conversation while the receiver fails the
                      first twice: delivered in order; none sent before the previous
                      was delivered
  dead_letter         500 three times -> GET /admin/events?status=dead lists it with
                      the error; later events of the conversation still go; POST
                      /admin/events/{seq}/retry delivers it; 401 without the token
  engine_events       handoff.started (flow), handoff.ended (admin resume),
                      conversation.reset (admin reset), message.failed (Graph 131026)
  kill9_survives      the receiver fails once with Retry-After: 3; charla is killed with
                      SIGKILL before the retry; after restart the event is delivered,
                      same id
  missing_secret_env  a webhook whose secret_env is unset: exit 2 naming the variable

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from fake_receiver import FakeReceiver  # noqa: E402
from harness import (Env, Reply, check, check_eq, new_user, parse_args, run, wait_until)  # noqa: E402

EVENTS_NUMBER = "123456130"
CRM_SECRET = "crm-secret-1"
DESK_SECRET = "desk-secret-2"

EVENTS_FLOW = r'''
local function handle(ctx, msg)
  local text = msg.text or ""
  local n = text:match("^lead (%d+)$")
  if n then
    ctx:emit("lead.qualified", { n = tonumber(n), text = text })
    ctx:say("ok " .. n)
    return "CALIFICADO"
  end
  if text == "humano" then
    ctx:handoff("quiere humano")
    ctx:say("te paso")
    return
  end
  ctx:say("eco")
end
return {
  name = "eventos",
  initial = "NUEVO",
  states = { NUEVO = { message = handle }, CALIFICADO = { message = handle } },
}
'''


class EventsEnv(Env):
    def __init__(self, args):
        super().__init__(args, "events", extra_numbers=[
            {"phone_number_id": EVENTS_NUMBER, "flow": "eventos", "token_env": "TEST_WA_TOKEN"}],
            extra_env={"CRM_SECRET": CRM_SECRET, "DESK_SECRET": DESK_SECRET})
        self.crm = FakeReceiver()
        self.desk = FakeReceiver()
        flow = os.path.join(self.root, "flows", "eventos.lua")
        with open(flow, "w") as f:
            f.write(EVENTS_FLOW)
        self.config["flows"].append(flow)
        self.config["events"] = {
            "max_attempts": 3,
            "retry_time_scale": 0.01,
            "webhooks": [
                {"url": self.crm.url("/crm"), "secret_env": "CRM_SECRET"},
                {"url": self.desk.url("/desk"), "secret_env": "DESK_SECRET", "events": ["lead.*", "handoff.started"]},
            ],
        }
        with open(self.charla.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def close(self, keep=False):
        super().close(keep)
        self.crm.close()
        self.desk.close()

    def diagnostics(self):
        return "%s\ncrm posts: %r\ndesk posts: %r" % (super().diagnostics(), self.crm.posts[-20:], self.desk.posts[-20:])

    def say(self, user, text, replies):
        """Sends `text` and waits until the user has `replies` outbox rows (the turn committed)."""
        self.send_text(EVENTS_NUMBER, user, text)
        wait_until(lambda: len(self.outbox_rows(EVENTS_NUMBER, user)) >= replies, 10,
                   "%d replies to %s" % (replies, user))


def delivered(receiver, user, name, count=1, timeout=10):
    return wait_until(lambda: (lambda ps: ps if len(ps) >= count else None)(receiver.for_phone(user, name, True)),
                      timeout, "%d delivered %s event(s) for %s" % (count, name, user))


def test_signed_post(env):
    user = new_user()
    env.say(user, "lead 7", 1)
    post = delivered(env.crm, user, "lead.qualified")[0]
    check_eq(sorted(post.body), ["conversation", "id", "name", "payload", "phone", "time"], "body keys")
    check_eq(post.body["payload"], {"n": 7, "text": "lead 7"}, "payload")
    check_eq(post.body["phone"], user, "phone")
    check(post.body["conversation"].endswith(user), "conversation key %r names the user" % post.body["conversation"])
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", post.body["time"]), "time %r" % post.body["time"])
    check(re.match(r"^evt_[0-9a-f]{32}$", post.body["id"]), "id %r" % post.body["id"])
    check(post.signature_ok(CRM_SECRET), "X-Charla-Signature %r verifies with CRM_SECRET" %
          post.headers.get("x-charla-signature"))
    check(not post.signature_ok(DESK_SECRET), "the signature is keyed by the webhook's own secret")
    check_eq(post.headers.get("content-type"), "application/json", "content type")
    desk = delivered(env.desk, user, "lead.qualified")[0]
    check(desk.signature_ok(DESK_SECRET), "desk signature verifies with DESK_SECRET")
    check_eq(desk.body["id"], post.body["id"], "one event, one id, on every webhook")
    time.sleep(0.3)
    check_eq(len(env.crm.for_phone(user, "lead.qualified")), 1, "POSTs of lead.qualified to crm (delivered once)")


def test_filter(env):
    user = new_user()
    env.say(user, "lead 1", 1)
    env.say(user, "humano", 2)
    delivered(env.crm, user, "handoff.started")
    delivered(env.desk, user, "handoff.started")
    crm_names = [p.body["name"] for p in env.crm.for_phone(user, delivered=True)]
    check_eq(crm_names, ["conversation.started", "lead.qualified", "state.changed", "handoff.started"], "crm events")
    state = env.crm.for_phone(user, "state.changed")[0].body["payload"]
    check_eq(state, {"flow": "eventos", "from": None, "to": "CALIFICADO"}, "state.changed payload")
    desk_names = [p.body["name"] for p in env.desk.for_phone(user, delivered=True)]
    check_eq(desk_names, ["lead.qualified", "handoff.started"], "desk events (filter lead.*, handoff.started)")


def test_retry_503(env):
    user = new_user()
    env.crm.script(user, [200, 503])   # conversation.started passes, lead.qualified fails once
    env.say(user, "lead 2", 1)
    posts = wait_until(lambda: (lambda ps: ps if len(ps) >= 2 else None)(env.crm.for_phone(user, "lead.qualified")),
                       10, "two POSTs of lead.qualified")
    check_eq([p.status for p in posts], [503, 200], "answers")
    check_eq(posts[0].body["id"], posts[1].body["id"], "the retry carries the same id")
    check_eq(posts[0].raw, posts[1].raw, "the retry carries the same body")
    time.sleep(0.3)
    check_eq(len(env.crm.for_phone(user, "lead.qualified", True)), 1, "delivered once")


def test_retry_after(env):
    user = new_user()
    env.crm.script(user, [(503, {"Retry-After": "2"})])
    env.say(user, "hola", 1)
    posts = wait_until(lambda: (lambda ps: ps if len(ps) >= 2 else None)(env.crm.for_phone(user, "conversation.started")),
                       10, "the retry of conversation.started")
    gap = posts[1].at - posts[0].at
    check(gap >= 1.9, "retry %.2f s after a 503 with Retry-After: 2 (expected >= 2 s)" % gap)
    check_eq(posts[1].status, 200, "second answer")


def test_order(env):
    user = new_user()
    env.crm.script(user, [503, 503])   # conversation.started fails twice
    for i in (1, 2, 3):
        env.say(user, "lead %d" % i, i)
    delivered(env.crm, user, "lead.qualified", 3)
    posts = env.crm.for_phone(user)
    ok = [p for p in posts if p.status < 300]
    names = [(p.body["name"], p.body["payload"].get("n")) for p in ok]
    check_eq(names, [("conversation.started", None), ("lead.qualified", 1), ("state.changed", None),
                     ("lead.qualified", 2), ("lead.qualified", 3)], "delivery order")
    # No event went out before the one before it was delivered.
    delivered_at = {}
    for p in posts:
        if p.status < 300:
            delivered_at.setdefault(p.body["id"], p.at)
    order = [p.body["id"] for p in ok]
    for prev, nxt in zip(order, order[1:]):
        first_try = min(p.at for p in posts if p.body["id"] == nxt)
        check(first_try >= delivered_at[prev], "event %s was sent before %s was delivered" % (nxt, prev))
    check_eq(len(ok), len(set(order)), "each event delivered once")


def test_dead_letter(env):
    user = new_user()
    env.crm.script(user, [200, 500, 500, 500])   # conversation.started ok, lead.qualified dies
    env.say(user, "lead 4", 1)

    def dead_row():
        r = env.charla.admin("GET", "/admin/events?status=dead")
        check_eq(r.status, 200, "GET /admin/events?status=dead")
        return [e for e in r.json()["events"] if e["phone"] == user]
    row = wait_until(dead_row, 10, "a dead event for %s" % user)[0]
    check_eq(row["name"], "lead.qualified", "dead event")
    check_eq(row["attempts"], 3, "attempts")
    check("HTTP 500" in row.get("last_error", ""), "last_error %r names the answer" % row.get("last_error"))
    # A dead event does not hold back the conversation's next ones.
    delivered(env.crm, user, "state.changed")
    metrics = env.charla.request("GET", "/metrics").text
    check(re.search(r"^charla_events_dead_letters_total [1-9]", metrics, re.M), "dead letters metric")
    check(re.search(r"^charla_events_sent_total [1-9]", metrics, re.M), "sent metric")
    check_eq(env.charla.admin("GET", "/admin/events", token="wrong").status, 401, "GET /admin/events, wrong token")
    check_eq(env.charla.request("POST", "/admin/events/%d/retry" % row["seq"]).status, 401, "retry without token")
    check_eq(env.charla.admin("POST", "/admin/events/999999999/retry").status, 404, "retry of an unknown seq")
    r = env.charla.admin("POST", "/admin/events/%d/retry" % row["seq"])
    check_eq(r.status, 200, "POST /admin/events/{seq}/retry: %r" % r)
    post = delivered(env.crm, user, "lead.qualified")[0]
    check_eq(post.body["id"], row["id"], "the retried event keeps its id")
    wait_until(lambda: not dead_row(), 5, "the retried event to leave the dead letters")


def test_engine_events(env):
    user = new_user()
    env.say(user, "humano", 1)
    started = delivered(env.crm, user, "handoff.started")[0]
    check_eq(started.body["payload"], {"reason": "quiere humano", "state": "NUEVO"}, "handoff.started payload")
    key = started.body["conversation"]
    check_eq(env.charla.admin("POST", "/admin/conversations/%s/resume" % key).status, 200, "resume")
    ended = delivered(env.crm, user, "handoff.ended")[0]
    check_eq(ended.body["payload"], {"state": "NUEVO"}, "handoff.ended payload")
    check_eq(env.charla.admin("POST", "/admin/conversations/%s/reset" % key).status, 200, "reset")
    reset = delivered(env.crm, user, "conversation.reset")[0]
    check_eq(reset.body["payload"], {"state": "NUEVO"}, "conversation.reset payload")
    check_eq(reset.body["phone"], user, "conversation.reset phone")
    # A message Graph refuses for good: message.failed.
    env.fake.script(user, [Reply.error("error-131026.json")])
    env.send_text(EVENTS_NUMBER, user, "hola")
    failed = delivered(env.crm, user, "message.failed")[0]
    payload = failed.body["payload"]
    check_eq(payload["status"], "failed", "message.failed status")
    check("131026" in payload["error"], "message.failed error %r" % payload["error"])
    check(isinstance(payload["outbox_id"], int), "message.failed outbox_id")
    check_eq(len(env.desk.for_phone(user, "handoff.ended")), 0, "desk's filter leaves out handoff.ended")


def test_kill9_survives(env):
    user = new_user()
    env.crm.script(user, [200, (503, {"Retry-After": "3"})])
    env.say(user, "lead 9", 1)
    first = wait_until(lambda: env.crm.for_phone(user, "lead.qualified"), 10, "the first POST of lead.qualified")[0]
    check_eq(first.status, 503, "first answer")

    def retry_recorded():  # killed before this commit, the event would simply go again at once
        r = env.charla.admin("GET", "/admin/events?status=pending")
        return [e for e in r.json()["events"] if e["id"] == first.body["id"] and e["attempts"] == 1]
    wait_until(retry_recorded, 5, "the failed attempt to be recorded")
    env.charla.kill()
    env.charla.restart()
    post = delivered(env.crm, user, "lead.qualified", timeout=15)[0]
    check_eq(post.body["id"], first.body["id"], "same event after the restart")
    check(post.at - first.at >= 2.9, "the restart kept the Retry-After wait")
    time.sleep(0.3)
    check_eq(len(env.crm.for_phone(user, "lead.qualified", True)), 1, "delivered once")


def test_missing_secret_env(env):
    config = dict(env.config)
    config["events"] = {"webhooks": [{"url": env.crm.url(), "secret_env": "CHARLA_TEST_NO_SUCH_SECRET"}]}
    path = os.path.join(env.root, "missing.json")
    with open(path, "w") as f:
        json.dump(config, f)
    envvars = dict(env.charla.env)
    envvars.pop("CHARLA_TEST_NO_SUCH_SECRET", None)
    p = subprocess.run([env.args.charla, "serve", "-c", path, "--data", os.path.join(env.root, "data2"), "--port", "0"],
                       env=envvars, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    check_eq(p.returncode, 2, "exit code")
    check(b"CHARLA_TEST_NO_SUCH_SECRET" in p.stderr, "the error names the variable: %r" % p.stderr[-500:])
    check_eq(env.charla.stop(), 0, "graceful stop")


def main():
    args = parse_args(__doc__)
    tests = [("signed_post", test_signed_post), ("filter", test_filter), ("retry_503", test_retry_503),
             ("retry_after", test_retry_after), ("order", test_order), ("dead_letter", test_dead_letter),
             ("engine_events", test_engine_events), ("kill9_survives", test_kill9_survives),
             ("missing_secret_env", test_missing_secret_env)]
    return run(tests, lambda: EventsEnv(args).start(), args, budget_s=85.0, title="events webhooks")


if __name__ == "__main__":
    sys.exit(main())
