# shellcheck shell=bash
# workloads.sh — the measured runs of scripts/bench/run.sh. Each run appends one
# JSON line to $RAW (via record.py): pgbench against every PostgreSQL target,
# sysbench against MariaDB direct and through wirecache, redis-benchmark GET,
# wirecache latency-test, resident memory, and a perf profile of the hit path.

HOT_KEYS=${HOT_KEYS:-1000}
JOIN_SQL="SELECT COUNT(*), MAX(salary), MIN(salary) FROM employees e JOIN dept_emp de ON e.emp_no = de.emp_no JOIN departments d ON de.dept_no = d.dept_no JOIN salaries s ON s.emp_no = e.emp_no WHERE d.dept_name = 'Sales'"
PK_SQL="SELECT first_name, last_name, hire_date FROM employees WHERE emp_no = 10042"

write_scripts() {
    printf '\\set id random(10001, %d)\nSELECT first_name, last_name, hire_date FROM employees WHERE emp_no = :id;\n' \
        $((10000 + HOT_KEYS)) >"$WORK/pk-hot.sql"
    printf '%s;\n' "$JOIN_SQL" >"$WORK/join.sql"
    mkdir -p "$WORK/logs"
}

# target_conn TARGET — "port user database" of a PostgreSQL target.
target_conn() {
    case $1 in
    direct) echo "$PGPORT postgres $DB" ;;
    wirecache) echo "$WC_PG bench-postgres $DB" ;;
    wirecache-nocache) echo "$WC_PG nocache-postgres $DB" ;;
    pgbouncer-session) echo "$BOUNCER_PORT postgres ${DB}_session" ;;
    pgbouncer-txn) echo "$BOUNCER_PORT postgres ${DB}_txn" ;;
    pgpool) echo "$POOL_PORT postgres $DB" ;;
    # The pooled wirecache (lib/pooled.sh); port 0 when it could not start, and its
    # rows are notes saying why.
    wirecache-pooled) echo "${POOLED_PG:-0} pooled-postgres $DB" ;;
    # In front of the origin limited to 50 connections (lib/connect.sh).
    wirecache-limited) echo "$WC_PG limited-postgres $DB" ;;
    wirecache-limited-nocache) echo "$WC_PG limitednocache-postgres $DB" ;;
    wirecache-pooled-limited) echo "${POOLED_PG:-0} pooledlimited-postgres $DB" ;;
    pgbouncer-limited) echo "$BOUNCER_PORT postgres ${DB}_limited" ;;
    direct-limited) echo "$LIM_PORT postgres $DB" ;;
    *) die "unknown target $1" ;;
    esac
}

workload_args() {
    case $1 in
    select-only) echo "-S" ;;
    pk-hot) echo "-f $WORK/pk-hot.sql" ;;
    join) echo "-f $WORK/join.sql" ;;
    # A new connection per transaction (serverless functions, PHP, CGI workers).
    pk-hot-connect) echo "-C -f $WORK/pk-hot.sql" ;;
    # pgbench's TPC-B-like read-write transaction: nothing cacheable.
    tpcb) echo "-b tpcb-like" ;;
    # The limited origin holds pgbench's tables at scale 1 (100,000 accounts).
    pk-limited) echo "-f $WORK/pk-limited.sql" ;;
    *) die "unknown workload $1" ;;
    esac
}

