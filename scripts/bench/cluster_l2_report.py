#!/usr/bin/env python3
"""cluster_l2_report.py RAW OUT — results.md of scripts/bench/cluster_l2.sh: per
query kind, the latency of one read answered by the origin directly, by a miss
through wirecache (tier asked, then the origin), by the shared tier, and by a
local hit."""
import json
import os
import platform
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
out_dir = sys.argv[2]
build = next((r["result"] for r in rows if r.get("kind") == "build"), {})
print("# Shared result tier (L2): when it pays off\n")
print(f"Build: {build.get('profile', 'release')}. Machine: {os.cpu_count()} cores, "
      f"{platform.platform()}; three wirecache processes in one cluster (bounded; A and "
      "B with `l2 = true`, C without), "
      "PostgreSQL 15 and redis-server on one host (loopback); one psycopg2 "
      f"connection, simple query protocol. Aggregated table: {build.get('rows', '?')} rows.\n")
names = [
    ("origin", "PostgreSQL directly"),
    ("miss", "miss through B (tier asked, then the origin)"),
    ("plain", "miss through C (no tier: the origin)"),
    ("l2", "through B, answered by the shared tier"),
    ("l1", "through B, local hit"),
]
for r in rows:
    if "query" not in r:
        continue
    print(f"## {r['kind']}: `{r['query']}`\n")
    print("| read | n | p50 µs | p99 µs | mean µs |")
    print("|---|---:|---:|---:|---:|")
    for key, label in names:
        s = r.get(key)
        if s is None:
            continue
        print(f"| {label} | {s['n']} | {s['p50_us']} | {s['p99_us']} | {s['mean_us']} |")
    print()
path = os.path.join(out_dir, "metrics-b.txt")
if os.path.exists(path):
    print("## B's tier metrics\n\n```")
    print(open(path).read().strip())
    print("```")
