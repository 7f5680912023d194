#!/usr/bin/env bash
# syscalls.sh — system calls per transaction of wirecache binaries and of PgBouncer,
# counted with `strace -c -f` on the proxy's process while pgbench runs through it:
#
#   scripts/bench/syscalls.sh BINARY...
#
# Starts a private PostgreSQL (pgbench -i -s 1), PgBouncer (session and transaction
# pools) and, one after another, each wirecache binary (caches `bench` and
# `nocache`, mode off). For each proxy target, pgbench -S -M simple -c CLIENTS -j 2
# -t TXNS runs with strace attached to the proxy (every thread); the calls counted
# are divided by the transactions run. The connect and login of the CLIENTS
# sessions are included (a few dozen calls each, small against TXNS x CLIENTS).
# Prints a markdown table (also $OUT/syscalls.md). Settings: CLIENTS (8), TXNS
# (2000 per client), OUT (default results/cost-<date>).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

[[ $# -ge 1 ]] || {
    sed -n '5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
command -v strace >/dev/null || die "strace is not installed (apt-get install strace)"
CLIENTS=${CLIENTS:-8} TXNS=${TXNS:-2000}
OUT=${OUT:-$ROOT/results/cost-$(date +%Y-%m-%d)}
# PgBouncer here offers no TLS and wirecache does: with libpq's default (prefer) only
# wirecache would pay for encryption. Every target is measured in clear unless
# PGSSLMODE says otherwise.
export PGSSLMODE=${PGSSLMODE:-disable}
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-syscalls.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

install_missing
start_postgres
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 1 -q "$DB" >"$WORK/init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -3 "$WORK/init.log")"
start_pgbouncer

# counted LABEL PID PORT USER DATABASE — one pgbench run under strace; appends a row.
ROWS=()
counted() {
    local label=$1 pid=$2 trace=$WORK/strace-$RANDOM.txt out=$WORK/pgbench-$RANDOM.out spid total n
    strace -c -f -q -o "$trace" -p "$pid" &
    spid=$!
    sleep 1
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$3" -U "$4" -n -S -M simple -c "$CLIENTS" -j 2 -t "$TXNS" "$5" >"$out" 2>&1 ||
        die "pgbench ($label) failed: $(tail -3 "$out")"
    kill -INT "$spid"
    wait "$spid" || true
    n=$((CLIENTS * TXNS))
    # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall.
    total=$(awk '$NF == "total" {print $4; exit}' "$trace")
    # The three most frequent calls, per transaction.
    top=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {printf "%s %.2f\n", $NF, $4 / n}' "$trace" |
        sort -k2 -gr | head -4 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
    ROWS+=("| $label | $n | $(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.2f", t / n}') | $top |")
    log "$label: $total calls for $n transactions"
}

counted "PgBouncer session" "$BOUNCER_PID" "$BOUNCER_PORT" postgres "${DB}_session"
counted "PgBouncer transaction" "$BOUNCER_PID" "$BOUNCER_PORT" postgres "${DB}_txn"
for bin in "$@"; do
    pg=$(free_port) admin=$(free_port)
    WIRECACHE=$(realpath "$bin")
    write_wirecache_config "$WORK/wc.toml" "$pg" "$admin"
    launch_wirecache "$WORK/wc.toml" "$WORK/wc.log" "$pg" "$admin"
    counted "\`$(basename "$bin")\` mode off" "$LAUNCHED" "$pg" nocache-postgres "$DB"
    counted "\`$(basename "$bin")\` caching (\`-S\`, scale 1: mostly misses)" "$LAUNCHED" "$pg" bench-postgres "$DB"
    stop_pid "$LAUNCHED"
done

mkdir -p "$OUT"
{
    echo "# System calls per transaction of the proxy ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "strace -c -f on the proxy process; pgbench -S -M simple -c $CLIENTS -j 2 -t $TXNS, PostgreSQL scale 1."
    echo
    echo "| proxy | transactions | system calls per transaction | most frequent (per transaction) |"
    echo "|---|---:|---:|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/syscalls.md"
