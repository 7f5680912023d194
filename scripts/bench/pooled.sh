#!/usr/bin/env bash
# pooled.sh — a new connection per transaction (pgbench -C), hot primary-key lookups,
# through wirecache's pooled mode, side by side with the origin directly, wirecache
# pass-through and PgBouncer's transaction pooling:
#
#   sudo scripts/bench/pooled.sh        # 10 s per run, 3 repetitions, interleaved
#
# Every target makes the client log in with SCRAM-SHA-256 as role `bench` (the origin
# asks SCRAM of it over TCP; PgBouncer and wirecache's pooled mode check it
# themselves, both from a userlist holding the origin's own verifier). The workload
# reads one of HOT_KEYS rows of pgbench_accounts by primary key (scale SCALE), 8
# clients, 2 pgbench threads (as scripts/bench/run.sh). Writes results/pooled-<date>/: raw.csv (one line
# per run), results.md (medians). Needs a release build (target/release/wirecache,
# built here if missing) and runs as root (the servers run as postgres). Stops only
# the processes it started.
#
# What to read: tps (connecting included) and the average connection time. The
# latency columns come from pgbench's per-transaction log, which leaves a client's own
# connection out and is shaped by pgbench's threads (see lib/connect.sh): a cache
# hit's p50 is about 0.1 ms and its p99 over 100 ms on either script. The
# `refreshes` column counts wirecache's refreshes ahead of expiry during the run
# (hits in the last fifth of an entry's TTL). This script runs wirecache with the
# daemon's default TTLs (30 s, learned up to 10 min) on a fresh cache; run.sh's
# (default_ttl 10 min, max_ttl 1 h) keep entries for longer, so whether a run meets
# refreshes depends on when its entries were filled. Before d5a0915 a refresh made
# its hit wait for an origin connection and closed that connection when the client
# left at once, as pgbench -C does.
#
# Settings (environment): DURATION, REPS, CLIENTS, SCALE, HOT_KEYS, SSLMODE (the
# client leg's PGSSLMODE, default disable), OUT, KEEP_WORK=1, WC_POOL_MODE (transaction,
# the default, or session; lib/pooled.sh), WC_BINARY (measure this binary rather
# than target/release/wirecache).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/pooled.sh"

DURATION=${DURATION:-10} REPS=${REPS:-3} CLIENTS=${CLIENTS:-8} SCALE=${SCALE:-10} HOT_KEYS=${HOT_KEYS:-1000}
OUT=${OUT:-$ROOT/results/pooled-$(date +%Y-%m-%d)}
PASSWORD=bench-pooled-pw
export PGCONNECT_TIMEOUT=30
# The client leg in clear for every target: the bench PostgreSQL and PgBouncer offer
# no TLS, while wirecache offers it by default (a self-signed certificate), so with
# libpq's default (prefer) only the wirecache targets would pay a TLS handshake per
# connection. SSLMODE=prefer measures that.
export PGSSLMODE=${SSLMODE:-disable}

# SCRAM for `bench` over TCP; the superuser stays trusted (setup).
secure_origin() {
    psql_pg -d postgres -c "SET password_encryption = 'scram-sha-256'" \
        -c "CREATE ROLE bench LOGIN PASSWORD '$PASSWORD'" >/dev/null
    psql_pg -d "$DB" -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench" >/dev/null
    local hba=$PGDATA/pg_hba.conf
    { echo "host all bench 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
    chown postgres:postgres "$hba"
    psql_pg -d postgres -c "SELECT pg_reload_conf()" >/dev/null
    # PgBouncer and wirecache both hold the origin's own verifier (no PBKDF2 per
    # login on their side; they log in to the origin with the client's ClientKey).
    VERIFIER=$(psql_pg -d postgres -Atc "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
    write_userlist "$WORK/userlist.txt" bench "$VERIFIER"
}

start_bouncer_txn() {
    local dir=$WORK/pgbouncer
    BOUNCER_PORT=$(free_port)
    mkdir -p "$dir"
    cp "$WORK/userlist.txt" "$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PGPORT dbname=$DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    chown -R postgres:postgres "$dir"
    chmod 600 "$dir/userlist.txt"
    exec_pg pgbouncer "$dir/pgbouncer.ini" </dev/null >>"$dir/stdout.log" 2>&1 &
    started $! pgbouncer
    wait_port "$BOUNCER_PORT" 20 || die "pgbouncer did not start: $(tail -5 "$dir/pgbouncer.log")"
}

# start_wirecache_pass_and_pooled — one wirecache: cache `pass` (pass-through) and
# `pooled` (pool = $WC_POOL_MODE, lib/pooled.sh), both in front of the origin.
start_wirecache_pass_and_pooled() {
    WC_PG=$(free_port) WC_ADMIN=$(free_port)
    {
        printf '[listen]\npostgres = "127.0.0.1:%s"\nadmin = "127.0.0.1:%s"\n' "$WC_PG" "$WC_ADMIN"
        printf '[log]\nlevel = "warn"\n'
        printf '[[caches]]\nid = "pass"\nprotocol = "postgres"\norigin = "127.0.0.1:%s"\n' "$PGPORT"
        pooled_cache pooled postgres "$PGPORT" 20 "$WORK/userlist.txt"
    } >"$WORK/wirecache.toml"
    launch_wirecache "$WORK/wirecache.toml" "$WORK/wirecache.log" "$WC_PG" "$WC_ADMIN"
}

target_conn() {
    case $1 in
    direct) echo "$PGPORT bench" ;;
    wirecache-pass) echo "$WC_PG pass-bench" ;;
    wirecache-pooled) echo "$WC_PG pooled-bench" ;;
    pgbouncer-txn) echo "$BOUNCER_PORT bench" ;;
    esac
}

