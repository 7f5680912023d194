#!/usr/bin/env bash
# cost.sh — what trying to cache costs where caching cannot help: two wirecache
# binaries (before and after a change) against PgBouncer and the origin, in one run:
#
#   scripts/bench/cost.sh OLD_BINARY NEW_BINARY
#
# Starts a private PostgreSQL (pgbench -i -s SCALE, default 10: 1M accounts), one
# wirecache per binary (each with the caching cache `bench` and the `mode = "off"`
# cache `nocache` of write_wirecache_config) and PgBouncer (transaction and session
# pools), then for each workload runs every target in turn, REPS times (interleaved,
# so drift of the machine spreads over all):
#   - select-only: pgbench -S, a PK lookup over all 1M accounts (mostly misses);
#   - tpcb: pgbench's TPC-B-like read-write transaction (nothing cacheable);
#   - pk-hot: a PK lookup over 1,000 hot accounts (hits).
# Targets: direct, old:bench, new:bench, old:nocache, new:nocache, pgbouncer-txn,
# pgbouncer-session. pgbench -M simple -c CLIENTS -j 2 -T DURATION. Prints the
# median tps per target and workload, with ratios of the new caching cache to
# PgBouncer (transaction pooling) and to the new binary's mode off, and the proxy's
# CPU time per transaction (user + system from /proc, all threads: what the proxy
# costs, which other load on the machine disturbs far less than throughput), split
# into user and system time with minor page faults and context switches; writes
# $OUT/cost.md and $OUT/cost.csv. Settings: DURATION (10), REPS (3), CLIENTS (8),
# SCALE (10), WORKLOADS ("select-only tpcb pk-hot"), OUT (results/cost-<date>).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

[[ $# -eq 2 ]] || {
    sed -n '5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
OLD=$(realpath "$1") NEW=$(realpath "$2")
DURATION=${DURATION:-10} REPS=${REPS:-3} CLIENTS=${CLIENTS:-8} SCALE=${SCALE:-10}
WORKLOADS=${WORKLOADS:-select-only tpcb pk-hot}
OUT=${OUT:-$ROOT/results/cost-$(date +%Y-%m-%d)}
# PgBouncer here offers no TLS and wirecache does: with libpq's default (prefer) only
# wirecache would pay for encryption. Every target is measured in clear unless
# PGSSLMODE says otherwise.
export PGSSLMODE=${PGSSLMODE:-disable}
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-cost.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

install_missing
start_postgres
log "pgbench -i -s $SCALE"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -3 "$WORK/init.log")"
psql_pg -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
printf '\\set aid random(1, 1000)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' >"$WORK/pk.sql"
start_pgbouncer

declare -A PORT=() PID=()
for side in old new; do
    bin=$OLD
    [[ $side == new ]] && bin=$NEW
    pg=$(free_port) admin=$(free_port)
    WIRECACHE=$bin write_wirecache_config "$WORK/$side.toml" "$pg" "$admin"
    WIRECACHE=$bin launch_wirecache "$WORK/$side.toml" "$WORK/$side.log" "$pg" "$admin"
    PORT[$side]=$pg PID[$side]=$LAUNCHED
    log "$side: $bin on 127.0.0.1:$pg"
done

# conn TARGET — "port user database".
conn() {
    case $1 in
    direct) echo "$PGPORT postgres $DB" ;;
    old:* | new:*) echo "${PORT[${1%%:*}]} ${1#*:}-postgres $DB" ;;
    pgbouncer-txn) echo "$BOUNCER_PORT postgres ${DB}_txn" ;;
    pgbouncer-session) echo "$BOUNCER_PORT postgres ${DB}_session" ;;
    esac
}

args() {
    case $1 in
    select-only) echo "-S" ;;
    tpcb) echo "" ;;
    pk-hot) echo "-f $WORK/pk.sql" ;;
    esac
}

# cpu_ticks PID — user + system CPU time of a process (all its threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# counts PID — "user_ticks system_ticks minor_faults context_switches" of a process
# (context switches, voluntary and not, summed over its threads).
counts() {
    local pid=$1 switches
    switches=$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ {s += $2} END {print s + 0}')
    awk -v s="$switches" '{print $14, $15, $10, s}' "/proc/$pid/stat"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# proxy_pid TARGET — the pid of the proxy a target runs through, if any.
proxy_pid() {
    case $1 in
    old:* | new:*) echo "${PID[${1%%:*}]}" ;;
    pgbouncer-*) echo "$BOUNCER_PID" ;;
    *) echo "" ;;
    esac
}

