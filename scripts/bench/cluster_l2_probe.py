#!/usr/bin/env python3
"""cluster_l2_probe.py — client side of scripts/bench/cluster_l2.sh (issue 14, L2).

  cluster_l2_probe.py --kind cheap|expensive --origin PORT --a PORT --b PORT
                      --c PORT --admin-a PORT --n N

Keys 1..N of the kind's query are read through A (filling L1 there and the shared
tier), then, once A's writes reached Redis, every key is timed on one connection
each way: `origin` (PostgreSQL directly), `l2` (through B: answered from the
tier), `l1` (through B again: local hits), and `miss` (keys N+1..2N through B: the
tier holds nothing, so it is asked and then the origin) and `plain` (the same keys
through C, which has no tier). Prints one JSON line.
"""
import argparse
import json
import statistics
import time
import urllib.request

import psycopg2

QUERIES = {
    # A primary-key lookup: the origin's cheapest read.
    "cheap": "SELECT v, s FROM l2_small WHERE id = {k}",
    # An aggregate over the whole big table, one group per key.
    "expensive": "SELECT count(*), sum(v), avg(v) FROM l2_big WHERE g = {k}",
}


def connect(port, via_cache):
    user = "bench-postgres" if via_cache else "postgres"
    c = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="bench")
    c.autocommit = True
    return c.cursor()


def timed(cur, sql):
    s = time.perf_counter()
    cur.execute(sql)
    cur.fetchall()
    return time.perf_counter() - s


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    return {
        "n": len(xs),
        "p50_us": round(pct(xs, 50) * 1e6, 1),
        "p99_us": round(pct(xs, 99) * 1e6, 1),
        "mean_us": round(statistics.mean(xs) * 1e6, 1),
    }


def metric(admin, series):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(series):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kind", choices=QUERIES, required=True)
    p.add_argument("--origin", type=int, required=True)
    p.add_argument("--a", type=int, required=True)
    p.add_argument("--b", type=int, required=True)
    p.add_argument("--c", type=int, required=True)
    p.add_argument("--admin-a", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    a = p.parse_args()
    q = QUERIES[a.kind]
    keys = range(1, a.n + 1)
    cold = range(a.n + 1, 2 * a.n + 1)
    if a.kind == "expensive":
        # 1000 groups: the cold keys wrap into groups never read as hot ones.
        keys, cold = range(0, a.n), range(a.n, 2 * a.n)
    ca = connect(a.a, True)
    before = metric(a.admin_a, 'wirecache_cluster_l2_writes_total{instance="a"}')
    for k in keys:
        ca.execute(q.format(k=k))
        ca.fetchall()
    deadline = time.time() + 60
    while metric(a.admin_a, 'wirecache_cluster_l2_writes_total{instance="a"}') < before + len(keys):
        if time.time() > deadline:
            raise SystemExit("A's writes did not reach Redis")
        time.sleep(0.05)
    origin, cb = connect(a.origin, False), connect(a.b, True)
    out = {"kind": a.kind, "query": q}
    out["origin"] = summary([timed(origin, q.format(k=k)) for k in keys])
    out["l2"] = summary([timed(cb, q.format(k=k)) for k in keys])
    out["l1"] = summary([timed(cb, q.format(k=k)) for k in keys])
    out["miss"] = summary([timed(cb, q.format(k=k)) for k in cold])
    cc = connect(a.c, True)
    out["plain"] = summary([timed(cc, q.format(k=k)) for k in cold])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
