#!/usr/bin/env bash
# tls.sh — what TLS costs wirecache (issue 12), side by side in one run:
#
#   sudo scripts/bench/tls.sh                 # 3 repetitions x 10 s per cell (~8 min)
#   DURATION=3 REPS=1 scripts/bench/tls.sh    # a quick look
#
# Starts a private PostgreSQL 15 with TLS on (a certificate made by this run) and a
# release build of wirecache in front of it with two caches: `plainorigin`
# (`tls = "disable"`) and `tlsorigin` (`tls = "require"`); wirecache serves TLS to
# clients that ask (`[tls] client = "allow"`, the same certificate). pgbench, 8
# clients, then measures each cell, every repetition visiting every cell in turn:
#   hot      the hot PK lookup (pgbench_accounts, HOT_KEYS keys, all cache hits
#            after a warm-up), -M prepared, one connection per client;
#   connect  the handshake rate: a new connection per transaction (pgbench -C),
#            -M simple, the same lookup;
# each with the client leg in clear (sslmode=disable) and in TLS (sslmode=require),
# through each cache, and straight to PostgreSQL for reference. Writes
# results/tls-<date>/: results.md (medians, ratios, machine facts, load average
# sampled during the run), raw.csv, loadavg.log. Stops only what it started.
#
# Settings (environment): DURATION, REPS, CLIENTS, HOT_KEYS, SCALE, CERT_KEY (ec|rsa),
# OUT, KEEP_WORK=1, WIRECACHE_BIN (a binary to run instead of building one: for trying
# the script out; the figures in README come from the release build).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

DURATION=${DURATION:-10} REPS=${REPS:-3} CLIENTS=${CLIENTS:-8} HOT_KEYS=${HOT_KEYS:-1000}
SCALE=${SCALE:-1} CERT_KEY=${CERT_KEY:-ec}
OUT=${OUT:-$ROOT/results/tls-$(date +%Y-%m-%d)}
export PGCONNECT_TIMEOUT=30

# make_certificate DIR — a CA and a server certificate it signed for localhost and
# 127.0.0.1 (server.crt, server.key), with keys of type CERT_KEY.
make_certificate() {
    local dir=$1 newkey
    case $CERT_KEY in
    ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    rsa) newkey=(-newkey rsa:2048) ;;
    *) die "CERT_KEY must be ec or rsa" ;;
    esac
    mkdir -p "$dir"
    openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj "/CN=wirecache bench CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req "${newkey[@]}" -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key" "$dir/ca.key"
}

# postgres_tls_on — TLS on the running private PostgreSQL (ssl can change on reload).
postgres_tls_on() {
    install -o postgres -g postgres -m 600 "$WORK/tls/server.key" "$PGDATA/server.key"
    install -o postgres -g postgres -m 644 "$WORK/tls/server.crt" "$PGDATA/server.crt"
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$PGDATA/postgresql.conf"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" reload >/dev/null
    local i
    for ((i = 0; i < 50; i++)); do
        PGSSLMODE=require psql_pg -d postgres -Atc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>/dev/null |
            grep -q '^t$' && return 0
        sleep 0.2
    done
    die "postgres did not turn TLS on: $(tail -5 "$PGDATA/server.log")"
}

start_wirecache_tls() {
    WC_PG=$(free_port) WC_ADMIN=$(free_port)
    local cfg=$WORK/wirecache.toml
    cat >"$cfg" <<TOML
[listen]
postgres = "127.0.0.1:$WC_PG"
admin = "127.0.0.1:$WC_ADMIN"
[cache]
max_memory = "1GiB"
default_ttl = "10m"
max_ttl = "1h"
max_connections = 10000
[log]
level = "warn"
[tls]
client = "allow"
cert_file = "$WORK/tls/server.crt"
key_file = "$WORK/tls/server.key"
[[caches]]
id = "plainorigin"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
tls = "disable"
[[caches]]
id = "tlsorigin"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
tls = "require"
TOML
    "$WIRECACHE" --config "$cfg" </dev/null >"$WORK/wirecache.log" 2>&1 &
    WC_PID=$!
    started "$WC_PID" wirecache
    wait_port "$WC_PG" 30 || die "wirecache did not start: $(tail -5 "$WORK/wirecache.log")"
    wait_port "$WC_ADMIN" 10 || die "wirecache admin did not start: $(tail -5 "$WORK/wirecache.log")"
    log "wirecache on 127.0.0.1:$WC_PG (pid $WC_PID)"
}

