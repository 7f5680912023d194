#!/usr/bin/env python3
"""Summarises a results folder of scripts/bench/run.sh: medians of the repetitions
in raw.jsonl, ratios to the direct connection, the latency-test reports, memory
figures and the targets, into results.md and results.csv, plus PNG charts
(throughput.png, latency.png) when matplotlib is available.

  report.py RESULTS_DIR
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
from collections import defaultdict

TARGET_ORDER = ["direct", "wirecache", "wirecache-nocache", "wirecache-pooled", "pgbouncer-session",
                "pgbouncer-txn", "pgpool", "redis", "direct-limited", "pgbouncer-limited",
                "wirecache-limited", "wirecache-limited-nocache", "wirecache-pooled-limited"]
GroupKey = tuple  # (suite, workload, mode, clients)


def load(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def med(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(records: list[dict]) -> dict[GroupKey, dict[str, dict]]:
    cells: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = (r.get("suite"), r.get("workload"), r.get("mode"), r.get("clients"))
        cells[key][r.get("target")].append(r)
    out: dict = {}
    for key, targets in cells.items():
        out[key] = {}
        for target, runs in targets.items():
            ok = [r for r in runs if r.get("tps") is not None]
            hits = sum(r.get("hits", 0) for r in ok)
            misses = sum(r.get("misses", 0) for r in ok)
            out[key][target] = {
                "runs": len(runs), "ok": len(ok),
                "tps": med([r["tps"] for r in ok]),
                "p50_ms": med([r.get("p50_ms") for r in ok]),
                "p99_ms": med([r.get("p99_ms") for r in ok]),
                "conn_ms": med([r.get("conn_ms") for r in ok]),
                "hit_ratio": hits / (hits + misses) if hits + misses else None,
                "status": "ok" if ok else (runs[0].get("status") or "failed"),
                "failed": sum(r.get("failed", 0) or 0 for r in runs),
            }
    return out


def ordered(targets: dict) -> list[str]:
    return sorted(targets, key=lambda t: (TARGET_ORDER.index(t) if t in TARGET_ORDER else 99, t))


def fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def group_title(key: GroupKey) -> str:
    suite, workload, mode, clients = key
    return f"{workload} ({mode}, {clients} client{'s' if clients != 1 else ''})"


def bouncer_of(cell: dict) -> dict:
    """The PgBouncer a row is compared with: transaction pooling where it ran (the
    limited origin's pool there), else session pooling."""
    for t in ("pgbouncer-txn", "pgbouncer-limited", "pgbouncer-session"):
        if cell.get(t, {}).get("tps") is not None:
            return cell[t]
    return {}


def results_table(summary: dict) -> tuple[list[str], list[dict]]:
    lines = ["| workload | target | tps | × direct tps | × PgBouncer tps | p50 ms | p99 ms | direct p50 / p50 "
             "| PgBouncer p50 / p50 | hit ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = []
    for key in sorted(summary, key=lambda k: (str(k[0]), str(k[1]), str(k[2]), -(k[3] or 0))):
        cell = summary[key]
        base = cell.get("direct", cell.get("direct-limited", {}))
        bouncer = bouncer_of(cell)
        for target in ordered(cell):
            c = cell[target]
            tps_x = ratio(c["tps"], base.get("tps"))
            lat_x = ratio(base.get("p50_ms"), c["p50_ms"])
            tps_b = ratio(c["tps"], bouncer.get("tps"))
            lat_b = ratio(bouncer.get("p50_ms"), c["p50_ms"])
            hr = f"{c['hit_ratio'] * 100:.1f}%" if c["hit_ratio"] is not None else ""
            if c["status"] != "ok":
                lines.append(f"| {group_title(key)} | {target} | {c['status']} | | | | | | | |")
            else:
                note = f" ({c['failed']} failed)" if c["failed"] else ""
                lines.append(f"| {group_title(key)} | {target} | {fmt(c['tps'])}{note} | "
                             f"{fmt(tps_x, 2)} | {fmt(tps_b, 2)} | {fmt(c['p50_ms'])} | {fmt(c['p99_ms'])} | "
                             f"{fmt(lat_x, 2)} | {fmt(lat_b, 2)} | {hr} |")
            rows.append({"suite": key[0], "workload": key[1], "mode": key[2], "clients": key[3],
                         "target": target, **c, "tps_vs_direct": tps_x, "p50_speedup": lat_x,
                         "tps_vs_pgbouncer": tps_b})
    return lines, rows


def get(summary: dict, key: GroupKey, target: str, field: str) -> float | None:
    return summary.get(key, {}).get(target, {}).get(field)


def targets_section(summary: dict, latency: dict, out_dir: str) -> list[str]:
    pg = lambda w, m, c: ("postgres", w, m, c)  # noqa: E731
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def row(name: str, measured: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("met" if ok else "**missed**")
        lines.append(f"| {name} | {measured} | {verdict} |")

    x = ratio(get(summary, pg("pk-hot", "simple", 8), "wirecache", "tps"),
              get(summary, pg("pk-hot", "simple", 8), "direct", "tps"))
    row("hit path ≥ 2× direct throughput, hot PK lookup, 8 clients", f"{fmt(x, 2)}×",
        None if x is None else x >= 2)
    for c in (1, 8):
        x = ratio(get(summary, pg("join", "simple", c), "direct", "p50_ms"),
                  get(summary, pg("join", "simple", c), "wirecache", "p50_ms"))
        row(f"≥ 100× lower latency than direct on the join ({c} client{'s' if c > 1 else ''}, p50)",
            f"{fmt(x, 1)}×", None if x is None else x >= 100)
    redis = get(summary, ("redis", "get", "resp", 1), "redis", "p50_ms")
    hit = get(summary, pg("pk-hot", "simple", 1), "wirecache", "p50_ms")
    x = ratio(hit, redis)
    row("hit p50 within 1.5× of a Redis GET (pgbench, 1 client, vs redis-benchmark)",
        f"{fmt(hit, 3)} ms vs {fmt(redis, 3)} ms = {fmt(x, 2)}×", None if x is None else x <= 1.5)
    lt = latency.get("pg-pk", {}).get("via", {}).get("p50_us")
    x = ratio(lt / 1000 if lt else None, redis)
    row("hit p50 within 1.5× of a Redis GET (latency-test via tokio-postgres)",
        f"{fmt(lt / 1000 if lt else None, 3)} ms vs {fmt(redis, 3)} ms = {fmt(x, 2)}×",
        None if x is None else x <= 1.5)
    for w, m in (("select-only", "simple"), ("pk-hot", "simple")):
        key = pg(w, m, 8)
        d = get(summary, key, "direct", "tps")
        loss = lambda t: (1 - get(summary, key, t, "tps") / d) if d and get(summary, key, t, "tps") else None  # noqa: E731,B023
        off, ses, txn = loss("wirecache-nocache"), loss("pgbouncer-session"), loss("pgbouncer-txn")
        if off is None:
            continue
        for mode_name, b in (("session", ses), ("transaction", txn)):
            row(f"caching-off loss vs direct ≤ PgBouncer {mode_name}'s ({w}, 8 clients)",
                f"{off * 100:.1f}% vs {b * 100:.1f}%" if b is not None else f"{off * 100:.1f}%",
                None if b is None else off <= b)
    cost_targets(summary, row)
    # Read workloads only: on TPC-B and new connections neither side's cache is the point.
    no_cache_rows = ("tpcb", "pk-hot-connect", "pk-limited")
    for key in sorted(k for k in summary if k[0] == "postgres" and k[1] not in no_cache_rows):
        w, p = get(summary, key, "wirecache", "tps"), get(summary, key, "pgpool", "tps")
        if w is not None and p is not None:
            row(f"ahead of Pgpool-II's query cache: {group_title(key)}",
                f"{fmt(w)} vs {fmt(p)} tps ({fmt(ratio(w, p), 2)}×)", w > p)
    return lines


def cost_targets(summary: dict, row) -> None:
    """The targets where caching cannot help (lib/connect.sh's rows)."""
    pg = lambda w, c: ("postgres", w, "simple", c)  # noqa: E731
    for w in ("select-only", "tpcb"):
        key = pg(w, 8)
        wc, off, txn = (get(summary, key, t, "tps") for t in ("wirecache", "wirecache-nocache", "pgbouncer-txn"))
        x = ratio(wc, txn)
        row(f"caching on ≥ 1.0× PgBouncer transaction pooling ({w}, 8 clients)",
            f"{fmt(wc)} vs {fmt(txn)} tps ({fmt(x, 3)}×)", None if x is None else x >= 1.0)
        x = ratio(wc, off)
        row(f"caching on within 3 % of mode off ({w}, 8 clients)",
            f"{fmt(wc)} vs {fmt(off)} tps ({fmt(x, 3)}×)", None if x is None else x >= 0.97)
    # With -C each transaction is a new connection, and pgbench's per-transaction
    # latencies leave the connection out: judged on transactions (connections) per
    # second and pgbench's average connection time instead.
    key = pg("pk-hot-connect", 8)
    b_tps = get(summary, key, "pgbouncer-txn", "tps")
    b_conn = get(summary, key, "pgbouncer-txn", "conn_ms")
    for t in ("wirecache-pooled", "wirecache-nocache"):
        tps, conn = get(summary, key, t, "tps"), get(summary, key, t, "conn_ms")
        ok = None if tps is None or b_tps is None else tps >= b_tps and (conn is None or b_conn is None or conn <= b_conn)
        row(f"new connection per transaction: {t} at least PgBouncer transaction pooling's rate, connecting no slower",
            f"{fmt(tps)} vs {fmt(b_tps)} tps; connection {fmt(conn)} vs {fmt(b_conn)} ms", ok)
    key = pg("pk-limited", int(os.environ.get("LIMITED_CLIENTS", "500")))
    for t in ("wirecache-pooled-limited", "wirecache-limited", "pgbouncer-limited"):
        c = summary.get(key, {}).get(t)
        if c is None:
            continue
        ok = c["status"] == "ok" and not c["failed"]
        measured = f"{fmt(c['tps'])} tps, {c['failed']} failed" if c["status"] == "ok" else c["status"]
        row(f"{key[3]} clients on a 50-connection origin with zero errors: {t}", measured,
            None if c["status"].startswith(("not available", "n/a")) else ok)


def latency_section(out_dir: str) -> tuple[list[str], dict]:
    lines, data = [], {}
    for name in ("pg-pk", "pg-join", "mysql-pk", "mysql-join"):
        path = os.path.join(out_dir, f"latency-{name}.json")
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                r = json.load(f)
        except (OSError, json.JSONDecodeError):
            lines.append(f"| {name} | failed | | | | | |")
            continue
        data[name] = r
        if "direct" not in r:
            lines.append(f"| {name} | {r.get('status', 'not available')} | | | | | |")
            continue
        for side in ("direct", "via"):
            s = r[side]
            lines.append(f"| {name} | {side} | {r['n']} | {s['min_us']:.0f} | {s['p50_us']:.0f} | "
                         f"{s['p90_us']:.0f} | {s['p99_us']:.0f} | {s['max_us']:.0f} |")
        lines.append(f"| {name} | p50 ratio | | | {r['p50_ratio']:.1f}× | | | |")
    head = ["| query | side | n | min µs | p50 µs | p90 µs | p99 µs | max µs |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    return (head + lines if lines else []), data


def memory_section(out_dir: str) -> list[str]:
    path = os.path.join(out_dir, "memory.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        m = json.load(f)
    per_byte = (m["rss_filled_kib"] - m["rss_idle_kib"]) * 1024 / m["cached_bytes"] if m["cached_bytes"] else None
    per_conn = (m["rss_with_idle_clients_kib"] - m["rss_filled_kib"]) / m["idle_clients"]
    return [
        "| measure | value |", "|---|---|",
        f"| RSS idle | {m['rss_idle_kib'] / 1024:.1f} MiB |",
        f"| RSS after caching {m['cached_bytes'] / 2**20:.1f} MiB ({m['fill_queries']} results) | "
        f"{m['rss_filled_kib'] / 1024:.1f} MiB |",
        f"| RSS with {m['idle_clients']} idle client connections | {m['rss_with_idle_clients_kib'] / 1024:.1f} MiB |",
        f"| RSS per cached byte (counted by `wirecache_cache_bytes`) | {fmt(per_byte, 2)} bytes |",
        f"| RSS per idle client connection (with its origin connection) | {per_conn:.1f} KiB |",
    ]


def charts(summary: dict, out_dir: str) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    groups = [k for k in sorted(summary, key=lambda k: (str(k[0]), str(k[1]), str(k[2]), k[3] or 0))
              if any(c["tps"] for c in summary[k].values())]
    made = []
    for name, title, fields in (("throughput.png", "transactions per second (median; log scale where values span > 20x)", ["tps"]),
                                ("latency.png", "latency ms, p50 and p99 (median; log scale where values span > 20x)", ["p50_ms", "p99_ms"])):
        cols = 3
        rows = (len(groups) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
        for ax, key in zip(axes.flat, groups):
            cell = summary[key]
            targets = [t for t in ordered(cell) if cell[t]["tps"]]
            width = 0.8 / len(fields)
            for i, field in enumerate(fields):
                vals = [cell[t][field] or 0 for t in targets]
                xs = [j + (i - (len(fields) - 1) / 2) * width for j in range(len(targets))]
                bars = ax.bar(xs, vals, width, label=field.replace("_ms", ""))
                for b, v in zip(bars, vals):
                    ax.annotate(fmt(v, 2 if field == "tps" else 3), (b.get_x() + b.get_width() / 2, v),
                                ha="center", va="bottom", fontsize=6)
            shown = [cell[t][f] for t in targets for f in fields if cell[t][f]]
            if shown and max(shown) / min(shown) > 20:
                ax.set_yscale("log")
            else:
                ax.set_ylim(0, max(shown or [1]) * 1.15)
            ax.set_xticks(range(len(targets)))
            ax.set_xticklabels(targets, rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{key[0]}: {group_title(key)}", fontsize=8)
            if len(fields) > 1:
                ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(groups):]:
            ax.axis("off")
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def main(argv: list[str]) -> int:
    out_dir = argv[0] if argv else "."
    records = load(os.path.join(out_dir, "raw.jsonl"))
    summary = summarise(records)
    table, rows = results_table(summary)
    with open(os.path.join(out_dir, "results.csv"), "w", newline="", encoding="utf-8") as f:
        fields = ["suite", "workload", "mode", "clients", "target", "runs", "ok", "tps", "tps_vs_direct", "tps_vs_pgbouncer",
                  "p50_ms", "p99_ms", "p50_speedup", "hit_ratio", "failed", "status"]
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lat_lines, lat_data = latency_section(out_dir)
    pngs = charts(summary, out_dir)
    md = ["# wirecache benchmark", "",
          "Command: `scripts/bench/run.sh` (see [machine.md](machine.md) for the machine, versions and "
          "settings). Every figure is the median of the repetitions; `× direct tps` and `direct p50 / p50` "
          "compare with the same workload run straight at PostgreSQL (MariaDB for sysbench). Hit ratio: "
          "wirecache hits / (hits + misses) during the runs. `wirecache-nocache` is a cache of the same "
          "wirecache with `mode = \"off\"`: a plain relay (each message is framed, forwarded and "
          "streamed back; nothing is looked up, judged or stored) — what the proxy itself costs.", "",
          "## Throughput and latency", ""] + table
    md += ["", "## Targets", ""] + targets_section(summary, lat_data, out_dir)
    if lat_lines:
        md += ["", "## `wirecache latency-test` (one connection, sequential)", ""] + lat_lines
    mem = memory_section(out_dir)
    if mem:
        md += ["", "## Memory (VmRSS of a fresh wirecache)", ""] + mem
    if pngs:
        md += ["", "## Charts", ""] + [f"![{p}]({p})" for p in pngs]
    profiles = sorted(p for p in os.listdir(out_dir) if p.startswith("profile-"))
    if profiles:
        md += ["", "## Profiles", ""] + [f"- [{p}]({p})" for p in profiles]
    if os.path.exists(os.path.join(out_dir, "criterion.txt")):
        md += ["", "Criterion micro-benchmarks: [criterion.txt](criterion.txt)."]
    with open(os.path.join(out_dir, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    print(f"report: {os.path.join(out_dir, 'results.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
