#!/usr/bin/env python3
"""cluster_probe.py — client side of scripts/bench/cluster.sh (issue 14).

  cluster_probe.py delay --writer PORT --reader PORT [--reader PORT] --n N
      A write through the writer's instance, then reads through each reader's
      instance until the new value shows: per write, the time from the write's
      acknowledgement to the first current read, and how many reads returned the
      old value first (strict mode: must be 0). Each write is preceded by reads that
      put the old value in the readers' caches. With --no-wait each reader reads once
      (instances without a bus keep the old row until its TTL).
  cluster_probe.py hits --port PORT --n N
      N reads of one cached row (table cluster_hot, never written) on one
      connection: per-read latency.

Prints one JSON object. Connects as postgres to cache `bench`, database `bench`.
"""
import argparse
import json
import statistics
import time

import psycopg2


def connect(port):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="bench-postgres", dbname="bench")
    c.autocommit = True
    return c


def read(cur, table="cluster_probe"):
    cur.execute(f"SELECT v FROM {table} WHERE id = 1")
    return cur.fetchone()[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    return {
        "n": len(xs),
        "p50_us": round(pct(xs, 50) * 1e6, 1),
        "p99_us": round(pct(xs, 99) * 1e6, 1),
        "max_us": round(max(xs) * 1e6, 1),
        "mean_us": round(statistics.mean(xs) * 1e6, 1),
    }


def delay(a):
    w = connect(a.writer).cursor()
    w.execute("CREATE TABLE IF NOT EXISTS cluster_probe (id int PRIMARY KEY, v bigint)")
    w.execute("INSERT INTO cluster_probe VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = 0")
    readers = [connect(p).cursor() for p in a.reader]
    delays, stale_reads, writes_with_stale = [], 0, 0
    for i in range(1, a.n + 1):
        for r in readers:
            read(r)
            read(r)
        w.execute("UPDATE cluster_probe SET v = %s WHERE id = 1", (i,))
        acked = time.perf_counter()
        seen_stale = False
        for r in readers:
            while True:
                v = read(r)
                if v == i:
                    break
                stale_reads += 1
                seen_stale = True
                if a.no_wait:
                    break
                if time.perf_counter() - acked > 5:
                    raise SystemExit(f"write {i}: reader still at {v} after 5 s")
        delays.append(time.perf_counter() - acked)
        writes_with_stale += seen_stale
    out = summary(delays)
    out.update(stale_reads=stale_reads, writes_with_a_stale_read=writes_with_stale)
    print(json.dumps(out))


def hits(a):
    # A table the delay probe never writes: writes seen on a table shorten the
    # learned TTL of its queries, and this measures hits, not refills.
    cur = connect(a.port).cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS cluster_hot (id int PRIMARY KEY, v bigint)")
    cur.execute("INSERT INTO cluster_hot VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
    read(cur, "cluster_hot")
    read(cur, "cluster_hot")
    lat = []
    t0 = time.perf_counter()
    for _ in range(a.n):
        s = time.perf_counter()
        read(cur, "cluster_hot")
        lat.append(time.perf_counter() - s)
    out = summary(lat)
    out["reads_per_s"] = round(a.n / (time.perf_counter() - t0))
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("delay")
    d.add_argument("--writer", type=int, required=True)
    d.add_argument("--reader", type=int, action="append", required=True)
    d.add_argument("--n", type=int, default=500)
    d.add_argument("--no-wait", action="store_true", help="read once after each write (no bus: the old row stays)")
    h = sub.add_parser("hits")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--n", type=int, default=20000)
    a = p.parse_args()
    {"delay": delay, "hits": hits}[a.cmd](a)


if __name__ == "__main__":
    main()
