"""results.md of scripts/bench/tls.sh: medians of the repetitions per cell, the cost
of TLS on each leg as ratios, and the machine facts.
Usage: tls_report.py RAW_CSV FACTS_ENV LOADAVG_LOG > results.md"""
import csv
import statistics
import sys

raw, facts_file, load_file = sys.argv[1:4]
rows = list(csv.DictReader(open(raw)))
facts = dict(line.rstrip("\n").split("=", 1) for line in open(facts_file) if "=" in line)
loads = [float(line.split()[1]) for line in open(load_file) if len(line.split()) > 1]


def med(workload, target, sslmode, field="tps"):
    vals = [float(r[field]) for r in rows
            if (r["workload"], r["target"], r["sslmode"]) == (workload, target, sslmode)
            and r[field] != "NaN"]
    return (statistics.median(vals), vals) if vals else (float("nan"), [])


def fmt(x):
    return "n/a" if x != x else f"{x:,.0f}"


def ratio(a, b):
    return "n/a" if not b or a != a or b != b else f"{a / b:.2f}"


targets = {
    "plainorigin": "wirecache, plaintext origin",
    "tlsorigin": "wirecache, TLS origin (`tls = \"require\"`)",
    "direct": "PostgreSQL direct (reference)",
}
what = {
    "hot": "hot PK lookup, tps (`-M prepared`, 1 connection per client)",
    "connect": "handshake rate, connections/s (`pgbench -C`, `-M simple`)",
}
out = []
out.append("# TLS cost, wirecache (issue 12)\n")
out.append(f"{facts.get('settings', '')}. Medians of the repetitions (each value in brackets). "
           "Client leg: `sslmode=disable` vs `sslmode=require` (pgbench/libpq to wirecache). "
           "Origin leg: cache `plainorigin` (`tls = \"disable\"`) vs `tlsorigin` "
           "(`tls = \"require\"`), both in front of the same PostgreSQL.\n")
for workload in ("hot", "connect"):
    out.append(f"\n## {what[workload]}\n")
    out.append("| target | client plaintext | client TLS | TLS / plaintext | "
               "latency ms, plaintext / TLS |")
    out.append("|---|---:|---:|---:|---:|")
    for target, label in targets.items():
        plain, pv = med(workload, target, "disable")
        tls, tv = med(workload, target, "require")
        lp, _ = med(workload, target, "disable", "latency_ms")
        lt, _ = med(workload, target, "require", "latency_ms")
        out.append(f"| {label} | {fmt(plain)} ({', '.join(fmt(v) for v in pv)}) | "
                   f"{fmt(tls)} ({', '.join(fmt(v) for v in tv)}) | {ratio(tls, plain)} | "
                   f"{lp:.3f} / {lt:.3f} |")
    po, _ = med(workload, "plainorigin", "disable")
    to, _ = med(workload, "tlsorigin", "disable")
    pot, _ = med(workload, "plainorigin", "require")
    tot, _ = med(workload, "tlsorigin", "require")
    out.append(f"\nOrigin leg in TLS vs plaintext (same client leg): "
               f"{ratio(to, po)} with a plaintext client, {ratio(tot, pot)} with a TLS client. "
               f"Both legs in TLS vs neither: {ratio(tot, po)}.")
    if workload == "hot":
        hits = {t: sum(int(r["hits"]) for r in rows if r["workload"] == "hot" and r["target"] == t)
                for t in ("plainorigin", "tlsorigin")}
        out.append(f"Cache hits during the hot runs: {hits['plainorigin']:,} (plainorigin), "
                   f"{hits['tlsorigin']:,} (tlsorigin).")

out.append("\n## Machine and run\n")
out.append("| what | value |")
out.append("|---|---|")
for key, label in [("nproc", "cores (nproc)"), ("cpu", "CPU"), ("memory", "memory"),
                   ("kernel", "kernel"), ("uptime_start", "`uptime` before"),
                   ("uptime_end", "`uptime` after")]:
    out.append(f"| {label} | {facts.get(key, '')} |")
if loads:
    out.append(f"| 1-min load average during the run (every 5 s) | min {min(loads):.2f}, "
               f"median {statistics.median(loads):.2f}, max {max(loads):.2f} "
               f"({len(loads)} samples; other builds share this machine) |")
for key, label in [("wirecache", "wirecache"), ("rustls", "rustls"), ("postgres", "PostgreSQL"),
                   ("openssl", "OpenSSL (libpq, PostgreSQL)"), ("certificate", "certificate key"),
                   ("client_tls", "client leg negotiated (psql `\\conninfo`)"),
                   ("origin_tls", "origin leg negotiated (`pg_stat_ssl`)"),
                   ("command", "command")]:
    out.append(f"| {label} | {facts.get(key, '')} |")
print("\n".join(out))
