"""The fault run's checks, from what the outside world saw: the load generator's
acknowledgements, every request the fake Graph received, the engine's admin API
(conversations, outbox dead letters) and its metrics.

The flow answers each message with one text "eco <wamid> <n>", n being the
conversation's turn number (ctx.data.n). So a reply names the inbound message and
the turn that produced it, and:
  - two texts for one wamid with different n  -> that message had two turns;
  - the same text sent twice                  -> one outbox row sent twice (a resend).
"""


def parse_reply(text):
    parts = (text or "").split(" ")
    if len(parts) != 3 or parts[0] != "eco" or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


class Verdict:
    def __init__(self):
        self.checks = []     # (name, ok, detail)
        self.figures = []    # (name, value)
        self.known_gaps = set()  # names of checks whose failure is reported, not failed

    def check(self, name, problems, summary):
        self.checks.append((name, not problems, summary, problems[:10]))

    def figure(self, name, value):
        self.figures.append((name, value))

    @property
    def ok(self):
        return all(ok or name in self.known_gaps for name, ok, _, _ in self.checks)

    def print(self, out):
        for name, value in self.figures:
            print("  %-44s %s" % (name, value), file=out)
        print("", file=out)
        for name, ok, summary, problems in self.checks:
            verdict = "PASS" if ok else ("GAP " if name in self.known_gaps else "FAIL")
            print("%s %-44s %s" % (verdict, name, summary), file=out)
            for p in problems:
                print("       - %s" % p, file=out)


