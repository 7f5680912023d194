#!/usr/bin/env python3
"""The workload of scripts/eval/run.sh: learned TTLs against fixed ones.

Subcommands:

  setup  create the role `app`, the database `evaldb` and four tables, loaded
         with ROWS rows each (run once per origin, as the superuser `postgres`).
  run    one measured run against a running wirecache: reader threads through
         wirecache, out-of-band writers straight at the origin, one in-band writer
         through wirecache; every read checked against the origin's truth; writes
         one JSON file of figures.

The four tables (same shape: id, version, payload) differ only in how they change:

  t_static  never changes
  t_inband  changed only by writes through wirecache (WRITE_INBAND rows/s): wirecache
            sees them and invalidates before acknowledging, so it must serve no stale
            read (asserted)
  t_slow    changed out of band, straight at the origin, slowly (WRITE_SLOW rows/s)
  t_fast    changed out of band quickly (WRITE_FAST rows/s)

Every write increments the row's `version`. Readers read one row by primary key
(`SELECT id, version, payload FROM <table> WHERE id = <key>`, one template per
table) with Zipf-distributed keys (rank k has weight 1/k^ZIPF_S; key id = rank, so
id 1 is the hottest); writers draw their rows from the same distribution (popular rows
are also the ones that change; `--write-keys uniform` changes that).

Truth check. Each reader has a direct origin connection besides its wirecache one.
Around every read through wirecache it reads the row's version directly, just before
(`before`) and just after (`after`). The read is **stale** if the version wirecache
returned is older than `before`: a newer version had been committed at the origin
before the read was even sent. If `before <= v < after` a write committed while the
read was in flight; such reads are counted as `raced`, not stale (either answer is
correct for a read concurrent with a write). For t_inband the writer also records each
version once its UPDATE is acknowledged through wirecache; a read returning a version
older than the last acknowledged one before it started is `stale_vs_ack` (wirecache's
actual guarantee), which must be zero.

Origin load: pg_stat_statements is reset at the start; at the end every statement run
by the role `app` (wirecache's fills, refreshes and catalog look-ups; not the truth
checks or the out-of-band writers, which run as `postgres`) is counted, excluding the
in-band writer's own UPDATEs.
"""

import argparse
import bisect
import json
import random
import sys
import threading
import time
import urllib.request

import psycopg2

TABLES = ["t_static", "t_inband", "t_slow", "t_fast"]
DB = "evaldb"
APP_ROLE = "app"


# --------------------------------------------------------------------------- setup


def direct(port, db=DB, user="postgres"):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname=db)
    conn.autocommit = True
    return conn


def setup(args):
    conn = direct(args.origin_port, db="postgres")
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
    if not cur.fetchone():
        cur.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    cur.execute("DROP DATABASE IF EXISTS " + DB)
    cur.execute(f"CREATE DATABASE {DB} OWNER {APP_ROLE}")
    conn.close()
    conn = direct(args.origin_port)
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for t in TABLES:
        cur.execute(
            f"CREATE TABLE {t} (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 0, "
            "payload text NOT NULL)"
        )
        cur.execute(
            f"INSERT INTO {t} (id, payload) SELECT g, {t!r} || ':' || g || ':' || "
            "repeat(md5(g::text), 3) FROM generate_series(1, %s) g",
            (args.rows,),
        )
        cur.execute(f"ALTER TABLE {t} OWNER TO {APP_ROLE}")
    cur.execute("ANALYZE")
    conn.close()
    print(f"evaldb: {len(TABLES)} tables of {args.rows} rows", file=sys.stderr)


# ----------------------------------------------------------------------------- run


class Zipf:
    """Keys 1..n with P(k) proportional to 1/k^s."""

    def __init__(self, n, s):
        acc, self.cum = 0.0, []
        for k in range(1, n + 1):
            acc += 1.0 / k**s
            self.cum.append(acc)
        self.total = acc

    def sample(self, rng):
        return min(bisect.bisect_left(self.cum, rng.random() * self.total), len(self.cum) - 1) + 1


class Paced:
    """Sleeps so that calls to tick() happen `rate` times a second; if the caller
    falls behind by more than a second it is not made to catch up in a burst."""

    def __init__(self, rate, stop):
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.stop = stop

    def tick(self):
        self.next += self.interval
        delay = self.next - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)
        elif delay < -1.0:
            self.next = time.monotonic()
        return not self.stop.is_set()