# refreshes TARGET — wirecache's refreshes ahead of expiry so far on TARGET's cache; "-"
# for the others.
refreshes() {
    case $1 in
    wirecache-pass) metric "$WC_ADMIN" 'wirecache_refreshes_total{cache="pass"}' ;;
    wirecache-pooled) metric "$WC_ADMIN" 'wirecache_refreshes_total{cache="pooled"}' ;;
    *) echo - ;;
    esac
}

# run TARGET REP — one pgbench -C run; appends
# "target,rep,tps,p50_ms,p99_ms,conn_ms,failed,refreshes".
run() {
    local port user prefix out p50 p99 tps conn failed r0 r1
    read -r port user <<<"$(target_conn "$1")"
    r0=$(refreshes "$1")
    prefix=$WORK/logs/pgb-$1-$2
    out=$prefix.out
    log "pgbench -C pk-hot -c $CLIENTS -> $1 (rep $2/$REPS)"
    PGPASSWORD=$PASSWORD "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U "$user" -n -C -T "$DURATION" \
        -c "$CLIENTS" -j 2 -l --log-prefix "$prefix" -f "$WORK/pk-hot.sql" "$DB" >"$out" 2>&1 || true
    tps=$(awk '/^tps = / {print $3; exit}' "$out")
    conn=$(awk '/average connection time/ {print $5; exit}' "$out")
    failed=$(awk '/number of failed transactions/ {print $5; exit}' "$out")
    # Per-transaction latency (µs, third column of pgbench's log).
    read -r p50 p99 < <(cat "$prefix".[0-9]* 2>/dev/null | awk '{print $3}' | sort -n |
        awk '{a[NR] = $1} END {
            if (!NR) { print "- -"; exit }
            i = int(NR * 0.5); j = int(NR * 0.99); if (i < 1) i = 1; if (j < 1) j = 1
            printf "%.3f %.3f\n", a[i] / 1000, a[j] / 1000 }')
    rm -f "$prefix".[0-9]*
    r1=$(refreshes "$1")
    [[ $r1 == - ]] || r1=$((${r1%.*} - ${r0%.*}))
    echo "$1,$2,${tps:--},$p50,$p99,${conn:--},${failed:--},$r1" >>"$OUT/raw.csv"
    [[ -n $tps ]] || log "pgbench failed: $(tail -3 "$out" | tr '\n' ' ')"
}

report() {
    {
        echo "# pgbench -C, hot PK lookup ($HOT_KEYS keys of pgbench_accounts, scale $SCALE)"
        echo
        echo "$CLIENTS clients, 2 threads, ${DURATION} s per run, $REPS repetitions interleaved; medians."
        echo "Every client logs in with SCRAM-SHA-256, PGSSLMODE=$PGSSLMODE; wirecache-pooled: pool = \"$WC_POOL_MODE\"."
        echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wirecache $(git -C "$ROOT" rev-parse --short HEAD),"
        echo "load before the run: $LOAD_START."
        echo
        echo "| target | tps (with connecting) | latency p50 (ms) | latency p99 (ms) | avg connection time (ms) | failed | refreshes |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        local t col
        for t in direct wirecache-pass wirecache-pooled pgbouncer-txn; do
            printf '| %s |' "$t"
            for col in 3 4 5 6; do
                # shellcheck disable=SC2046
                printf ' %s |' "$(median $(awk -F, -v t="$t" -v c="$col" '$1 == t && $c != "-" {print $c}' "$OUT/raw.csv"))"
            done
            printf ' %s |' "$(awk -F, -v t="$t" '$1 == t {s += $7} END {print s + 0}' "$OUT/raw.csv")"
            printf ' %s |\n' "$(awk -F, -v t="$t" '$1 == t {if ($8 == "-") d = 1; s += $8} END {print d ? "-" : s + 0}' "$OUT/raw.csv")"
        done
    } >"$OUT/results.md"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root (the servers run as the postgres user)"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    WORK=$(mktemp -d /tmp/wirecache-pooled-bench.XXXXXX)
    chmod 755 "$WORK"
    trap cleanup EXIT
    mkdir -p "$OUT" "$WORK/logs" && : >"$OUT/raw.csv"
    if [[ -z ${WC_BINARY:-} ]]; then
        [[ -x $ROOT/target/release/wirecache ]] || (cd "$ROOT" && cargo build --release -q)
    fi
    cp "${WC_BINARY:-$ROOT/target/release/wirecache}" "$WORK/wirecache"
    WIRECACHE=$WORK/wirecache
    install_missing
    start_postgres
    log "pgbench -i -s $SCALE"
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/init.log" 2>&1 ||
        die "pgbench -i failed: $(tail -5 "$WORK/init.log")"
    secure_origin
    printf '\\set id random(1, %d)\nSELECT abalance, filler FROM pgbench_accounts WHERE aid = :id;\n' \
        "$HOT_KEYS" >"$WORK/pk-hot.sql"
    start_wirecache_pass_and_pooled
    start_bouncer_txn
    local rep t
    for ((rep = 1; rep <= REPS; rep++)); do
        for t in direct wirecache-pass wirecache-pooled pgbouncer-txn; do
            run "$t" "$rep"
        done
    done
    report
    cat "$OUT/results.md"
}

main "$@"
