# shellcheck shell=bash
# connect.sh — the rows of scripts/bench/run.sh where caching is not the point:
#   - connect: a new connection per transaction (pgbench -C; for MariaDB
#     connect_driver.py), hot PK lookup. Its figures are tps (connecting included) and
#     `conn_ms` in raw.jsonl (pgbench's average connection time; lib/workloads.sh).
#     Its p50/p99 are not what a connection costs. pgbench (>= 14) starts a
#     transaction's clock once that client is connected, and a thread connects its
#     clients one at a time, blocking: an answer that arrives meanwhile waits for the
#     thread's other logins. And a client whose answer is already there when pgbench
#     first looks (a cache hit) goes round again before the thread polls its other
#     clients, whose answers wait on. Hence wirecache-pooled's bimodal latency (p50
#     0.1 ms, p99 > 100 ms: most hits are there at the first look, the others wait
#     behind 10-30 logins) and PgBouncer's p50 of one or two logins; with one client
#     per thread (-c 2 -j 2) neither shape appears. Both sides check SCRAM against the
#     same verifier (BOUNCER_AUTH=scram), with pools of POOL_SIZE, as in
#     scripts/bench/pooled.sh;
#   - tpcb: pgbench's TPC-B-like read-write transaction, nothing cacheable;
#   - limited: 500 clients against a second PostgreSQL limited to
#     max_connections = 50 (PgBouncer's transaction pool of 40 in front of it, and
#     wirecache, whose pass-through opens an origin connection per client: that
#     run is expected to fail past 50, and its errors are recorded as they are;
#     wirecache pooled with a pool of 40: in session mode a session holds its
#     connection to the end, so 460 clients wait and then fail, as recorded).
# The column `wirecache-pooled` (and `wirecache-pooled-limited`) is run.sh's own
# pooled wirecache (lib/pooled.sh, pool = $WC_POOL_MODE); where the daemon does not
# accept that mode (on MariaDB, or `transaction` before it lands) the rows record
# why ("n/a (not supported: …)").

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

# Each run starts from an empty origin: the poolers of the targets before (PgBouncer's
# pool of 40, the pooled wirecache's) would otherwise keep their idle connections and
# leave the next target a few of the 50.
run_limited_suite() {
    [[ -n ${LIM_PORT:-} ]] || return 0
    local rep target
    for ((rep = 1; rep <= REPS; rep++)); do
        for target in direct-limited pgbouncer-limited wirecache-limited wirecache-limited-nocache \
            wirecache-pooled-limited; do
            free_limited_origin
            run_pgbench pk-limited simple "$LIMITED_CLIENTS" "$target" "$rep"
        done
    done
}

# free_limited_origin — ends every client backend of the limited origin (PgBouncer
# and wirecache drop a pooled connection the origin closed) and waits until none is
# left; the superuser gets in on the reserved connections.
free_limited_origin() {
    local i n q="SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    for ((i = 0; i < 50; i++)); do
        n=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$LIM_PORT" -U postgres -d postgres -c "$q" 2>/dev/null) || n=-1
        [[ $n == 0 ]] && return 0
        sleep 0.2
    done
    log "the limited origin still had client backends after 10 s"
}

# run_mysql_connect — connect_driver.py against MariaDB direct, through wirecache
# caching (`my`) and pass-through (`mynocache`), and pooled (`pooledmy`) when the
# daemon accepts pooled mode on a MariaDB cache.
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
            wirecache-pooled) port=${POOLED_MARIA:-0} user=pooledmy-bench ;;
            esac
            if [[ $port == 0 ]]; then
                note "${POOLED_MARIA_WHY:-n/a (no pooled wirecache in this run)}" \
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
