#!/usr/bin/env bash
# ir-postgres.sh — instructions per PostgreSQL cache hit (callgrind) of wirecache
# binaries, one after another against the same private PostgreSQL:
#
#   scripts/bench/ir-postgres.sh BINARY...
#
# The PostgreSQL sibling of ir-mysql.sh. For each binary: one wirecache under
# `valgrind --tool=callgrind` (instrumentation off until warmed up) with the
# caching `bench` cache of write_wirecache_config, and pgbench through it (user
# bench-postgres): one client, one PK lookup per transaction
# (`\set aid random(1, KEYS)` + `SELECT abalance FROM pgbench_accounts WHERE aid
# = :aid`), the same --random-seed in every run (so the measured runs read keys
# the warm-up cached), simple (-M simple: Query messages) and prepared
# (-M prepared: Parse once, then Bind/Execute). A warm-up run of WARM (at least
# N2) transactions per mode; then, REPS times per mode, two measured runs of N1
# and N2 transactions, each between `callgrind_control --zero` and `--dump`,
# with wirecache's hit and miss counters read around it. Ir per hit = (Ir(N2
# run) - Ir(N1 run)) / (hits(N2 run) - hits(N1 run)): the connect, the startup
# and authentication, the Parse (prepared) and the Terminate cost the same in
# both runs and cancel out; the misses column shows whether any read reached the
# origin. Also the fixed cost of a run: Ir(N1 run) - hits x Ir per hit.
# pgbench connects with PGSSLMODE=SSLMODE (default prefer, libpq's own default:
# wirecache accepts the SSLRequest, so the client leg is TLS and every hit pays
# for decrypting the request and encrypting the answer; disable measures without).
# Prints a markdown table (also $OUT/ir-postgres.md). Settings: SCALE (pgbench
# -i -s, 1), KEYS (1000), N1 (1000), N2 (5000), WARM (N2), REPS (2), SEED (1),
# SSLMODE (prefer), OUT (default results/ir-postgres-<date>), CG_OPTS (more
# valgrind options, e.g. --fair-sched=yes), KEEP_WORK=1 keeps the callgrind dumps.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/callgrind.sh"

[[ $# -ge 1 ]] || {
    sed -n '5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
for tool in valgrind callgrind_control curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-test-deps.sh; valgrind: apt-get install valgrind)"
done
[[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || die "PostgreSQL 15 is not installed under $PGBIN (postgresql-15, postgresql-client-15)"
SCALE=${SCALE:-1} KEYS=${KEYS:-1000} SEED=${SEED:-1} SSLMODE=${SSLMODE:-prefer}
WARM=${WARM:-${N2:-5000}} N1=${N1:-1000} N2=${N2:-5000} REPS=${REPS:-2}
OUT=${OUT:-$ROOT/results/ir-postgres-$(date +%Y-%m-%d)}
((WARM >= N2)) || die "WARM ($WARM) must be at least N2 ($N2): the measured runs must read keys the warm-up cached"
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-ir.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -5 "$WORK/pgbench-init.log")"
printf '\\set aid random(1, %d)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' "$KEYS" >"$WORK/pk.sql"

# pk_lookups PORT MODE TRANSACTIONS — one pgbench run through wirecache.
pk_lookups() {
    local out=$WORK/pgbench-$2-$3-$RANDOM.log
    PGSSLMODE=$SSLMODE "$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U bench-postgres -n -c 1 -j 1 -M "$2" -t "$3" \
        "--random-seed=$SEED" -f "$WORK/pk.sql" "$DB" >"$out" 2>&1 ||
        die "pgbench run ($2) failed: $(tail -3 "$out")"
    grep -q "^number of transactions actually processed: $3/$3\$" "$out" ||
        die "pgbench run ($2) did not complete $3 transactions: $(grep -E '^number of' "$out" | tr '\n' ' ')"
}

HITS='wirecache_hits_total{cache="bench"}' MISSES='wirecache_misses_total{cache="bench"}'

ROWS=()
for bin in "$@"; do
    bin=$(realpath "$bin")
    pg=$(free_port) admin=$(free_port)
    write_wirecache_config "$WORK/wc.toml" "$pg" "$admin"
    start_under_callgrind "$bin" "$WORK/wc.toml"
    pid=$CG_PID
    wait_port "$pg" 120 || die "wirecache did not start: $(tail -5 "$WORK/wc.log")"
    wait_port "$admin" 60 || die "wirecache admin did not start: $(tail -5 "$WORK/wc.log")"
    # The client leg as libpq sees it (\conninfo sends no query).
    leg=$(PGSSLMODE=$SSLMODE "$PGBIN/psql" -X -h 127.0.0.1 -p "$pg" -U bench-postgres -d "$DB" -c '\conninfo' 2>&1 |
        sed -n 's/^SSL connection (protocol: \([^,]*\), cipher: \([^,]*\),.*/\1 \2/p') || true
    leg=${leg:-plain}
    log "$bin under callgrind (pid $pid) on 127.0.0.1:$pg, client leg: $leg"
    for mode in simple prepared; do
        pk_lookups "$pg" "$mode" "$WARM"
    done
    log "warmed up: $(series "$admin" "$HITS") hits, $(series "$admin" "$MISSES") misses"
    callgrind_control --instr=on "$pid" >/dev/null 2>&1
    for mode in simple prepared; do
        ir_per_hit "$pid" "$admin" "$HITS" "$MISSES" "$mode" pk_lookups "$pg" "$mode"
        ROWS+=("| \`$(basename "$bin")\` | $mode | $leg | $IR_MEDIAN | ${IR_LIST[*]} | $FIXED_KIR | $HITS_MEASURED | ${MISSES_LIST[*]} |")
    done
    stop_pid "$pid"
done

mkdir -p "$OUT"
{
    echo "# Instructions per PostgreSQL cache hit ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "valgrind --tool=callgrind; PostgreSQL $(as_pg "$PGBIN/postgres" --version | awk '{print $3}'); pgbench $("$PGBIN/pgbench" --version | awk '{print $3}') -c 1 -j 1,"
    echo "one PK lookup per transaction (\`SELECT abalance FROM pgbench_accounts WHERE aid = :aid\`), $KEYS uniform keys,"
    echo "--random-seed=$SEED, scale $SCALE, PGSSLMODE=$SSLMODE, warm-up $WARM transactions per mode; per repetition"
    echo "Ir per hit = (Ir of a $N2-transaction run - Ir of a $N1-transaction run) / (hits of the one - hits of the other)."
    echo
    echo "Fixed cost of a run (connect, startup and authentication, Parse if prepared, Terminate) ="
    echo "Ir of the $N1-transaction run - its hits x Ir per hit."
    echo
    echo "| binary | mode | client leg | Ir per hit (median) | per repetition | fixed kIr per run (median) | hits measured | misses per run ($N1/$N2) |"
    echo "|---|---|---|---:|---|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/ir-postgres.md"