def proxy_conn(args):
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=args.proxy_port,
        user=f"{args.cache}-{APP_ROLE}",
        dbname=DB,
        connect_timeout=10,
    )
    # Outside a transaction block: psycopg2 would otherwise send BEGIN first, and
    # reads in a transaction are never cached.
    conn.autocommit = True
    return conn


def new_counts():
    return {
        t: {"reads": 0, "stale": 0, "raced": 0, "stale_vs_ack": 0, "errors": 0}
        for t in TABLES
    }


def reader(idx, args, zipf, stop, go, acked, out, errors):
    rng = random.Random(f"{args.seed}:reader:{idx}")
    counts = new_counts()
    try:
        wc = proxy_conn(args)
        origin = direct(args.origin_port)
    except Exception as e:  # noqa: BLE001 - reported, the run fails
        errors.append(f"reader {idx} connect: {e}")
        return
    wcur, ocur = wc.cursor(), origin.cursor()
    weights = args.table_weights
    go.wait()
    pace = Paced(args.read_rate, stop)
    while pace.tick():
        table = rng.choices(TABLES, weights=weights)[0]
        key = zipf.sample(rng)
        c = counts[table]
        ack = acked.get(key, 0) if table == "t_inband" else 0
        try:
            ocur.execute(f"SELECT version FROM {table} WHERE id = %s", (key,))
            before = ocur.fetchone()[0]
            wcur.execute(f"SELECT id, version, payload FROM {table} WHERE id = %s", (key,))
            row = wcur.fetchone()
            ocur.execute(f"SELECT version FROM {table} WHERE id = %s", (key,))
            after = ocur.fetchone()[0]
        except psycopg2.Error as e:
            c["errors"] += 1
            if c["errors"] <= 3:
                errors.append(f"reader {idx} {table} {key}: {e}")
            continue
        v = row[1]
        c["reads"] += 1
        if v < before:
            c["stale"] += 1
        elif v < after:
            c["raced"] += 1
        if v < ack:
            c["stale_vs_ack"] += 1
    wc.close()
    origin.close()
    out[idx] = counts


def oob_writer(table, rate, args, zipf, stop, go, out, errors):
    """Out of band: straight at the origin, as `postgres`."""
    rng = random.Random(f"{args.seed}:writer:{table}")
    conn = direct(args.origin_port)
    cur = conn.cursor()
    n = 0
    go.wait()
    pace = Paced(rate, stop)
    while pace.tick():
        key = pick_write_key(args, zipf, rng)
        try:
            cur.execute(f"UPDATE {table} SET version = version + 1 WHERE id = %s", (key,))
            n += 1
        except psycopg2.Error as e:
            errors.append(f"writer {table}: {e}")
    conn.close()
    out[table] = n


def inband_writer(args, zipf, stop, go, acked, out, errors):
    """Through wirecache: it sees the write and invalidates t_inband before the
    acknowledgement reaches us."""
    rng = random.Random(f"{args.seed}:writer:t_inband")
    conn = proxy_conn(args)
    cur = conn.cursor()
    n = 0
    go.wait()
    pace = Paced(args.write_inband, stop)
    while pace.tick():
        key = pick_write_key(args, zipf, rng)
        try:
            cur.execute(
                "UPDATE t_inband SET version = version + 1 WHERE id = %s RETURNING version",
                (key,),
            )
            acked[key] = max(acked.get(key, 0), cur.fetchone()[0])
            n += 1
        except psycopg2.Error as e:
            errors.append(f"writer t_inband: {e}")
    conn.close()
    out["t_inband"] = n


def pick_write_key(args, zipf, rng):
    if args.write_keys == "uniform":
        return rng.randint(1, args.rows)
    return zipf.sample(rng)


def admin_get(args, path):
    url = f"http://127.0.0.1:{args.admin_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def templates_by_table(args):
    """The read template of each table: its figures from /api/templates."""
    data = json.loads(admin_get(args, f"/api/templates?cache={args.cache}&limit=1000"))
    found = {}
    for t in data["templates"]:
        text = t["template"].lower()
        if not text.startswith("select"):
            continue
        for table in TABLES:
            if f"from {table} " in text + " ":
                found[table] = t
    return found


