#!/usr/bin/env python3
"""scripts/soak/soak.py — the soak's clients, origin restarts and sampler (started by
scripts/soak/run.sh, which starts the origins and wirecache).

Every worker owns one key of `kv` on its origin and is the only writer of it, so
after each write is acknowledged every read of that key through wirecache, on any
connection, must return exactly what was written (wirecache invalidates before it
passes the acknowledgement on); `items` is never written, so its reads must always
match. A mismatch is a wrong result. Workers mix cached reads, writes, transactions
(committed and rolled back), reconnects, prepared statements (PostgreSQL, psycopg's
server-side prepare) and TLS; errors while an origin restarts are expected and
counted apart, and after one the worker re-reads its key straight from the origin.
Every 5 s the sampler records wirecache's resident memory, open file descriptors,
threads and open sessions, and checks the daemon is the same process.
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg
import pymysql

ITEMS = 100
LOCK = threading.Lock()
STATS = {"ops": 0, "reads_checked": 0, "writes": 0, "txns": 0, "reconnects": 0,
         "wrong": 0, "errors_in_restart": 0, "errors_other": 0, "restarts": []}
WRONG = []
RESTARTING = {"pg": 0.0, "my": 0.0}  # until when errors are expected
STOP = threading.Event()


def bump(key, n=1):
    with LOCK:
        STATS[key] += n


def wrong(what):
    with LOCK:
        STATS["wrong"] += 1
        if len(WRONG) < 50:
            WRONG.append(what)
    print("WRONG RESULT:", what, file=sys.stderr)


def expected_error(origin):
    return time.time() < RESTARTING[origin]


class Pg:
    origin = "pg"

    def __init__(self, a, k, tls, prepared):
        self.a, self.k, self.tls, self.prepared = a, k, tls, prepared

    def connect(self):
        mode = "require" if self.tls else "disable"
        self.c = psycopg.connect(host="127.0.0.1", port=self.a.pg, user="pg-postgres", dbname="soak",
                                 sslmode=mode, autocommit=True, connect_timeout=10)

    def direct(self, sql, args=()):
        with psycopg.connect(host="127.0.0.1", port=self.a.pg_origin, user="postgres", dbname="soak",
                             autocommit=True, connect_timeout=10) as c:
            return c.execute(sql, args).fetchone()

    def one(self, sql, args=()):
        return self.c.execute(sql, args, prepare=self.prepared).fetchone()

    def item(self, i):
        return self.one("SELECT id, name FROM items WHERE id = %s", (i,))

    def read(self):
        return self.one("SELECT v FROM kv WHERE k = %s", (self.k,))[0]

    def write(self):
        return self.one("UPDATE kv SET v = v + 1 WHERE k = %s RETURNING v", (self.k,))[0]

    def txn(self, commit):
        with self.c.transaction(force_rollback=not commit):
            v = self.write()
            seen = self.read()
        return v, seen

    def close(self):
        self.c.close()


class My:
    origin = "my"

    def __init__(self, a, k, tls, prepared):
        self.a, self.k, self.tls = a, k, tls

    def connect(self):
        ssl = {"ssl": {"check_hostname": False, "verify_mode": 0}} if self.tls else {}
        self.c = pymysql.connect(host="127.0.0.1", port=self.a.my, user="my-soak", password="soak",
                                 database="soak", autocommit=True, connect_timeout=10, **ssl)

    def direct(self, sql, args=()):
        c = pymysql.connect(host="127.0.0.1", port=self.a.my_origin, user="soak", password="soak",
                            database="soak", autocommit=True, connect_timeout=10)
        try:
            with c.cursor() as cur:
                cur.execute(sql.replace("%s", "%s"), args)
                return cur.fetchone()
        finally:
            c.close()

    def one(self, sql, args=()):
        with self.c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    def item(self, i):
        return self.one("SELECT id, name FROM items WHERE id = %s", (i,))

    def read(self):
        return self.one("SELECT v FROM kv WHERE k = %s", (self.k,))[0]

    def write(self):
        self.one("UPDATE kv SET v = v + 1 WHERE k = %s", (self.k,))
        return None

    def txn(self, commit):
        self.one("BEGIN")
        self.write()
        seen = self.read()
        self.one("COMMIT" if commit else "ROLLBACK")
        return None, seen

    def close(self):
        self.c.close()


def work(db):
    """One worker's loop until STOP."""
    connected, expect, n = False, None, 0
    while not STOP.is_set():
        try:
            if not connected:
                db.connect()
                connected = True
                bump("reconnects")
            if expect is None:
                expect = db.direct("SELECT v FROM kv WHERE k = %s", (db.k,))[0]
            op = random.random()
            if op < 0.45:
                i = random.randint(1, ITEMS)
                row = db.item(i)
                if tuple(row) != (i, f"item-{i}"):
                    wrong(f"{db.origin} items {i}: {row!r}")
                bump("reads_checked")
            elif op < 0.70:
                got = db.read()
                if got != expect:
                    wrong(f"{db.origin} kv {db.k}: read {got}, wrote {expect}")
                bump("reads_checked")
            elif op < 0.85:
                v = db.write()
                expect = v if v is not None else expect + 1
                got = db.read()
                if got != expect:
                    wrong(f"{db.origin} kv {db.k} after write: read {got}, wrote {expect}")
                bump("writes")
                bump("reads_checked")
            elif op < 0.97:
                commit = random.random() < 0.75
                _, seen = db.txn(commit)
                if seen != expect + 1:
                    wrong(f"{db.origin} kv {db.k} in txn: read {seen}, wrote {expect + 1}")
                if commit:
                    expect += 1
                got = db.read()
                if got != expect:
                    wrong(f"{db.origin} kv {db.k} after txn ({commit=}): read {got}, want {expect}")
                bump("txns")
                bump("reads_checked", 2)
            else:
                db.close()
                connected = False
            bump("ops")
            n += 1
        except Exception as e:  # noqa: BLE001 — every failure is classified
            bump("errors_in_restart" if expected_error(db.origin) else "errors_other")
            if not expected_error(db.origin):
                print(f"{db.origin} worker {db.k}: {type(e).__name__}: {e}", file=sys.stderr)
            try:
                db.close()
            except Exception:  # noqa: BLE001
                pass
            connected, expect = False, None
            time.sleep(0.2)


