#!/usr/bin/env python3
"""Integration test: the WhatsApp webhook endpoint of the real `charla serve`.

Run by ctest as:
    python3 test_whatsapp_webhook.py --charla <path-to-charla> --source <repo root>

One charla on 127.0.0.1 (config and LMDB in a temp dir) against a fake Graph API
(tests/integration/support/fake_graph.py). Tests, in order:

  payloads_all_200    every file of shared/whatsapp/payloads, signed, gets 200; batch 27
                      (first, on an empty store) creates its 5 conversations; the server
                      stays up; the BSUID-only user (26) is answered with "recipient"
  verification        GET /webhook/whatsapp, /webhook, /whatsapp/webhook: right token ->
                      200 with the (URL-decoded) challenge as the body; wrong token -> 403;
                      a missing or empty mode/token/challenge, or another mode -> 400
  signature           missing / wrong / sha1-only / unprefixed signature -> 401; the vectors
                      of shared/whatsapp/signatures (incl. the re-serialised non-ASCII body
                      -> 401, the second app's vector -> 401: no number here is of that app); invalid JSON with a valid
                      signature -> 400; a body over 3 MiB -> 413 (Content-Length and
                      chunked); a 2.5 MiB signed body -> 200
  graceful_stop       SIGTERM -> exit code 0

Python 3 standard library only; every wait is bounded; the whole file stays < 90 s.
"""

import json
import os
import signal
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import (PAYLOAD_NUMBERS, SECOND_APP_SECRET, Env, check, check_eq, parse_args, payload_numbers, run,  # noqa: E402
                     signature_for, wait_until)
from charla_process import VERIFY_TOKEN  # noqa: E402


def conversation_keys(env):
    r = env.charla.admin("GET", "/admin/conversations?limit=1000")
    check(r.status == 200, "GET /admin/conversations -> %r" % r)
    return {c["conversation"] for c in r.json()["conversations"]}


def test_payloads_all_200(env):
    files = env.payloads.files()
    check(len(files) >= 30, "expected the ~33 shared payload files, found %d" % len(files))
    # Batch 27 first, on an empty store: 7 messages, 3 users, 3 bots -> 5 conversations.
    check_eq(conversation_keys(env), set(), "conversations before any webhook")
    r = env.charla.post_webhook(env.payloads.raw("27-batch-2-entries-3-users.json"))
    check_eq(r.status, 200, "27-batch-2-entries-3-users.json status")
    n1, n2, n3 = PAYLOAD_NUMBERS
    expected = {"whatsapp:%s:%s" % pair for pair in [
        (n1, "5215550000001"), (n1, "5215550000005"), (n2, "5215550000003"),
        (n3, "5215550000003"), (n3, "5215550000001")]}
    keys = wait_until(lambda: conversation_keys(env) if conversation_keys(env) >= expected else None,
                      15, "the 5 conversations of batch 27")
    check_eq(keys, expected, "conversations created by batch 27 (INDEX.md: 5 conversations, 3 users)")
    status = env.charla.admin("GET", "/admin/status").json()
    check(status["accepted"] >= 7, "batch 27 has 7 messages; /admin/status accepted=%r" % status["accepted"])

    statuses = {}
    for name in files:
        r = env.charla.post_webhook(env.payloads.raw(name))
        statuses[name] = r.status
        check(env.charla.alive(), "charla died after %s\n%s" % (name, env.charla.log_tail()))
    bad = {k: v for k, v in statuses.items() if v != 200}
    check(not bad, "payloads not answered 200: %r" % bad)
    check(env.charla.request("GET", "/readyz").status == 200, "charla not ready after the payloads")
    # 28b repeats 28a's wamid and 27 was posted twice: the engine must count duplicates.
    after = env.charla.admin("GET", "/admin/status").json()
    check(after["duplicates"] >= 8, "expected >= 8 duplicates (batch 27 twice, 28b), got %r" % after)
    # The username user of payload 26 has no phone: replies go to "recipient", never "to".
    reqs = env.fake.wait_for(lambda rs: any(r.body and r.body.get("recipient") == "MX.1500000000000000009"
                                            for r in rs), 15, "a reply to the BSUID-only user (26)")
    for r in reqs:
        if r.body and r.body.get("recipient") == "MX.1500000000000000009":
            check("to" not in r.body, "BSUID reply must not carry 'to': %r" % r.body)
            check_eq(r.phone_number_id, n1, "BSUID reply number")
    for r in env.fake.requests():
        check(r.to, "a Graph request without a recipient (empty phone?): %s" % r.describe())


