#!/usr/bin/env bash
# run.sh — wirecache's benchmark against the origins and its peers, in one command:
#
#   sudo scripts/bench/run.sh            # defaults: 10 s per run, 3 repetitions (< 30 min)
#   QUICK=1 scripts/bench/run.sh         # 3 s runs, 1 repetition, smaller data (a few minutes)
#
# Installs what is missing (Debian packages), starts private servers on free
# 127.0.0.1 ports under a temp dir (PostgreSQL 15, MariaDB, Redis; wirecache,
# PgBouncer and Pgpool-II in front of PostgreSQL), loads pgbench's tables and the
# generated employees data set, runs every workload side by side, and writes
# results/bench-<date>[-quick]/: results.md (medians of the repetitions and ratios
# to direct), raw.jsonl / results.csv, PNG charts, latency-test reports, memory
# figures, perf profiles and machine.md. Stops only the processes it started.
#
# Settings (environment): DURATION (s per run), REPS, SCALE (pgbench), EMPLOYEES,
# HOT_KEYS, OUT (results dir), SKIP_INSTALL=1, KEEP_WORK=1 (keep the temp dir),
# SUITES (default "postgres tpcb connect limited mysql redis latency memory
# profile"; tpcb, connect and limited are in lib/connect.sh), LIMITED_CLIENTS (500),
# WC_BINARY (measure this binary: no release build), WC_POOL_MODE (`transaction`,
# the default, or `session`: the pooled wirecache's PostgreSQL mode; MariaDB's is
# WC_POOL_MODE_MY, `transaction` too; lib/pooled.sh),
# POOL_SIZE (20) and POOL_SIZE_LIMITED (40), its pools' sizes, as PgBouncer's,
# BOUNCER_AUTH (`scram`, the default: PgBouncer checks the same SCRAM logins as the
# pooled wirecache; or `trust`).
#
# The column `wirecache-pooled` is a second wirecache, in pooled mode, that this run
# starts and stops itself; its clients log in with SCRAM-SHA-256 (pooled mode checks
# every login itself), as PgBouncer's do (unless BOUNCER_AUTH=trust); Pgpool-II's
# are trusted. A column the
# daemon cannot serve (pooled MariaDB, `transaction` before it lands) records why.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/workloads.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/extras.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/connect.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/pooled.sh"

if [[ ${QUICK:-0} == 1 ]]; then
    DURATION=${DURATION:-3} REPS=${REPS:-1} SCALE=${SCALE:-2} EMPLOYEES=${EMPLOYEES:-50000}
    SUFFIX=-quick LT_N=${LT_N:-50} LT_JOIN_N=${LT_JOIN_N:-5} REDIS_REQUESTS=${REDIS_REQUESTS:-20000}
    FILL_QUERIES=${FILL_QUERIES:-200} IDLE_CLIENTS=${IDLE_CLIENTS:-50} SB_TABLE_SIZE=${SB_TABLE_SIZE:-10000}
else
    DURATION=${DURATION:-10} REPS=${REPS:-3} SCALE=${SCALE:-10} EMPLOYEES=${EMPLOYEES:-300024}
    SUFFIX="" LT_N=${LT_N:-1000} LT_JOIN_N=${LT_JOIN_N:-20} REDIS_REQUESTS=${REDIS_REQUESTS:-100000}
    FILL_QUERIES=${FILL_QUERIES:-1000} IDLE_CLIENTS=${IDLE_CLIENTS:-200} SB_TABLE_SIZE=${SB_TABLE_SIZE:-100000}
fi
OUT=${OUT:-$ROOT/results/bench-$(date +%Y-%m-%d)$SUFFIX}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
PY=python3
export PGCONNECT_TIMEOUT=30
# The private PostgreSQL, PgBouncer and Pgpool-II offer no TLS and wirecache does: with
# libpq's default (prefer) only wirecache's rows would pay a handshake per connection.
# Every target is measured in clear unless PGSSLMODE says otherwise (TLS: tls.sh).
export PGSSLMODE=${PGSSLMODE:-disable}

main() {
    local t_start=$SECONDS build_pid
    [[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user, MariaDB as mysql)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-bench.XXXXXX")
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_missing
    mkdir -p "$OUT"
    rm -f "$OUT"/*.png "$OUT"/*.json "$OUT"/*.jsonl "$OUT"/*.csv "$OUT"/*.md "$OUT"/profile-*.txt
    RAW=$OUT/raw.jsonl
    log "results: $OUT (runs of ${DURATION}s x $REPS); temp: $WORK"

    if [[ -n ${WC_BINARY:-} ]]; then
        [[ -x $WC_BINARY ]] || die "WC_BINARY=$WC_BINARY is not an executable"
        log "measuring $WC_BINARY (no build)"
        true &
    else
        log "building wirecache (release) in the background"
        (cd "$ROOT" && cargo build --release --quiet) >"$WORK/build.log" 2>&1 &
    fi
    build_pid=$!

    EMP_DIR=$WORK/employees
    "$PY" "$HERE/gen_employees.py" data --out "$EMP_DIR" --employees "$EMPLOYEES"
    chmod -R a+rX "$EMP_DIR"
    local suites=" ${SUITES:-postgres tpcb connect limited mysql redis latency memory profile} "
    start_postgres
    [[ $suites == *" limited "* ]] && start_limited_postgres
    load_postgres
    start_mariadb
    load_mariadb
    log "waiting for the release build"
    wait "$build_pid" || die "cargo build --release failed: $(tail -20 "$WORK/build.log")"
    # Run a copy: a rebuild in the work tree during the run must not replace the
    # binary under the running servers (nor hide its symbols from perf).
    cp "${WC_BINARY:-$ROOT/target/release/wirecache}" "$WORK/wirecache"
    WIRECACHE=$WORK/wirecache
    log "setup done in $((SECONDS - t_start)) s"

    psql_pg -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
        -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
    start_wirecache
    start_wirecache_pooled
    start_pgbouncer
    start_pgpool
    start_redis
    write_scripts

    [[ $suites == *" postgres "* ]] && run_postgres_suite
    [[ $suites == *" tpcb "* ]] && run_tpcb_suite
    [[ $suites == *" connect "* ]] && run_connect_suite
    [[ $suites == *" limited "* ]] && run_limited_suite
    [[ $suites == *" mysql "* ]] && run_mysql_suite
    [[ $suites == *" redis "* ]] && run_redis
    [[ $suites == *" latency "* ]] && run_latency_tests
    [[ $suites == *" memory "* ]] && measure_memory
    if [[ $suites == *" profile "* ]]; then
        profile pk-hot pk-hot
        profile select-only select-only
    fi
    describe_machine
    "$PY" "$HERE/report.py" "$OUT" || log "report.py failed"
    log "done in $((SECONDS - t_start)) s: $OUT/results.md"
}

main "$@"
