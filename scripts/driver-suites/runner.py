"""runner.py — owns one driver-suite run: starts the private origins, and for each
suite and mode a fresh wirecache; runs the suite directly, then twice through that
same wirecache (the second pass is served from what the first one cached), each
with a per-test timeout and an overall bound; compares per-test outcomes and
writes the report. Called by run.sh, which prepares the venv and the sdists.

Before every pass the suite's databases are dropped and recreated straight on the
origin (not through wirecache), so each pass starts from the same empty state
whatever the previous one left behind; the names stay the same, so pass 2 reads
the entries pass 1 cached (every table a test reads it first creates or writes
through wirecache, which invalidates it).
"""

import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import origins
import outcomes
from suites import SUITES, Target

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sdists", required=True, help="directory holding the unpacked sdists")
    p.add_argument("--wirecache", required=True)
    p.add_argument("--out", required=True, help="results directory (small text files)")
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--modes", default="shipped,autocommit")
    p.add_argument("--test-timeout", type=int, default=30, help="seconds per test (pytest-timeout)")
    p.add_argument("--run-timeout", type=int, default=1800, help="seconds per pytest run")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    return p.parse_args()


class Run:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.stack = origins.Stack(work)
        self.rows, self.details = [], []

    def pytest(self, suite, mode, target, label, cwd):
        """Runs the suite once; returns {test id: (outcome, text)} and the wall time."""
        xml = os.path.join(self.work, f"{suite.name}-{mode}-{label}.xml")
        hangs = os.path.join(self.work, f"{suite.name}-{mode}-{label}.hangs")
        env = dict(os.environ)
        env.update(suite.env(target, cwd))
        env.update({"PYTHONPATH": os.path.join(HERE, "shim"), "DS_USER_PREFIX": target.prefix,
                    "DS_WC_PORTS": ",".join(map(str, target.wc_ports)),
                    "DS_AUTOCOMMIT": "1" if mode == "autocommit" else "0", "PYTHONDONTWRITEBYTECODE": "1",
                    "DS_WATCHDOG": str(self.args.test_timeout + 5), "DS_TARGET_PORT": str(target.port),
                    "DS_TIMEOUT_LOG": hangs})
        cmd = [sys.executable, "-m", "pytest", *suite.paths, "-p", "ds_shim", "-p", "no:cacheprovider",
               f"--timeout={self.args.test_timeout}", "--timeout-method=signal", f"--junitxml={xml}",
               "-q", "-rN", "--no-header", "-o", "addopts=", "--continue-on-collection-errors", *suite.args(target)]
        log = os.path.join(self.work, f"{suite.name}-{mode}-{label}.log")
        t0 = time.monotonic()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(self.args.run_timeout)
            except subprocess.TimeoutExpired:
                print(f"  {label}: over {self.args.run_timeout} s, stopped")
            finally:  # also when this runner is told to stop
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        secs = time.monotonic() - t0
        results = outcomes.apply_hangs(outcomes.read_junit(xml), hangs)
        print(f"  {label:<8} {outcomes.fmt_counts(outcomes.counts(results))}  ({secs:.0f} s, rc {proc.returncode})")
        return results

    def suite_mode(self, suite, mode):
        print(f"== {suite.name}, {mode}", flush=True)
        wc = self.stack.start_wirecache(self.args.wirecache, f"{suite.name}-{mode}")
        origin_port = self.stack.pg_port if suite.protocol == "pg" else self.stack.my_port
        wc_port = wc.pg_port if suite.protocol == "pg" else wc.my_port
        cache = origins.PG_CACHE if suite.protocol == "pg" else origins.MY_CACHE
        base = "postgres" if suite.protocol == "pg" else "root"
        direct = Target(origin_port, base)
        via = Target(wc_port, f"{cache}-{base}", prefix=cache, wc_ports=(wc_port,))
        passes = {}
        for label, target in (("direct", direct), ("wc1", via), ("wc2", via)):
            self.stack.reset(suite.protocol)
            cwd = suite.prepare(self.args.sdists, os.path.join(self.work, f"{suite.name}-{mode}-{label}"))
            before = wc.metrics()
            passes[label] = self.pytest(suite, mode, target, label, cwd)
            after = wc.metrics()
            passes[label + "_hits"] = after.get("hits", 0) - before.get("hits", 0)
            if not wc.alive():
                print(f"  wirecache exited during {label}:\n{origins.tail(wc.log)}")
            if not origins.wait_port(origin_port, 5):  # e.g. a server crash a test provoked
                raise origins.StartError(f"the origin on {origin_port} stopped during {label}: "
                                         "this suite's results are invalid")
        wc.stop()
        self.record(suite, mode, passes, wc)

    def record(self, suite, mode, passes, wc):
        direct = passes["direct"]
        diff = {label: outcomes.regressions(direct, passes[label]) for label in ("wc1", "wc2")}
        ids = sorted({tid for label in diff for tid, _, _ in diff[label]})
        self.rows.append({"suite": suite.name, "mode": mode, "direct": outcomes.counts(direct),
                          "wc1": outcomes.counts(passes["wc1"]), "wc2": outcomes.counts(passes["wc2"]),
                          "differ": len(ids), "cache": f"{passes['wc1_hits']} / {passes['wc2_hits']}"})
        lines = [f"## {suite.name}, {mode}: {len(ids)} pass directly but not through wirecache"]
        for tid in ids:
            seen = {label: next(((o, t) for i, o, t in diff[label] if i == tid), None) for label in diff}
            where = ", ".join(f"{label}: {v[0]}" for label, v in seen.items() if v) or "-"
            text = next(v[1] for v in seen.values() if v)
            lines.append(f"- `{tid}` ({where})")
            lines.extend(f"    {ln}" for ln in text.splitlines())
        better = outcomes.improvements(direct, passes["wc1"])
        if better:
            lines.append(f"- fail directly but pass through wirecache (pass 1): {', '.join(better)}")
        warn = re.sub(r"\x1b\[[0-9;]*m", "", origins.tail(wc.log, 5)).strip()
        if warn:
            lines.append("- wirecache log tail:\n" + "\n".join(f"    {ln[:200]}" for ln in warn.splitlines()))
        self.details.append("\n".join(lines))
        print("\n".join(lines), flush=True)

    def report(self, started):
        os.makedirs(self.args.out, exist_ok=True)
        table = outcomes.markdown_table(self.rows)
        wall = time.monotonic() - started
        head = (f"Driver suites through wirecache, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
                f"wirecache {self.args.wirecache}, per-test timeout {self.args.test_timeout} s, "
                f"wall time {wall / 60:.1f} min\n\n")
        with open(os.path.join(self.args.out, "table.md"), "w") as f:
            f.write(head + table)
        with open(os.path.join(self.args.out, "differences.md"), "w") as f:
            f.write(head + "\n\n".join(self.details) + "\n")
        print("\n" + head + table)
        print(f"written: {self.args.out}/table.md, differences.md")


def main():
    args = parse_args()
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="wirecache-test-driver-suites-")
    os.chmod(work, 0o755)  # the postgres and mysql OS users reach their subdirs
    run = Run(args, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run.stack.start_postgres()
        run.stack.start_mariadb()
        print(f"origins: postgres 127.0.0.1:{run.stack.pg_port}, mariadb 127.0.0.1:{run.stack.my_port}; work {work}")
        for name in args.suites.split(","):
            suite = SUITES[name]
            for mode in args.modes.split(","):
                if mode in suite.modes:
                    try:
                        run.suite_mode(suite, mode)
                    except origins.StartError as e:  # the next suite gets its own chance
                        print(f"== {suite.name}, {mode}: not run: {e}")
                        run.details.append(f"## {suite.name}, {mode}: not run: {e}")
        run.report(started)
    finally:
        run.stack.close()
        if not args.keep:
            subprocess.run(["rm", "-rf", "--one-file-system", work], check=False)


if __name__ == "__main__":
    main()
