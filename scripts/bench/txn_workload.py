#!/usr/bin/env python3
"""A read-mostly application as DB-API drivers run it by default (autocommit off,
so every unit of work is one transaction): each unit reads READS random rows of
`items` by primary key and commits; one unit in WRITE_EVERY first records a view
in `item_views` (a write to another table, as an application's log or counters). Runs
PROCS processes for SECONDS and prints one JSON line: units and reads per second.

    txn_workload.py psycopg2|pymysql HOST PORT USER DB [--isolation LEVEL]
"""
import argparse
import json
import multiprocessing as mp
import random
import time

ROWS = 10_000


def connect(a):
    if a.driver == "psycopg2":
        import psycopg2

        c = psycopg2.connect(host=a.host, port=a.port, user=a.user, dbname=a.db)
        if a.isolation:
            c.set_session(isolation_level=a.isolation)
        return c, "%s"
    import pymysql

    init = f"SET SESSION TRANSACTION ISOLATION LEVEL {a.isolation}" if a.isolation else None
    c = pymysql.connect(host=a.host, port=a.port, user=a.user, password=a.password,
                        database=a.db, init_command=init)
    return c, "%s"


def worker(a, seed, deadline, out):
    rnd = random.Random(seed)
    conn, ph = connect(a)
    cur = conn.cursor()
    units = reads = 0
    while time.monotonic() < deadline:
        if a.write_every and rnd.randrange(a.write_every) == 0:
            cur.execute(f"UPDATE item_views SET n = n + 1 WHERE id = {ph}", (rnd.randrange(ROWS),))
        for _ in range(a.reads):
            cur.execute(f"SELECT id, name, price FROM items WHERE id = {ph}", (rnd.randrange(a.hot),))
            cur.fetchall()
            reads += 1
        conn.commit()
        units += 1
    conn.close()
    out.put((units, reads))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("driver", choices=["psycopg2", "pymysql"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("db")
    p.add_argument("--password", default="")
    p.add_argument("--isolation", default="")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--reads", type=int, default=5)
    p.add_argument("--hot", type=int, default=1000)
    p.add_argument("--write-every", type=int, default=20)
    a = p.parse_args()
    out = mp.Queue()
    deadline = time.monotonic() + a.seconds
    procs = [mp.Process(target=worker, args=(a, i, deadline, out)) for i in range(a.procs)]
    for w in procs:
        w.start()
    units = reads = 0
    for _ in procs:
        u, r = out.get()
        units += u
        reads += r
    for w in procs:
        w.join()
    print(json.dumps({"units_per_s": units / a.seconds, "reads_per_s": reads / a.seconds}))


if __name__ == "__main__":
    main()
