#!/usr/bin/env python3
"""Summarise a bench/run.sh output directory as a markdown table (figures vs targets)."""
import json
import pathlib
import re
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")


def load(name):
    p = out / name
    try:
        return json.loads(p.read_text())
    except Exception:
        return None


def metrics(name):
    p = out / name
    vals = {}
    if p.exists():
        for line in p.read_text().splitlines():
            m = re.match(r"^(charla_[a-z_]+)\s+([0-9.e+]+)$", line)
            if m:
                vals[m.group(1)] = float(m.group(2))
    return vals


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def e2e(graph):
    if not graph or graph.get("first_ms", -1) < 0:
        return None, None
    span = max(graph["last_ms"] - graph["first_ms"], 1) / 1000.0
    per = graph.get("per_second") or [0]
    # Peak over full seconds only (the first and last buckets are partial).
    inner = per[1:-1] or per
    return graph["requests"] / span, max(inner)


hello_max, hello_rate = load("hello_max.json"), load("hello_rate.json")
eng = load("engine_turns.json") or {}
phases = {}
for name in ("max", "max_capped", "rate", "rate_low"):
    c = load(f"charla_{name}.json")
    if c:
        retries = (out / f"charla_send_retries_{name}.txt")
        rss = (out / f"charla_rss_kb_{name}.txt")
        phases[name] = dict(load=c, graph=load(f"graph_{name}.json"), metrics=metrics(f"metrics_{name}.txt"),
                            retries=retries.read_text().strip() if retries.exists() else "n/a",
                            rss_kb=rss.read_text().strip() if rss.exists() else "n/a")

rows = []


def row(name, value, target, ratio, note=""):
    rows.append(f"| {name} | {value} | {target} | {ratio} | {note} |")


hello_rps = hello_max and hello_max["ok_per_s"]
row("bare Beast ceiling (hello_server), max", fmt(hello_rps) + " req/s", "—", "—",
    f"p99 {fmt(hello_max and hello_max['latency_from_send']['p99_ms'], 2)} ms")
for name, label in (("max", "as is"), ("max_capped", "curl conn cap preloaded")):
    p = phases.get(name)
    if not p:
        continue
    c = p["load"]
    rps = c["ok_per_s"]
    row(f"charla intake, max throughput ({label})", fmt(rps) + " msg/s", "≥ 10,000 msg/s",
        fmt(rps / 10000, 2) + "× target",
        f"{fmt(100 * rps / hello_rps if hello_rps else None, 1)} % of the Beast ceiling (target ≥ 30 %); "
        f"p50/p99 ack {c['latency_from_send']['p50_ms']:.0f}/{c['latency_from_send']['p99_ms']:.0f} ms; "
        f"non-200 {c['non_200']}")
for name in ("rate", "rate_low"):
    p = phases.get(name)
    if not p:
        continue
    c = p["load"]
    lat = c.get("latency_from_due", c["latency_from_send"])
    row(f"charla ack latency at {fmt(c.get('offered_rate'))} msg/s offered",
        f"p50 {fmt(lat['p50_ms'], 1)} / p99 {fmt(lat['p99_ms'], 1)} / max {fmt(lat['max_ms'], 1)} ms",
        "p99 ≤ 20 ms" if name == "rate" else "—",
        fmt(20 / lat["p99_ms"] if lat["p99_ms"] else None, 2) + "× headroom",
        f"achieved {fmt(c['ok_per_s'])} ok/s, non-200 {c['non_200']}")
if hello_rate:
    lat = hello_rate.get("latency_from_due", hello_rate["latency_from_send"])
    row(f"hello_server ack latency at {fmt(hello_rate.get('offered_rate'))} req/s",
        f"p50 {fmt(lat['p50_ms'], 2)} / p99 {fmt(lat['p99_ms'], 2)} ms", "—", "—", "same generator, same run")
for name in ("max", "max_capped", "rate", "rate_low"):
    p = phases.get(name)
    if not p:
        continue
    avg, peak = e2e(p["graph"])
    m = p["metrics"]
    row(f"end-to-end replies/s ({name})", f"{fmt(avg)} avg, {fmt(peak)} best 1-s",
        "≥ 3,000 replies/s", fmt(avg / 3000 if avg else None, 2) + "× target",
        f"{p['graph'] and p['graph']['requests']} Graph sends for {p['load']['ok_200']} webhooks, "
        f"{fmt(m.get('charla_turns_total'))} turns, {p['retries']} send retries (timeouts), charla RSS {p['rss_kb']} KB")

