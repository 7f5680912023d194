#!/usr/bin/env bash
# The long run of the randomized consistency checker (issue 8; tests/it/checker/).
#
#   scripts/checker.sh --ops N | --seconds S [--seed X] [--protocol postgres|mariadb|mssql|both|all]
#                      [--conns C] [--debug] [--cluster] [--pooled[=session|transaction]]
#
# --ops and --seconds are per protocol (with both, whichever ends first). both is
# PostgreSQL and MariaDB; all adds mssql: SQL Server's protocol against the test TDS
# origin (T-SQL on a private PostgreSQL; no SQL Server runs here). --cluster:
# three wirecache instances sharing a private redis-server in strict mode, client
# connection n through instance n % 3 (issue 14). --pooled (PostgreSQL and MariaDB):
# the cache in pooled mode (`pool = "session"`, the default, or "transaction"), its
# clients logging in with a password from a userlist and ending sessions at rest
# now and then, so backends change hands (issue 18). Each
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

ops="" seconds="" seed="" protocol="both" conns="" skip=() profile="--release" runs="random_programs" pool=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ops) ops="${2:?}"; shift 2 ;;
        --seconds) seconds="${2:?}"; shift 2 ;;
        --seed) seed="${2:?}"; shift 2 ;;
        --protocol) protocol="${2:?}"; shift 2 ;;
        --conns) conns="${2:?}"; shift 2 ;;
        --debug) profile=""; shift ;;
        --cluster) runs="three_strict_instances"; shift ;;
        --pooled) pool="session"; shift ;;
        --pooled=*) pool="${1#--pooled=}"; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ -n "$ops" || -n "$seconds" ]] || usage
if [[ -n "$pool" ]]; then
    case "$pool" in
        session|transaction) ;;
        *) echo "--pooled takes session or transaction" >&2; exit 64 ;;
    esac
    [[ "$runs" == random_programs ]] || { echo "--pooled and --cluster do not combine yet" >&2; exit 64; }
    [[ "$protocol" == postgres || "$protocol" == mariadb || "$protocol" == both ]] ||
        { echo "--pooled: PostgreSQL and MariaDB (--protocol postgres|mariadb|both)" >&2; exit 64; }
    runs="pooled_random_programs"
    export WIRECACHE_CHECKER_POOL="$pool"
fi
case "$protocol" in
    postgres) filter="consistency_checker::postgres_$runs" ;;
    mariadb) filter="consistency_checker::mariadb_$runs" ;;
    mssql) filter="consistency_checker::mssql_$runs" ;;
    both) filter="$runs"; skip=(--skip mssql_) ;;
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
# The checker is part of the one test crate (tests/it/); the filter picks its runs
# (the pooled ones only with --pooled: their names contain the others').
[[ -z "$pool" ]] && skip+=(--skip pooled_)
cargo test $profile --test it "$filter" -- --nocapture --test-threads=1 "${skip[@]}" || status=$?
echo "checker.sh: wall time $(( $(date +%s) - started )) s, exit status $status"
exit "$status"