def restarter(a, every):
    which = ["pg", "my"]
    i = 0
    while not STOP.wait(every):
        origin = which[i % 2]
        i += 1
        RESTARTING[origin] = time.time() + 3600
        t0 = time.time()
        cmd = a.restart_pg if origin == "pg" else a.restart_my
        rc = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        # Errors stay expected for a few seconds after the origin is back.
        RESTARTING[origin] = time.time() + 5
        with LOCK:
            STATS["restarts"].append({"origin": origin, "at": t0, "seconds": round(time.time() - t0, 1), "rc": rc})


def proc(pid):
    status = open(f"/proc/{pid}/status").read()
    field = lambda name: int(next(l.split()[1] for l in status.splitlines() if l.startswith(name)))  # noqa: E731
    start = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    return field("VmRSS:") // 1024, len(os.listdir(f"/proc/{pid}/fd")), field("Threads:"), start


def sessions(a):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{a.admin}/metrics", timeout=5).read().decode()
    except Exception:  # noqa: BLE001
        return -1
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("wirecache_client_connections{"))


def sampler(a, t0, rows, start_id):
    while True:
        try:
            rss, fds, threads, start = proc(a.pid)
        except FileNotFoundError:
            wrong("wirecache exited")
            STOP.set()
            return
        if start != start_id:
            wrong("wirecache restarted")
        with LOCK:
            rows.append({"t": round(time.time() - t0, 1), "rss_mb": rss, "fds": fds, "threads": threads,
                         "sessions": sessions(a), "ops": STATS["ops"], "wrong": STATS["wrong"]})
        if STOP.wait(5):
            return


