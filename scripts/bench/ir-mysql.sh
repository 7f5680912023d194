#!/usr/bin/env bash
# ir-mysql.sh — instructions per MySQL cache hit (callgrind) of wirecache binaries,
# one after another against the same private MariaDB:
#
#   scripts/bench/ir-mysql.sh BINARY...
#
# For each binary: one wirecache under `valgrind --tool=callgrind` (instrumentation
# off until warmed up) with a single MariaDB cache, and sysbench oltp_point_select
# through it: one thread, one PK lookup per event, uniform keys drawn with the same
# seed in every run (so the measured runs read keys the warm-up cached), text
# (--db-ps-mode=disable) and prepared (COM_STMT_EXECUTE, --db-ps-mode=auto).
# A warm-up run of WARM (at least N2) events per protocol; then, REPS times per
# protocol, two measured runs of N1 and N2 events, each between
# `callgrind_control --zero` and `--dump`, with wirecache's hit and miss counters
# read around it. Ir per hit = (Ir(N2 run) - Ir(N1 run)) / (hits(N2 run) -
# hits(N1 run)): the login, the PREPARE, the first EXECUTE (which the origin must
# see) and the goodbye cost the same in both runs and cancel out; the misses
# column shows they did. Also the fixed cost of a run: Ir(N1 run) - hits x Ir per
# hit.
# Prints a markdown table (also $OUT/ir-mysql.md). Settings: TABLE_SIZE (1000),
# N1 (1000), N2 (5000), WARM (N2), REPS (2), OUT (default
# results/ir-mysql-<date>), CG_OPTS (more valgrind options, e.g.
# --fair-sched=yes), KEEP_WORK=1 keeps the callgrind dumps.
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
for tool in valgrind callgrind_control sysbench mariadbd; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-test-deps.sh; valgrind: apt-get install valgrind)"
done
TABLE_SIZE=${TABLE_SIZE:-1000} WARM=${WARM:-${N2:-5000}} N1=${N1:-1000} N2=${N2:-5000} REPS=${REPS:-2}
OUT=${OUT:-$ROOT/results/ir-mysql-$(date +%Y-%m-%d)}
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-ir.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

start_mariadb
SB_COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-db=sbtest --tables=1
    "--table-size=$TABLE_SIZE" --threads=1 --rand-type=uniform --rand-seed=1 --time=0
    --report-interval=0)
sysbench oltp_point_select "${SB_COMMON[@]}" "--mysql-port=$MPORT" --mysql-user=bench \
    --mysql-password=bench prepare >"$WORK/sb-prepare.log" 2>&1 ||
    die "sysbench prepare failed: $(tail -3 "$WORK/sb-prepare.log")"

# point_selects PORT MODE EVENTS — one sysbench run through wirecache.
point_selects() {
    local out=$WORK/sb-$2-$3-$RANDOM.log
    sysbench oltp_point_select "${SB_COMMON[@]}" "--mysql-port=$1" --mysql-user=my-bench \
        --mysql-password=bench "--db-ps-mode=$2" "--events=$3" run >"$out" 2>&1 ||
        die "sysbench run ($2) failed: $(tail -3 "$out")"
}

ROWS=()
for bin in "$@"; do
    bin=$(realpath "$bin")
    my=$(free_port) admin=$(free_port)
    cat >"$WORK/wc.toml" <<EOF
[listen]
mariadb = "127.0.0.1:$my"
admin = "127.0.0.1:$admin"
[cache]
max_memory = "512MiB"
default_ttl = "1h"
max_ttl = "1h"
[log]
level = "warn"
[[caches]]
id = "my"
protocol = "mariadb"
origin = "127.0.0.1:$MPORT"
EOF
    start_under_callgrind "$bin" "$WORK/wc.toml"
    pid=$CG_PID
    wait_port "$my" 120 || die "wirecache did not start: $(tail -5 "$WORK/wc.log")"
    log "$bin under callgrind (pid $pid) on 127.0.0.1:$my"
    for mode in disable auto; do
        point_selects "$my" "$mode" "$WARM"
    done
    callgrind_control --instr=on "$pid" >/dev/null 2>&1
    for mode in disable auto; do
        ir_per_hit "$pid" "$admin" wirecache_hits_total wirecache_misses_total "$mode" point_selects "$my" "$mode"
        label=text
        [[ $mode == auto ]] && label=prepared
        ROWS+=("| \`$(basename "$bin")\` | $label | $IR_MEDIAN | ${IR_LIST[*]} | $FIXED_KIR | $HITS_MEASURED | ${MISSES_LIST[*]} |")
    done
    stop_pid "$pid"
done

mkdir -p "$OUT"
{
    echo "# Instructions per MySQL cache hit ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "valgrind --tool=callgrind; MariaDB $(mariadbd --version | awk '{print $3}'); sysbench oltp_point_select,"
    echo "1 thread, one PK lookup per event, $TABLE_SIZE uniform keys, warm-up $WARM events; per repetition"
    echo "Ir per hit = (Ir of a $N2-event run - Ir of a $N1-event run) / (hits of the one - hits of the other)."
    echo
    echo "Fixed cost of a run (connect, login, PREPARE and first EXECUTE if prepared, goodbye) ="
    echo "Ir of the $N1-event run - its hits x Ir per hit."
    echo
    echo "| binary | protocol | Ir per hit (median) | per repetition | fixed kIr per run (median) | hits measured | misses per run ($N1/$N2) |"
    echo "|---|---|---:|---|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/ir-mysql.md"