def test_verification(env):
    challenge = "1158201444"
    for path in ("/webhook/whatsapp", "/webhook", "/whatsapp/webhook"):
        q = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                    "hub.challenge": challenge})
        r = env.charla.request("GET", path + "?" + q)
        check_eq(r.status, 200, "GET %s with the right token: status" % path)
        check_eq(r.text, challenge, "GET %s: body must be exactly the challenge" % path)
        check(r.headers.get("content-type", "").startswith("text/plain"),
              "GET %s: content-type should be text/plain, got %r" % (path, r.headers.get("content-type")))
        # A wrong token is refused (403); a request that is not a verification at all
        # (a parameter missing or empty, another mode) is malformed (400), never a 200.
        for label, params, status, says in [
            ("wrong token", {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": challenge},
             403, "hub.verify_token does not match"),
            ("token of other case", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN.upper(),
                                     "hub.challenge": challenge}, 403, "hub.verify_token does not match"),
            ("missing mode", {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": challenge}, 400, "hub.mode"),
            ("empty mode", {"hub.mode": "", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": challenge},
             400, "hub.mode"),
            ("wrong mode", {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": challenge},
             400, "subscribe"),
            ("missing token", {"hub.mode": "subscribe", "hub.challenge": challenge}, 400, "hub.verify_token"),
            ("empty token", {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": challenge},
             400, "hub.verify_token"),
            ("missing challenge", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, 400, "hub.challenge"),
            ("empty challenge", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": ""},
             400, "hub.challenge"),
        ]:
            r = env.charla.request("GET", path + "?" + urllib.parse.urlencode(params))
            check_eq(r.status, status, "GET %s with %s: status" % (path, label))
            check(says in r.text, "GET %s with %s: the body should say what is wrong (%r), got %r"
                  % (path, label, says, r.text))
            check(challenge not in r.text, "GET %s with %s must not echo the challenge" % (path, label))
        r = env.charla.request("GET", path)
        check_eq(r.status, 400, "GET %s without any parameter: status" % path)
    # Query values are URL-encoded: the challenge is echoed decoded.
    odd = "ch@llenge/with space&ñ=1"
    r = env.charla.request("GET", "/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=%s"
                           % (urllib.parse.quote(VERIFY_TOKEN), urllib.parse.quote(odd, safe="")))
    check_eq((r.status, r.body.decode("utf-8", "replace")), (200, odd), "percent-encoded challenge echoed decoded")


def raw_http(port, head, body_chunks, read_timeout=10.0):
    """Sends head + body chunks on one socket (ignoring send errors once the server has
    answered) and returns the status code of the first response, or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(head)
        s.settimeout(0.0)
        received = b""
        deadline = time.monotonic() + read_timeout
        for chunk in body_chunks:
            try:
                received += s.recv(65536)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                break
            if b"\r\n" in received:
                break
            try:
                s.settimeout(2.0)
                s.sendall(chunk)
            except OSError:
                break
            finally:
                s.settimeout(0.0)
            if time.monotonic() > deadline:
                break
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while b"\r\n" not in received:
                data = s.recv(65536)
                if not data:
                    break
                received += data
        except OSError:
            pass
        line = received.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    finally:
        s.close()


def test_signature(env):
    c = env.charla
    body, _ = env.payloads.text(PAYLOAD_NUMBERS[0], "5215550000099", "hola firma")
    r = c.post_webhook(body, sign=False)
    check_eq(r.status, 401, "no X-Hub-Signature-256")
    r = c.post_webhook(body, signature="sha256=" + "0" * 64)
    check_eq(r.status, 401, "wrong signature")
    r = c.post_webhook(body, signature=signature_for(body, "another-secret"))
    check_eq(r.status, 401, "signature made with another secret")
    r = c.post_webhook(body, signature=signature_for(body)[len("sha256="):])
    check_eq(r.status, 401, "signature without the sha256= prefix")
    r = c.post_webhook(body, signature="sha256=")
    check_eq(r.status, 401, "empty signature")
    import hashlib, hmac  # noqa: E401
    sha1 = "sha1=" + hmac.new(c.app_secret.encode(), body, hashlib.sha1).hexdigest()
    r = c.post_webhook(body, sign=False, headers={"X-Hub-Signature": sha1})
    check_eq(r.status, 401, "only the legacy X-Hub-Signature (sha1) header")
    r = c.post_webhook(body + b" ", signature=signature_for(body))
    check_eq(r.status, 401, "body changed by one trailing byte after signing")

    # The shared vectors, byte for byte.
    wa_dir = os.path.join(env.shared, "whatsapp")
    with open(os.path.join(wa_dir, "signatures", "vectors.json")) as f:
        vectors = json.load(f)
    check(any(not v["valid"] and "reserialized" in v["file"] for v in vectors),
          "vectors.json lacks the re-serialised non-ASCII vector")
    for v in vectors:
        with open(os.path.join(wa_dir, v["file"]), "rb") as f:
            raw = f.read()
        r = c.post_webhook(raw, signature=v["header"])
        # The second app's vector addresses a number of the first app, and no number here
        # belongs to the second app: its secret is not configured -> 401
        # (test_whatsapp_apps covers two apps in one process).
        expected = 401 if not v["valid"] or v["secret"] == SECOND_APP_SECRET else 200
        check_eq(r.status, expected, "vector %s (%s)" % (v["file"], v["note"]))

    # Valid signature, invalid JSON -> 400, and nothing processed.
    before = c.admin("GET", "/admin/status").json()["accepted"]
    for junk in (b'{"object":"whatsapp_business_account","entry":[', b"not json at all", b""):
        r = c.post_webhook(junk)
        check_eq(r.status, 400, "invalid JSON %r with a valid signature" % junk[:30])
    check_eq(c.admin("GET", "/admin/status").json()["accepted"], before, "messages accepted from invalid JSON")

    # Over 3 MiB -> 413, refused before the whole body is read.
    size = 3 * 1024 * 1024 + 1024
    big = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (size - 60) + b'"}'
    head = ("POST /webhook/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "X-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n" % (signature_for(big), len(big))).encode()
    chunks = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    check_eq(raw_http(c.port, head, chunks), 413, "body of %d bytes with Content-Length" % len(big))
    head = ("POST /webhook/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "X-Hub-Signature-256: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % signature_for(big)).encode()
    chunked = [b"%x\r\n%s\r\n" % (len(ch), ch) for ch in chunks] + [b"0\r\n\r\n"]
    check_eq(raw_http(c.port, head, chunked), 413, "chunked body of %d bytes" % len(big))
    # A large body under the limit is fine (Meta: up to about 3 MB).
    doc = env.payloads.load("30-template-status-update.json")
    doc["padding_for_test"] = "y" * (2_500_000)
    ok_body = json.dumps(doc, separators=(",", ":")).encode()
    r = c.post_webhook(ok_body, timeout=20)
    check_eq(r.status, 200, "signed body of %d bytes (under 3 MiB)" % len(ok_body))
    check(c.request("GET", "/readyz").status == 200, "charla not ready after the large bodies")


def test_graceful_stop(env):
    code = env.charla.stop(timeout=15)
    check_eq(code, 0, "exit code after SIGTERM\n" + env.charla.log_tail(20))
    check(env.charla.log_events("charla_stopping"), "no charla_stopping log line after SIGTERM")


TESTS = [
    ("payloads_all_200", test_payloads_all_200),
    ("verification", test_verification),
    ("signature", test_signature),
    ("graceful_stop", test_graceful_stop),
]


def main():
    args = parse_args(__doc__.split("\n")[1])
    return run(TESTS, lambda: Env(args, "webhook", extra_numbers=payload_numbers()).start(), args,
               budget_s=85, title="test_whatsapp_webhook")


if __name__ == "__main__":
    sys.exit(main())
