#!/usr/bin/env python3
"""Report of scripts/eval/run.sh: reads DIR/runs/*.json (one per configuration, from
workload.py run) and DIR/runs/meta.json, writes DIR/results.md (tables and the
verdict), DIR/hit-vs-stale.png (hit ratio against stale-read fraction: fixed TTLs as a
connected curve, learned TTLs as a marked point) and DIR/ttl-learned.png (the learned
TTL of each table's template over the learned run), and prints results.md.

Usage: plot.py DIR
"""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TABLES = ["t_static", "t_inband", "t_slow", "t_fast"]


def load(d):
    runs = []
    for path in glob.glob(os.path.join(d, "runs", "*.json")):
        if os.path.basename(path) == "meta.json":
            continue
        with open(path) as f:
            runs.append(json.load(f))
    meta = {}
    if os.path.exists(os.path.join(d, "runs", "meta.json")):
        with open(os.path.join(d, "runs", "meta.json")) as f:
            meta = json.load(f)
    fixed = sorted((r for r in runs if r["ttl"] is not None), key=lambda r: r["ttl"])
    learned = [r for r in runs if r["ttl"] is None]
    return fixed, learned, meta


def curve_at(points, x):
    """The fixed-TTL curve's hit ratio at stale fraction x: the highest value of the
    piecewise-linear curve (through (0, 0), no caching, then the fixed TTLs in TTL
    order) over the segments spanning x; None beyond its end."""
    best = None
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        lo, hi = min(x0, x1), max(x0, x1)
        if lo <= x <= hi:
            y = y0 if hi == lo else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            y = max(y, y0, y1) if hi == lo else y
            best = y if best is None else max(best, y)
    return best


def verdict(fixed, l):
    x, y = l["stale_fraction"], l["hit_ratio"]
    no_staler = [r for r in fixed if r["stale_fraction"] <= x]
    dominating = [r for r in fixed if r["stale_fraction"] <= x and r["hit_ratio"] >= y]
    points = [(0.0, 0.0)] + [(r["stale_fraction"], r["hit_ratio"]) for r in fixed]
    at = curve_at(points, x)
    lines = []
    if no_staler:
        best = max(no_staler, key=lambda r: r["hit_ratio"])
        lines.append(
            f"- Fixed TTLs with the same or lower stale fraction ({x:.4f}): "
            + ", ".join(f"{r['label']}" for r in no_staler)
            + f"; the best of them, {best['label']}, has hit ratio {best['hit_ratio']:.3f} "
            f"(learned: {y:.3f})."
        )
    else:
        lines.append(
            f"- No fixed TTL is as fresh as the learned run (stale fraction {x:.4f}; the "
            f"freshest fixed TTL, {fixed[0]['label']}, has {fixed[0]['stale_fraction']:.4f})."
        )
    if at is not None:
        lines.append(
            f"- The fixed-TTL curve (linear between its points, from (0, 0) = no caching) "
            f"has hit ratio {at:.3f} at stale fraction {x:.4f}; learned has {y:.3f} "
            f"({y - at:+.3f})."
        )
    above = not dominating and (at is None or y > at)
    dominated = [r for r in fixed if r["stale_fraction"] >= x and r["hit_ratio"] <= y]
    if dominated:
        lines.append(
            "- Learned has both a higher hit ratio and a lower stale fraction than fixed "
            + ", ".join(r["label"] for r in dominated)
            + "."
        )
    if dominating:
        lines.append(
            "- Dominated by: "
            + ", ".join(
                f"{r['label']} (hit {r['hit_ratio']:.3f}, stale {r['stale_fraction']:.4f})"
                for r in dominating
            )
            + "."
        )
    return above, lines


def mix(r, tables):
    """A run's figures restricted to some tables (they do not interact: each table has
    its own template, entries and writers)."""
    t = [r["tables"][x] for x in tables]
    calls, reads = sum(c["calls"] for c in t), sum(c["reads"] for c in t)
    return {
        "label": r["label"],
        "ttl": r["ttl"],
        "hit_ratio": sum(c["hits"] for c in t) / calls if calls else 0.0,
        "stale_fraction": sum(c["stale"] for c in t) / reads if reads else 0.0,
    }


MIXES = [
    ("all four tables (the run)", TABLES),
    ("without t_fast", ["t_static", "t_inband", "t_slow"]),
    ("t_static only", ["t_static"]),
    ("t_inband only", ["t_inband"]),
    ("t_slow only", ["t_slow"]),
    ("t_fast only", ["t_fast"]),
]


def single_table_note(fixed, l):
    below = []
    for t in TABLES:
        f, m = [mix(r, [t]) for r in fixed], mix(l, [t])
        points = [(0.0, 0.0)] + [(r["stale_fraction"], r["hit_ratio"]) for r in f]
        at = curve_at(points, m["stale_fraction"])
        if not verdict(f, m)[0] and not (at is not None and abs(m["hit_ratio"] - at) <= 0.005):
            below.append(t)
    if not below:
        return []
    return [
        "",
        "Read alone, the template of " + ", ".join(below) + " is not above its own "
        "fixed-TTL curve: where learned TTLs win, they win by giving each template a "
        "different TTL (or none), not by beating the best fixed TTL of every template.",
    ]


