#!/usr/bin/env python3
"""Browser test: the web console at /console in a real headless Chromium (Debian's
chromium + chromium-driver, driven by python3-selenium), against the real `charla
serve` and the fake Graph API of tests/integration/support.

    python3 test_console.py --charla build/charla --source . --artifacts build/artifacts/console

Steps (screenshots of each in --artifacts):
  headers        /console has a strict CSP (no inline script) and nosniff
  sign_in        a wrong token is refused with a message; the right one signs in; the token
                 is in sessionStorage only (no cookie, not in the URL)
  live_list      a signed webhook makes the new conversation appear in the list (polling);
                 a customer name made of HTML is shown as text
  handoff_queue  the flow hands off ("agente"): the conversation shows in the queue on top
                 with its reason and waiting time
  agent_reply    from the conversation view, an agent reply reaches the fake Graph API and
                 shows in the transcript marked as an agent's
  resume         Resume gives it back to the flow: the next message is answered by the flow
  pause_state_reset  Pause, Set state (with enter) and Reset (confirm dialog) clicked in the
                 console change the stored conversation; a new message then starts afresh
  phone_width    at 390 px wide the conversation view has no horizontal scroll
  window_closed_template  an agent's free text to a customer who has not written in 24 h is
                 refused; the console shows the template form and the template is sent
  dead_letter_retry  a reply the Graph API refuses 4 times is listed under dead letters;
                 Retry sends it again and it leaves the list
  panels         flows (diagram) and status render; no JS error or CSP
                 violation in the browser's console during the whole run
Every wait is bounded; the whole file stays under its 150 s budget.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "support"))

from harness import Env, check, check_eq, new_user, run, wait_until  # noqa: E402
from fake_graph import Reply  # noqa: E402
from charla_process import ADMIN_TOKEN  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    print("FAIL: python3-selenium is not installed (apt-get install chromium chromium-driver python3-selenium;"
          " .ci/install-deps does it)", file=sys.stderr)
    sys.exit(2)

MESA_NUMBER = "123456126"
MESA_FLOW = r'''
return {
  name = "mesa",
  initial = "ATENCION",
  states = {
    ATENCION = {
      message = function(ctx, msg)
        if msg.text == "agente" then
          ctx:say("Te comunico con una persona.")
          ctx:handoff("pide hablar con una persona")
        else
          ctx:say("eco: " .. (msg.text or ""))
        end
      end,
    },
    CIERRE = {
      enter = function(ctx) ctx:say("cierre: gracias por escribir") end,
      message = function(ctx, msg) ctx:say("cierre eco: " .. (msg.text or "")) end,
    },
  },
}
'''
STATE = {}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--charla", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--artifacts", required=True, help="directory for the screenshots")
    p.add_argument("--shared")
    p.add_argument("--keep", action="store_true")
    p.add_argument("-k", dest="only")
    args = p.parse_args()
    args.charla, args.source = os.path.abspath(args.charla), os.path.abspath(args.source)
    args.shared = os.path.abspath(args.shared or os.path.join(args.source, "tests", "fixtures"))
    os.makedirs(args.artifacts, exist_ok=True)
    return args


def make_env(args):
    env = Env(args, "console", extra_numbers=[{"phone_number_id": MESA_NUMBER, "flow": "mesa",
                                              "token_env": "TEST_WA_TOKEN", "max_per_second": 80}])
    flow = os.path.join(env.root, "flows", "mesa.lua")
    with open(flow, "w") as f:
        f.write(MESA_FLOW)
    env.config["flows"].append(flow)
    with open(env.charla.config_path, "w") as f:
        json.dump(env.config, f, indent=2)
    env.start()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--lang=es-CL", "--no-first-run", "--disable-extensions", "--proxy-server=direct://"):
        options.add_argument(a)
    options.add_argument("--accept-lang=es-CL,es")
    options.add_experimental_option("prefs", {"intl.accept_languages": "es-CL,es"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env.browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # Headless Chromium may ignore --lang for navigator.language: set the locale as a
    # Chilean agent's browser would have it.
    env.browser.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "es-CL"})
    env.browser.set_page_load_timeout(20)
    env.artifacts = args.artifacts
    env.base = "http://127.0.0.1:%d" % env.charla.port
    env.user = new_user()
    env.key = "whatsapp:%s:%s" % (MESA_NUMBER, env.user)
    original_close = env.close

    def close(keep=False):
        try:
            env.browser.quit()
        finally:
            original_close(keep)
    env.close = close
    return env


def shot(env, name):
    path = os.path.join(env.artifacts, name + ".png")
    env.browser.save_screenshot(path)
    return path


def find(env, css):
    found = env.browser.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


# The console re-renders what it polls (every 2 s): an element found a moment ago may
# have been replaced. A stale element counts as "not there yet" and is looked up again.
def wait_css(env, css, timeout, what, text=None):
    def ready():
        try:
            el = find(env, css)
            if el is None or not el.is_displayed():
                return None
            return el if text is None or text in el.text else None
        except StaleElementReferenceException:
            return None
    return wait_until(ready, timeout, what, interval=0.1)


def click(env, css, timeout=10):
    def clicked():
        try:
            el = find(env, css)
            if el is None or not el.is_displayed():
                return False
            el.click()
            return True
        except StaleElementReferenceException:
            return False
    wait_until(clicked, timeout, "a click on " + css, interval=0.1)


def graph_texts(env, to):
    return [r.text for r in env.fake.requests(to=to) if r.text]


def test_headers(env):
    r = env.charla.request("GET", "/console")
    check_eq(r.status, 200, "GET /console")
    csp = r.headers.get("content-security-policy", "")
    check("default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
          "strict CSP on /console: %r" % csp)
    check_eq(r.headers.get("x-content-type-options"), "nosniff", "X-Content-Type-Options")
    check(b"<script>" not in r.body and b"onclick=" not in r.body, "no inline script in index.html")
    js = env.charla.request("GET", "/console/app.js")
    check(js.status == 200 and js.headers.get("content-type", "").startswith("text/javascript"), "app.js: %r" % js)


def test_sign_in(env):
    b = env.browser
    b.get(env.base + "/console")
    wait_css(env, "#token", 10, "the sign-in form")
    # The UI speaks the browser's language by default (Chromium runs with --lang=es-CL).
    STATE["lang"] = b.execute_script("return document.documentElement.lang")
    check_eq(STATE["lang"], "es", "UI language for an es-CL browser")
    find(env, "#token").send_keys("not-the-token")
    click(env, "#signin")
    wait_css(env, "#signin-error", 10, "the wrong-token message", text="Token incorrecto")
    shot(env, "01-signin-wrong-token")
    find(env, "#token").clear()
    find(env, "#token").send_keys(ADMIN_TOKEN)
    click(env, "#signin")
    wait_css(env, "#conversation-list", 10, "the conversation list after sign-in")
    check_eq(b.execute_script("return sessionStorage.getItem('charla.token')"), ADMIN_TOKEN, "token in sessionStorage")
    check_eq(b.execute_script("return document.cookie"), "", "cookies")
    check_eq(b.execute_script("return localStorage.getItem('charla.token')"), None, "token in localStorage")
    check(ADMIN_TOKEN not in b.current_url, "token in the URL: %s" % b.current_url)


def test_live_list(env):
    env.send_text(MESA_NUMBER, env.user, "hola", name="Camila Rojas")
    row = wait_css(env, '#conversation-list li[data-key="%s"]' % env.key, 15, "the new conversation in the list")
    check("Camila Rojas" in row.text, "the row names the customer: %r" % row.text)
    env.fake.wait_for(lambda rs: "eco: hola" in graph_texts(env, env.user), 15, "the flow's echo")
    # Text from customers is shown as text: a name full of markup stays characters.
    evil = '<img src=x id=pwned onerror="document.title=1"><b>Eva</b>'
    other = new_user()
    env.send_text(MESA_NUMBER, other, "<script>alert(1)</script>", name=evil)
    row = wait_css(env, '#conversation-list li[data-key="whatsapp:%s:%s"]' % (MESA_NUMBER, other), 15,
                   "the conversation of the customer with markup in the name")
    check(evil in row.text, "the name shown literally: %r" % row.text)
    check(find(env, "#pwned") is None and find(env, "#conversation-list b") is None, "markup from a name became HTML")
    shot(env, "02-list-new-conversation")


def test_handoff_queue(env):
    env.send_text(MESA_NUMBER, env.user, "agente", name="Camila Rojas")
    row = wait_css(env, '#handoff-list li[data-key="%s"]' % env.key, 15, "the conversation in the handoff queue")
    check("pide hablar con una persona" in row.text, "queue row shows the reason: %r" % row.text)
    check("esperando" in row.text, "queue row shows the waiting time: %r" % row.text)
    shot(env, "03-handoff-queue")


def test_agent_reply(env):
    click(env, '#conversation-list li[data-key="%s"]' % env.key)
    wait_css(env, "#transcript", 10, "the transcript", text="agente")
    wait_css(env, "#btn-resume", 10, "the Resume button of a paused conversation")
    find(env, "#reply-agent").send_keys("Ana")
    find(env, "#reply-text").send_keys("Hola Camila, soy Ana. ¿En qué te ayudo?")
    click(env, "#reply-send")
    env.fake.wait_for(lambda rs: "Hola Camila, soy Ana. ¿En qué te ayudo?" in graph_texts(env, env.user), 15,
                      "the agent's reply at the fake Graph API")
    wait_css(env, "#transcript .bubble.agent", 10, "the agent bubble in the transcript", text="soy Ana")
    shot(env, "04-agent-reply")


def test_resume(env):
    before = len(graph_texts(env, env.user))
    click(env, "#btn-resume")
    wait_until(lambda: not env.charla.conversation(env.key)["paused"], 10, "the conversation resumed")
    wait_css(env, "#btn-pause", 10, "the Pause button once resumed")
    env.send_text(MESA_NUMBER, env.user, "gracias", name="Camila Rojas")
    env.fake.wait_for(lambda rs: "eco: gracias" in graph_texts(env, env.user), 15, "the flow answering after resume")
    check(len(graph_texts(env, env.user)) > before, "a reply after resume")
    wait_css(env, "#transcript", 10, "the flow's answer in the transcript", text="eco: gracias")
    shot(env, "05-resumed")


def test_pause_state_reset(env):
    # The operator controls besides Resume: Pause, Set state with its enter, and Reset
    # (behind a confirm dialog), each clicked as an agent would and checked in the store.
    click(env, "#btn-pause")
    wait_until(lambda: env.charla.conversation(env.key)["paused"], 10, "the conversation paused from the console")
    wait_css(env, "#btn-resume", 10, "the Resume button once paused")
    click(env, "#btn-resume")
    wait_until(lambda: not env.charla.conversation(env.key)["paused"], 10, "resumed again")
    wait_css(env, "#btn-pause", 10, "the Pause button once resumed")
    Select(find(env, "#state-select")).select_by_value("CIERRE")
    click(env, "#run-enter")
    click(env, "#btn-state")
    wait_until(lambda: env.charla.conversation(env.key)["state"] == "CIERRE", 10, "state set to CIERRE")
    env.fake.wait_for(lambda rs: "cierre: gracias por escribir" in graph_texts(env, env.user), 15,
                      "CIERRE's enter reply (run enter ticked)")
    shot(env, "05b-state-set")
    click(env, "#btn-reset")
    WebDriverWait(env.browser, 5).until(EC.alert_is_present()).accept()
    wait_until(lambda: env.charla.conversation(env.key) is None, 10, "the conversation reset (gone from the store)")
    env.send_text(MESA_NUMBER, env.user, "hola de nuevo", name="Camila Rojas")
    env.fake.wait_for(lambda rs: "eco: hola de nuevo" in graph_texts(env, env.user), 15,
                      "a fresh conversation at the initial state after reset")


def test_phone_width(env):
    b = env.browser
    b.set_window_size(390, 844)
    time.sleep(0.5)
    width = b.execute_script("return document.documentElement.scrollWidth")
    inner = b.execute_script("return window.innerWidth")
    shot(env, "06-phone-conversation")
    check(width <= inner, "horizontal scroll at 390 px: page %d px wide in a %d px window" % (width, inner))
    click(env, "#btn-back")
    wait_css(env, "#conversation-list", 10, "the list at phone width")
    shot(env, "07-phone-list")
    width = b.execute_script("return document.documentElement.scrollWidth")
    check(width <= b.execute_script("return window.innerWidth"), "horizontal scroll of the list at 390 px")
    b.set_window_size(1280, 900)


def test_window_closed_template(env):
    # A phone that never wrote: charla writes first with a template (the API), then an
    # agent's free text from the console is refused (24 h window) and the console offers
    # a template instead, which reaches the Graph API.
    cold = new_user()
    key = "whatsapp:%s:%s" % (MESA_NUMBER, cold)
    r = env.charla.admin("POST", "/admin/send", {"to": cold, "phone_number_id": MESA_NUMBER,
                                                 "template": {"name": "reengage", "language": "es"}})
    check_eq(r.status, 200, "template to a new phone via the API (%r)" % r)
    wait_until(lambda: env.charla.conversation(key), 10, "the conversation of the first template")
    click(env, 'button[data-tab="conversations"]')
    wait_css(env, '#conversation-list li[data-key="%s"]' % key, 15, "the cold conversation in the list")
    click(env, '#conversation-list li[data-key="%s"]' % key)
    wait_css(env, "#reply-text", 10, "the reply box")
    find(env, "#reply-text").send_keys("¿Sigues interesado?")
    click(env, "#reply-send")
    wait_css(env, "#template-box", 10, "the template form after window_closed")
    find(env, "#template-name").send_keys("seguimiento")
    find(env, "#template-params").send_keys("Camila")
    click(env, "#template-send")
    env.fake.wait_for(lambda rs: any(r.template_name == "seguimiento" for r in env.fake.requests(to=cold)), 15,
                      "the template from the console at the fake Graph API")
    check(not any(r.text == "¿Sigues interesado?" for r in env.fake.requests(to=cold)), "free text sent outside the window")
    shot(env, "08-window-closed-template")


def test_dead_letter_retry(env):
    user = new_user()
    env.fake.script(user, [Reply.error("error-500.html")] * 4)  # max_attempts 4: then a dead letter
    env.send_text(MESA_NUMBER, user, "hola")
    rows = wait_until(lambda: env.outbox_rows(to=user, status="dead"), 20, "the reply dead-lettered")
    click(env, 'button[data-tab="dead"]')
    item = wait_css(env, '#dead-list li[data-seq="%s"]' % rows[0]["seq"], 10, "the dead letter in the console")
    shot(env, "09-dead-letters")
    item.find_element(By.CSS_SELECTOR, "button.retry").click()
    env.fake.wait_for(lambda rs: any(r.wamid and r.text == "eco: hola" for r in env.fake.requests(to=user)), 15,
                      "the retried reply accepted by the fake Graph API")
    wait_until(lambda: not env.outbox_rows(to=user, status="dead"), 10, "no dead letter left after the retry")


def test_panels(env):
    click(env, 'button[data-tab="flows"]')
    wait_css(env, "#flow-detail svg.graph", 10, "a flow diagram")
    click(env, 'button[data-flow="insurance"]')
    wait_css(env, "#flow-detail", 10, "the insurance diagram", text="NEEDS_ANALYSIS")
    shot(env, "10-flows")
    click(env, 'button[data-tab="status"]')
    wait_css(env, "#status-table", 10, "the status panel", text="turns")
    shot(env, "11-status")
    click(env, "#lang")
    wait_css(env, 'button[data-tab="status"]', 5, "English tab names", text="Status")
    logs = env.browser.get_log("browser")
    # HTTP error statuses show as SEVERE "network" entries (the refused wrong token above):
    # what must not appear is a script error or a CSP violation.
    bad = [entry for entry in logs if (entry.get("level") == "SEVERE" and entry.get("source") != "network")
           or "Content Security Policy" in entry.get("message", "") or entry.get("source") == "security"]
    check(not bad, "errors in the browser console: %r" % bad)


def main():
    args = parse_args()
    tests = [("headers", test_headers), ("sign_in", test_sign_in), ("live_list", test_live_list),
             ("handoff_queue", test_handoff_queue), ("agent_reply", test_agent_reply), ("resume", test_resume),
             ("pause_state_reset", test_pause_state_reset),
             ("phone_width", test_phone_width), ("window_closed_template", test_window_closed_template),
             ("dead_letter_retry", test_dead_letter_retry), ("panels", test_panels)]
    return run(tests, lambda: make_env(args), args, budget_s=150, title="test_console (Chromium)")


if __name__ == "__main__":
    sys.exit(main())
