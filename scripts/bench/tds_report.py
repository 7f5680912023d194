#!/usr/bin/env python3
"""tds_report.py OUT — results.md of scripts/bench/tds.sh from OUT/raw.jsonl and
OUT/latency-*.json: per workload and target the median over the repetitions of
throughput and of latency p50 / p99, the ratio to direct, and the latency-test
figures. The origin is the TDS test origin on PostgreSQL, not SQL Server."""

import glob
import json
import os
import platform
import statistics
import sys

# `before` and `before-off`: the older binary of a BEFORE= run (tds.sh), if any.
TARGETS = ["direct", "before", "before-off", "wirecache", "caching-off"]
CACHING = ("wirecache", "before")
MODES = {"hot": "PK lookup, hot keys", "miss": "PK lookup, every text new (misses)"}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main(out):
    rows = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]
    reps = sorted({r["rep"] for r in rows})
    print("# TDS benchmark: TDS test origin on PostgreSQL, not SQL Server\n")
    print(
        "Origin: the integration tests' TDS 7.4 test origin (`tests/it/common/tds_origin.rs`, "
        "run by `examples/tds_test_origin.rs`), which executes each statement on a private "
        "PostgreSQL 15. **No SQL Server was measured.** Driver: `examples/tds_load.rs` "
        "(wirecache's own TDS client, SQLBatch; every execution timed), %d repetitions "
        "of %s s per cell after a warm-up, the targets visited in turn; every figure is "
        "the median over the repetitions.\n"
        % (len(reps), rows[0]["seconds"] if rows else "?")
    )
    print("| workload (clients) | target | throughput | p50 | p99 | vs direct | wirecache hits |")
    print("|---|---|---:|---:|---:|---:|---:|")
    cells = sorted({(r["mode"], r["clients"]) for r in rows}, key=lambda c: (-c[1], c[0]))
    for mode, n in cells:
        base = None
        for t in TARGETS:
            sel = [r for r in rows if r["mode"] == mode and r["clients"] == n and r["target"] == t]
            if not sel:
                continue
            ops = med([r["ops_per_s"] for r in sel])
            p50 = med([r["p50_us"] for r in sel]) / 1000
            p99 = med([r["p99_us"] for r in sel]) / 1000
            hits = med([r["hits"] for r in sel])
            errors = sum(r["errors"] for r in sel)
            if t == "direct":
                base = ops
            ratio = "%.2fx" % (ops / base) if base else "–"
            err = " (%d errors)" % errors if errors else ""
            print(
                "| %s (%d) | %s | %s ops/s%s | %.3f ms | %.3f ms | %s | %s |"
                % (MODES[mode], n, t, format(round(ops), ","), err, p50, p99, ratio,
                   format(round(hits), ",") if t in CACHING else "–")
            )
    print(
        "\nHits: wirecache_hits_total of cache `tds` during the run, warm-up included "
        "(median over the repetitions)."
    )
    if any(r["target"] == "before" for r in rows):
        print(
            "\n`before` / `before-off`: an older wirecache binary (tds.sh `BEFORE=`) with "
            "the same two caches, run beside the one under test and visited in the same "
            "turns."
        )
    lts = sorted(glob.glob(os.path.join(out, "latency-*.json")))
    if lts:
        reports = [json.load(open(p)) for p in lts]
        d50 = med([r["direct"]["p50_us"] for r in reports])
        d99 = med([r["direct"]["p99_us"] for r in reports])
        v50 = med([r["via"]["p50_us"] for r in reports])
        v99 = med([r["via"]["p99_us"] for r in reports])
        print(
            "\n`wirecache latency-test mssql://…` (one connection, sequential, n = %d, "
            "%d runs, medians): `%s` — direct p50 %.0f µs / p99 %.0f µs, through "
            "wirecache p50 %.0f µs / p99 %.0f µs (%.2fx at p50).\n"
            % (reports[0]["n"], len(reports), reports[0]["query"], d50, d99, v50, v99, d50 / v50)
        )
    counters = os.path.join(out, "origin-counters.txt")
    if os.path.exists(counters):
        lines = [l.strip() for l in open(counters) if l.startswith("statements=")]
        if lines:
            print("Test origin's own counters at the end of the run: `%s`.\n" % lines[-1])
    shutdown = os.path.join(out, "shutdown.txt")
    if os.path.exists(shutdown):
        print("Shutdown at the end of the run: %s.\n" % "; ".join(
            l.strip() for l in open(shutdown) if l.strip()))
    load = os.path.join(out, "loadavg.log")
    if os.path.exists(load):
        samples = [l.split()[0] for l in open(load) if l.strip()]
        print(
            "Machine: %d CPUs, %s; load average (1 min) sampled at the start and after "
            "each repetition: %s. The machine was shared with other builds: compare "
            "targets within this run, not with other runs.\n"
            % (os.cpu_count(), platform.platform(), ", ".join(samples))
        )


if __name__ == "__main__":
    main(sys.argv[1])