TARGETS=(direct old:bench new:bench old:nocache new:nocache pgbouncer-txn pgbouncer-session)
declare -A TPS=() CPU=() SPLIT=()
for w in $WORKLOADS; do
    for ((rep = 1; rep <= REPS; rep++)); do
        for target in "${TARGETS[@]}"; do
            read -r port user db <<<"$(conn "$target")"
            out=$WORK/pgbench-$w-${target//:/-}-$rep.out
            pid=$(proxy_pid "$target") t0=0 c0=""
            [[ -n $pid ]] && t0=$(cpu_ticks "$pid") c0=$(counts "$pid")
            # shellcheck disable=SC2046 # args is meant to split
            "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U "$user" -n -T "$DURATION" -c "$CLIENTS" -j 2 \
                -M simple $(args "$w") "$db" >"$out" 2>&1 || true
            tps=$(awk '/^tps = / {print $3; exit}' "$out")
            n=$(awk -F': ' '/^number of transactions actually processed/ {split($2, a, "/"); print a[1]; exit}' "$out")
            if [[ -n $pid && -n $n && $n -gt 0 ]]; then
                # Proxy CPU per transaction: what the proxy costs, whatever else loads the machine.
                CPU[$w/$target]+="$(awk -v t=$(($(cpu_ticks "$pid") - t0)) -v u="$TICK_US" -v n="$n" 'BEGIN {printf "%.1f", t * u / n}') "
                # Where it goes: user and system µs, minor faults and context switches per transaction.
                read -r u0 s0 f0 x0 <<<"$c0"
                read -r u1 s1 f1 x1 <<<"$(counts "$pid")"
                SPLIT[$w/$target]+="$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v f=$((f1 - f0)) -v x=$((x1 - x0)) -v t="$TICK_US" -v n="$n" \
                    'BEGIN {printf "%.1f/%.1f/%.3f/%.2f", u * t / n, s * t / n, f / n, x / n}') "
            fi
            [[ -n $tps ]] || {
                log "pgbench $w -> $target failed: $(tail -3 "$out" | tr '\n' ' ')"
                tps=0
            }
            log "$w rep $rep $target: $tps tps"
            TPS[$w/$target]+="$tps "
        done
    done
done

mkdir -p "$OUT"
echo "workload,target,rep,tps" >"$OUT/cost.csv"
for key in "${!TPS[@]}"; do
    rep=0
    for t in ${TPS[$key]}; do
        rep=$((rep + 1))
        echo "${key%%/*},${key#*/},$rep,$t" >>"$OUT/cost.csv"
    done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print "-"}'; }
{
    echo "# What trying to cache costs: before and after, against PgBouncer ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "old: \`$OLD\`  "
    echo "new: \`$NEW\`  "
    echo "$(nproc) cores, shared; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "PostgreSQL $(as_pg "$PGBIN/postgres" --version | awk '{print $3}'), scale $SCALE; pgbench -M simple -c $CLIENTS -j 2, $DURATION s, PGSSLMODE=$PGSSLMODE,"
    echo "$REPS interleaved repetitions; medians of tps. \`bench\`: caching; \`nocache\`: \`mode = \"off\"\`."
    echo
    echo "| workload | direct | old caching | new caching | old mode off | new mode off | PgBouncer txn | PgBouncer session | new caching / PgBouncer txn | new caching / new mode off |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for w in $WORKLOADS; do
        declare -A M=()
        for target in "${TARGETS[@]}"; do
            # shellcheck disable=SC2086 # the list is meant to split
            M[$target]=$(printf '%.0f' "$(median ${TPS[$w/$target]})")
        done
        echo "| $w | ${M[direct]} | ${M[old:bench]} | ${M[new:bench]} | ${M[old:nocache]} | ${M[new:nocache]} | ${M[pgbouncer-txn]} | ${M[pgbouncer-session]} | $(ratio "${M[new:bench]}" "${M[pgbouncer-txn]}") | $(ratio "${M[new:bench]}" "${M[new:nocache]}") |"
        unset M
    done
    echo
    echo "Proxy CPU time per transaction (user + system, all threads, from /proc; µs, medians):"
    echo
    echo "| workload | old caching | new caching | old mode off | new mode off | PgBouncer txn | PgBouncer session | new caching / new mode off | new caching / PgBouncer txn |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for w in $WORKLOADS; do
        declare -A C=()
        for target in "${TARGETS[@]}"; do
            [[ $target == direct ]] && continue
            # shellcheck disable=SC2086 # the list is meant to split
            C[$target]=$(printf '%.1f' "$(median ${CPU[$w/$target]:-0})")
        done
        echo "| $w | ${C[old:bench]} | ${C[new:bench]} | ${C[old:nocache]} | ${C[new:nocache]} | ${C[pgbouncer-txn]} | ${C[pgbouncer-session]} | $(ratio "${C[new:bench]}" "${C[new:nocache]}") | $(ratio "${C[new:bench]}" "${C[pgbouncer-txn]}") |"
        unset C
    done
    echo
    echo "Where the proxy's time goes, per transaction, each repetition: user µs / system µs /"
    echo "minor page faults / context switches (all threads):"
    echo
    for w in $WORKLOADS; do
        for target in "${TARGETS[@]}"; do
            [[ $target == direct ]] && continue
            echo "- $w $target: ${SPLIT[$w/$target]:-}"
        done
    done
    echo
    echo "Every run (tps):"
    echo
    for w in $WORKLOADS; do
        for target in "${TARGETS[@]}"; do
            echo "- $w $target: ${TPS[$w/$target]}"
        done
    done
} | tee "$OUT/cost.md"
