#!/usr/bin/env python3
"""Integration test: `charla backup DIR` while `charla serve` runs, and a restore.

  backup_while_serving  conversations are made, then the backup runs while a stream of
                        webhooks keeps the server writing; it exits 0 and names the copy
  refuses_overwrite     a second backup into the same DIR fails (exit 1), says why, and
                        leaves the first copy as it was
  restore               a new charla started on the copy (its data.mdb in an empty data
                        dir) lists every conversation that existed before the backup, with
                        its state and history, and answers new messages
  backup_while_map_grows  backups of a server whose LMDB map grows from 1 MiB under a
                        stream of large messages all succeed
  bad_data_dir          a data dir with no store: exit 1 and a message naming it
  status_counts         /admin/status has version, uptime, store file size and the
                        conversation / inbox / outbox counts (the console's status panel)
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from harness import PRUEBA_NUMBER, Env, check, check_eq, new_user, parse_args, run, wait_until  # noqa: E402
from charla_process import CharlaProcess  # noqa: E402

STATE = {}


def backup(env, dest, data_dir=None):
    return subprocess.run([env.args.charla, "backup", dest, "--data", data_dir or env.charla.data_dir],
                          capture_output=True, text=True, timeout=60)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_backup_while_serving(env):
    users = [new_user() for _ in range(20)]
    for u in users:
        env.send_text(PRUEBA_NUMBER, u, "antes")
    keys = ["whatsapp:%s:%s" % (PRUEBA_NUMBER, u) for u in users]
    wait_until(lambda: all(env.charla.conversation(k) for k in keys), 20, "the 20 conversations")
    wait_until(lambda: all(len(env.charla.conversation(k)["history"]) >= 2 for k in keys), 20,
               "each conversation's echo in its history")
    STATE["keys"] = keys
    stop = threading.Event()
    sent = []

    def stream():  # keeps the writer busy during the copy
        while not stop.is_set() and len(sent) < 2000:
            u = new_user()
            env.send_text(PRUEBA_NUMBER, u, "durante")
            sent.append(u)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    time.sleep(0.3)
    dest = os.path.join(env.root, "backup")
    r = backup(env, dest)
    stop.set()
    t.join(15)
    check_eq(r.returncode, 0, "charla backup exit code (stderr: %s)" % r.stderr)
    check("backup written: " + os.path.join(dest, "data.mdb") in r.stdout, "backup output: %r" % r.stdout)
    check(len(sent) > 0, "messages were arriving during the backup")
    check(env.charla.alive(), "the server still runs after the backup")
    STATE["dest"] = dest
    STATE["sent_during"] = len(sent)
    print("     %d webhooks were posted while the backup ran; %s" % (len(sent), r.stdout.strip()))


def test_status_counts(env):
    s = env.charla.admin("GET", "/admin/status").json()
    check(s.get("version") and isinstance(s.get("uptime_s"), int), "version and uptime in /admin/status: %r" % s)
    store = s["store"]
    check(store["conversations"] >= len(STATE["keys"]), "store.conversations: %r" % store)
    check(store["file_bytes"] > 0 and store["inbox"] >= 0 and store["outbox"] >= len(STATE["keys"]),
          "store sizes and depths: %r" % store)


def test_refuses_overwrite(env):
    copy = os.path.join(STATE["dest"], "data.mdb")
    before = digest(copy)
    r = backup(env, STATE["dest"])
    check_eq(r.returncode, 1, "a second backup into the same directory")
    check("already exists" in r.stderr and copy in r.stderr, "message: %r" % r.stderr)
    check_eq(digest(copy), before, "the first copy after the refused backup")


def test_restore(env):
    root = os.path.join(env.root, "restored")
    os.makedirs(os.path.join(root, "data"))
    shutil.copy(os.path.join(STATE["dest"], "data.mdb"), os.path.join(root, "data", "data.mdb"))
    restored = CharlaProcess(env.args.charla, root, env.config, env=dict(env.charla.env))
    env.restored = restored
    try:
        restored.start()
        for key in STATE["keys"]:
            c = restored.conversation(key)
            check(c is not None, "conversation %s missing from the restored store" % key)
            original = env.charla.conversation(key)
            check_eq(c["state"], original["state"], "state of %s after restore" % key)
            check_eq([h.get("text") for h in c["history"]][:2], ["antes", "eco: antes"], "history of %s" % key)
        listed = restored.admin("GET", "/admin/conversations?limit=1000").json()["conversations"]
        check(not any(c.get("corrupt") for c in listed), "a corrupt record in the restored store")
        check(len(listed) >= len(STATE["keys"]), "restored list has %d conversations" % len(listed))
        # The restored server works: a new message is answered from the copy's state.
        user = STATE["keys"][0].rsplit(":", 1)[1]
        body, _ = env.payloads.text(PRUEBA_NUMBER, user, "despues")
        check_eq(restored.post_webhook(body).status, 200, "webhook to the restored server")
        wait_until(lambda: any(h.get("text") == "eco: despues" for h in restored.conversation(STATE["keys"][0])["history"]),
                   15, "the restored server answering")
    finally:
        restored.ensure_dead()


def test_backup_while_map_grows(env):
    # A second server whose LMDB map starts at 1 MiB: big messages make it grow (the
    # other process's map resize is what LMDB answers MDB_MAP_RESIZED for) while backups run.
    grow = Env(env.args, "backup-grow")
    try:
        grow.config["store"] = {"map_size_mb": 1, "max_map_size_mb": 256}
        with open(grow.charla.config_path, "w") as f:
            json.dump(grow.config, f)
        grow.start()
        stop = threading.Event()

        def stream():
            for _ in range(3000):
                if stop.is_set():
                    return
                grow.send_text(PRUEBA_NUMBER, new_user(), "x" * 2000)

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        results = []
        for i in range(4):
            time.sleep(0.4)
            results.append(backup(grow, os.path.join(grow.root, "b%d" % i)))
        stop.set()
        for t in threads:
            t.join(15)
        for r in results:
            check_eq(r.returncode, 0, "backup while the map grows (stderr: %s)" % r.stderr)
        map_size = grow.charla.admin("GET", "/admin/status").json()["store"]["map_size"]
        check(map_size > 1 << 20, "the map grew during the test: %d bytes" % map_size)
        print("     map grew to %d MiB; last: %s" % (map_size >> 20, results[-1].stdout.strip()))
    finally:
        grow.close(keep=env.args.keep)


def test_bad_data_dir(env):
    empty = os.path.join(env.root, "empty")
    os.makedirs(empty)
    r = backup(env, os.path.join(env.root, "b2"), data_dir=empty)
    check_eq(r.returncode, 1, "backup of a dir without a store")
    check("no charla store in " + empty in r.stderr, "message: %r" % r.stderr)


def main():
    args = parse_args(__doc__)
    tests = [("backup_while_serving", test_backup_while_serving), ("status_counts", test_status_counts),
             ("refuses_overwrite", test_refuses_overwrite),
             ("restore", test_restore), ("backup_while_map_grows", test_backup_while_map_grows), ("bad_data_dir", test_bad_data_dir)]
    return run(tests, lambda: Env(args, "backup").start(), args, budget_s=120, title="test_backup")


if __name__ == "__main__":
    sys.exit(main())
