#!/usr/bin/env python3
"""Integration test: people send messages through charla (admin send API and the
compatibility routes of the systems charla replaces), over HTTP against the real binary
and the fake Graph API.

Run by ctest as:
    python3 test_admin_send.py --charla <path-to-charla> --source <repo root>

  send_text_reaches_graph        after the customer wrote, POST /admin/send (text) reaches
                                 the Graph API from the conversation's number; status_url
                                 shows the row; the history shows the agent's message
  window_closed_refused          text to a phone that never wrote -> 409 window_closed, no send
  template_always_goes           a template to that phone is sent (name, language, parameters)
  media_by_link                  image by link with caption
  send_interactive_buttons_list  reply buttons (with a header) and a list
  idempotency_key                same Idempotency-Key twice, and again after a restart ->
                                 one Graph call, the same id
  validation_errors              400 with the reason (4 buttons, no recipient, bad phone)
  ambiguous_phone                a phone with conversations on two numbers -> 409 with both keys
  compat_routes                  /whatsapp/send, /whatsapp/send-interactive, /whatsapp/status,
                                 /api/integrations/whatsapp/send with the replaced systems' bodies
  compat_routes_need_token       401 without or with a wrong bearer token on every send route
  webhook_aliases                /api/integrations/whatsapp/webhook and /api/webhooks/whatsapp
                                 verify (GET) and take messages (POST)
  graceful_stop                  SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 120 s.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (PAUSE_NUMBER, PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args,  # noqa: E402
                     run, wait_until)

STATE = {}


def talk(env, number, user, text="hola"):
    """The customer writes (opening the 24 h window) and gets the flow's echo."""
    before = len([r for r in env.fake.requests(to=user) if r.type == "text"])
    env.send_text(number, user, text)
    env.fake.wait_for(lambda reqs: len([r for r in reqs if r.to == user and r.type == "text" and r.reply]) > before,
                      10, "the flow's echo to %s" % user)


def graph_requests(env, user, predicate, n=1, timeout=10):
    env.fake.wait_for(lambda reqs: len([r for r in reqs if r.to == user and predicate(r)]) >= n, timeout,
                      "%d matching Graph request(s) to %s" % (n, user))
    return [r for r in env.fake.requests(to=user) if predicate(r)]


def send(env, path, body, headers=None, token=None):
    h = {"Authorization": "Bearer " + (env.charla.admin_token if token is None else token),
         "Content-Type": "application/json"}
    h.update(headers or {})
    import json
    return env.charla.request("POST", path, body=json.dumps(body).encode("utf-8"), headers=h)


def test_send_text_reaches_graph(env):
    user = new_user()
    STATE["user"] = user
    talk(env, PRUEBA_NUMBER, user)
    r = send(env, "/admin/send", {"to": "+" + user, "text": "Hola, soy Ana de la clínica", "agent": "Ana"})
    check_eq(r.status, 200, "POST /admin/send status (%r)" % r)
    body = r.json()
    check(isinstance(body.get("id"), int) and body["id"] > 0, "the answer has the outbox id: %r" % body)
    check_eq(body.get("status"), "queued", "status")
    check_eq(body.get("status_url"), "/admin/outbox/%d" % body["id"], "status_url")
    check_eq(body.get("conversation"), "whatsapp:%s:%s" % (PRUEBA_NUMBER, user), "conversation")
    sent = graph_requests(env, user, lambda q: q.text == "Hola, soy Ana de la clínica")[0]
    check_eq(sent.phone_number_id, PRUEBA_NUMBER, "sent from the conversation's number")
    check_eq(sent.body.get("type"), "text", "Graph message type")
    row = wait_until(lambda: (lambda x: x.json() if x.status == 200 and x.json().get("status") in ("accepted", "sent")
                              else None)(env.charla.admin("GET", body["status_url"])), 10, "the row accepted")
    check_eq(row.get("agent"), "Ana", "the outbox row names the agent")
    conv = env.charla.conversation(body["conversation"])
    agent_lines = [h for h in conv["history"] if h.get("agent") == "Ana"]
    check(len(agent_lines) == 1 and agent_lines[0].get("dir") == "out" and
          agent_lines[0].get("text") == "Hola, soy Ana de la clínica",
          "the history shows the agent's message once, as sent by Ana: %r" % conv["history"])
    # The flow still answers the next message, after the agent's line.
    talk(env, PRUEBA_NUMBER, user, "gracias")
    conv = env.charla.conversation(body["conversation"])
    texts = [h.get("text") for h in conv["history"]]
    check(texts.index("Hola, soy Ana de la clínica") < texts.index("eco: gracias"),
          "history order: agent message before the next turn's reply: %r" % texts)


