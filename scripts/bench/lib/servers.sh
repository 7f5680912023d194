# shellcheck shell=bash
# servers.sh — the private servers of scripts/bench/run.sh, each in its own
# directory under $WORK on a free 127.0.0.1 port: PostgreSQL 15 (as the
# postgres OS user), MariaDB (mariadbd --user=mysql), Redis, and in front of
# PostgreSQL: wirecache, PgBouncer (session and transaction pools) and Pgpool-II
# with its in-memory query cache. Also loading the data sets.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=bench

as_pg() { runuser -u postgres -- "$@"; }
# exec_pg CMD… — run in the background (`exec_pg … &`): replaces the background
# subshell with CMD running as postgres, so $! is the server's own pid.
exec_pg() { exec setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$(command -v "$1")" "${@:2}"; }
psql_pg() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }

start_postgres() {
    PGDATA=$WORK/pg
    PGPORT=$(free_port)
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -5 "$WORK/initdb.log")"
    cat >>"$PGDATA/postgresql.conf" <<EOF
# --- scripts/bench/run.sh ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDATA'
max_connections = 400
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
effective_cache_size = 8GB
max_wal_size = 8GB
checkpoint_timeout = 30min
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
logging_collector = off
EOF
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null ||
        die "postgres did not start: $(tail -5 "$PGDATA/server.log")"
    on_cleanup "runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA -m immediate -w stop"
    PG_PID=$(head -1 "$PGDATA/postmaster.pid")
    psql_pg -d postgres -c "CREATE DATABASE $DB" >/dev/null
    log "postgres $(as_pg "$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (pid $PG_PID)"
}

load_postgres() {
    local t0=$SECONDS t
    log "pgbench -i -s $SCALE"
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s "$SCALE" -q "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
        die "pgbench -i failed: $(tail -5 "$WORK/pgbench-init.log")"
    log "loading employees into postgres"
    "$PY" "$HERE/gen_employees.py" ddl --dialect postgres --part schema | psql_pg -d "$DB" >/dev/null
    for t in departments employees dept_emp salaries; do
        psql_pg -d "$DB" -c "COPY $t FROM STDIN" <"$EMP_DIR/$t.tsv" >/dev/null
    done
    "$PY" "$HERE/gen_employees.py" ddl --dialect postgres --part indexes | psql_pg -d "$DB" >/dev/null
    log "postgres loaded in $((SECONDS - t0)) s: $(psql_pg -d "$DB" -Atc "SELECT count(*) FROM salaries") salaries"
}

start_mariadb() {
    MARIA_DIR=$WORK/maria
    MPORT=$(free_port)
    MSOCK=$MARIA_DIR/mysqld.sock
    # A tmpdir of its own: MariaDB servers sharing /tmp clash over temp-table files.
    mkdir -p "$MARIA_DIR/data" "$MARIA_DIR/tmp" && chown -R mysql:mysql "$MARIA_DIR"
    mariadb-install-db --no-defaults --user=mysql --datadir="$MARIA_DIR/data" --tmpdir="$MARIA_DIR/tmp" \
        --auth-root-authentication-method=normal --skip-test-db >"$WORK/maria-install.log" 2>&1 ||
        die "mariadb-install-db failed: $(tail -5 "$WORK/maria-install.log")"
    mariadbd --no-defaults --user=mysql --datadir="$MARIA_DIR/data" --tmpdir="$MARIA_DIR/tmp" --port="$MPORT" \
        --bind-address=127.0.0.1 --socket="$MSOCK" --pid-file="$MARIA_DIR/mysqld.pid" \
        --log-error="$MARIA_DIR/error.log" --innodb-buffer-pool-size=1G \
        --innodb-log-file-size=512M --innodb-flush-log-at-trx-commit=0 --skip-log-bin \
        --local-infile=1 --max-connections=500 --skip-name-resolve </dev/null >/dev/null 2>&1 &
    MARIA_PID=$!
    started "$MARIA_PID" mariadbd
    wait_port "$MPORT" 60 || die "mariadb did not start: $(tail -5 "$MARIA_DIR/error.log")"
    maria -e "CREATE USER 'bench'@'%' IDENTIFIED BY 'bench';
        GRANT ALL ON *.* TO 'bench'@'%'; CREATE DATABASE sbtest; CREATE DATABASE employees;"
    log "mariadb $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$MPORT (pid $MARIA_PID)"
}

maria() { mariadb --no-defaults -uroot -S "$MSOCK" --local-infile=1 "$@"; }

load_mariadb() {
    local t0=$SECONDS t
    log "loading employees into mariadb"
    "$PY" "$HERE/gen_employees.py" ddl --dialect mariadb --part schema | maria employees
    for t in departments employees dept_emp salaries; do
        maria employees -e "LOAD DATA LOCAL INFILE '$EMP_DIR/$t.tsv' INTO TABLE $t"
    done
    "$PY" "$HERE/gen_employees.py" ddl --dialect mariadb --part indexes | maria employees >/dev/null
    log "mariadb loaded in $((SECONDS - t0)) s"
}

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$WORK" --daemonize no </dev/null >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    started "$REDIS_PID" redis-server
    wait_port "$REDIS_PORT" 20 || die "redis did not start: $(tail -5 "$WORK/redis.log")"
}