thr, shipped, base = eng.get("throughput"), eng.get("shipped_flow"), eng.get("store_baseline")
lat_phases = eng.get("latency") or []
if isinstance(lat_phases, dict):
    lat_phases = [lat_phases]
if thr:
    c = thr.get("cpu", {})
    row("engine turns/s (closed loop, no HTTP)", fmt(thr["turns_per_s"]) + " turns/s", "≥ 5,000 turns/s",
        fmt(thr["turns_per_s"] / 5000, 2) + "× target",
        f"{thr['driver']['turns']} turns, in-flight ≤ {thr.get('inflight_bound')}, "
        f"process used {c.get('process_cores_used', 0):.2f} of 2 cores, load {c.get('loadavg_at_start')}")
    if c:
        row("engine CPU per turn (writer / workers / whole process)",
            f"{c['us_per_turn_writer_thread']:.0f} / {c['us_per_turn_worker_threads']:.0f} / "
            f"{c['us_per_turn_process']:.0f} µs", "—",
            f"projection: {fmt(c['projected_turns_per_s_2_idle_cores'])} turns/s on 2 idle cores",
            f"threads waited {c['worker_threads_runqueue_wait_s'] + c['writer_thread_runqueue_wait_s']:.1f} s "
            f"for a CPU vs {c['worker_threads_cpu_s'] + c['writer_thread_cpu_s']:.1f} s on one")
if base and thr:
    row("store baseline: minimal durable writes/s", fmt(base["writes_per_s"]) + " writes/s", "—",
        f"turns/s ÷ writes/s = {eng.get('ratio_turns_per_s_to_store_writes_per_s', 0):.3f}",
        f"{base['store']['writes_per_commit']:.0f} writes/commit, {base.get('us_per_write_writer_thread', 0):.1f} µs writer CPU/write")
for lp in lat_phases:
    L = lp["latency"]
    row(f"engine turn latency at {fmt(lp.get('offered_rate'))} turns/s offered",
        f"p50 {fmt(L.get('p50_ms'), 1)} / p99 {fmt(L.get('p99_ms'), 1)} / max {fmt(L.get('max_ms'), 1)} ms",
        "p99 ≤ 50 ms", fmt(50 / L["p99_ms"] if L.get("p99_ms") else None, 2) + "× headroom",
        f"achieved {fmt(lp['turns_per_s'])} turns/s, debounce off, {lp['store']['writes_per_commit']:.0f} writes/commit")
if shipped:
    L = shipped["latency"]
    row(f"engine turn latency, flow as shipped (1500 ms debounce), {fmt(shipped.get('offered_rate'))} turns/s",
        f"p50 {fmt(L.get('p50_ms'), 1)} / p99 {fmt(L.get('p99_ms'), 1)} ms", "—", "—",
        f"achieved {fmt(shipped['turns_per_s'])} turns/s")

print("| figure | measured | target | ratio | notes |")
print("|---|---|---|---|---|")
print("\n".join(rows))
print()
if thr:
    s = thr["store"]
    print(f"engine_turns store: {s['commits']} commits, {s['writes']} writes, "
          f"{s['writes_per_commit']:.1f} writes/commit, max batch {s['max_batch']}, histogram {s['batch_histogram']}")
    mem = thr.get("memory")
    if mem:
        print(f"memory: {mem['anon_bytes_per_idle_conversation']:.0f} B anon + "
              f"{mem['file_bytes_per_idle_conversation']:.0f} B file-backed (LMDB map) per idle conversation; "
              f"LRU bound {mem['lru_cache_bound_records']} records "
              f"(~{mem['anon_bytes_per_cached_record']:.0f} B anon per cached record)")
for name, p in phases.items():
    m = p["metrics"]
    if m.get("charla_store_commits_total"):
        print(f"charla serve ({name}): {m['charla_store_writes_total']:.0f} writes in "
              f"{m['charla_store_commits_total']:.0f} commits = "
              f"{m['charla_store_writes_total'] / m['charla_store_commits_total']:.1f} writes/commit, "
              f"max batch {m.get('charla_store_max_batch', 0):.0f}")