# cell_conn ORIGIN — "port user" of a target: direct, plainorigin or tlsorigin.
cell_conn() {
    case $1 in
    direct) echo "$PGPORT postgres" ;;
    plainorigin | tlsorigin) echo "$WC_PG $1-postgres" ;;
    *) die "unknown target $1" ;;
    esac
}

# run_cell WORKLOAD TARGET SSLMODE REP — one pgbench run, one line of raw.csv.
run_cell() {
    local workload=$1 target=$2 sslmode=$3 rep=$4 port user out args tps lat hits0=0 hits1=0
    read -r port user <<<"$(cell_conn "$target")"
    out=$WORK/pgbench.out
    case $workload in
    hot) args=(-M prepared) ;;
    connect) args=(-M simple -C) ;;
    esac
    [[ $target != direct ]] && hits0=$(metric "$WC_ADMIN" "wirecache_hits_total{cache=\"$target\"}")
    log "$workload -> $target sslmode=$sslmode (rep $rep/$REPS)"
    PGSSLMODE=$sslmode "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U "$user" -n -T "$DURATION" \
        -c "$CLIENTS" -j 2 "${args[@]}" -f "$WORK/hot.sql" "$DB" >"$out" 2>&1 || true
    [[ $target != direct ]] && hits1=$(metric "$WC_ADMIN" "wirecache_hits_total{cache=\"$target\"}")
    tps=$(awk '/^tps = / {print $3; exit}' "$out")
    lat=$(awk '/^latency average = / {print $4; exit}' "$out")
    if [[ -z $tps ]]; then
        log "pgbench failed: $(tail -3 "$out" | tr '\n' ' ')"
        tps=NaN lat=NaN
    fi
    echo "$workload,$target,$sslmode,$rep,$tps,${lat:-NaN},$((${hits1%.*} - ${hits0%.*}))" >>"$OUT/raw.csv"
}

# sample_load FILE — the 1-minute load average every 5 s, until stopped.
sample_load() {
    while :; do
        echo "$(date +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$1"
        sleep 5
    done
}

