#!/usr/bin/env bash
# cluster_l2.sh — when the cluster's shared result tier (L2, issue 14) pays off:
#
#   sudo scripts/bench/cluster_l2.sh        # about 3 minutes
#
# Starts a private PostgreSQL 15 and redis-server on free 127.0.0.1 ports under a
# temp dir, and three wirecache processes (release build) in one cluster (bounded):
# A and B with `l2 = true`, C without. For two queries — a primary-key lookup (cheap) and an aggregate over
# a table of ROWS rows (expensive) — it measures, per read, from one psycopg2
# connection (cluster_l2_probe.py):
#   origin   the query straight at PostgreSQL (no wirecache);
#   miss     through B, a key the tier does not hold (tier asked, then the origin);
#   plain    through C (no tier), a key never read (what a miss costs without it);
#   l2       through B, a key A filled (answered from Redis, then stored in B);
#   l1       through B again, the same keys (local hits).
# Writes results/cluster-l2-<date>/results.md and raw.jsonl. Stops only what it
# started.
#
# Settings (environment): N (cheap keys per kind, 2000), NX (expensive keys, 200),
# ROWS (rows of the aggregated table, 1000000), OUT, PROFILE (release or debug).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

N=${N:-2000} NX=${NX:-200} ROWS=${ROWS:-1000000}
OUT=${OUT:-$ROOT/results/cluster-l2-$(date +%Y-%m-%d)}
PY=python3

# start_instance NAME L2 — one wirecache, with the tier if L2 is true; sets
# PORT_<NAME>, ADMIN_<NAME>.
start_instance() {
    local name=$1 l2=$2 pg admin cfg
    pg=$(free_port) admin=$(free_port) cfg=$WORK/$name.toml
    cat >"$cfg" <<TOML
[listen]
postgres = "127.0.0.1:$pg"
admin = "127.0.0.1:$admin"
[cache]
max_memory = "512MiB"
default_ttl = "10m"
min_ttl = "10m"
[log]
level = "warn"
[[caches]]
id = "bench"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
[cluster]
url = "redis://127.0.0.1:$REDIS_PORT"
mode = "bounded"
instance = "$name"
l2 = $l2
l2_max_ttl = "10m"
TOML
    launch_wirecache "$cfg" "$WORK/$name.log" "$pg" "$admin"
    printf -v "PORT_$name" '%s' "$pg"
    printf -v "ADMIN_$name" '%s' "$admin"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user)"
    command -v redis-server >/dev/null || die "redis-server missing (scripts/install-test-deps.sh)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-l2-bench.XXXXXX")
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
    echo "{\"kind\": \"build\", \"probe\": \"profile\", \"result\": {\"profile\": \"$profile\", \"rows\": $ROWS}}" >>"$RAW"
    WIRECACHE=$WORK/wirecache
    start_postgres
    start_redis
    log "loading l2_small (1..$N) and l2_big ($ROWS rows)"
    psql_pg -d "$DB" <<SQL >/dev/null
CREATE TABLE l2_small (id int PRIMARY KEY, v bigint, s text);
INSERT INTO l2_small SELECT i, i * 7, md5(i::text) FROM generate_series(1, $((N * 2))) i;
CREATE TABLE l2_big (id int PRIMARY KEY, g int, v bigint);
INSERT INTO l2_big SELECT i, i % 1000, (i * 31) % 10007 FROM generate_series(1, $ROWS) i;
VACUUM ANALYZE;
SQL
    start_instance a true
    start_instance b true
    start_instance c false
    sleep 1
    for kind in cheap expensive; do
        log "$kind: origin, miss, l2 and l1 reads"
        "$PY" "$HERE/cluster_l2_probe.py" --kind "$kind" --origin "$PGPORT" --a "$PORT_a" --b "$PORT_b" --c "$PORT_c" \
            --admin-a "$ADMIN_a" --n "$([[ $kind == cheap ]] && echo "$N" || echo "$NX")" >>"$RAW"
    done
    curl -fsS "http://127.0.0.1:$ADMIN_b/metrics" | grep '^wirecache_cluster_l2_' >"$OUT/metrics-b.txt" || true
    "$PY" "$HERE/cluster_l2_report.py" "$RAW" "$OUT" >"$OUT/results.md"
    log "done: $OUT/results.md"
}

main "$@"