# cache_settings — the [cache] and [log] tables of every wirecache of the run.
cache_settings() {
    cat <<EOF
[cache]
max_memory = "2GiB"
max_entry_size = "4MiB"
default_ttl = "10m"
max_ttl = "1h"
max_connections = 10000
[log]
level = "warn"
EOF
}

# write_wirecache_config FILE PG_PORT ADMIN_PORT [MARIADB_PORT] — caches `bench`
# (caching, TTLs learned from 10 minutes up), `nocache` (`mode = "off"`: every
# read is forwarded and streamed back, never stored — what the proxy itself
# costs), with a MariaDB listener port `my` and `mynocache` (mode off) in front
# of MariaDB, and with LIM_PORT set `limited` and `limitednocache` in front of
# the PostgreSQL limited to 50 connections.
write_wirecache_config() {
    local file=$1 pg=$2 admin=$3 mport=${4:-}
    {
        echo "[listen]"
        echo "postgres = \"127.0.0.1:$pg\""
        [[ -n $mport ]] && echo "mariadb = \"127.0.0.1:$mport\""
        echo "admin = \"127.0.0.1:$admin\""
        cache_settings
        cat <<EOF
[[caches]]
id = "bench"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
[[caches]]
id = "nocache"
protocol = "postgres"
origin = "127.0.0.1:$PGPORT"
mode = "off"
EOF
        if [[ -n $mport ]]; then
            printf '[[caches]]\nid = "my"\nprotocol = "mariadb"\norigin = "127.0.0.1:%s"\n' "$MPORT"
            printf '[[caches]]\nid = "mynocache"\nprotocol = "mariadb"\norigin = "127.0.0.1:%s"\nmode = "off"\n' "$MPORT"
        fi
        # The origin limited to 50 connections (lib/connect.sh), when this run has one.
        if [[ -n ${LIM_PORT:-} ]]; then
            printf '[[caches]]\nid = "limited"\nprotocol = "postgres"\norigin = "127.0.0.1:%s"\n' "$LIM_PORT"
            printf '[[caches]]\nid = "limitednocache"\nprotocol = "postgres"\norigin = "127.0.0.1:%s"\nmode = "off"\n' "$LIM_PORT"
        fi
    } >"$file"
}

# launch_wirecache CONFIG LOG PG_PORT ADMIN_PORT — starts one wirecache; its pid
# is left in LAUNCHED.
launch_wirecache() {
    "$WIRECACHE" --config "$1" </dev/null >"$2" 2>&1 &
    LAUNCHED=$!
    started "$LAUNCHED" wirecache
    wait_port "$3" 30 || die "wirecache did not start: $(tail -5 "$2")"
    wait_port "$4" 10 || die "wirecache admin did not start: $(tail -5 "$2")"
}

# start_wirecache — sets WC_PID, WC_PG, WC_ADMIN and MARIA_VIA, its MariaDB port
# ("" when it has none: config refused, or nothing accepts on that port).
start_wirecache() {
    WC_PG=$(free_port) WC_ADMIN=$(free_port)
    local wc_maria cfg=$WORK/wirecache.toml
    wc_maria=$(free_port)
    MARIA_VIA=""
    write_wirecache_config "$cfg" "$WC_PG" "$WC_ADMIN" "$wc_maria"
    if ! "$WIRECACHE" check-config --config "$cfg" >"$WORK/check-config.log" 2>&1; then
        log "wirecache refuses a MariaDB cache ($(head -3 "$WORK/check-config.log" | tr '\n' ' ')): PostgreSQL only"
        write_wirecache_config "$cfg" "$WC_PG" "$WC_ADMIN"
        wc_maria=""
    fi
    launch_wirecache "$cfg" "$WORK/wirecache.log" "$WC_PG" "$WC_ADMIN"
    WC_PID=$LAUNCHED
    if [[ -n $wc_maria ]] && wait_port "$wc_maria" 3; then
        MARIA_VIA=$wc_maria
    fi
    log "wirecache on 127.0.0.1:$WC_PG (pid $WC_PID), mariadb listener: ${MARIA_VIA:-not available}"
}

