#!/usr/bin/env python3
"""Turns one benchmark run's raw output into one JSON line appended to the raw
results file of scripts/bench/run.sh. Standard library only.

  record.py pgbench  OUT.jsonl --stdout FILE --log-prefix PREFIX [--meta k=v ...]
  record.py sysbench OUT.jsonl --stdout FILE [--meta k=v ...]
  record.py redis    OUT.jsonl --csv FILE [--meta k=v ...]
  record.py note     OUT.jsonl --status "not available: …" [--meta k=v ...]
  record.py driver   OUT.jsonl --stdout FILE [--meta k=v ...]

pgbench: tps from its report ("without initial connection time"); latencies from the
per-transaction logs (`-l`, every transaction), nearest-rank percentiles; the logs
are deleted once read. sysbench: tps and percentiles from `--histogram=on`.
redis-benchmark: its `--csv` line. driver: the JSON object connect_driver.py printed.
Latencies are in milliseconds.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import re
import sys


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def weighted_percentile(pairs: list[tuple[float, int]], p: float) -> float | None:
    """Nearest-rank percentile of (value, count) pairs."""
    pairs = sorted(pairs)
    total = sum(c for _, c in pairs)
    if total == 0:
        return None
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


def parse_pgbench(stdout: str, prefix: str) -> dict:
    out: dict = {}
    # "(without initial connection time)"; with -C, "(including reconnection times)".
    m = re.search(r"^tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)",
                  stdout, re.M)
    out["tps"] = float(m.group(1)) if m else None
    m = re.search(r"number of transactions actually processed: (\d+)", stdout)
    out["transactions"] = int(m.group(1)) if m else None
    m = re.search(r"number of failed transactions: (\d+)", stdout)
    out["failed"] = int(m.group(1)) if m else 0
    lat = []
    for path in sorted(glob.glob(glob.escape(prefix) + ".*")):
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us [lag]
                if len(fields) >= 3 and fields[2].isdigit():
                    lat.append(int(fields[2]) / 1000.0)
        os.remove(path)
    lat.sort()
    out["samples"] = len(lat)
    out["lat_avg_ms"] = sum(lat) / len(lat) if lat else None
    out["p50_ms"] = percentile(lat, 50)
    out["p99_ms"] = percentile(lat, 99)
    if out["tps"] is None:
        err = re.search(r"^pgbench: error: (.*)$", stdout, re.M)
        detail = re.search(r"FATAL:\s*(.*)$", stdout, re.M)
        why = (detail or err).group(1).strip() if (detail or err) else "no tps in pgbench output"
        out["status"] = f"failed: {why}"
    elif out["failed"]:
        out["status"] = f"{out['failed']} failed transactions"
    else:
        out["status"] = "ok"
    return out


def parse_sysbench(stdout: str) -> dict:
    out: dict = {}
    m = re.search(r"transactions:\s+\d+\s+\(([0-9.]+) per sec\.\)", stdout)
    out["tps"] = float(m.group(1)) if m else None
    m = re.search(r"queries:\s+\d+\s+\(([0-9.]+) per sec\.\)", stdout)
    out["qps"] = float(m.group(1)) if m else None
    m = re.search(r"avg:\s+([0-9.]+)", stdout)
    out["lat_avg_ms"] = float(m.group(1)) if m else None
    m = re.search(r"ignored errors:\s+(\d+)", stdout)
    out["failed"] = int(m.group(1)) if m else 0
    pairs = []
    in_hist = False
    for line in stdout.splitlines():
        if "distribution" in line and "count" in line:
            in_hist = True
            continue
        if in_hist:
            m = re.match(r"\s*([0-9.]+)\s+\|\**\s+(\d+)\s*$", line)
            if m:
                pairs.append((float(m.group(1)), int(m.group(2))))
            elif line.strip():
                in_hist = False
    out["samples"] = sum(c for _, c in pairs)
    out["p50_ms"] = weighted_percentile(pairs, 50)
    out["p99_ms"] = weighted_percentile(pairs, 99)
    out["status"] = "ok" if out["tps"] is not None else "failed: no tps in sysbench output"
    return out


def parse_redis(text: str) -> dict:
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        return {"status": "failed: no redis-benchmark csv", "tps": None}
    r = rows[0]
    num = lambda k: float(r[k]) if r.get(k) not in (None, "") else None  # noqa: E731
    return {
        "tps": num("rps"),
        "lat_avg_ms": num("avg_latency_ms"),
        "p50_ms": num("p50_latency_ms"),
        "p99_ms": num("p99_latency_ms"),
        "status": "ok",
    }


def meta(pairs: list[str]) -> dict:
    out: dict = {}
    for p in pairs:
        k, _, v = p.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=("pgbench", "sysbench", "redis", "note", "driver"))
    p.add_argument("out")
    p.add_argument("--stdout")
    p.add_argument("--log-prefix")
    p.add_argument("--csv")
    p.add_argument("--status")
    p.add_argument("--meta", nargs="*", default=[])
    a = p.parse_args(argv)
    read = lambda path: open(path, encoding="utf-8", errors="replace").read() if path else ""  # noqa: E731
    if a.kind == "pgbench":
        rec = parse_pgbench(read(a.stdout), a.log_prefix or "")
    elif a.kind == "sysbench":
        rec = parse_sysbench(read(a.stdout))
    elif a.kind == "redis":
        rec = parse_redis(read(a.csv))
    elif a.kind == "driver":
        try:
            rec = json.loads(read(a.stdout))
        except json.JSONDecodeError:
            rec = {"tps": None, "status": "failed: no output from connect_driver.py"}
    else:
        rec = {"tps": None, "status": a.status or "not available"}
    rec = {**meta(a.meta), **rec}
    with open(a.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    tps = f"{rec['tps']:.0f} tps" if rec.get("tps") else rec["status"]
    p50 = f", p50 {rec['p50_ms']:.3f} ms" if rec.get("p50_ms") is not None else ""
    print(f"  -> {tps}{p50}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