# run_pgbench WORKLOAD MODE CLIENTS TARGET REP — one pgbench run, recorded in $RAW. Besides
# tps and the latencies of pgbench's per-transaction log, it records `conn_ms`, pgbench's
# average connection time (under -C: per transaction; the log's latencies leave the
# client's own connection out), and for wirecache targets the hits, misses and
# `refreshes` (ahead of expiry) of the run.
run_pgbench() {
    local workload=$1 mode=$2 clients=$3 target=$4 rep=$5
    local port user db jobs prefix out hits0=0 misses0=0 hits1 misses1 cache="" admin=""
    local refresh0=0 refresh1 conn_ms
    read -r port user db <<<"$(target_conn "$target")"
    jobs=$((clients < 2 ? clients : 2))
    prefix=$WORK/logs/pgbench-$$
    out=$WORK/logs/pgbench.out
    case $target in
    wirecache) cache=bench admin=$WC_ADMIN ;;
    wirecache-nocache) cache=nocache admin=$WC_ADMIN ;;
    wirecache-limited) cache=limited admin=$WC_ADMIN ;;
    wirecache-pooled) cache=pooled admin=${POOLED_ADMIN:-} ;;
    wirecache-pooled-limited) cache=pooledlimited admin=${POOLED_ADMIN:-} ;;
    esac
    if [[ $port == 0 ]]; then
        note "${POOLED_WHY:-n/a (no pooled wirecache in this run)}" suite=postgres \
            "workload=$workload" "mode=$mode" "clients=$clients" "target=$target" "rep=$rep"
        return
    fi
    if [[ -n $cache ]]; then
        hits0=$(metric "$admin" "wirecache_hits_total{cache=\"$cache\"}")
        misses0=$(metric "$admin" "wirecache_misses_total{cache=\"$cache\"}")
        refresh0=$(metric "$admin" "wirecache_refreshes_total{cache=\"$cache\"}")
    fi
    log "pgbench $workload -M $mode -c $clients -> $target (rep $rep/$REPS)"
    # shellcheck disable=SC2046 # workload_args is meant to split
    # The password is asked only by the pooled wirecache (the others trust 127.0.0.1).
    PGPASSWORD=$POOLED_PASSWORD "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U "$user" -n -T "$DURATION" \
        -c "$clients" -j "$jobs" \
        -M "$mode" -l --log-prefix "$prefix" $(workload_args "$workload") "$db" >"$out" 2>&1 || true
    local extra=()
    if [[ -n $cache ]]; then
        hits1=$(metric "$admin" "wirecache_hits_total{cache=\"$cache\"}")
        misses1=$(metric "$admin" "wirecache_misses_total{cache=\"$cache\"}")
        refresh1=$(metric "$admin" "wirecache_refreshes_total{cache=\"$cache\"}")
        extra=("hits=$((${hits1%.*} - ${hits0%.*}))" "misses=$((${misses1%.*} - ${misses0%.*}))"
            "refreshes=$((${refresh1%.*} - ${refresh0%.*}))")
    fi
    conn_ms=$(awk '/^average connection time = / {print $5; exit}' "$out")
    if [[ -n $conn_ms ]]; then
        extra+=("conn_ms=$conn_ms")
    fi
    "$PY" "$HERE/record.py" pgbench "$RAW" --stdout "$out" --log-prefix "$prefix" \
        --meta suite=postgres "workload=$workload" "mode=$mode" "clients=$clients" \
        "target=$target" "rep=$rep" "duration=$DURATION" "${extra[@]}"
    if ! grep -q '^tps = ' "$out"; then
        log "pgbench failed: $(tail -3 "$out" | tr '\n' ' ')"
    fi
}

# matrix WORKLOAD MODE CLIENTS TARGET... — every repetition visits every target
# in turn, so slow drift of the machine spreads over all of them.
matrix() {
    local workload=$1 mode=$2 clients=$3 rep target
    shift 3
    for ((rep = 1; rep <= REPS; rep++)); do
        for target in "$@"; do
            run_pgbench "$workload" "$mode" "$clients" "$target" "$rep"
        done
    done
}

run_postgres_suite() {
    local all=(direct wirecache wirecache-nocache wirecache-pooled pgbouncer-session pgbouncer-txn pgpool)
    matrix select-only simple 8 "${all[@]}"
    matrix pk-hot simple 8 "${all[@]}"
    matrix pk-hot simple 1 direct wirecache wirecache-nocache wirecache-pooled pgbouncer-txn pgpool
    matrix join simple 1 direct wirecache wirecache-pooled pgpool
    matrix join simple 8 direct wirecache wirecache-pooled pgpool
    # PgBouncer's transaction pooling (1.18) cannot keep named prepared statements.
    matrix pk-hot extended 8 direct wirecache wirecache-pooled pgbouncer-txn pgpool
    matrix pk-hot prepared 8 direct wirecache wirecache-pooled pgbouncer-session pgpool
}

note() {
    "$PY" "$HERE/record.py" note "$RAW" --status "$1" --meta "${@:2}"
}

