#!/usr/bin/env python3
"""scripts/soak/flood.py — wirecache's resident memory under hostile load (started by
scripts/soak/run.sh --flood): a baseline; a flood of large distinct results against a
small `max_memory`; clients that ask for 100 MB each and never read; 10,000 half-open
connections (and a normal client served meanwhile). The half-open burst
runs twice: the second must not raise the peak (memory is reused, not leaked). Memory is sampled
every 0.5 s in each phase and after it; writes DIR/flood.json and DIR/flood.md."""

import argparse
import json
import os
import resource
import socket
import struct
import threading
import time

import psycopg

PHASES = []


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid))

    def done(self):
        self.stop.set()
        self.t.join()
        return max(self.peak, rss_mb(self.pid))


def settle(pid, seconds=5):
    time.sleep(seconds)
    return rss_mb(pid)


def served(a):
    t0 = time.time()
    with psycopg.connect(host="127.0.0.1", port=a.pg, user="pg-postgres", dbname="soak", connect_timeout=30) as c:
        assert c.execute("SELECT 41 + 1").fetchone()[0] == 42
    return round(time.time() - t0, 3)


def record(name, before, peak, after, **extra):
    PHASES.append(dict(phase=name, rss_before_mb=round(before, 1), rss_peak_mb=round(peak, 1),
                       rss_after_mb=round(after, 1), **extra))
    print(json.dumps(PHASES[-1]))


def half_open(a, n, name):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    before = rss_mb(a.pid)
    s = Sampler(a.pid)
    socks = []
    for i in range(n):
        c = socket.create_connection(("127.0.0.1", a.pg if i % 2 else a.my))
        socks.append(c)
    time.sleep(2)
    open_fds = fds(a.pid)
    latency = served(a)
    peak = s.done()
    for c in socks:
        c.close()
    record(name, before, peak, settle(a.pid), connections=n, daemon_fds_at_peak=open_fds,
           query_while_open_s=latency)


def large_results(a, max_memory_mb, distinct=400, size_kib=1000, threads=8, seconds=60):
    with psycopg.connect(host="127.0.0.1", port=a.pg_origin, user="postgres", dbname="soak", autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS big (id int PRIMARY KEY, body text)")
        c.execute("TRUNCATE big")
        c.execute("INSERT INTO big SELECT i, repeat(md5(i::text), %s) FROM generate_series(1, %s) i",
                  (size_kib * 1024 // 32, distinct))
    before = rss_mb(a.pid)
    s = Sampler(a.pid)
    stop = time.time() + seconds
    counts = []

    def run(k):
        n = 0
        with psycopg.connect(host="127.0.0.1", port=a.pg, user="pg-postgres", dbname="soak", autocommit=True) as c:
            while time.time() < stop:
                i = (n * threads + k) % distinct + 1
                body = c.execute("SELECT body FROM big WHERE id = %s", (i,)).fetchone()[0]
                assert len(body) == size_kib * 1024
                n += 1
        counts.append(n)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    peak = s.done()
    record("large_results", before, peak, settle(a.pid), max_memory_mb=max_memory_mb,
           distinct_results_mb=distinct * size_kib // 1024, queries=sum(counts),
           overhead_over_max_memory_mb=round(peak - max_memory_mb, 1))


def startup(user, db):
    body = struct.pack(">i", 196608) + f"user\0{user}\0database\0{db}\0\0".encode()
    return struct.pack(">i", len(body) + 4) + body


def non_readers(a, n=20):
    before = rss_mb(a.pid)
    s = Sampler(a.pid)
    socks = []
    q = b"SELECT repeat('x', 1000) FROM generate_series(1, 100000)\0"
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", a.pg))
        c.sendall(startup("pg-postgres", "soak"))
        c.recv(65536)  # the login's answer (small); then never read again
        c.sendall(b"Q" + struct.pack(">i", len(q) + 4) + q)
        socks.append(c)
    time.sleep(10)
    latency = served(a)
    peak = s.done()
    for c in socks:
        c.close()
    record("non_readers", before, peak, settle(a.pid), clients=n, unread_mb_asked=n * 100,
           query_while_stalled_s=latency)


def main():
    p = argparse.ArgumentParser()
    for name in ["pid", "pg-origin", "my-origin", "pg", "my", "admin"]:
        p.add_argument("--" + name, type=int, required=True)
    p.add_argument("--max-memory", default="64MiB")
    p.add_argument("--half-open", type=int, default=10000)
    p.add_argument("--out", required=True)
    p.add_argument("--phases", default=os.environ.get("FLOOD_PHASES", "large_results,non_readers,half_open"),
                   help="comma-separated subset to run (env FLOOD_PHASES)")
    a = p.parse_args()
    phases = set(a.phases.split(","))
    max_mb = float(a.max_memory.rstrip("MiB"))
    baseline = settle(a.pid, 1)
    served(a)
    if "large_results" in phases:
        large_results(a, max_mb)
    if "non_readers" in phases:
        non_readers(a)
    # Twice: glibc keeps freed heap for reuse rather than returning it to the system,
    # so memory after the first burst stays up; the second burst must reuse it, not
    # grow it (a leak would).
    if "half_open" in phases:
        half_open(a, a.half_open, "half_open")
        half_open(a, a.half_open, "half_open_again")
    out = {"baseline_rss_mb": round(baseline, 1), "phases": PHASES}
    with open(os.path.join(a.out, "flood.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(a.out, "flood.md"), "w") as f:
        f.write(f"# wirecache under hostile load\n\nBaseline resident memory {baseline:.1f} MiB, "
                f"max_memory {a.max_memory}.\n\n| phase | before MiB | peak MiB | after MiB | detail |\n|---|---|---|---|---|\n")
        for ph in PHASES:
            detail = ", ".join(f"{k}={v}" for k, v in ph.items()
                               if k not in ("phase", "rss_before_mb", "rss_peak_mb", "rss_after_mb"))
            f.write(f"| {ph['phase']} | {ph['rss_before_mb']} | {ph['rss_peak_mb']} | {ph['rss_after_mb']} | {detail} |\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