def test_window_closed_refused(env):
    user = new_user()
    STATE["cold"] = user
    r = send(env, "/admin/send", {"to": user, "phone_number_id": PRUEBA_NUMBER, "text": "¿Sigues interesado?"})
    check_eq(r.status, 409, "free-form text to a phone that never wrote (%r)" % r)
    check_eq(r.json().get("error"), "window_closed", "error")
    check("template" in r.json().get("message", ""), "the message says to use a template: %r" % r.json())
    r = send(env, "/admin/send-interactive", {"to": user, "phone_number_id": PRUEBA_NUMBER, "text": "¿Sí o no?",
                                              "buttons": ["Sí", "No"]})
    check_eq(r.status, 409, "interactive outside the window")
    check_eq(len(env.fake.settle(0.5, to=user)), 0, "nothing was sent to the cold phone")


def test_template_always_goes(env):
    user = STATE["cold"]
    r = send(env, "/admin/send", {"to": user, "phone_number_id": PRUEBA_NUMBER, "agent": "Luis",
                                  "template": {"name": "confirmacion_cita", "language": "es_CL",
                                               "parameters": ["María", "jueves 15:00"]}})
    check_eq(r.status, 200, "template outside the window (%r)" % r)
    sent = graph_requests(env, user, lambda q: q.template_name == "confirmacion_cita")[0]
    t = sent.body["template"]
    check_eq(t["language"], {"code": "es_CL"}, "template language")
    check_eq(t["components"], [{"type": "body", "parameters": [{"type": "text", "text": "María"},
                                                                {"type": "text", "text": "jueves 15:00"}]}],
             "template parameters")
    conv = env.charla.conversation("whatsapp:%s:%s" % (PRUEBA_NUMBER, user))
    check(conv is not None and any(h.get("agent") == "Luis" for h in conv["history"]),
          "a first message to a new lead creates its conversation with the agent's line: %r" % conv)


def test_media_by_link(env):
    user = STATE["user"]
    r = send(env, "/admin/send", {"conversation": "whatsapp:%s:%s" % (PRUEBA_NUMBER, user),
                                  "media": {"type": "image", "link": "https://example.com/plano.jpg",
                                            "caption": "El plano del depto"}})
    check_eq(r.status, 200, "media send (%r)" % r)
    sent = graph_requests(env, user, lambda q: q.type == "image")[0]
    check_eq(sent.body["image"], {"link": "https://example.com/plano.jpg", "caption": "El plano del depto"},
             "image body")


def test_send_interactive_buttons_list(env):
    user = STATE["user"]
    r = send(env, "/admin/send-interactive", {"to": user, "phone_number_id": PRUEBA_NUMBER, "header": "Tu cita",
                                              "text": "¿Confirmas el jueves?",
                                              "buttons": [{"id": "si", "title": "Confirmo"}, "Cambiar"]})
    check_eq(r.status, 200, "buttons (%r)" % r)
    r = send(env, "/admin/send-interactive", {"to": user, "phone_number_id": PRUEBA_NUMBER, "text": "Elige un horario",
                                              "button": "Ver horarios",
                                              "sections": [{"title": "Jueves", "rows": [
                                                  {"id": "j15", "title": "15:00"}, "18:00"]}]})
    check_eq(r.status, 200, "list (%r)" % r)
    reqs = graph_requests(env, user, lambda q: q.type == "interactive", n=2)
    buttons, lst = reqs[0].body["interactive"], reqs[1].body["interactive"]
    check_eq(buttons["type"], "button", "first interactive is the buttons")
    check_eq(buttons["header"], {"type": "text", "text": "Tu cita"}, "buttons header")
    check_eq([b["reply"] for b in buttons["action"]["buttons"]],
             [{"id": "si", "title": "Confirmo"}, {"id": "Cambiar", "title": "Cambiar"}], "buttons")
    check_eq(lst["type"], "list", "second interactive is the list (order kept)")
    check_eq(lst["action"]["button"], "Ver horarios", "list button")
    check_eq([r["title"] for r in lst["action"]["sections"][0]["rows"]], ["15:00", "18:00"], "list rows")


