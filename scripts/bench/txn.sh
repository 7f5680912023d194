#!/usr/bin/env bash
# txn.sh — what serving reads inside transactions (issue 11) gives a DB-API
# application in its default mode (autocommit off: every unit of work is one
# transaction), side by side in one run:
#
#   scripts/bench/txn.sh [WIRECACHE_BINARY]
#
# Starts a private PostgreSQL and MariaDB with a 10,000-row `items` table and one
# wirecache with, per origin, a cache at `transactions = "never"` (wirecache's
# behaviour before issue 11: no read inside a transaction served) and one at the
# default (`read_committed`), plus a MariaDB cache at `always`. Then, interleaved
# REPS times, scripts/bench/txn_workload.py (PROCS processes, 5 PK reads over 1,000
# hot rows of `items` per transaction, one transaction in 20 first updates a row of
# another table, `item_views`) runs through
# each: psycopg2 at PostgreSQL's default READ COMMITTED; PyMySQL at MariaDB's
# default REPEATABLE READ and with its session at READ COMMITTED. Prints median
# reads/s and the caches' hit ratios; writes $OUT/results.md. Settings: DURATION
# (s, default 10), REPS (3), PROCS (4), OUT (default results/txn-<date>), PGBIN.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

WIRECACHE=$(realpath "${1:-$ROOT/target/release/wirecache}")
[[ -x $WIRECACHE ]] || die "no wirecache binary at $WIRECACHE (cargo build --release)"
DURATION=${DURATION:-10} REPS=${REPS:-3} PROCS=${PROCS:-4}
OUT=${OUT:-$ROOT/results/txn-$(date +%Y-%m-%d)}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DB=bench
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-txn.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

ITEMS="CREATE TABLE items (id int PRIMARY KEY, name varchar(40) NOT NULL, price numeric(10,2) NOT NULL);"
VIEWS="CREATE TABLE item_views (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);"
start_postgres
psql_pg -d "$DB" -c "$ITEMS" -c "$VIEWS" -c "INSERT INTO items (id, name, price)
    SELECT i, 'item ' || i, i % 997 FROM generate_series(0, 9999) i" \
    -c "INSERT INTO item_views (id) SELECT generate_series(0, 9999)" >/dev/null
start_mariadb
maria -e "CREATE DATABASE $DB; USE $DB; ${ITEMS/;/ ENGINE=InnoDB;} ${VIEWS/;/ ENGINE=InnoDB;}
    INSERT INTO items (id, name, price) SELECT seq, CONCAT('item ', seq), seq % 997 FROM seq_0_to_9999;
    INSERT INTO item_views (id) SELECT seq FROM seq_0_to_9999;"

PG=$(free_port) MY=$(free_port) ADMIN=$(free_port)
cat >"$WORK/wirecache.toml" <<TOML
[listen]
postgres = "127.0.0.1:$PG"
mariadb = "127.0.0.1:$MY"
admin = "127.0.0.1:$ADMIN"
[cache]
default_ttl = "10m"
[log]
level = "warn"
[[caches]]
id = "pgnever"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
transactions = "never"
[[caches]]
id = "pgrc"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
[[caches]]
id = "mynever"
protocol = "mariadb"
origin = "127.0.0.1:$MPORT"
transactions = "never"
[[caches]]
id = "myrc"
protocol = "mariadb"
origin = "127.0.0.1:$MPORT"
[[caches]]
id = "myalways"
protocol = "mariadb"
origin = "127.0.0.1:$MPORT"
transactions = "always"
TOML
launch_wirecache "$WORK/wirecache.toml" "$WORK/wirecache.log" "$PG" "$ADMIN"
log "wirecache $WIRECACHE on 127.0.0.1:$PG (postgres), :$MY (mariadb)"

# name driver cache isolation
TARGETS=(
    "psycopg2-never psycopg2 pgnever -"
    "psycopg2-rc psycopg2 pgrc -"
    "pymysql-rr-never pymysql mynever -"
    "pymysql-rr-default pymysql myrc -"
    "pymysql-rr-always pymysql myalways -"
    "pymysql-rc-never pymysql mynever READ_COMMITTED"
    "pymysql-rc-default pymysql myrc READ_COMMITTED"
)
declare -A READS=() RATIO=()
# hits of cache $1 since $2, as a share of the $3 reads the workload made.
hit_ratio() {
    awk -v h="$(metric "$ADMIN" "wirecache_hits_total{cache=\"$1\"}")" -v hb="$2" -v n="$3" \
        'BEGIN {r = 0; if (n > 0) r = (h - hb) / n; printf "%.3f", r}'
}
for ((rep = 1; rep <= REPS; rep++)); do
    for t in "${TARGETS[@]}"; do
        read -r name driver cache iso <<<"$t"
        args=()
        [[ $iso != - ]] && args+=(--isolation "${iso//_/ }")
        if [[ $driver == psycopg2 ]]; then
            conn=(127.0.0.1 "$PG" "$cache-postgres" "$DB")
        else
            conn=(127.0.0.1 "$MY" "$cache-bench" "$DB" --password bench)
        fi
        h0=$(metric "$ADMIN" "wirecache_hits_total{cache=\"$cache\"}")
        json=$(python3 "$HERE/txn_workload.py" "$driver" "${conn[@]}" "${args[@]}" \
            --seconds "$DURATION" --procs "$PROCS") || die "$name failed"
        r=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["reads_per_s"]))' "$json")
        ratio=$(hit_ratio "$cache" "$h0" "$((r * DURATION))")
        log "rep $rep $name: $r reads/s, hit ratio $ratio"
        READS[$name]+="$r " RATIO[$name]+="$ratio "
    done
done

mkdir -p "$OUT"
{
    echo "# Reads inside transactions, before and after ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "wirecache: \`$WIRECACHE\`; $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "$PROCS client processes, autocommit off (the drivers' default), 5 PK reads over 1,000 hot rows"
    echo "per transaction, 1 transaction in 20 first updates a row of another table; $DURATION s, $REPS interleaved repetitions."
    echo "\`never\` is the behaviour before issue 11 (no read inside a transaction served)."
    echo
    echo "| client and isolation | cache policy | reads/s (median) | reads served from the cache (median) | runs (reads/s) |"
    echo "|---|---|---:|---:|---|"
    for t in "${TARGETS[@]}"; do
        read -r name driver cache iso <<<"$t"
        # shellcheck disable=SC2086
        echo "| $name | $cache | $(median ${READS[$name]}) | $(median ${RATIO[$name]}) | ${READS[$name]}|"
    done
} >"$OUT/results.md"
cat "$OUT/results.md"