def setup(a):
    with psycopg.connect(host="127.0.0.1", port=a.pg_origin, user="postgres", dbname="soak", autocommit=True) as c:
        c.execute("CREATE TABLE items (id int PRIMARY KEY, name text); CREATE TABLE kv (k int PRIMARY KEY, v bigint)")
        c.execute("INSERT INTO items SELECT i, 'item-' || i FROM generate_series(1, %s) i", (ITEMS,))
        c.execute("INSERT INTO kv SELECT k, 0 FROM generate_series(1, 100) k")
    c = pymysql.connect(host="127.0.0.1", port=a.my_origin, user="soak", password="soak", database="soak",
                        autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        cur.execute("CREATE TABLE kv (k int PRIMARY KEY, v bigint)")
        cur.execute("INSERT INTO items SELECT seq, CONCAT('item-', seq) FROM seq_1_to_%s" % ITEMS)
        cur.execute("INSERT INTO kv SELECT seq, 0 FROM seq_1_to_100")
    c.close()


def plot(rows, restarts, t0, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [r["t"] / 60 for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    for ax, key, label in zip(axes, ["rss_mb", "fds", "threads", "sessions"],
                              ["resident memory (MiB)", "open file descriptors", "threads", "open sessions"]):
        ax.plot(t, [r[key] for r in rows], lw=1.2)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        for r in restarts:
            ax.axvline((r["at"] - t0) / 60, color="red" if r["origin"] == "pg" else "orange", lw=0.6, alpha=0.6)
    axes[-1].set_xlabel("minutes (red: PostgreSQL restart, orange: MariaDB restart)")
    fig.suptitle("wirecache soak: reads, writes, transactions, reconnects, TLS, origin restarts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser()
    for name in ["pid", "pg-origin", "my-origin", "pg", "my", "admin"]:
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--restart-every", type=float, default=None, help="seconds (default: minutes*60/6)")
    p.add_argument("--restart-pg", required=True)
    p.add_argument("--restart-my", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    setup(a)
    t0 = time.time()
    start_id = proc(a.pid)[3]
    rows = []
    threads = [threading.Thread(target=sampler, args=(a, t0, rows, start_id))]
    k = 0
    for cls in (Pg, My):
        for tls, prepared in [(False, False), (False, True), (True, False), (True, True)]:
            k += 1
            threads.append(threading.Thread(target=work, args=(cls(a, k, tls, prepared),), daemon=True))
    every = a.restart_every or max(20.0, a.minutes * 60 / 6)
    threads.append(threading.Thread(target=restarter, args=(a, every), daemon=True))
    for t in threads:
        t.start()
    STOP.wait(a.minutes * 60)
    STOP.set()
    threads[0].join()
    time.sleep(1)
    with open(os.path.join(a.out, "samples.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    first = rows[min(2, len(rows) - 1)]
    summary = dict(STATS, minutes=a.minutes, samples=len(rows), wrong_examples=WRONG,
                   rss_mb_first=first["rss_mb"], rss_mb_max=max(r["rss_mb"] for r in rows),
                   rss_mb_last=rows[-1]["rss_mb"], fds_first=first["fds"], fds_max=max(r["fds"] for r in rows),
                   fds_last=rows[-1]["fds"], threads_max=max(r["threads"] for r in rows),
                   sessions_last=rows[-1]["sessions"])
    for r in summary["restarts"]:
        r["at"] = round(r["at"] - t0, 1)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot(rows, [dict(r, at=r["at"] + t0) for r in summary["restarts"]], t0, os.path.join(a.out, "soak.png"))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("wrong_examples",)}, indent=1))
    sys.exit(1 if STATS["wrong"] else 0)


if __name__ == "__main__":
    main()
