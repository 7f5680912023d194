#!/usr/bin/env bash
# ir-tds.sh — instructions per TDS request (callgrind) of wirecache binaries, on the
# TDS benchmark's workloads (scripts/bench/tds.sh) against the TDS TEST ORIGIN (not
# SQL Server):
#
#   scripts/bench/ir-tds.sh BINARY...
#
# The TDS sibling of ir-cost.sh. For each binary: one wirecache under `valgrind
# --tool=callgrind` (instrumentation off until warmed up) with tds.sh's two caches,
# `tds` (caching) and `tdsoff` (`mode = "off"`), in front of the test origin
# (examples/tds_test_origin.rs) on a private PostgreSQL with table t (ROWS rows).
# Workloads, each through both caches, one client (examples/tds_load.rs with a COUNT):
#   - miss: a PK lookup made unique per execution (every one a miss);
#   - hot:  a PK lookup over HOT_KEYS keys (hits through `tds` after the warm-up).
# After a warm-up of WARM requests per workload and cache, REPS times a run of N1 and
# one of N2 requests between `callgrind_control --zero` and `--dump`: Ir per request =
# (Ir(N2 run) - Ir(N1 run)) / (N2 - N1), so connect and login cancel out. The miss
# warm-up (default 10000) passes the engine's cacheability judgement (8192 calls), so
# misses are measured as the throughput benchmark sees them in its steady state; set
# WARM_MISS=0 to measure filled misses (then keep N1, N2, REPS small). Prints a
# markdown table (also $OUT/ir-tds.md). Settings: ROWS (100000), HOT_KEYS (100), N1
# (500), N2 (2500), WARM (3000), WARM_MISS (10000), REPS (2), WORKLOADS ("miss hot"),
# OUT (default results/tds-miss-<date>-ir), LOAD_BIN, ORIGIN_BIN (default: release
# builds of the examples), KEEP_WORK=1 (keep the
# last dump of each workload, cache and binary in OUT), CG_OPTS.
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
    sed -n '6p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
for tool in valgrind callgrind_control curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (valgrind: apt-get install valgrind)"
done
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user)"
[[ -x $PGBIN/postgres ]] || die "PostgreSQL 15 is not installed under $PGBIN"
ROWS=${ROWS:-100000} HOT_KEYS=${HOT_KEYS:-100}
N1=${N1:-500} N2=${N2:-2500} WARM=${WARM:-3000} WARM_MISS=${WARM_MISS:-10000} REPS=${REPS:-2}
WORKLOADS=${WORKLOADS:-miss hot}
OUT=${OUT:-$ROOT/results/tds-miss-$(date +%Y-%m-%d)-ir}
LOAD_BIN=${LOAD_BIN:-$ROOT/target/release/examples/tds_load}
ORIGIN_BIN=${ORIGIN_BIN:-$ROOT/target/release/examples/tds_test_origin}
[[ -x $LOAD_BIN && -x $ORIGIN_BIN ]] ||
    die "build the examples first: cargo build --release --example tds_load --example tds_test_origin"
TDSDB=tdsbench LOGIN=postgres PASSWORD=bench-pw
export PGCONNECT_TIMEOUT=30
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-irtds.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
TDS_ORIGIN_PG_PORT=$PGPORT "$ORIGIN_BIN" setup "$TDSDB" "$ROWS" || die "loading $TDSDB failed"
TDS_ORIGIN_PG_PORT=$PGPORT "$ORIGIN_BIN" >"$WORK/origin.out" 2>&1 &
ORIGIN_PID=$!
started "$ORIGIN_PID" tds-origin INT
for _ in $(seq 50); do grep -q '^port=' "$WORK/origin.out" && break; sleep 0.2; done
OPORT=$(sed -n 's/^port=//p' "$WORK/origin.out")
[[ -n $OPORT ]] || die "the test origin did not start: $(cat "$WORK/origin.out")"

# reqs PORT USER MODE COUNT — one client, COUNT requests.
reqs() {
    local out
    out=$(TDS_PASSWORD=$PASSWORD "$LOAD_BIN" "127.0.0.1:$1" "$2" "$TDSDB" "$3" 1 0 0 "$HOT_KEYS" "$4") ||
        die "tds_load $3 $4 failed"
    [[ $out == *'"errors":0}' ]] || die "tds_load $3 had errors: $out"
}

RESULT_ROWS=()
for bin in "$@"; do
    bin=$(realpath "$bin")
    port=$(free_port) admin=$(free_port)
    cat >"$WORK/wc.toml" <<EOF
[listen]
mssql = "127.0.0.1:$port"
admin = "127.0.0.1:$admin"
[cache]
max_memory = "2GiB"
max_entry_size = "4MiB"
default_ttl = "10m"
max_ttl = "1h"
max_connections = 10000
[log]
level = "warn"
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
    start_under_callgrind "$bin" "$WORK/wc.toml"
    pid=$CG_PID
    wait_port "$port" 120 || die "wirecache did not start: $(tail -5 "$WORK/wc.log")"
    wait_port "$admin" 60 || die "wirecache admin did not start: $(tail -5 "$WORK/wc.log")"
    log "$bin under callgrind (pid $pid) on 127.0.0.1:$port"
    for w in $WORKLOADS; do
        for cache in tds tdsoff; do
            warm=$WARM
            [[ $w == miss ]] && warm=$WARM_MISS
            ((warm > 0)) && reqs "$port" "$cache-$LOGIN" "$w" "$warm"
            callgrind_control --instr=on "$pid" >/dev/null 2>&1
            ir_per_request "$pid" "$admin" "wirecache_hits_total{cache=\"$cache\"}" \
                "wirecache_misses_total{cache=\"$cache\"}" "$w/$cache" reqs "$port" "$cache-$LOGIN" "$w"
            callgrind_control --instr=off "$pid" >/dev/null 2>&1
            if [[ ${KEEP_WORK:-0} == 1 ]]; then
                mkdir -p "$OUT"
                # shellcheck disable=SC2012 # dump names are ours: cg.out.PID.N
                cp "$(ls -t "$WORK"/cg.out."$pid".* | head -1)" "$OUT/$w-$cache-$(basename "$bin").cg"
            fi
            RESULT_ROWS+=("| \`$(basename "$bin")\` | $w | $cache | $IR_MEDIAN | ${IR_LIST[*]} | $FIXED_KIR | ${HITS_LIST[*]} | ${MISSES_LIST[*]} |")
        done
    done
    stop_pid "$pid"
done

mkdir -p "$OUT"
{
    echo "# Instructions per TDS request through wirecache, test origin ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "valgrind --tool=callgrind; the TDS test origin (not SQL Server) on PostgreSQL; examples/tds_load.rs,"
    echo "one client, SQLBatch; warm-up $WARM requests ($WARM_MISS for miss) per workload and cache;"
    echo "Ir per request = (Ir of a $N2-request run - Ir of a $N1-request run) / $((N2 - N1))."
    echo
    echo "| binary | workload | cache | Ir per request (median) | per repetition | fixed kIr per run | hits ($N1/$N2) | misses ($N1/$N2) |"
    echo "|---|---|---|---:|---|---:|---|---|"
    printf '%s\n' "${RESULT_ROWS[@]}"
} | tee "$OUT/ir-tds.md"
