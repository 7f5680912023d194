# shellcheck shell=bash
# connect.sh — the rows of scripts/bench/run.sh where caching is not the point:
#   - connect: a new connection per transaction (pgbench -C; for MariaDB
#     connect_driver.py), hot PK lookup, p50 latency with the connection included;
#   - tpcb: pgbench's TPC-B-like read-write transaction, nothing cacheable;
#   - limited: 500 clients against a second PostgreSQL limited to
#     max_connections = 50 (PgBouncer's transaction pool of 40 in front of it, and
#     wirecache, whose pass-through opens an origin connection per client: that
#     run is expected to fail past 50, and its errors are recorded as they are).
# The column `wirecache-pooled` is where the pooled mode (scripts/bench/pooled.sh,
# which sets WC_POOLED_PORT / WC_POOLED_USER, and WC_POOLED_LIMITED_PORT /
# WC_POOLED_LIMITED_USER for the limited origin) joins these rows; without it the
# rows record "not available".

LIMITED_CLIENTS=${LIMITED_CLIENTS:-500}

# start_limited_postgres — a second private PostgreSQL with max_connections = 50
# and pgbench's tables at scale 1; sets LIM_PORT. Before start_pgbouncer and
# start_wirecache, which put it in their configurations when LIM_PORT is set.
start_limited_postgres() {
    local dir=$WORK/pg-limited
    LIM_PORT=$(free_port)
    mkdir -p "$dir" && chown postgres:postgres "$dir"
    as_pg "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$WORK/initdb-limited.log" 2>&1 ||
        die "initdb (limited) failed: $(tail -5 "$WORK/initdb-limited.log")"
    cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $LIM_PORT
unix_socket_directories = '$dir'
max_connections = 50
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
EOF
    as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null ||
        die "limited postgres did not start: $(tail -5 "$dir/server.log")"
    on_cleanup "runuser -u postgres -- $PGBIN/pg_ctl -D $dir -m immediate -w stop"
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$LIM_PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$LIM_PORT" -U postgres -i -s 1 -q "$DB" >"$WORK/pgbench-init-limited.log" 2>&1 ||
        die "pgbench -i (limited) failed: $(tail -5 "$WORK/pgbench-init-limited.log")"
    printf '\\set aid random(1, %d)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' "$HOT_KEYS" \
        >"$WORK/pk-limited.sql"
    log "limited postgres (max_connections = 50) on 127.0.0.1:$LIM_PORT"
}

run_connect_suite() {
    matrix pk-hot-connect simple 8 direct wirecache wirecache-nocache wirecache-pooled pgbouncer-txn pgpool
    run_mysql_connect
}

run_tpcb_suite() {
    matrix tpcb simple 8 direct wirecache wirecache-nocache wirecache-pooled pgbouncer-txn pgbouncer-session pgpool
}

run_limited_suite() {
    [[ -n ${LIM_PORT:-} ]] || return 0
    matrix pk-limited simple "$LIMITED_CLIENTS" direct-limited pgbouncer-limited wirecache-limited \
        wirecache-limited-nocache wirecache-pooled-limited
}

# run_mysql_connect — connect_driver.py against MariaDB direct, through wirecache
# caching (`my`) and pass-through (`mynocache`), and pooled when there is one.
run_mysql_connect() {
    local rep target port user out
    if [[ -z ${MARIA_VIA:-} ]]; then
        note "not available: wirecache has no MariaDB listener" suite=mysql workload=pk-connect \
            mode=text clients=8 target=wirecache rep=1
        return
    fi
    for ((rep = 1; rep <= REPS; rep++)); do
        for target in direct wirecache wirecache-nocache wirecache-pooled; do
            case $target in
            direct) port=$MPORT user=bench ;;
            wirecache) port=$MARIA_VIA user=my-bench ;;
            wirecache-nocache) port=$MARIA_VIA user=mynocache-bench ;;
            wirecache-pooled) port=${WC_POOLED_MARIA_PORT:-0} user=${WC_POOLED_MARIA_USER:-pooledmy-bench} ;;
            esac
            if [[ $port == 0 ]]; then
                note "not available: no pooled-mode wirecache in this run (scripts/bench/pooled.sh)" \
                    suite=mysql workload=pk-connect mode=text clients=8 "target=$target" "rep=$rep"
                continue
            fi
            out=$WORK/logs/connect.json
            log "connect_driver pk-connect -> $target (rep $rep/$REPS)"
            # The python3 on PATH: the one with PyMySQL (Debian's may have only matplotlib).
            python3 "$HERE/connect_driver.py" --port "$port" --user "$user" --password bench --db employees \
                --sql "$PK_SQL" --clients 8 --duration "$DURATION" >"$out" 2>"$WORK/logs/connect.err" || true
            "$PY" "$HERE/record.py" driver "$RAW" --stdout "$out" --meta suite=mysql workload=pk-connect \
                mode=text clients=8 "target=$target" "rep=$rep" "duration=$DURATION"
        done
    done
}