def judge(messages, graph, outbox, conversations, kills, metrics, resend_window_s, metric_runs=None):
    """messages: the load's records; graph: the fake's request dump; outbox: rows with
    status dead/failed/pending ({status: [rows]}, plus "truncated"); conversations:
    {(pnid, user): detail or None}; kills: SIGKILL times (monotonic); metrics:
    {name: summed value}; metric_runs: the counters of each run of the engine, in order
    (read just before its kill, the last one at the end). Returns a Verdict."""
    v = Verdict()
    acked = [m for m in messages if m["acked"] is not None]
    index_of = {m["wamid"]: (m["pnid"], m["user"], m["index"]) for m in messages}

    # Every outbox row the outside world can see: (wamid, n) -> facts.
    rows = {}

    def row(text, pnid, to):
        parsed = parse_reply(text)
        if parsed is None:
            return None
        r = rows.setdefault(parsed, {"pnid": pnid, "to": to, "ok": [], "requests": 0, "terminal": None})
        return r

    unknown_texts = 0
    for q in graph:
        r = row(q["text"], q["pnid"], q["to"])
        if r is None:
            unknown_texts += 1
            continue
        r["requests"] += 1
        if q["status"] == 200:
            r["ok"].append(q)
    for status in ("dead", "failed", "pending"):
        for o in outbox.get(status, []):
            msg = o.get("message") or {}
            r = row(msg.get("text") if isinstance(msg.get("text"), str) else (msg.get("text") or {}).get("body"),
                    o.get("account"), o.get("to"))
            if r is not None:
                r["terminal"] = o
    turns_of = {}
    for (wamid, n), r in rows.items():
        turns_of.setdefault(wamid, set()).add(n)

    # 1. Nothing acknowledged is lost.
    lost = ["%s (%s, message %d) got 200 at %.2f but no reply exists" % (m["wamid"], m["user"], m["index"], m["acked"])
            for m in acked if m["wamid"] not in turns_of]
    v.check("acknowledged messages without a turn", lost, "%d of %d acknowledged" % (len(lost), len(acked)))

    # 2. Exactly one turn per inbound message.
    dup = ["%s had %d turns: n=%s" % (w, len(ns), sorted(ns)) for w, ns in turns_of.items() if len(ns) > 1]
    stray = ["reply for %s, which the load never sent" % w for w in turns_of if w not in index_of]
    conv_problems = []
    for key, detail in conversations.items():
        mine = sorted(n for (w, n), r in rows.items() if (r["pnid"], r["to"]) == key)
        if detail is None:
            if mine:
                conv_problems.append("%s: replies exist but the conversation is missing" % (key,))
            continue
        turns = detail.get("turns")
        data_n = (detail.get("data") or {}).get("n")
        if mine != list(range(1, len(mine) + 1)) or turns != len(mine) or data_n != len(mine):
            gaps = sorted(set(range(1, max(mine + [0]) + 1)) - set(mine))
            conv_problems.append("%s: turns=%s data.n=%s, replies for n=%d..%d, missing n=%s"
                                 % (key, turns, data_n, mine[0] if mine else 0, mine[-1] if mine else 0, gaps[:10]))
    v.check("duplicate turns", dup + stray, "%d messages with more than one turn" % len(dup))
    v.check("turn count = replies = ctx.data.n", conv_problems,
            "%d of %d conversations differ" % (len(conv_problems), len(conversations)))

    # 3. Every reply delivered or dead-lettered with its reason.
    undelivered, pending = [], outbox.get("pending", [])
    delivered = dead = failed = 0
    for (wamid, n), r in rows.items():
        t = r["terminal"]
        if r["ok"]:
            delivered += 1
        elif t is not None and t.get("status") in ("dead", "failed") and t.get("last_error"):
            dead += t.get("status") == "dead"
            failed += t.get("status") == "failed"
        else:
            undelivered.append("eco %s %d to %s: %d requests, none accepted; outbox row: %s"
                               % (wamid, n, r["to"], r["requests"], t))
    problems = undelivered + ["still pending after the drain: seq %s to %s" % (o.get("seq"), o.get("to"))
                              for o in pending]
    problems += ["GET /admin/outbox?status=%s returned its limit: the list may be cut" % s
                 for s in outbox.get("truncated", [])]
    v.check("replies delivered or dead-lettered", problems,
            "%d delivered, %d dead-lettered, %d failed, %d neither" % (delivered, dead, failed, len(undelivered)))
    v.figure("replies (outbox rows seen)", len(rows))
    v.figure("dead letters (with their reasons)", "%d: %s" % (dead, _reasons(outbox.get("dead", []))))

    # 4. Order per recipient: turns in acknowledgement order, deliveries in turn order.
    order = []
    by_key = {}
    for (wamid, n), r in rows.items():
        by_key.setdefault((r["pnid"], r["to"]), []).append((n, wamid))
    for key, items in by_key.items():
        items.sort()
        idx = [index_of[w][2] for _, w in items if w in index_of]
        if any(b <= a for a, b in zip(idx, idx[1:])):
            order.append("%s: turns ran messages in the order %s" % (key, idx[:20]))
    # Each run of the engine sends a recipient's rows in turn order (a row sent twice in
    # a run, after a timeout, repeats its n). Across runs a crash can revive a row whose
    # outcome (accepted, or dead-lettered) was not yet recorded: it goes out again,
    # before the rows after it, after the next ones were already delivered once.
    per_run, first_ok = {}, {}
    for q in sorted(graph, key=lambda q: q["t"]):
        p = parse_reply(q["text"])
        if not p or q["status"] != 200:
            continue
        key = (q["pnid"], q["to"])
        seen = first_ok.setdefault(key, [])
        if p[1] not in seen:
            seen.append(p[1])
        if q.get("run") is not None:
            per_run.setdefault((key, q["run"]), []).append(p[1])
    for (key, run), ns in per_run.items():
        if any(b < a for a, b in zip(ns, ns[1:])):
            order.append("%s: run %d delivered in turn order %s" % (key, run + 1, ns[:20]))
    revived = sum(1 for ns in first_ok.values() if any(b <= a for a, b in zip(ns, ns[1:])))
    v.figure("recipients who got a revived older reply after a crash", revived)
    v.check("order per recipient", order, "%d recipients out of order" % len(order))

    # 5. Resends: the same row accepted twice by the Graph API. Each request carries the
    # run of the engine that sent it (graph_faults.py). Across runs it is a crash
    # resend: the first request was still in flight at the kill (no engine can know its
    # fate), or the Graph API had accepted it and the engine died before the outbox
    # recorded that: the window DESIGN.md asks to keep tiny, measured from the
    # acceptance to the kill. Within one run the engine saw the request fail after it
    # may have arrived (a timeout, a lost connection) and must count it in
    # charla_whatsapp_resends_total.
    runs = metric_runs or []
    crash, in_flight, windows, per_kill, same_run, unread = 0, 0, [], {}, {}, 0
    for (wamid, n), r in rows.items():
        if len(r["ok"]) < 2:
            continue
        # Requests whose sender was dead when the fake read them cannot be placed in
        # time (the fake may read them seconds late): each is one acceptance more, of
        # a request in flight at a kill. The others are ordered by run, then time.
        known = sorted((q for q in r["ok"] if q["run"] is not None), key=lambda q: (q["run"], q["t"]))
        extra_unread = len(r["ok"]) - len(known) - (0 if known else 1)
        unread += extra_unread
        crash += extra_unread
        in_flight += extra_unread
        for first, again in zip(known, known[1:]):
            if first["run"] == again["run"]:
                same_run[first["run"]] = same_run.get(first["run"], 0) + 1
                continue
            crash += 1
            k = first["run"]
            per_kill[k] = per_kill.get(k, 0) + 1
            accepted = first["answered"] if first["answered"] is not None else first["t"]
            if k >= len(kills) or accepted > kills[k]:
                in_flight += 1
            else:
                windows.append(kills[k] - accepted)
    too_wide = ["a row accepted %.0f ms before a kill was sent again (allowed: %.0f ms)"
                % (w * 1000, resend_window_s * 1000) for w in windows if w > resend_window_s]
    v.figure("crash resends (rows the Graph API accepted twice)", crash)
    v.figure("  in flight at the kill / accepted before it", "%d / %d" % (in_flight, len(windows)))
    v.figure("  per kill, max", max(per_kill.values()) if per_kill else 0)
    if windows:
        ws = sorted(windows)
        v.figure("  acceptance -> kill, ms (median / max)", "%.0f / %.0f" % (ws[len(ws) // 2] * 1000, ws[-1] * 1000))
    v.figure("in-process resends accepted twice", sum(same_run.values()))
    v.figure("  of which read by the fake after their sender died", unread)
    v.check("crash resends within the crash window", too_wide,
            "%d crash resends, %d accepted more than %.0f ms before the kill"
            % (crash, len(too_wide), resend_window_s * 1000))
    # charla_whatsapp_resends_total is per process (it starts at 0 at each start) and
    # was read just before each kill. A run must count at least the resends it made
    # itself; if it counted crash resends, also those the kill before it caused.
    uncounted_own, uncounted_crash = [], []
    for run in sorted(set(same_run) | {k + 1 for k in per_kill}):
        got = runs[run].get("charla_whatsapp_resends_total") if 0 <= run < len(runs) else None
        if got is None:
            continue
        own, inherited = same_run.get(run, 0), per_kill.get(run - 1, 0)
        if got < own:
            uncounted_own.append("run %d sent %d rows twice itself; its charla_whatsapp_resends_total is %d"
                                 % (run + 1, own, got))
        elif got < own + inherited:
            uncounted_crash.append("run %d resent %d rows the Graph API had received from run %d; its "
                                   "charla_whatsapp_resends_total is %d (%d of its own)" % (run + 1, inherited, run,
                                                                                            got, own))
    v.figure("charla_whatsapp_resends_total (sum over runs)", int(metrics.get("charla_whatsapp_resends_total", 0)))
    v.check("in-process resends counted", uncounted_own, "%d runs counted fewer than they made" % len(uncounted_own))
    v.check("crash resends counted in a metric", uncounted_crash,
            "%d runs counted fewer than the kill before them caused" % len(uncounted_crash))
    if unknown_texts:
        v.figure("Graph requests that are not 'eco' replies", unknown_texts)
    return v


def _reasons(rows):
    counts = {}
    for o in rows:
        e = str(o.get("last_error") or "(none)")
        counts[e[:60]] = counts.get(e[:60], 0) + 1
    return ", ".join("%s x%d" % (k, c) for k, c in sorted(counts.items(), key=lambda kv: -kv[1])[:4]) or "-"