def monitor(args, stop, go, timeline, errors):
    """Every second: each read template's TTL, pause and hit figures."""
    go.wait()
    start = time.monotonic()
    while not stop.wait(1.0):
        try:
            tpl = templates_by_table(args)
        except Exception as e:  # noqa: BLE001
            errors.append(f"monitor: {e}")
            continue
        timeline.append(
            {
                "t": round(time.monotonic() - start, 2),
                "templates": {
                    table: {
                        "ttl_seconds": t["ttl_seconds"],
                        "paused": t["paused"],
                        "hits": t["hits"],
                        "calls": t["calls"],
                        "entries": t["entries"],
                        "refreshes": t["refreshes"],
                    }
                    for table, t in tpl.items()
                },
            }
        )


def origin_statements(args):
    """Calls per statement run by `app` at the origin since the reset."""
    conn = direct(args.origin_port)
    cur = conn.cursor()
    cur.execute(
        "SELECT query, calls FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "WHERE r.rolname = %s ORDER BY calls DESC",
        (APP_ROLE,),
    )
    rows = cur.fetchall()
    conn.close()
    return [{"query": q, "calls": c} for q, c in rows]


def metrics_series(text, names):
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[0].split("{")[0] in names:
            found[parts[0]] = float(parts[1])
    return found


