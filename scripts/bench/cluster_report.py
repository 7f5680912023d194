#!/usr/bin/env python3
"""cluster_report.py RAW OUT — results.md of scripts/bench/cluster.sh: one table per
probe, one row per setting (alone, bounded, strict), and the machine."""
import json
import os
import platform
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
out_dir = sys.argv[2]


def get(mode, probe):
    for r in rows:
        if r["mode"] == mode and r["probe"] == probe:
            return r["result"]
    return {}


modes = ["alone", "bounded", "strict"]
print("# Cluster bus: invalidation delay and hit cost\n")
profile = get("build", "profile").get("profile", "release")
print(f"Build: {profile}. Machine: {os.cpu_count()} cores, {platform.platform()}; three wirecache "
      "processes, PostgreSQL 15 and redis-server on one host (loopback).\n")
print("## A write through A, then reads through B and C\n")
print("Time from the write's acknowledgement to the first current read on both "
      "readers (one client read included), and reads that returned the old value.\n")
print("| setting | writes | p50 µs | p99 µs | max µs | stale reads | writes with a stale read |")
print("|---|---:|---:|---:|---:|---:|---:|")
for m in modes:
    d = get(m, "delay")
    if d:
        print(f"| {m} | {d['n']} | {d['p50_us']} | {d['p99_us']} | {d['max_us']} | "
              f"{d['stale_reads']} | {d['writes_with_a_stale_read']} |")
print("\n(`alone`: no bus; each reader reads once after each write, and keeps the "
      "old row until its TTL: the delay column is only that one read.)\n")
print("## Hits through B\n")
print("| setting | latency p50 µs | p99 µs | reads/s (1 connection) | pgbench tps | pgbench latency ms |")
print("|---|---:|---:|---:|---:|---:|")
for m in modes:
    h, p = get(m, "hits"), get(m, "pgbench")
    if h:
        print(f"| {m} | {h['p50_us']} | {h['p99_us']} | {h['reads_per_s']} | "
              f"{p.get('tps', '')} | {p.get('latency_ms', '')} |")
for m in ["bounded", "strict"]:
    path = os.path.join(out_dir, f"metrics-b-{m}.txt")
    if os.path.exists(path):
        print(f"\n## B's bus metrics ({m})\n\n```")
        print(open(path).read().strip())
        print("```")
