#!/usr/bin/env bash
# tds.sh — the TDS row of the benchmark (issue 17): wirecache's SQL Server listener
# against the TDS TEST ORIGIN, which is not SQL Server (none can run here): the
# integration tests' TDS 7.4 server (tests/it/common/tds_origin.rs, run standalone by
# examples/tds_test_origin.rs) that executes a T-SQL subset on a private PostgreSQL.
#
#   sudo scripts/bench/tds.sh                 # 3 repetitions x 10 s per cell (~6 min + build)
#   REPS=5 sudo scripts/bench/tds.sh          # the run in results/tds-2026-11-30 (~10 min)
#   DURATION=3 REPS=1 scripts/bench/tds.sh    # a quick look
#
# Starts a private PostgreSQL 15 (lib/servers.sh), loads table t (ROWS rows, id
# primary key) with SQL Server's catalog views, starts the test origin in front of
# it and a release build of wirecache in front of that with two caches: `tds`
# (caching) and `tdsoff` (`mode = "off"`: the relay alone). Then, each repetition
# visiting every cell in turn:
#   latency   `wirecache latency-test mssql://…` (one connection, sequential, LT_N
#             executions after one warm-up) of a PK lookup, direct vs through `tds`;
#   hot       examples/tds_load.rs, CLIENTS connections, a PK lookup over HOT_KEYS
#             keys (all hits through `tds` after the warm-up);
#   miss      the same lookup made unique per execution (every one a miss);
#   hot, 1    the hot lookup from one connection;
# each straight to the test origin, through `tds` and through `tdsoff`. Writes
# results/tds-<date>/: results.md (medians of the repetitions), raw.jsonl,
# latency-<rep>.json, origin-counters.txt, loadavg.log. Stops only what it started.
#
# With BEFORE=/path/to/an/older/wirecache, a second wirecache of that binary runs
# beside the first with the same caches, and every cell also visits it (targets
# `before` and `before-off`): a before/after comparison in one interleaved run.
# At the end wirecache is sent SIGTERM and the seconds it takes to exit are written
# to shutdown.txt (its graceful shutdown must not keep a benchmark waiting).
#
# Settings (environment): DURATION, WARMUP, REPS, CLIENTS, HOT_KEYS, ROWS, LT_N, OUT,
# KEEP_WORK=1, BEFORE, CELLS (e.g. "miss 8": only that cell), BIN_DIR (a target dir
# holding wirecache and examples/tds_test_origin, examples/tds_load, instead of
# building them in release mode).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} REPS=${REPS:-3} CLIENTS=${CLIENTS:-8}
HOT_KEYS=${HOT_KEYS:-1000} ROWS=${ROWS:-100000} LT_N=${LT_N:-1000}
OUT=${OUT:-$ROOT/results/tds-$(date +%Y-%m-%d)}
# CELLS: the cells to run, "MODE CLIENTS" separated by commas.
IFS=, read -r -a CELL_LIST <<<"${CELLS:-hot $CLIENTS,miss $CLIENTS,hot 1}"
TDSDB=tdsbench
# PostgreSQL trusts local logins here; the TDS login still carries a password.
LOGIN=postgres PASSWORD=bench-pw
export PGCONNECT_TIMEOUT=30

[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user)"
[[ -x $PGBIN/postgres ]] || die "PostgreSQL 15 is not installed ($PGBIN)"

if [[ -n ${BIN_DIR:-} ]]; then
    log "using binaries from $BIN_DIR"
else
    log "building wirecache and the TDS examples (release)"
    (cd "$ROOT" && cargo build --release --bin wirecache --example tds_test_origin --example tds_load) >&2
    BIN_DIR=$ROOT/target/release
fi
WIRECACHE=$BIN_DIR/wirecache
ORIGIN_BIN=$BIN_DIR/examples/tds_test_origin
LOAD_BIN=$BIN_DIR/examples/tds_load

