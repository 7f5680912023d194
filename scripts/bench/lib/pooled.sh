# shellcheck shell=bash
# pooled.sh (lib) — wirecache in pooled mode for the benchmarks (scripts/bench/run.sh
# and scripts/bench/pooled.sh): the [[caches]] tables of a pooled cache, the userlist
# its clients log in with, and a probe of whether the daemon accepts a pool mode on
# a protocol (`wirecache check-config`), so a column the daemon cannot serve yet says
# so instead of failing the run.
#
# Settings (environment): WC_POOL_MODE (`transaction`, the default, or `session`:
# the `pool` key of the PostgreSQL pooled caches) and WC_POOL_MODE_MY (`transaction`,
# the default, or `session`: the MySQL/MariaDB pooled caches).

WC_POOL_MODE=${WC_POOL_MODE:-transaction}
WC_POOL_MODE_MY=${WC_POOL_MODE_MY:-transaction}

# pooled_cache ID PROTOCOL ORIGIN_PORT POOL_SIZE AUTH_FILE [MODE] — one [[caches]]
# table in pooled mode MODE (default $WC_POOL_MODE), logins from the userlist AUTH_FILE.
pooled_cache() {
    cat <<EOF
[[caches]]
id = "$1"
protocol = "$2"
origin = "127.0.0.1:$3"
pool = "${6:-$WC_POOL_MODE}"
auth_file = "$5"
pool_size = $4
EOF
}

# write_userlist FILE USER SECRET — a PgBouncer-style userlist of one login (a
# password or PostgreSQL's SCRAM verifier), readable by the servers.
write_userlist() {
    printf '"%s" "%s"\n' "$2" "$3" >"$1"
    chmod 644 "$1"
}

# pool_refusal PROTOCOL ORIGIN_PORT [MODE] — empty when the daemon ($WIRECACHE) accepts
# a cache of PROTOCOL in pooled mode MODE (default $WC_POOL_MODE); otherwise why not (check-config's
# complaint about the cache, e.g. `pooled mode is only available for PostgreSQL
# caches so far`).
pool_refusal() {
    local dir=$WORK/pool-probe-$1 listen=postgres
    [[ $1 == postgres ]] || listen=$1
    mkdir -p "$dir"
    write_userlist "$dir/userlist.txt" probe probe-pw
    {
        printf '[listen]\n%s = "127.0.0.1:1"\n' "$listen"
        pooled_cache probe "$1" "$2" 2 "$dir/userlist.txt" "${3:-$WC_POOL_MODE}"
    } >"$dir/wirecache.toml"
    if "$WIRECACHE" check-config --config "$dir/wirecache.toml" >"$dir/check.log" 2>&1; then
        return 0
    fi
    { grep -m1 '^caches\[' "$dir/check.log" || tail -1 "$dir/check.log"; } | sed 's/^caches\[0\]\.//'
}

# --- scripts/bench/run.sh's pooled target ---------------------------------------

POOLED_PASSWORD=${POOLED_PASSWORD:-bench-pooled-pw}
# PgBouncer's pool sizes in run.sh: default_pool_size 20, and 40 in front of the
# origin limited to 50 connections.
POOL_SIZE=${POOL_SIZE:-20} POOL_SIZE_LIMITED=${POOL_SIZE_LIMITED:-40}