run_mysql_suite() {
    local sb=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-password=bench --mysql-db=sbtest
        --tables=4 --table-size="$SB_TABLE_SIZE" --db-ps-mode=disable)
    local w target rep port user out hits0 misses0 hits1 misses1 extra cache admin
    if [[ -z ${MARIA_VIA:-} ]]; then
        log "MySQL side: wirecache has no MariaDB listener: recorded as not available"
        for w in oltp_point_select oltp_read_only; do
            note "not available: wirecache has no MariaDB listener" suite=mysql "workload=$w" \
                mode=text clients=8 target=wirecache rep=1
        done
        return
    fi
    log "sysbench prepare (4 tables x $SB_TABLE_SIZE rows)"
    sysbench oltp_point_select "${sb[@]}" --mysql-port="$MPORT" --mysql-user=bench prepare \
        >"$WORK/sysbench-prepare.log" 2>&1 || die "sysbench prepare failed: $(tail -3 "$WORK/sysbench-prepare.log")"
    for w in oltp_point_select oltp_read_only; do
        for ((rep = 1; rep <= REPS; rep++)); do
            for target in direct wirecache wirecache-pooled; do
                case $target in
                direct) port=$MPORT user=bench cache="" ;;
                wirecache) port=$MARIA_VIA user=my-bench cache=my admin=$WC_ADMIN ;;
                wirecache-pooled) port=${POOLED_MARIA:-} user=pooledmy-bench cache=pooledmy admin=${POOLED_ADMIN:-} ;;
                esac
                if [[ -z $port ]]; then
                    note "${POOLED_MARIA_WHY:-n/a (no pooled wirecache in this run)}" suite=mysql "workload=$w" \
                        mode=text clients=8 "target=$target" "rep=$rep"
                    continue
                fi
                out=$WORK/logs/sysbench.out
                if [[ -n $cache ]]; then
                    hits0=$(metric "$admin" "wirecache_hits_total{cache=\"$cache\"}")
                    misses0=$(metric "$admin" "wirecache_misses_total{cache=\"$cache\"}")
                fi
                log "sysbench $w -> $target (rep $rep/$REPS)"
                sysbench "$w" "${sb[@]}" --mysql-port="$port" --mysql-user="$user" --threads=8 \
                    --time="$DURATION" --histogram=on --skip_trx=on --report-interval=0 run >"$out" 2>&1 || true
                extra=()
                if [[ -n $cache ]]; then
                    hits1=$(metric "$admin" "wirecache_hits_total{cache=\"$cache\"}")
                    misses1=$(metric "$admin" "wirecache_misses_total{cache=\"$cache\"}")
                    extra=("hits=$((${hits1%.*} - ${hits0%.*}))" "misses=$((${misses1%.*} - ${misses0%.*}))")
                fi
                "$PY" "$HERE/record.py" sysbench "$RAW" --stdout "$out" --meta suite=mysql \
                    "workload=$w" mode=text clients=8 "target=$target" "rep=$rep" "duration=$DURATION" "${extra[@]}"
            done
        done
    done
    # shellcheck disable=SC2153 # set by start_mariadb (servers.sh)
    if ! kill -0 "$MARIA_PID" 2>/dev/null; then
        log "mariadbd is gone during the MySQL runs: its error log is in $OUT/mariadb-error.log"
        # shellcheck disable=SC2153
        tail -60 "$MARIA_DIR/error.log" >"$OUT/mariadb-error.log" 2>/dev/null || true
    fi
}

run_redis() {
    local rep out=$WORK/logs/redis.csv
    for ((rep = 1; rep <= REPS; rep++)); do
        log "redis-benchmark GET, 1 client (rep $rep/$REPS)"
        redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 1 -n "$REDIS_REQUESTS" -t get --csv >"$out" 2>/dev/null || true
        "$PY" "$HERE/record.py" redis "$RAW" --csv "$out" --meta suite=redis workload=get mode=resp \
            clients=1 target=redis "rep=$rep"
    done
}

# latency-test NAME DIRECT_URL VIA_URL SQL N — saves the JSON and the text report.
latency_test() {
    local name=$1
    log "wirecache latency-test: $name (-n $5)"
    "$WIRECACHE" latency-test --direct "$2" --via "$3" --query "$4" -n "$5" --json \
        >"$OUT/latency-$name.json" 2>"$WORK/latency-$name.err" ||
        log "latency-test $name failed: $(tail -2 "$WORK/latency-$name.err")"
}

run_latency_tests() {
    local pg=postgres://postgres@127.0.0.1
    latency_test pg-pk "$pg:$PGPORT/$DB" "postgres://bench-postgres@127.0.0.1:$WC_PG/$DB" "$PK_SQL" "$LT_N"
    latency_test pg-join "$pg:$PGPORT/$DB" "postgres://bench-postgres@127.0.0.1:$WC_PG/$DB" "$JOIN_SQL" "$LT_JOIN_N"
    if [[ -n ${MARIA_VIA:-} ]]; then
        latency_test mysql-pk "mysql://bench:bench@127.0.0.1:$MPORT/employees" \
            "mysql://my-bench:bench@127.0.0.1:$MARIA_VIA/employees" "$PK_SQL" "$LT_N"
        latency_test mysql-join "mysql://bench:bench@127.0.0.1:$MPORT/employees" \
            "mysql://my-bench:bench@127.0.0.1:$MARIA_VIA/employees" "$JOIN_SQL" "$LT_JOIN_N"
    else
        echo '{"status": "not available: wirecache has no MariaDB listener"}' >"$OUT/latency-mysql-pk.json"
    fi
}
