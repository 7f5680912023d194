#!/usr/bin/env bash
# cluster.sh — wirecache's cluster bus (issue 14) measured, in one command:
#
#   sudo scripts/bench/cluster.sh        # about 3 minutes
#
# Starts a private PostgreSQL 15 and a private redis-server on free 127.0.0.1 ports
# under a temp dir, and three wirecache processes (release build) in front of the
# PostgreSQL, for each setting in turn: alone (no [cluster]), bounded, strict. For
# each it measures (cluster_probe.py): the cross-instance invalidation delay (a
# write through A, then reads through B and C until the new value shows: the time
# from the acknowledgement and the stale reads seen meanwhile), hit latency on one
# connection, and hit throughput with pgbench (-M prepared, 8 clients, one cached
# row); plus B's wirecache_cluster_invalidation_lag_seconds histogram. Writes
# results/cluster-<date>/results.md and raw.jsonl. Stops only what it started.
#
# Settings (environment): WRITES (default 500), READS (20000), DURATION (pgbench
# seconds, 10), CLIENTS (8), OUT, PROFILE (release, or debug for a quick look).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

WRITES=${WRITES:-500} READS=${READS:-20000} DURATION=${DURATION:-10} CLIENTS=${CLIENTS:-8}
OUT=${OUT:-$ROOT/results/cluster-$(date +%Y-%m-%d)}
PY=python3

# start_instance NAME MODE — one wirecache; sets PORT_<NAME>, ADMIN_<NAME>.
start_instance() {
    local name=$1 mode=$2 pg admin cfg
    pg=$(free_port) admin=$(free_port) cfg=$WORK/$name.toml
    cat >"$cfg" <<TOML
[listen]
postgres = "127.0.0.1:$pg"
admin = "127.0.0.1:$admin"
[cache]
max_memory = "256MiB"
default_ttl = "10m"
[log]
level = "warn"
[[caches]]
id = "bench"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
TOML
    if [[ $mode != alone ]]; then
        printf '[cluster]\nurl = "redis://127.0.0.1:%s"\nmode = "%s"\ninstance = "%s"\n' \
            "$REDIS_PORT" "$mode" "$name" >>"$cfg"
    fi
    launch_wirecache "$cfg" "$WORK/$name-$mode.log" "$pg" "$admin"
    printf -v "PORT_$name" '%s' "$pg"
    printf -v "ADMIN_$name" '%s' "$admin"
    printf -v "PID_$name" '%s' "$LAUNCHED"
}

# measure MODE — three instances in MODE, measured, then stopped.
measure() {
    local mode=$1 out
    start_instance a "$mode"
    start_instance b "$mode"
    start_instance c "$mode"
    sleep 1
    log "$mode: invalidation delay ($WRITES writes through A, read through B and C)"
    local wait=() n=$WRITES
    [[ $mode == alone ]] && wait=(--no-wait) n=50
    out=$("$PY" "$HERE/cluster_probe.py" delay --writer "$PORT_a" --reader "$PORT_b" --reader "$PORT_c" --n "$n" "${wait[@]}")
    echo "{\"mode\": \"$mode\", \"probe\": \"delay\", \"result\": $out}" >>"$RAW"
    log "$mode: hit latency ($READS reads on one connection through B)"
    out=$("$PY" "$HERE/cluster_probe.py" hits --port "$PORT_b" --n "$READS")
    echo "{\"mode\": \"$mode\", \"probe\": \"hits\", \"result\": $out}" >>"$RAW"
    log "$mode: hit throughput (pgbench -M prepared -c $CLIENTS, $DURATION s, through B)"
    echo "SELECT v FROM cluster_hot WHERE id = 1;" >"$WORK/hot.sql"
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT_b" -U bench-postgres -n -M prepared -c "$CLIENTS" -j 2 \
        -T "$DURATION" -f "$WORK/hot.sql" bench >"$WORK/pgbench-$mode.out" 2>&1
    out=$(awk '/^tps/ {print $3; exit}' "$WORK/pgbench-$mode.out")
    local lat
    lat=$(awk '/^latency average/ {print $4; exit}' "$WORK/pgbench-$mode.out")
    echo "{\"mode\": \"$mode\", \"probe\": \"pgbench\", \"result\": {\"tps\": ${out:-0}, \"latency_ms\": ${lat:-0}}}" >>"$RAW"
    curl -fsS "http://127.0.0.1:$ADMIN_b/metrics" | grep '^wirecache_cluster_' >"$OUT/metrics-b-$mode.txt" || true
    stop_pid "$PID_a"
    stop_pid "$PID_b"
    stop_pid "$PID_c"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user)"
    command -v redis-server >/dev/null || die "redis-server missing (scripts/install-test-deps.sh)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-cluster-bench.XXXXXX")
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$OUT"
    RAW=$OUT/raw.jsonl
    : >"$RAW"
    local profile=${PROFILE:-release}
    if [[ $profile == release ]]; then
        (cd "$ROOT" && cargo build --release --quiet --bin wirecache)
    else
        (cd "$ROOT" && cargo build --quiet --bin wirecache)
        profile=debug
    fi
    cp "$ROOT/target/$profile/wirecache" "$WORK/wirecache"
    echo "{\"mode\": \"build\", \"probe\": \"profile\", \"result\": {\"profile\": \"$profile\"}}" >>"$RAW"
    WIRECACHE=$WORK/wirecache
    start_postgres
    start_redis
    for mode in alone bounded strict; do
        measure "$mode"
    done
    "$PY" "$HERE/cluster_report.py" "$RAW" "$OUT" >"$OUT/results.md"
    log "done: $OUT/results.md"
}

main "$@"