def on_or(above, at, y):
    if at is not None and abs(y - at) <= 0.005:
        return "on it (within 0.005)"
    return "yes" if above else "no"


def mixes_md(fixed, l):
    rows = [
        "| reads of | learned hit / stale | fixed-TTL curve's hit at that staleness "
        "| best fixed TTL no staler | above the curve? |",
        "|---|---:|---:|---|---|",
    ]
    for name, tables in MIXES:
        f = [mix(r, tables) for r in fixed]
        m = mix(l, tables)
        above, _ = verdict(f, m)
        points = [(0.0, 0.0)] + [(r["stale_fraction"], r["hit_ratio"]) for r in f]
        at = curve_at(points, m["stale_fraction"])
        ok = [r for r in f if r["stale_fraction"] <= m["stale_fraction"]]
        best = max(ok, key=lambda r: r["hit_ratio"]) if ok else None
        rows.append(
            f"| {name} | {m['hit_ratio']:.3f} / {m['stale_fraction']:.4f} | "
            f"{'—' if at is None else f'{at:.3f}'} | "
            + (f"{best['label']}: {best['hit_ratio']:.3f} / {best['stale_fraction']:.4f}" if best else "none")
            + f" | {on_or(above, at, m['hit_ratio'])} |"
        )
    return "\n".join(rows)


def rate_of(r):
    return r["reads"] / r["elapsed_s"] if r.get("elapsed_s") else 0.0


def is_short(r):
    """The readers fell more than 10 % short of their target rate."""
    p = r["params"]
    return rate_of(r) < 0.9 * p["readers"] * p["read_rate_per_reader"]