def test_idempotency_key(env):
    user = STATE["user"]
    body = {"to": user, "phone_number_id": PRUEBA_NUMBER, "text": "Mensaje único"}
    key = {"Idempotency-Key": "crm-42-" + user}
    first = send(env, "/admin/send", body, key)
    second = send(env, "/admin/send", body, key)
    check_eq(first.status, 200, "first send")
    check_eq(second.status, 200, "repeated send")
    check_eq(second.json().get("id"), first.json().get("id"), "the repeat returns the first id")
    graph_requests(env, user, lambda q: q.text == "Mensaje único")
    check_eq(len([q for q in env.fake.settle(0.7, to=user) if q.text == "Mensaje único"]), 1,
             "one Graph call for two requests with the same key")
    env.charla.stop(timeout=15)
    env.charla.start()
    third = send(env, "/admin/send", body, key)
    check_eq(third.status, 200, "send after restart")
    check_eq(third.json().get("id"), first.json().get("id"), "the key survives a restart")
    check_eq(len([q for q in env.fake.settle(0.7, to=user) if q.text == "Mensaje único"]), 1,
             "still one Graph call after the restart")
    other = send(env, "/admin/send", body, {"Idempotency-Key": "crm-43-" + user})
    check(other.json().get("id") != first.json().get("id"), "another key sends again")


def test_validation_errors(env):
    user = STATE["user"]
    cases = [
        ({"to": user, "phone_number_id": PRUEBA_NUMBER, "text": "x", "buttons": ["a", "b", "c", "d"]},
         "/admin/send-interactive", "at most 3"),
        ({"text": "sin destinatario"}, "/admin/send", "recipient"),
        ({"to": "hola", "text": "x"}, "/admin/send", "phone number"),
        ({"to": user, "phone_number_id": PRUEBA_NUMBER}, "/admin/send", "exactly one of"),
        ({"to": user, "phone_number_id": "999", "text": "x"}, "/admin/send", "not a configured"),
        ({"to": new_user(), "text": "x"}, "/admin/send", "phone_number_id"),
    ]
    for body, path, reason in cases:
        r = send(env, path, body)
        check_eq(r.status, 400, "%s %r" % (path, body))
        check(reason in r.json().get("message", ""), "the reason names the problem (%r): %r" % (reason, r.json()))


def test_ambiguous_phone(env):
    user = new_user()
    talk(env, PRUEBA_NUMBER, user)
    env.send_text(PAUSE_NUMBER, user, "hola otra vez")
    wait_until(lambda: env.charla.conversation("whatsapp:%s:%s" % (PAUSE_NUMBER, user)), 10, "second conversation")
    r = send(env, "/admin/send", {"to": user, "text": "¿Cuál?"})
    check_eq(r.status, 409, "a phone on two numbers (%r)" % r)
    check_eq(sorted(r.json().get("candidates", [])),
             sorted(["whatsapp:%s:%s" % (PRUEBA_NUMBER, user), "whatsapp:%s:%s" % (PAUSE_NUMBER, user)]),
             "candidates")