WORK=$(mktemp -d /tmp/wirecache-bench-tds.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT
mkdir -p "$OUT"
: >"$OUT/raw.jsonl"
cat /proc/loadavg >"$OUT/loadavg.log"

start_postgres
TDS_ORIGIN_PG_PORT=$PGPORT "$ORIGIN_BIN" setup "$TDSDB" "$ROWS" || die "loading $TDSDB failed"

TDS_ORIGIN_PG_PORT=$PGPORT "$ORIGIN_BIN" >"$WORK/origin.out" 2>&1 &
ORIGIN_PID=$!
started "$ORIGIN_PID" tds-origin INT
for _ in $(seq 50); do grep -q '^port=' "$WORK/origin.out" && break; sleep 0.2; done
OPORT=$(sed -n 's/^port=//p' "$WORK/origin.out")
[[ -n $OPORT ]] || die "the test origin did not start: $(cat "$WORK/origin.out")"
log "TDS test origin on 127.0.0.1:$OPORT (pid $ORIGIN_PID), on PostgreSQL :$PGPORT"

<<<<<<< HEAD
WC_TDS=$(free_port) WC_ADMIN=$(free_port)
{
    printf '[listen]\nmssql = "127.0.0.1:%s"\nadmin = "127.0.0.1:%s"\n' "$WC_TDS" "$WC_ADMIN"
    cache_settings
    cat <<EOF
=======
# config FILE TDS_PORT ADMIN_PORT — a wirecache config with the two caches.
config() {
    cat >"$1" <<EOF
[listen]
mssql = "127.0.0.1:$2"
admin = "127.0.0.1:$3"
[cache]
max_memory = "2GiB"
max_entry_size = "4MiB"
default_ttl = "10m"
max_ttl = "1h"
max_connections = 10000
[log]
level = "warn"
>>>>>>> tdsperf
[[caches]]
id = "tds"
protocol = "mssql"
origin = "127.0.0.1:$OPORT"
tls = "disable"
[[caches]]
id = "tdsoff"
protocol = "mssql"
origin = "127.0.0.1:$OPORT"
tls = "disable"
mode = "off"
EOF
<<<<<<< HEAD
} >"$WORK/wirecache.toml"
=======
}
WC_TDS=$(free_port) WC_ADMIN=$(free_port)
config "$WORK/wirecache.toml" "$WC_TDS" "$WC_ADMIN"
>>>>>>> tdsperf
launch_wirecache "$WORK/wirecache.toml" "$WORK/wirecache.log" "$WC_TDS" "$WC_ADMIN"
WC_PID=$LAUNCHED
log "wirecache on 127.0.0.1:$WC_TDS (pid $WC_PID)"
TARGETS=(direct wirecache caching-off)
if [[ -n ${BEFORE:-} ]]; then
    BF_TDS=$(free_port) BF_ADMIN=$(free_port)
    config "$WORK/before.toml" "$BF_TDS" "$BF_ADMIN"
    WIRECACHE=$BEFORE launch_wirecache "$WORK/before.toml" "$WORK/before.log" "$BF_TDS" "$BF_ADMIN"
    BF_PID=$LAUNCHED
    log "before: $BEFORE on 127.0.0.1:$BF_TDS (pid $BF_PID)"
    TARGETS=(direct before before-off wirecache caching-off)
fi

# addr TARGET — host:port, login name and admin port of a target.
addr() {
    case $1 in
    direct) echo "127.0.0.1:$OPORT $LOGIN -" ;;
    wirecache) echo "127.0.0.1:$WC_TDS tds-$LOGIN $WC_ADMIN" ;;
    caching-off) echo "127.0.0.1:$WC_TDS tdsoff-$LOGIN $WC_ADMIN" ;;
    before) echo "127.0.0.1:$BF_TDS tds-$LOGIN $BF_ADMIN" ;;
    before-off) echo "127.0.0.1:$BF_TDS tdsoff-$LOGIN $BF_ADMIN" ;;
    esac
}

# hits ADMIN_PORT — the `tds` cache's hits so far (0 for direct).
hits() {
    if [[ $1 == - ]]; then echo 0; else metric "$1" "wirecache_hits_total{cache=\"tds\"}"; fi
}

# load REP TARGET MODE CLIENTS — one tds_load run, appended to raw.jsonl.
load() {
    local rep=$1 target=$2 mode=$3 clients=$4 a u adm line h0 h1
    read -r a u adm < <(addr "$target")
    h0=$(hits "$adm")
    line=$(TDS_PASSWORD=$PASSWORD "$LOAD_BIN" "$a" "$u" "$TDSDB" "$mode" "$clients" "$DURATION" "$WARMUP" "$HOT_KEYS") ||
        die "tds_load $target $mode failed"
    h1=$(hits "$adm")
    echo "{\"rep\":$rep,\"target\":\"$target\",\"hits\":$(awk -v a="$h0" -v b="$h1" 'BEGIN {print b - a}'),${line#\{}" >>"$OUT/raw.jsonl"
    log "rep $rep $target $mode: $line"
}

for rep in $(seq "$REPS"); do
    # Through the wirecache under test (`before`, if any, is not latency-tested).
    "$WIRECACHE" latency-test \
        --direct "mssql://$LOGIN:$PASSWORD@127.0.0.1:$OPORT/$TDSDB?encrypt=disable" \
        --via "mssql://tds-$LOGIN:$PASSWORD@127.0.0.1:$WC_TDS/$TDSDB?encrypt=disable" \
        --query "SELECT id, name FROM t WHERE id = 42" -n "$LT_N" --json >"$OUT/latency-$rep.json"
    for cell in "${CELL_LIST[@]}"; do
        for target in "${TARGETS[@]}"; do
            # shellcheck disable=SC2086 # "MODE CLIENTS"
            load "$rep" "$target" $cell
        done
    done
    cat /proc/loadavg >>"$OUT/loadavg.log"
done

# stop_timed PID — SIGTERM, then the seconds until PID exits (at most 30, then
# "over 30" and SIGKILL).
stop_timed() {
    local t0 i
    t0=$(date +%s.%N)
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f\n", b - a}'
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    echo "over 30"
}
# wirecache first, as an orchestrator stops a proxy before its database.
echo "wirecache exited $(stop_timed "$WC_PID") s after SIGTERM" >"$OUT/shutdown.txt"
if [[ -n ${BEFORE:-} ]]; then
    echo "before ($BEFORE) exited $(stop_timed "$BF_PID") s after SIGTERM" >>"$OUT/shutdown.txt"
fi
log "$(tr '\n' ' ' <"$OUT/shutdown.txt")"
# The origin prints its own counters when it stops.
stop_pid "$ORIGIN_PID" INT
cp "$WORK/origin.out" "$OUT/origin-counters.txt"
"$WIRECACHE" --version >"$OUT/version.txt" 2>&1 || true
python3 "$HERE/tds_report.py" "$OUT" >"$OUT/results.md"
log "wrote $OUT/results.md"