# start_wirecache_pooled — a wirecache of its own in pooled mode ($WC_POOL_MODE), with
# the caching settings of run.sh's other one: cache `pooled` in front of the bench
# PostgreSQL (pool_size $POOL_SIZE), `pooledlimited` in front of the origin limited to
# 50 connections (with LIM_PORT; pool_size $POOL_SIZE_LIMITED) and `pooledmy` in front
# of MariaDB when the daemon accepts pooled mode on a MariaDB cache. Clients log in as
# pooled-postgres, pooledlimited-postgres and pooledmy-bench with $POOLED_PASSWORD
# (SCRAM-SHA-256 against the userlist's verifier of that password, which the origin
# made, so no side derives a key per login but the client; wirecache logs in to the
# trusting PostgreSQL, and to MariaDB as `bench` with the stored password; the
# userlist also serves PgBouncer with BOUNCER_AUTH=scram). Sets POOLED_PG, POOLED_SECRET,
# POOLED_ADMIN, POOLED_MARIA, POOLED_PID; a column it cannot serve gets its reason in
# POOLED_WHY (PostgreSQL) or POOLED_MARIA_WHY.
start_wirecache_pooled() {
    local cfg=$WORK/wirecache-pooled.toml dir=$WORK/pooled why wc_maria=""
    POOLED_PG="" POOLED_ADMIN="" POOLED_MARIA="" POOLED_PID="" POOLED_WHY="" POOLED_MARIA_WHY="" POOLED_SECRET=""
    mkdir -p "$dir"
    # The origin trusts 127.0.0.1: the password it now holds is never asked for.
    psql_pg -d postgres -c "SET password_encryption = 'scram-sha-256'" \
        -c "ALTER ROLE postgres PASSWORD '$POOLED_PASSWORD'" >/dev/null
    POOLED_SECRET=$(psql_pg -d postgres -Atc "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    write_userlist "$dir/userlist-pg.txt" postgres "$POOLED_SECRET"
    write_userlist "$dir/userlist-my.txt" bench bench
    why=$(pool_refusal postgres "$PGPORT")
    if [[ -n $why ]]; then
        POOLED_WHY="n/a (pool = \"$WC_POOL_MODE\" not supported: $why)"
        POOLED_MARIA_WHY=$POOLED_WHY
        log "pooled wirecache: $POOLED_WHY"
        return
    fi
    if [[ -z ${MPORT:-} ]]; then
        POOLED_MARIA_WHY="n/a (no MariaDB in this run)"
    else
        why=$(pool_refusal mariadb "$MPORT" "$WC_POOL_MODE_MY")
        if [[ -n $why ]]; then
            POOLED_MARIA_WHY="n/a (pool = \"$WC_POOL_MODE_MY\" not supported: $why)"
        else
            wc_maria=$(free_port)
        fi
    fi
    POOLED_PG=$(free_port) POOLED_ADMIN=$(free_port)
    {
        printf '[listen]\npostgres = "127.0.0.1:%s"\nadmin = "127.0.0.1:%s"\n' "$POOLED_PG" "$POOLED_ADMIN"
        [[ -n $wc_maria ]] && printf 'mariadb = "127.0.0.1:%s"\n' "$wc_maria"
        cache_settings
        pooled_cache pooled postgres "$PGPORT" "$POOL_SIZE" "$dir/userlist-pg.txt"
        if [[ -n ${LIM_PORT:-} ]]; then
            pooled_cache pooledlimited postgres "$LIM_PORT" "$POOL_SIZE_LIMITED" "$dir/userlist-pg.txt"
        fi
        [[ -n $wc_maria ]] && pooled_cache pooledmy mariadb "$MPORT" "$POOL_SIZE" "$dir/userlist-my.txt" "$WC_POOL_MODE_MY"
    } >"$cfg"
    launch_wirecache "$cfg" "$WORK/wirecache-pooled.log" "$POOLED_PG" "$POOLED_ADMIN"
    POOLED_PID=$LAUNCHED
    if [[ -n $wc_maria ]]; then
        if wait_port "$wc_maria" 3; then
            POOLED_MARIA=$wc_maria
        else
            POOLED_MARIA_WHY="n/a (the pooled MariaDB listener did not open)"
        fi
    fi
    log "pooled wirecache (pool = \"$WC_POOL_MODE\") on 127.0.0.1:$POOLED_PG (pid $POOLED_PID)," \
        "mariadb: ${POOLED_MARIA:-$POOLED_MARIA_WHY}"
}