main() {
    local t_start=$SECONDS rep workload target sslmode
    [[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as the postgres user)"
    [[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || die "PostgreSQL 15 missing: run scripts/install-test-deps.sh"
    if ! command -v openssl >/dev/null; then
        log "installing openssl"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl </dev/null >/dev/null ||
            die "openssl missing and not installable"
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-bench-tls.XXXXXX")
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$OUT"
    rm -f "$OUT/raw.csv" "$OUT/results.md" "$OUT/loadavg.log"
    UPTIME_START=$(uptime)
    log "results: $OUT (cells of ${DURATION}s x $REPS); temp: $WORK"

    if [[ -n ${WIRECACHE_BIN:-} ]]; then
        BUILD="$WIRECACHE_BIN (given)"
    else
        log "building wirecache (release)"
        (cd "$ROOT" && cargo build --release --quiet) >"$WORK/build.log" 2>&1 ||
            die "cargo build --release failed: $(tail -20 "$WORK/build.log")"
        WIRECACHE_BIN=$ROOT/target/release/wirecache BUILD="release build"
    fi
    # A copy: a rebuild in the work tree must not replace the binary under the run.
    cp "$WIRECACHE_BIN" "$WORK/wirecache"
    WIRECACHE=$WORK/wirecache

    make_certificate "$WORK/tls"
    start_postgres
    postgres_tls_on
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
        die "pgbench -i failed: $(tail -5 "$WORK/pgbench-init.log")"
    printf '\\set aid random(1, %d)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' \
        "$HOT_KEYS" >"$WORK/hot.sql"
    start_wirecache_tls

    # What each leg negotiates, as seen by libpq and by the origin.
    CLIENT_TLS=$(PGSSLMODE=require "$PGBIN/psql" -X -h 127.0.0.1 -p "$WC_PG" -U plainorigin-postgres -d "$DB" \
        -c '\conninfo' 2>&1 | grep -o 'SSL connection ([^)]*)' || echo "none")
    ORIGIN_TLS=$(PGSSLMODE=disable "$PGBIN/psql" -X -h 127.0.0.1 -p "$WC_PG" -U tlsorigin-postgres -d "$DB" \
        -Atc "SELECT version || ' ' || cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl" 2>&1)
    [[ $CLIENT_TLS == SSL* ]] || die "no TLS to wirecache: $CLIENT_TLS"
    [[ $ORIGIN_TLS == TLS* ]] || die "no TLS to the origin: $ORIGIN_TLS"
    log "client leg: $CLIENT_TLS; origin leg (tlsorigin): $ORIGIN_TLS"

    # Warm both caches (and PostgreSQL's buffers): not measured.
    for target in plainorigin tlsorigin; do
        PGSSLMODE=disable "$PGBIN/pgbench" -h 127.0.0.1 -p "$WC_PG" -U "$target-postgres" -n -T 3 \
            -c "$CLIENTS" -j 2 -M prepared -f "$WORK/hot.sql" "$DB" >"$WORK/warm.out" 2>&1 ||
            die "warm-up through $target failed: $(tail -3 "$WORK/warm.out")"
    done

    sample_load "$OUT/loadavg.log" &
    started $! load-sampler
    echo "workload,target,sslmode,rep,tps,latency_ms,hits" >"$OUT/raw.csv"
    for ((rep = 1; rep <= REPS; rep++)); do
        for workload in hot connect; do
            for target in plainorigin tlsorigin direct; do
                for sslmode in disable require; do
                    run_cell "$workload" "$target" "$sslmode" "$rep"
                done
            done
        done
    done
    UPTIME_END=$(uptime)

    {
        echo "nproc=$(nproc)"
        echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
        echo "memory=$(free -h | awk '/^Mem:/ {print $2}')"
        echo "kernel=$(uname -r)"
        echo "uptime_start=$UPTIME_START"
        echo "uptime_end=$UPTIME_END"
        echo "wirecache=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)'), $BUILD"
        echo "rustls=$(awk '/^name = "rustls"$/ {getline; print $3; exit}' "$ROOT/Cargo.lock" | tr -d '"') (ring)"
        echo "postgres=$("$PGBIN/postgres" --version | awk '{print $3}')"
        echo "openssl=$(openssl version | awk '{print $2}')"
        echo "client_tls=$CLIENT_TLS"
        echo "origin_tls=$ORIGIN_TLS"
        echo "certificate=$CERT_KEY ($(openssl x509 -in "$WORK/tls/server.crt" -noout -text | grep -m1 'Public Key Algorithm' | sed 's/.*: //'))"
        echo "settings=${DURATION} s x $REPS repetitions per cell, $CLIENTS clients (pgbench -j 2), $HOT_KEYS hot keys of pgbench_accounts (scale $SCALE)"
        echo "command=sudo scripts/bench/tls.sh$([[ $DURATION != 10 || $REPS != 3 ]] && echo " (DURATION=$DURATION REPS=$REPS)")"
    } >"$WORK/facts.env"
    python3 "$HERE/tls_report.py" "$OUT/raw.csv" "$WORK/facts.env" "$OUT/loadavg.log" >"$OUT/results.md"
    log "done in $((SECONDS - t_start)) s: $OUT/results.md"
}

main "$@"
