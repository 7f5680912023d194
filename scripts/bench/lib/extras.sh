# shellcheck shell=bash
# extras.sh — the parts of scripts/bench/run.sh that are not throughput runs:
# wirecache's resident memory (idle, after caching M bytes, with N idle client
# connections), a perf profile of the hit path, and the machine's description.

# measure_memory — a fresh wirecache of its own (so earlier runs' entries do not
# count): VmRSS idle; after filling the cache over one session; then with
# $IDLE_CLIENTS idle sessions open. Writes $OUT/memory.json.
measure_memory() {
    local cfg=$WORK/wirecache-mem.toml pid rss_idle rss_filled rss_conns bytes answered ready
    local saved_pg=$WC_PG saved_admin=$WC_ADMIN
    WC_PG=$(free_port)
    WC_ADMIN=$(free_port)
    write_wirecache_config "$cfg" "$WC_PG" "$WC_ADMIN"
    launch_wirecache "$cfg" "$WORK/wirecache-mem.log" "$WC_PG" "$WC_ADMIN"
    pid=$LAUNCHED
    sleep 1
    rss_idle=$(rss_kib "$pid")
    log "memory: idle RSS ${rss_idle} KiB; filling with $FILL_QUERIES results"
    answered=$("$PY" "$HERE/pgwire.py" fill --port "$WC_PG" --user bench-postgres --db "$DB" \
        --sql-template 'SELECT * FROM salaries WHERE emp_no BETWEEN {i}00 AND {i}99' \
        --from 100 --to $((100 + FILL_QUERIES))) || die "pgwire fill failed"
    sleep 1
    bytes=$(metric "$WC_ADMIN" wirecache_cache_bytes)
    rss_filled=$(rss_kib "$pid")
    log "memory: ${bytes} bytes cached (${answered} bytes answered), RSS ${rss_filled} KiB; opening $IDLE_CLIENTS idle sessions"
    ready=$WORK/idle.ready
    rm -f "$ready"
    # Hold the sessions open until we close the FIFO feeding pgwire.py's stdin.
    mkfifo "$WORK/idle.fifo"
    "$PY" "$HERE/pgwire.py" idle --port "$WC_PG" --user bench-postgres --db "$DB" \
        -n "$IDLE_CLIENTS" --ready "$ready" <"$WORK/idle.fifo" &
    local idle_pid=$!
    started "$idle_pid" pgwire-idle
    exec 7>"$WORK/idle.fifo"
    local deadline=$((SECONDS + 120))
    while [[ ! -s $ready ]] && ((SECONDS < deadline)) && kill -0 "$idle_pid" 2>/dev/null; do sleep 0.2; done
    [[ -s $ready ]] || die "idle sessions did not open"
    sleep 1
    rss_conns=$(rss_kib "$pid")
    exec 7>&-
    wait "$idle_pid" || true
    stop_pid "$pid"
    cat >"$OUT/memory.json" <<EOF
{"rss_idle_kib": $rss_idle, "cached_bytes": $bytes, "answer_bytes": $answered,
 "fill_queries": $FILL_QUERIES, "rss_filled_kib": $rss_filled,
 "idle_clients": $IDLE_CLIENTS, "rss_with_idle_clients_kib": $rss_conns}
EOF
    log "memory: with $IDLE_CLIENTS idle sessions RSS ${rss_conns} KiB"
    WC_PG=$saved_pg
    WC_ADMIN=$saved_admin
}

# profile NAME WORKLOAD — perf samples of the running wirecache under pgbench
# (8 clients) for $DURATION seconds; the top symbols go to $OUT/profile-NAME.txt.
profile() {
    local name=$1 workload=$2 data=$WORK/perf-$1.data
    if ! command -v perf >/dev/null || ! perf stat -e task-clock true >/dev/null 2>&1; then
        echo "perf not usable on this machine" >"$OUT/profile-$name.txt"
        return
    fi
    log "profile: perf record on wirecache during pgbench $workload (8 clients, ${DURATION}s)"
    perf record -e cpu-clock -F 1999 -p "$WC_PID" -o "$data" -- sleep "$DURATION" >"$WORK/perf.log" 2>&1 &
    local perf_pid=$!
    # shellcheck disable=SC2046
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$WC_PG" -U bench-postgres -n -T "$DURATION" -c 8 -j 2 \
        $(workload_args "$workload") "$DB" >"$WORK/logs/profile-pgbench.out" 2>&1 || true
    wait "$perf_pid" || true
    {
        echo "# perf record -e cpu-clock -F 1999 on wirecache (release build) during"
        echo "# pgbench $workload, 8 clients, ${DURATION}s, through wirecache:"
        grep -E '^tps|^latency average' "$WORK/logs/profile-pgbench.out" | sed 's/^/#   /'
        echo "# Top entries, self time (perf report --no-children --fields overhead,dso,sym):"
        perf report -i "$data" --stdio --no-children --fields overhead,dso,sym --percent-limit 0.4 2>/dev/null |
            grep -vE '^$|^#$|^# To display' | head -70
    } >"$OUT/profile-$name.txt"
}

describe_machine() {
    local f=$OUT/machine.md
    {
        echo "# Machine"
        echo
        echo "| what | value |"
        echo "|---|---|"
        echo "| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |"
        echo "| nproc | $(nproc) |"
        echo "| memory | $(free -h | awk '/^Mem:/ {print $2}') |"
        echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1) |"
        echo "| kernel | $(uname -r) |"
        echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
        echo "| load average at start / end | $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) |"
        echo "| wirecache | $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)'), ${WC_BINARY:-release build}; pooled column: pool = \"$WC_POOL_MODE\" |"
        echo "| rustc | $(rustc --version | awk '{print $2}') |"
        echo "| PostgreSQL | $("$PGBIN/postgres" --version | awk '{print $3}') |"
        echo "| pgbench | $("$PGBIN/pgbench" --version | awk '{print $3}') |"
        echo "| PgBouncer | $(pgbouncer --version | head -1 | awk '{print $2}') |"
        echo "| Pgpool-II | $(pgpool --version 2>&1 | awk '{print $3}') |"
        echo "| MariaDB | $(mariadbd --version | awk '{print $3}') |"
        echo "| sysbench | $(sysbench --version | awk '{print $2}') |"
        echo "| Redis | $(redis-server --version | awk '{print $3}' | sed 's/v=//') |"
        echo "| settings | duration ${DURATION}s x ${REPS} repetitions, pgbench scale $SCALE, $EMPLOYEES employees, $HOT_KEYS hot keys |"
    } >"$f"
}
