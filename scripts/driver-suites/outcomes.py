"""outcomes.py — owns reading per-test outcomes from pytest's junit XML, the
direct-vs-wirecache comparison, and the text/markdown renderings of both.

Outcomes: pass, fail, error, skip, timeout (a pytest-timeout failure), and
missing (a test the direct run had that a wirecache pass never reported, e.g.
because the run hit its overall bound).
"""

import xml.etree.ElementTree as ET

KINDS = ("pass", "fail", "error", "skip", "timeout")
BAD = ("fail", "error", "timeout", "missing")
RANK = {"pass": 0, "skip": 1, "fail": 2, "error": 3, "timeout": 4}


def _classify(case):
    """(outcome, first lines of its message) of one <testcase>."""
    worst, text = "pass", ""
    for child in case:
        tag = child.tag
        if tag in ("failure", "error"):
            msg = (child.get("message") or "") + "\n" + (child.text or "")
            kind = "timeout" if "Timeout" in msg and "pytest-timeout" in msg else (
                "fail" if tag == "failure" else "error")
        elif tag == "skipped":
            kind, msg = "skip", child.get("message") or ""
        else:
            continue
        if RANK[kind] > RANK[worst]:
            worst, text = kind, msg
    return worst, _first_lines(text)


def _first_lines(text, n=4, width=160):
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    # pytest puts the error's own lines ("E   ...") after the source lines: prefer them.
    errs = [ln.strip() for ln in lines if ln.lstrip().startswith("E ")]
    picked = (lines[:1] + errs[: n - 1]) if errs else lines[:n]
    return "\n".join(ln[:width] for ln in picked)


def read_junit(path):
    """{test id: (outcome, first lines)}; {} when the file is missing or broken."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    results = {}
    for case in root.iter("testcase"):
        tid = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = _classify(case)
        old = results.get(tid)
        if old is None or RANK[outcome[0]] > RANK[old[0]]:
            results[tid] = outcome
    return results


def junit_id(nodeid):
    """pytest's node id as read_junit names it: `a/b.py::C::t` -> `a.b.C::t`."""
    parts = nodeid.split("::")
    path = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([path, *parts[1:-1]]) + "::" + parts[-1]


def apply_hangs(results, path):
    """Marks as timeout the tests the shim's watchdog had to unblock (its log at path)."""
    try:
        with open(path) as f:
            rows = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    except OSError:
        return results
    for row in rows:
        shut = row[1] if len(row) > 1 else "?"
        results[junit_id(row[0])] = ("timeout", f"hung: the watchdog shut {shut} connection(s) to unblock it")
    return results


def counts(results):
    c = {k: 0 for k in KINDS}
    for outcome, _ in results.values():
        c[outcome] += 1
    return c


def fmt_counts(c):
    if c is None:
        return "not run"
    return " ".join(f"{c[k]} {k}" for k in KINDS if c[k] or k == "pass")


def regressions(direct, via):
    """Tests that pass directly but fail, error, hang or are missing through wirecache."""
    out = []
    for tid, (outcome, _) in sorted(direct.items()):
        if outcome != "pass":
            continue
        got, text = via.get(tid, ("missing", "never reported (run cut short?)"))
        if got in BAD:
            out.append((tid, got, text))
    return out


def improvements(direct, via):
    """Tests that fail directly but pass through wirecache (worth a look too)."""
    return [tid for tid, (o, _) in sorted(direct.items())
            if o in ("fail", "error", "timeout") and via.get(tid, ("missing",))[0] == "pass"]


def markdown_table(rows):
    """rows: dicts with suite, mode, direct, wc1, wc2 (count dicts or None), cache (str)."""
    out = ["| suite | mode | directly | through wirecache, pass 1 | pass 2 (same wirecache) | "
           "pass directly, not via wirecache | cache hits pass 1 / 2 |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['suite']} | {r['mode']} | {fmt_counts(r['direct'])} | {fmt_counts(r['wc1'])} | "
                   f"{fmt_counts(r['wc2'])} | {r['differ']} | {r['cache']} |")
    return "\n".join(out) + "\n"
