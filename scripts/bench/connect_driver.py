#!/usr/bin/env python3
"""A new MySQL/MariaDB connection per transaction, as serverless functions, PHP and
CGI-style workers connect: CLIENTS threads, each for DURATION seconds connects,
runs one query (fetching its rows), and closes. sysbench 1.0 cannot reconnect per
transaction, so this is the MariaDB side's `pgbench -C`. PyMySQL (pure Python: its
own cost is the same for every target, so compare targets within one run).

  connect_driver.py --port P --user U --password PW --db DB --sql SQL \\
      [--clients 8] [--duration 10] [--host 127.0.0.1]

Prints one JSON object: tps (transactions per second, connection included), p50_ms
and p99_ms (connect + query + close, nearest rank), samples, failed, status (the
first error if any failed).
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time

import pymysql


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


def worker(a: argparse.Namespace, until: float, lat: list[float], errors: list[str]) -> None:
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            conn = pymysql.connect(host=a.host, port=a.port, user=a.user, password=a.password,
                                   database=a.db, connect_timeout=10, read_timeout=30)
            try:
                with conn.cursor() as cur:
                    cur.execute(a.sql)
                    cur.fetchall()
            finally:
                conn.close()
        except pymysql.MySQLError as e:
            errors.append(str(e))
            time.sleep(0.01)
            continue
        lat.append((time.perf_counter() - t0) * 1000.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", default="")
    p.add_argument("--db", required=True)
    p.add_argument("--sql", required=True)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0)
    a = p.parse_args()
    lats: list[list[float]] = [[] for _ in range(a.clients)]
    errors: list[list[str]] = [[] for _ in range(a.clients)]
    start = time.monotonic()
    until = start + a.duration
    threads = [threading.Thread(target=worker, args=(a, until, lats[i], errors[i])) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    lat = sorted(x for xs in lats for x in xs)
    errs = [e for es in errors for e in es]
    out = {
        "tps": len(lat) / elapsed if lat else None,
        "samples": len(lat),
        "failed": len(errs),
        "lat_avg_ms": sum(lat) / len(lat) if lat else None,
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "status": "ok" if not errs else f"{len(errs)} failed: {errs[0]}",
    }
    if not lat:
        out["status"] = f"failed: {errs[0]}" if errs else "failed: no transactions"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
