#!/usr/bin/env bash
# The long run of the randomized consistency checker (issue 8; tests/it/checker/).
#
#   scripts/checker.sh --ops N | --seconds S [--seed X] [--protocol postgres|mariadb|mssql|both|all]
#                      [--conns C] [--debug] [--cluster]
#
# --ops and --seconds are per protocol (with both, whichever ends first). both is
# PostgreSQL and MariaDB; all adds mssql: SQL Server's protocol against the test TDS
# origin (T-SQL on a private PostgreSQL; no SQL Server runs here). --cluster:
# three wirecache instances sharing a private redis-server in strict mode, client
# connection n through instance n % 3 (issue 14). Each
# protocol runs against its own private origin started by the test harness, with
# wirecache in-process; nothing touches the system database services. Prints per
# protocol: operations run (reads, writes, transactions by how they began and
# ended; transactions and their reads by isolation level), reads served from the cache
# (in transactions too), the cache's metrics, and violations found by verdict.
# Exit status 0 only if every protocol found no violation.
set -euo pipefail

usage() {
    sed -n '4,5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}

ops="" seconds="" seed="" protocol="both" conns="" skip="" profile="--release" runs="random_programs"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ops) ops="${2:?}"; shift 2 ;;
        --seconds) seconds="${2:?}"; shift 2 ;;
        --seed) seed="${2:?}"; shift 2 ;;
        --protocol) protocol="${2:?}"; shift 2 ;;
        --conns) conns="${2:?}"; shift 2 ;;
        --debug) profile=""; shift ;;
        --cluster) runs="three_strict_instances"; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ -n "$ops" || -n "$seconds" ]] || usage
case "$protocol" in
    postgres) filter="consistency_checker::postgres_$runs" ;;
    mariadb) filter="consistency_checker::mariadb_$runs" ;;
    mssql) filter="consistency_checker::mssql_$runs" ;;
    both) filter="$runs"; skip="mssql_" ;;
    all) filter="$runs" ;;
    *) echo "--protocol must be postgres, mariadb, mssql, both or all" >&2; exit 64 ;;
esac

cd "$(dirname "$0")/.."
[[ -n "$ops" ]] && export WIRECACHE_CHECKER_OPS="$ops"
[[ -n "$seconds" ]] && export WIRECACHE_CHECKER_SECONDS="$seconds"
[[ -n "$seed" ]] && export WIRECACHE_CHECKER_SEED="$seed"
[[ -n "$conns" ]] && export WIRECACHE_CHECKER_CONNS="$conns"

started=$(date +%s)
# One protocol at a time, so each has the machine to itself.
status=0
# The checker is part of the one test crate (tests/it/); the filter picks its runs.
skip_args=()
[[ -n "$skip" ]] && skip_args=(--skip "$skip")
cargo test $profile --test it "$filter" -- --nocapture --test-threads=1 "${skip_args[@]}" || status=$?
echo "checker.sh: wall time $(( $(date +%s) - started )) s, exit status $status"
exit "$status"