def run(args):
    zipf = Zipf(args.rows, args.zipf_s)
    conn = direct(args.origin_port)
    conn.cursor().execute("SELECT pg_stat_statements_reset()")
    conn.close()

    stop, go = threading.Event(), threading.Event()
    acked, errors, timeline = {}, [], []
    read_out, write_out = {}, {}
    threads = [
        threading.Thread(
            target=reader, args=(i, args, zipf, stop, go, acked, read_out, errors)
        )
        for i in range(args.readers)
    ]
    threads.append(
        threading.Thread(
            target=oob_writer,
            args=("t_slow", args.write_slow, args, zipf, stop, go, write_out, errors),
        )
    )
    threads.append(
        threading.Thread(
            target=oob_writer,
            args=("t_fast", args.write_fast, args, zipf, stop, go, write_out, errors),
        )
    )
    threads.append(
        threading.Thread(
            target=inband_writer, args=(args, zipf, stop, go, acked, write_out, errors)
        )
    )
    threads.append(threading.Thread(target=monitor, args=(args, stop, go, timeline, errors)))
    for t in threads:
        t.start()
    time.sleep(0.5)  # let every thread connect
    started = time.monotonic()
    go.set()
    stop.wait(args.duration)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started

    # Figures, read before wirecache is stopped.
    tpl = templates_by_table(args)
    caches = json.loads(admin_get(args, "/api/caches"))
    metrics = metrics_series(
        admin_get(args, "/metrics"),
        {
            "wirecache_hits_total",
            "wirecache_misses_total",
            "wirecache_refreshes_total",
            "wirecache_fills_total",
            "wirecache_bypasses_total",
        },
    )
    statements = origin_statements(args)

    per_table = {}
    for table in TABLES:
        c = {k: sum(r[table][k] for r in read_out.values()) for k in new_counts()[table]}
        t = tpl.get(table, {})
        origin_calls = sum(
            s["calls"]
            for s in statements
            if s["query"].lower().startswith("select") and f"from {table} " in s["query"].lower() + " "
        )
        c.update(
            {
                "hits": t.get("hits", 0),
                "calls": t.get("calls", 0),
                "misses": t.get("misses", 0),
                "bypasses": t.get("bypasses", {}),
                "refreshes": t.get("refreshes", 0),
                "final_ttl_seconds": t.get("ttl_seconds"),
                "final_paused": t.get("paused"),
                "origin_reads": origin_calls,
                "writes": write_out.get(table, 0),
            }
        )
        per_table[table] = c

    reads = sum(c["reads"] for c in per_table.values())
    hits = sum(c["hits"] for c in per_table.values())
    calls = sum(c["calls"] for c in per_table.values())
    stale = sum(c["stale"] for c in per_table.values())
    inband_writes = sum(
        s["calls"] for s in statements if s["query"].lower().startswith("update")
    )
    origin_queries = sum(s["calls"] for s in statements) - inband_writes
    result = {
        "label": args.label,
        "ttl": args.ttl,
        "seed": args.seed,
        "duration_s": args.duration,
        "elapsed_s": round(elapsed, 2),
        "params": {
            "rows": args.rows,
            "zipf_s": args.zipf_s,
            "readers": args.readers,
            "read_rate_per_reader": args.read_rate,
            "table_weights": dict(zip(TABLES, args.table_weights)),
            "write_rates": {
                "t_inband": args.write_inband,
                "t_slow": args.write_slow,
                "t_fast": args.write_fast,
            },
            "write_keys": args.write_keys,
        },
        "reads": reads,
        "reads_per_s": reads / elapsed if elapsed else 0.0,
        "target_reads_per_s": args.readers * args.read_rate,
        "wirecache_calls": calls,
        "hits": hits,
        "hit_ratio": hits / calls if calls else 0.0,
        "stale": stale,
        "stale_fraction": stale / reads if reads else 0.0,
        "raced": sum(c["raced"] for c in per_table.values()),
        "origin_queries": origin_queries,
        "origin_queries_per_read": origin_queries / reads if reads else 0.0,
        "inband_stale_vs_ack": per_table["t_inband"]["stale_vs_ack"],
        "inband_stale_vs_origin": per_table["t_inband"]["stale"],
        "tables": per_table,
        "cache": caches["caches"][0] if caches.get("caches") else {},
        "metrics": metrics,
        "statements": statements[:40],
        "ttl_timeline": timeline,
        "errors": errors[:50],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"{args.label:>8}: {reads} reads ({reads / elapsed:.0f}/s), hit ratio "
        f"{result['hit_ratio']:.3f}, stale {result['stale_fraction']:.4f}, origin "
        f"queries/read {result['origin_queries_per_read']:.3f}, in-band stale "
        f"{result['inband_stale_vs_ack']} (vs origin {result['inband_stale_vs_origin']})"
        + (f", {len(errors)} errors: {errors[0]}" if errors else ""),
        file=sys.stderr,
    )
    if abs(calls - reads) > max(10, 0.01 * reads):
        print(f"warning: wirecache counted {calls} reads, the readers {reads}", file=sys.stderr)
    failed = False
    if result["inband_stale_vs_ack"] != 0:
        print(
            f"FAIL: {result['inband_stale_vs_ack']} stale reads of t_inband, which only "
            "changes through wirecache",
            file=sys.stderr,
        )
        failed = True
    if reads == 0 or any(c["errors"] > 0.01 * max(c["reads"], 1) for c in per_table.values()):
        print("FAIL: no reads, or more than 1% of reads failed", file=sys.stderr)
        failed = True
    if failed:
        return 1
    if result["reads_per_s"] < 0.9 * result["target_reads_per_s"]:
        # Hit ratios depend on the read rate: run.sh may run this configuration again.
        print(
            f"short: {result['reads_per_s']:.0f} reads/s of {result['target_reads_per_s']:.0f} "
            "(machine busy)",
            file=sys.stderr,
        )
        return 3
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--origin-port", type=int, required=True)
    s.add_argument("--rows", type=int, default=5000)
    r = sub.add_parser("run")
    r.add_argument("--origin-port", type=int, required=True)
    r.add_argument("--proxy-port", type=int, required=True)
    r.add_argument("--admin-port", type=int, required=True)
    r.add_argument("--cache", default="eval")
    r.add_argument("--label", required=True)
    r.add_argument("--ttl", type=float, default=None, help="the fixed TTL, none if learned")
    r.add_argument("--out", required=True)
    r.add_argument("--duration", type=float, default=60)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--rows", type=int, default=5000)
    r.add_argument("--zipf-s", type=float, default=1.1)
    r.add_argument("--readers", type=int, default=4)
    r.add_argument("--read-rate", type=float, default=75, help="reads/s per reader")
    r.add_argument(
        "--table-weights",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[1, 1, 1, 1],
        help="share of reads per table, in the order " + ",".join(TABLES),
    )
    r.add_argument("--write-inband", type=float, default=1.0, help="rows/s through wirecache")
    r.add_argument("--write-slow", type=float, default=0.5, help="rows/s out of band")
    r.add_argument("--write-fast", type=float, default=50.0, help="rows/s out of band")
    r.add_argument("--write-keys", choices=["zipf", "uniform"], default="zipf")
    args = p.parse_args()
    if args.cmd == "setup":
        setup(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
