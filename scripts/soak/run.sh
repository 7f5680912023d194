#!/usr/bin/env bash
# scripts/soak/run.sh — a bounded soak of wirecache against private origins.
#
#   scripts/soak/run.sh [--minutes N] [--out DIR] [--flood] [--bin PATH]
#
# Starts a private PostgreSQL 15 (as the postgres OS user) and MariaDB (--user=mysql)
# on free ports, wirecache in front of both (TLS offered with a self-signed
# certificate), then runs scripts/soak/soak.py for N minutes (default 30): reads
# checked against what each worker wrote, writes, transactions, connects and
# disconnects, prepared statements, TLS and plaintext clients on both protocols, and
# a restart of each origin every few minutes; it samples wirecache's resident memory,
# open file descriptors, threads and sessions every 5 s and writes DIR/samples.csv,
# DIR/summary.json, DIR/soak.png and DIR/soak.md. Exit status 1 on a wrong result or
# a daemon restart. With --flood it runs scripts/soak/flood.py instead (resident
# memory under 10,000 half-open connections, a flood of large results, clients that
# never read). CI runs the soak for 1.5 minutes on the debug binary (.ci/run); the
# flood is not in CI (its behaviours have short tests in tests/it: hostile_*, limits).
#
# --bin PATH picks the binary (default: target/release/wirecache, built here).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PY=${PY:-python3}
MINUTES=30
MODE=soak
OUT=""
while (($#)); do
    case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --flood) MODE=flood; shift ;;
    --bin) BIN=$2; BIN_GIVEN=1; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$ROOT/results/$MODE-$(date +%F)}

log() { printf '%s soak: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=$(mktemp -d /tmp/wirecache-soak-XXXXXX)
chmod 755 "$WORK"
WC_PID="" MARIA_PID="" PG_STARTED=0
stop_pid() { # PID — only pids this script started
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [[ -n $WC_PID ]] && stop_pid "$WC_PID"
    [[ -f $WORK/maria.pid ]] && stop_pid "$(cat "$WORK/maria.pid")"
    if ((PG_STARTED)); then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    [[ ${KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # PORT SECONDS
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

"$PY" -c 'import psycopg, pymysql' 2>/dev/null || die "python3 needs psycopg and pymysql (scripts/install-test-deps.sh)"
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib from PyPI"
    "$PY" -m pip install -q matplotlib >&2 || "$PY" -m pip install -q --break-system-packages matplotlib >&2 ||
        die "pip install matplotlib failed"
fi

BIN=${BIN:-$ROOT/target/release/wirecache}
if [[ -z ${BIN_GIVEN:-} ]]; then
    log "building wirecache (release)"
    (cd "$ROOT" && cargo build --release --bin wirecache >&2) || die "build failed"
fi

# --- PostgreSQL
PGPORT=$(free_port)
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust -U postgres --no-sync >"$WORK/initdb.log" 2>&1 ||
    die "initdb: $(tail -3 "$WORK/initdb.log")"
cat >>"$WORK/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK/pg'
max_connections = 300
fsync = off
synchronous_commit = off
CONF
PG_CTL="runuser -u postgres -- $PGBIN/pg_ctl -D $WORK/pg -l $WORK/pg/server.log -w -t 60"
$PG_CTL start >/dev/null || die "postgres did not start"
PG_STARTED=1

# --- MariaDB
MPORT=$(free_port)
mkdir -p "$WORK/maria/data" "$WORK/maria/tmp" && chown -R mysql:mysql "$WORK/maria"
mariadb-install-db --no-defaults --user=mysql --datadir="$WORK/maria/data" --tmpdir="$WORK/maria/tmp" \
    --auth-root-authentication-method=normal --skip-test-db >"$WORK/maria-install.log" 2>&1 ||
    die "mariadb-install-db: $(tail -3 "$WORK/maria-install.log")"
cat >"$WORK/maria-start.sh" <<CMD
#!/usr/bin/env bash
mariadbd --no-defaults --user=mysql --datadir=$WORK/maria/data --tmpdir=$WORK/maria/tmp --port=$MPORT \
    --bind-address=127.0.0.1 --socket=$WORK/maria/sock --log-error=$WORK/maria/error.log \
    --innodb-flush-log-at-trx-commit=0 --skip-log-bin --max-connections=300 --skip-name-resolve \
    </dev/null >/dev/null 2>&1 &
echo \$! >$WORK/maria.pid
CMD
chmod +x "$WORK/maria-start.sh"
"$WORK/maria-start.sh"
wait_port "$MPORT" 60 || die "mariadb did not start"
mariadb --no-defaults -uroot -S "$WORK/maria/sock" -e "CREATE USER 'soak'@'%' IDENTIFIED BY 'soak';
    GRANT ALL ON *.* TO 'soak'@'%'; CREATE DATABASE soak;"
runuser -u postgres -- "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE DATABASE soak" postgres

# --- wirecache
WCPG=$(free_port) WCMY=$(free_port) WCADMIN=$(free_port)
cat >"$WORK/wirecache.toml" <<CONF
[listen]
postgres = "127.0.0.1:$WCPG"
mysql = "127.0.0.1:$WCMY"
admin = "127.0.0.1:$WCADMIN"
[cache]
max_memory = "${MAX_MEMORY:-64MiB}"
max_entry_size = "4MiB"
default_ttl = "60s"
[limits]
queue = 10000
[tls]
client = "allow"
[[caches]]
id = "pg"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
tls = "disable"
[[caches]]
id = "my"
protocol = "mysql"
origin = "127.0.0.1:$MPORT"
tls = "disable"
CONF
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$BIN" --config "$WORK/wirecache.toml" >"$WORK/wirecache.log" 2>&1 &
WC_PID=$!
wait_port "$WCPG" 30 && wait_port "$WCMY" 30 || die "wirecache did not start: $(tail -5 "$WORK/wirecache.log")"
log "postgres :$PGPORT, mariadb :$MPORT, wirecache pg :$WCPG mysql :$WCMY admin :$WCADMIN (pid $WC_PID)"

mkdir -p "$OUT"
ARGS=(--pid "$WC_PID" --pg-origin "$PGPORT" --my-origin "$MPORT" --pg "$WCPG" --my "$WCMY"
    --admin "$WCADMIN" --out "$OUT")
if [[ $MODE == soak ]]; then
    "$PY" "$HERE/soak.py" "${ARGS[@]}" --minutes "$MINUTES" \
        --restart-pg "$PG_CTL -m fast restart" \
        --restart-my "kill \$(cat $WORK/maria.pid); while kill -0 \$(cat $WORK/maria.pid) 2>/dev/null; do sleep 0.2; done; $WORK/maria-start.sh"
else
    "$PY" "$HERE/flood.py" "${ARGS[@]}" --max-memory "${MAX_MEMORY:-64MiB}"
fi