def test_compat_routes(env):
    user = STATE["user"]
    r = send(env, "/whatsapp/send", {"phone_number": "+" + user, "message": "¡Hola! desde AURA",
                                     "message_type": "text"}, {"Idempotency-Key": "aura-1-" + user})
    check_eq(r.status, 200, "/whatsapp/send (%r)" % r)
    check(r.json().get("success") is True and r.json().get("message_id") == r.json().get("id"),
          "AURA-style answer: %r" % r.json())
    graph_requests(env, user, lambda q: q.text == "¡Hola! desde AURA")
    r = send(env, "/whatsapp/send-interactive", {
        "phone_number": "+" + user, "title": "Servicios Disponibles", "body": "¿Qué servicio te interesa?",
        "buttons": [{"type": "reply", "reply": {"id": "depilacion", "title": "Depilación Láser"}},
                    {"type": "reply", "reply": {"id": "facial", "title": "Tratamiento Facial"}}]})
    check_eq(r.status, 200, "/whatsapp/send-interactive (%r)" % r)
    sent = graph_requests(env, user, lambda q: q.type == "interactive" and
                          q.body["interactive"].get("header", {}).get("text") == "Servicios Disponibles")[0]
    check_eq(sent.body["interactive"]["body"], {"text": "¿Qué servicio te interesa?"}, "interactive body")
    check_eq(sent.body["interactive"]["action"]["buttons"],
             [{"type": "reply", "reply": {"id": "depilacion", "title": "Depilación Láser"}},
              {"type": "reply", "reply": {"id": "facial", "title": "Tratamiento Facial"}}], "buttons as given")
    r = send(env, "/api/integrations/whatsapp/send", {"phone_number": user, "message": "¡Hola! mensaje de prueba",
                                                      "business_account_id": PRUEBA_NUMBER})
    check_eq(r.status, 200, "/api/integrations/whatsapp/send (%r)" % r)
    sent = graph_requests(env, user, lambda q: q.text == "¡Hola! mensaje de prueba")[0]
    check_eq(sent.phone_number_id, PRUEBA_NUMBER, "integrations send from business_account_id's number")
    r = env.charla.admin("GET", "/whatsapp/status")
    check_eq(r.status, 200, "/whatsapp/status")
    s = r.json()
    check(s.get("status") == "ok" and s.get("configured") is True and s.get("sink") is False and
          PRUEBA_NUMBER in [n["phone_number_id"] for n in s.get("numbers", [])], "status body: %r" % s)
    r = send(env, "/whatsapp/send", {"phone_number": new_user(), "message": "hola", "message_type": "text"})
    check_eq(r.status, 400, "several numbers and a phone without conversation: which number? (%r)" % r)


def test_compat_routes_need_token(env):
    for method, path in [("POST", "/admin/send"), ("POST", "/admin/send-interactive"), ("GET", "/admin/outbox/1"),
                         ("POST", "/whatsapp/send"), ("POST", "/whatsapp/send-interactive"),
                         ("GET", "/whatsapp/status"), ("POST", "/api/integrations/whatsapp/send")]:
        for token in ("", "wrong-token"):
            h = {"Authorization": "Bearer " + token} if token else {}
            r = env.charla.request(method, path, body=b"{}" if method == "POST" else None, headers=h)
            check_eq(r.status, 401, "%s %s with %s" % (method, path, "a wrong token" if token else "no token"))


def test_webhook_aliases(env):
    for path in ("/api/integrations/whatsapp/webhook", "/api/webhooks/whatsapp"):
        r = env.charla.request("GET", path + "?hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=42")
        check_eq((r.status, r.body), (200, b"42"), "GET %s verification" % path)
        user = new_user()
        body, _ = env.payloads.text(PRUEBA_NUMBER, user, "por alias")
        r = env.charla.post_webhook(body, path=path)
        check_eq(r.status, 200, "POST %s" % path)
        graph_requests(env, user, lambda q: q.text == "eco: por alias")


def test_graceful_stop(env):
    check_eq(env.charla.stop(timeout=15), 0, "exit code after SIGTERM")


TESTS = [
    ("send_text_reaches_graph", test_send_text_reaches_graph),
    ("window_closed_refused", test_window_closed_refused),
    ("template_always_goes", test_template_always_goes),
    ("media_by_link", test_media_by_link),
    ("send_interactive_buttons_list", test_send_interactive_buttons_list),
    ("idempotency_key", test_idempotency_key),
    ("validation_errors", test_validation_errors),
    ("ambiguous_phone", test_ambiguous_phone),
    ("compat_routes", test_compat_routes),
    ("compat_routes_need_token", test_compat_routes_need_token),
    ("webhook_aliases", test_webhook_aliases),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "send").start(), args, budget_s=120, title="test_admin_send")


if __name__ == "__main__":
    sys.exit(main())