# start_pgbouncer — with BOUNCER_AUTH=scram (the default) checking its clients'
# SCRAM-SHA-256 logins against the verifier of the pooled wirecache's userlist
# (lib/pooled.sh; after start_wirecache_pooled), as the pooled wirecache does: what
# a new connection costs then compares like with like (the `-C` rows); with
# BOUNCER_AUTH=trust (or when no pooled wirecache runs) trusting them.
start_pgbouncer() {
    local dir=$WORK/pgbouncer auth=trust
    BOUNCER_PORT=$(free_port)
    mkdir -p "$dir"
    echo '"postgres" ""' >"$dir/userlist.txt"
    if [[ ${BOUNCER_AUTH:-scram} == scram && -n ${POOLED_SECRET:-} ]]; then
        auth=scram-sha-256
        write_userlist "$dir/userlist.txt" postgres "$POOLED_SECRET"
    fi
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
${DB}_session = host=127.0.0.1 port=$PGPORT dbname=$DB pool_mode=session
${DB}_txn = host=127.0.0.1 port=$PGPORT dbname=$DB pool_mode=transaction
${LIM_PORT:+${DB}_limited = host=127.0.0.1 port=$LIM_PORT dbname=$DB pool_mode=transaction pool_size=40}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = $auth
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 1000
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
EOF
    chown -R postgres:postgres "$dir"
    exec_pg pgbouncer "$dir/pgbouncer.ini" </dev/null >>"$dir/stdout.log" 2>&1 &
    BOUNCER_PID=$!
    started "$BOUNCER_PID" pgbouncer
    wait_port "$BOUNCER_PORT" 20 || die "pgbouncer did not start: $(tail -5 "$dir/pgbouncer.log")"
    log "pgbouncer $(pgbouncer --version | head -1 | awk '{print $2}') on 127.0.0.1:$BOUNCER_PORT ($auth)"
}

start_pgpool() {
    local dir=$WORK/pgpool
    POOL_PORT=$(free_port)
    local pcp_port
    pcp_port=$(free_port)
    mkdir -p "$dir/oiddir"
    : >"$dir/pool_passwd"
    echo "postgres:$(echo -n postgres | md5sum | awk '{print $1}')" >"$dir/pcp.conf"
    echo "local all all trust" >"$dir/pool_hba.conf"
    cat >"$dir/pgpool.conf" <<EOF
backend_clustering_mode = 'raw'
listen_addresses = '127.0.0.1'
port = $POOL_PORT
unix_socket_directories = '$dir'
pcp_listen_addresses = '127.0.0.1'
pcp_port = $pcp_port
pcp_socket_dir = '$dir'
backend_hostname0 = '127.0.0.1'
backend_port0 = $PGPORT
backend_weight0 = 1
backend_flag0 = 'DISALLOW_TO_FAILOVER'
enable_pool_hba = off
pool_passwd = ''
num_init_children = 32
max_pool = 4
load_balance_mode = off
use_watchdog = off
health_check_period = 0
sr_check_period = 0
failover_on_backend_error = off
memory_cache_enabled = on
memqcache_method = 'shmem'
memqcache_total_size = 512MB
memqcache_max_num_cache = 1000000
memqcache_expire = 0
memqcache_maxcache = 409600
memqcache_cache_block_size = 1MB
memqcache_oiddir = '$dir/oiddir'
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
log_destination = 'stderr'
EOF
    chown -R postgres:postgres "$dir"
    exec_pg pgpool -n -f "$dir/pgpool.conf" -F "$dir/pcp.conf" -a "$dir/pool_hba.conf" \
        </dev/null >"$dir/pgpool.log" 2>&1 &
    POOL_PID=$!
    started "$POOL_PID" pgpool INT # fast shutdown; TERM would wait for clients
    wait_port "$POOL_PORT" 30 || die "pgpool did not start: $(tail -5 "$dir/pgpool.log")"
    log "pgpool-II $(pgpool --version 2>&1 | awk '{print $3}') with memqcache (shmem) on 127.0.0.1:$POOL_PORT"
}

# install_missing — installs from Debian what the benchmarks run and this machine
# lacks (PostgreSQL 15 with pg_prewarm, PgBouncer, Pgpool-II, MariaDB, sysbench, Redis,
# perf, curl, matplotlib); SKIP_INSTALL=1 skips it. Needs WORK. Sets PY.
install_missing() {
    local missing=() pkg
    [[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || missing+=(postgresql-15 postgresql-client-15)
    [[ -f /usr/share/postgresql/15/extension/pg_prewarm.control ]] || missing+=(postgresql-15)
    command -v pgbouncer >/dev/null || missing+=(pgbouncer)
    command -v pgpool >/dev/null || missing+=(pgpool2)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    command -v mariadb >/dev/null || missing+=(mariadb-client)
    command -v sysbench >/dev/null || missing+=(sysbench)
    command -v redis-benchmark >/dev/null || missing+=(redis-tools)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v perf >/dev/null || missing+=(linux-perf)
    command -v curl >/dev/null || missing+=(curl)
    /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
    if ((${#missing[@]})) && [[ ${SKIP_INSTALL:-0} != 1 ]]; then
        [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}) and not root"
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # Debian starts packaged services on install unless policy-rc.d says no;
        # this run starts private instances of its own instead.
        pkg=/usr/sbin/policy-rc.d
        if [[ ! -e $pkg ]]; then
            printf '#!/bin/sh\nexit 101\n' >"$pkg" && chmod +x "$pkg"
            on_cleanup "rm -f $pkg"
        fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >"$WORK/apt.log" 2>&1 ||
            die "apt-get install failed: $(tail -5 "$WORK/apt.log")"
    fi
    # Debian's python has python3-matplotlib; another python3 first on PATH may not.
    if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
        PY=/usr/bin/python3
    elif ! python3 -c 'import matplotlib' 2>/dev/null; then
        python3 -m pip install -q matplotlib >/dev/null 2>&1 || log "matplotlib unavailable: no charts"
    fi
}
