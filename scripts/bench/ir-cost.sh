#!/usr/bin/env bash
# ir-cost.sh — instructions per PostgreSQL transaction (callgrind) of wirecache
# binaries on the paths that do not hit: misses, writes and pass-through:
#
#   scripts/bench/ir-cost.sh BINARY...
#
# The sibling of ir-postgres.sh (which counts hits). For each binary: one wirecache
# under `valgrind --tool=callgrind` (instrumentation off until warmed up) with the
# `bench` (caching) and `nocache` (`mode = "off"`) caches of write_wirecache_config,
# in front of a private PostgreSQL with pgbench's tables at scale SCALE (10: 1M
# accounts). Workloads, each through both caches, one client, -M simple:
#   - select-only: pgbench -S, a PK lookup over all accounts (mostly misses);
#   - tpcb: pgbench's TPC-B-like script (BEGIN, 3 UPDATEs, a SELECT, an INSERT,
#     END: nothing cacheable).
# After a warm-up of WARM transactions per workload and cache, REPS times a run of N1
# and one of N2 transactions between `callgrind_control --zero` and `--dump`:
# Ir per transaction = (Ir(N2 run) - Ir(N1 run)) / (N2 - N1), so the connect and
# login cancel out. Every run has the next --random-seed from SEED on: a run reads
# keys no earlier run cached (1M keys: repeats are rare). Prints a markdown table (also
# $OUT/ir-cost.md). Settings: SCALE (10), N1 (500), N2 (2500), WARM (3000), REPS (2),
# SEED (1), WORKLOADS ("select-only tpcb"), CACHES ("bench nocache"; add `pooled`
# for a caching cache in transaction pooling, pool_size 4, clients logging in with a
# stored password of the userlist), SSLMODE (disable), OUT (default
# results/cost-<date>), CG_OPTS, DUMPS (a folder: keeps the callgrind dump of each
# binary's last N2 run per workload and cache there, for callgrind_annotate).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/callgrind.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/pooled.sh"

[[ $# -ge 1 ]] || {
    sed -n '5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
for tool in valgrind callgrind_control curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (valgrind: apt-get install valgrind)"
done
[[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || die "PostgreSQL 15 is not installed under $PGBIN"
SCALE=${SCALE:-10} SEED=${SEED:-1} SSLMODE=${SSLMODE:-disable}
N1=${N1:-500} N2=${N2:-2500} WARM=${WARM:-3000} REPS=${REPS:-2}
WORKLOADS=${WORKLOADS:-select-only tpcb}
CACHES=${CACHES:-bench nocache}
# The pooled cache's clients log in with it; the trusting origin never asks.
export PGPASSWORD=$POOLED_PASSWORD
OUT=${OUT:-$ROOT/results/cost-$(date +%Y-%m-%d)}
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-ircost.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
log "pgbench -i -s $SCALE"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -5 "$WORK/pgbench-init.log")"

# txns PORT USER WORKLOAD TRANSACTIONS — one pgbench run through wirecache, each
# with the next seed: the keys of a run are not the keys an earlier run cached.
echo "$SEED" >"$WORK/seed"
txns() {
    local out=$WORK/pgbench-$3-$4-$RANDOM.log flag=-S seed
    # A file, not a variable: runs are made in subshells (lib/callgrind.sh).
    seed=$(($(cat "$WORK/seed") + 1))
    echo "$seed" >"$WORK/seed"
    [[ $3 == tpcb ]] && flag=""
    # shellcheck disable=SC2086 # flag is empty or one word
    PGSSLMODE=$SSLMODE "$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U "$2" -n -c 1 -j 1 -M simple -t "$4" \
        "--random-seed=$seed" $flag "$DB" >"$out" 2>&1 || die "pgbench $3 failed: $(tail -3 "$out")"
    grep -q "^number of transactions actually processed: $4/$4\$" "$out" ||
        die "pgbench $3 did not complete $4 transactions: $(grep -E '^number of' "$out" | tr '\n' ' ')"
}

ROWS=()
for bin in "$@"; do
    bin=$(realpath "$bin")
    pg=$(free_port) admin=$(free_port)
    write_wirecache_config "$WORK/wc.toml" "$pg" "$admin"
    if [[ " $CACHES " == *" pooled "* ]]; then
        write_userlist "$WORK/userlist.txt" postgres "$POOLED_PASSWORD"
        pooled_cache pooled postgres "$PGPORT" 4 "$WORK/userlist.txt" transaction >>"$WORK/wc.toml"
    fi
    start_under_callgrind "$bin" "$WORK/wc.toml"
    pid=$CG_PID
    wait_port "$pg" 120 || die "wirecache did not start: $(tail -5 "$WORK/wc.log")"
    wait_port "$admin" 60 || die "wirecache admin did not start: $(tail -5 "$WORK/wc.log")"
    log "$bin under callgrind (pid $pid) on 127.0.0.1:$pg"
    for w in $WORKLOADS; do
        for cache in $CACHES; do
            user=$cache-postgres
            txns "$pg" "$user" "$w" "$WARM"
            callgrind_control --instr=on "$pid" >/dev/null 2>&1
            ir_per_request "$pid" "$admin" "wirecache_hits_total{cache=\"$cache\"}" \
                "wirecache_misses_total{cache=\"$cache\"}" "$w/$cache" txns "$pg" "$user" "$w"
            callgrind_control --instr=off "$pid" >/dev/null 2>&1
            if [[ -n ${DUMPS:-} ]]; then
                mkdir -p "$DUMPS"
                # shellcheck disable=SC2012 # dump names are ours: cg.out.PID.N
                cp "$(ls -t "$WORK"/cg.out."$pid".* | head -1)" "$DUMPS/$(basename "$bin")-$w-$cache.cg"
            fi
            ROWS+=("| \`$(basename "$bin")\` | $w | $cache | $IR_MEDIAN | ${IR_LIST[*]} | $FIXED_KIR | ${HITS_LIST[*]} | ${MISSES_LIST[*]} |")
        done
    done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        cp "$(ls -t "$WORK"/cg.out."$pid".* | head -1)" "$WORK/last-$(basename "$bin").cg" || true
    fi
    stop_pid "$pid"
done

mkdir -p "$OUT"
{
    echo "# Instructions per PostgreSQL transaction, misses, writes and pass-through ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "valgrind --tool=callgrind; PostgreSQL $(as_pg "$PGBIN/postgres" --version | awk '{print $3}'); pgbench -c 1 -j 1 -M simple,"
    echo "scale $SCALE, --random-seed=$SEED, PGSSLMODE=$SSLMODE, warm-up $WARM transactions per workload and cache;"
    echo "Ir per transaction = (Ir of a $N2-transaction run - Ir of a $N1-transaction run) / $((N2 - N1))."
    echo "select-only: one SELECT per transaction; tpcb: seven statements per transaction."
    echo
    echo "| binary | workload | cache | Ir per transaction (median) | per repetition | fixed kIr per run | hits ($N1/$N2) | misses ($N1/$N2) |"
    echo "|---|---|---|---:|---|---:|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/ir-cost.md"