def table_md(fixed, learned):
    rows = [
        "| configuration | reads (per s) | hit ratio | stale-read fraction | origin queries per read "
        "| stale reads of t_inband (vs ack / vs origin) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in fixed + learned:
        name = f"fixed {r['label']}" if r["ttl"] is not None else "**learned**"
        rate = rate_of(r)
        short = " †" if is_short(r) else ""
        rows.append(
            f"| {name} | {r['reads']} ({rate:.0f}{short}) | {r['hit_ratio']:.3f} | {r['stale_fraction']:.4f} "
            f"({r['stale']}) | {r['origin_queries_per_read']:.3f} | "
            f"{r['inband_stale_vs_ack']} / {r['inband_stale_vs_origin']} |"
        )
    return "\n".join(rows)


def per_table_md(fixed, learned):
    head = "| configuration | " + " | ".join(f"{t} hit / stale" for t in TABLES) + " |"
    rows = [head, "|---|" + "---:|" * len(TABLES)]
    for r in fixed + learned:
        name = f"fixed {r['label']}" if r["ttl"] is not None else "learned"
        cells = []
        for t in TABLES:
            c = r["tables"][t]
            hit = c["hits"] / c["calls"] if c["calls"] else 0.0
            stale = c["stale"] / c["reads"] if c["reads"] else 0.0
            cells.append(f"{hit:.3f} / {stale:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def learned_md(l):
    rows = [
        "| table | reads | hits | bypassed (volatile) | refreshes | origin reads "
        "| stale | raced | final TTL | paused at end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in TABLES:
        c = l["tables"][t]
        vol = c["bypasses"].get("volatile_results", 0) if isinstance(c["bypasses"], dict) else 0
        ttl = c["final_ttl_seconds"]
        rows.append(
            f"| {t} | {c['reads']} | {c['hits']} | {vol} | {c['refreshes']} | "
            f"{c['origin_reads']} | {c['stale']} | {c['raced']} | "
            f"{'' if ttl is None else f'{ttl:g} s'} | {c['final_paused']} |"
        )
    return "\n".join(rows)


def plot_tradeoff(fixed, learned, path, meta):
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=120)
    xs = [r["stale_fraction"] * 100 for r in fixed]
    ys = [r["hit_ratio"] for r in fixed]
    ax.plot([0] + xs[:1], [0] + ys[:1], ":", color="tab:blue", alpha=0.6)
    ax.plot(xs, ys, "o-", color="tab:blue", label="fixed TTL (rule pattern = \"*\")")
    ax.plot([0], [0], "o", color="tab:blue", mfc="white", alpha=0.6)
    ax.annotate("no cache", (0, 0), textcoords="offset points", xytext=(6, 2), fontsize=8,
                color="gray")
    prev = None
    for r, x, y in zip(fixed, xs, ys):
        close = prev is not None and abs(x - prev[0]) < 0.03 * max(xs) and abs(y - prev[1]) < 0.03
        ax.annotate(r["label"], (x, y), textcoords="offset points",
                    xytext=(-8, 8) if close else (6, -10), fontsize=8)
        prev = (x, y)
    for l in learned:
        ax.plot(
            [l["stale_fraction"] * 100],
            [l["hit_ratio"]],
            "*",
            color="tab:red",
            markersize=16,
            label="learned TTL (min {min_ttl}, default {default_ttl}, max {max_ttl})".format(
                **meta.get("learned_bounds", {"min_ttl": "?", "default_ttl": "?", "max_ttl": "?"})
            ),
        )
    ax.set_xlabel("stale-read fraction (% of reads older than the origin's committed value)")
    ax.set_ylabel("hit ratio")
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(
        f"wirecache: learned vs fixed TTLs ({meta.get('duration_s', '?')} s per run, "
        f"seed {meta.get('seed', '?')})",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_timeline(l, path):
    tl = l.get("ttl_timeline") or []
    if not tl:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=120)
    for t, color in zip(TABLES, ["tab:green", "tab:purple", "tab:orange", "tab:red"]):
        pts = [(p["t"], p["templates"][t]) for p in tl if t in p["templates"]]
        if not pts:
            continue
        ax.step([p[0] for p in pts], [p[1]["ttl_seconds"] for p in pts], where="post",
                color=color, label=t)
        paused = [p[0] for p in pts if p[1]["paused"]]
        if paused:
            ax.plot(paused, [0.3] * len(paused), "|", color=color, markersize=8)
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the learned run")
    ax.set_ylabel("learned TTL of the table's template (s)")
    ax.set_title("learned TTL per template (ticks at the bottom: paused, not cached)",
                 fontsize=10)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main():
    d = sys.argv[1]
    fixed, learned, meta = load(d)
    if not fixed:
        sys.exit(f"no fixed-TTL runs in {d}/runs")
    plot_tradeoff(fixed, learned, os.path.join(d, "hit-vs-stale.png"), meta)
    p = fixed[0]["params"]
    lb = meta.get("learned_bounds", {})
    md = [
        f"# Learned vs fixed TTLs — {meta.get('date', '?')}",
        "",
        f"`scripts/eval/run.sh`{' with QUICK=1' if str(meta.get('quick')) == '1' else ''}: "
        f"{meta.get('duration_s', '?')} s per configuration, seed {meta.get('seed', '?')}, "
        f"commit {meta.get('commit', '?')} ({meta.get('dirty', '')}), PostgreSQL "
        f"{meta.get('postgres', '?')}, {meta.get('cpus', '?')} CPUs shared with other work "
        f"(load average {meta.get('loadavg_start', '?')} at the start, "
        f"{meta.get('loadavg_end', '?')} at the end), {meta.get('wall_s', '?')} s in all.",
        "",
        f"Workload: {p['readers']} readers × {p['read_rate_per_reader']:g} reads/s through "
        f"wirecache, point reads by primary key over {p['rows']} rows per table, keys "
        f"Zipf(s = {p['zipf_s']:g}), tables read equally often; writes "
        f"{p['write_rates']['t_inband']:g} rows/s to t_inband through wirecache, "
        f"{p['write_rates']['t_slow']:g} rows/s to t_slow and {p['write_rates']['t_fast']:g} "
        f"rows/s to t_fast straight at the origin (rows drawn {p['write_keys']}); t_static "
        "never changes. Fixed TTLs: `[[rules]] pattern = \"*\"` with that `ttl`. Learned: no "
        f"rules, `min_ttl = \"{lb.get('min_ttl', '?')}\"`, `default_ttl = "
        f"\"{lb.get('default_ttl', '?')}\"`, `max_ttl = \"{lb.get('max_ttl', '?')}\"`. "
        "Every run starts with an empty cache.",
        "",
        "Hit ratio: wirecache's hits / calls of the four read templates (`/api/templates`). "
        "Stale: the version wirecache returned was older than the version the origin had "
        "committed just before the read was sent (read directly). Origin queries: "
        "statements wirecache ran at the origin as the application's role "
        "(pg_stat_statements: fills, refreshes, catalog look-ups; not the in-band writes).",
        "",
        table_md(fixed, learned),
        "",
        *(
            ["† The readers fell more than 10 % short of their rate (machine busy): fewer "
             "reads per key per TTL, so a lower hit ratio than an idle machine would give.", ""]
            if any(is_short(r) for r in fixed + learned) else []
        ),
        "Per table (hit ratio / stale-read fraction):",
        "",
        per_table_md(fixed, learned),
    ]
    for l in learned:
        above, lines = verdict(fixed, l)
        md += [
            "",
            "## Is the learned point above the fixed-TTL curve?",
            "",
            f"**{'Yes' if above else 'No'}.** Learned: hit ratio {l['hit_ratio']:.3f}, stale "
            f"fraction {l['stale_fraction']:.4f}.",
            "",
            *lines,
            "",
            "The same verdict for other mixes of reads, recomputed from the per-table "
            "figures of the same runs (the tables do not interact: each has its own template, "
            "entries and writers):",
            "",
            mixes_md(fixed, l),
            *single_table_note(fixed, l),
            "",
            "Learned run, per table:",
            "",
            learned_md(l),
        ]
        if plot_timeline(l, os.path.join(d, "ttl-learned.png")):
            md += ["", "![learned TTL per template](ttl-learned.png)"]
    md += ["", "![hit ratio against stale-read fraction](hit-vs-stale.png)", ""]
    text = "\n".join(md)
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
