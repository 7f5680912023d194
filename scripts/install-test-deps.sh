#!/usr/bin/env bash
# install-test-deps.sh — installs everything wirecache's tests and benchmark
# drivers need on a Debian 12 machine: PostgreSQL 15 (server with
# pg_stat_statements, psql, pgbench), MariaDB, Redis, sysbench, the Python
# drivers used by the scripts, and the rustfmt/clippy toolchain components.
#
# Idempotent and fast when everything is already present: each item is checked
# with `command -v` or a file test first, and apt-get runs (once, after one
# `apt-get update`) only for what is missing. Must run as root when something
# has to be installed. Private test origins are started by the test harness;
# this script never starts or configures a server.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

log() { printf 'install-test-deps: %s\n' "$*"; }
warn() { printf 'install-test-deps: WARNING: %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------
# Each entry: "<package> <test>" where the test is a shell expression that is
# true when the package's files are already there.
missing=()
need() {
    local pkg=$1 test=$2
    if ! eval "$test" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
}
need postgresql-15        "[ -x $PG_BIN/postgres ] && [ -x $PG_BIN/initdb ] && [ -x $PG_BIN/pg_ctl ] && [ -f /usr/lib/postgresql/15/lib/pg_stat_statements.so ]"
need postgresql-client-15 "[ -x $PG_BIN/psql ] && [ -x $PG_BIN/pgbench ] && [ -x $PG_BIN/pg_isready ]"
need mariadb-server       "[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db"
need mariadb-client       "command -v mariadb"
need redis-server         "[ -x /usr/bin/redis-server ]"  # tests/it/common/redis.rs
need sysbench             "command -v sysbench"
# Client libraries of other languages used by tests/it/pg_clients.rs and pg_tls.rs.
need libpostgresql-jdbc-java "[ -f /usr/share/java/postgresql.jar ]"
need default-jdk-headless "command -v javac"
need nodejs               "command -v node"
need npm                  "command -v npm"
# SQL Server clients for tests/it/tds_*.rs: FreeTDS's tsql.
need freetds-bin          "command -v tsql"
# OpenSSL's headers and pkg-config: tiberius's TLS (native-tls) in the test build.
need libssl-dev           "[ -f /usr/include/openssl/ssl.h ]"
need pkg-config           "command -v pkg-config"

if ((${#missing[@]} > 0)); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: missing packages (${missing[*]}) and not root" >&2
        exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
    log "Debian packages present"
fi

# The harness runs PostgreSQL as this OS user (the server package creates it).
if ! id postgres >/dev/null 2>&1; then
    echo "install-test-deps: OS user 'postgres' is missing after installing postgresql-15" >&2
    exit 1
fi

# --- Python drivers (tests/it/pg_clients.rs, pg_tls.rs, mysql_*.rs, the scripts) -
# PyNaCl lets PyMySQL log in as ed25519 users (tests/it/mysql_auth.rs); pymssql and
# python-tds (module pytds) are SQL Server clients (tests/it/tds_clients.rs).
# pyOpenSSL gives python-tds its TLS (tests/it/tds_tls.rs).
PY_DRIVERS=(psycopg2-binary "psycopg[binary]" pymysql pynacl pg8000 pymssql python-tds pyopenssl)
if command -v python3 >/dev/null 2>&1 && python3 -c 'import psycopg2, psycopg, pymysql, nacl, pg8000, pymssql, pytds, OpenSSL' >/dev/null 2>&1; then
    log "python drivers present"
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    log "installing python drivers: ${PY_DRIVERS[*]}"
    export PIP_ROOT_USER_ACTION=ignore
    # Debian's own python refuses plain pip installs (PEP 668); retry with the
    # override only in that case.
    if ! python3 -m pip install -q --disable-pip-version-check "${PY_DRIVERS[@]}" </dev/null \
        && ! python3 -m pip install -q --disable-pip-version-check --break-system-packages \
            "${PY_DRIVERS[@]}" </dev/null; then
        warn "pip could not install ${PY_DRIVERS[*]}; client tests will fail"
    fi
else
    warn "pip not found; skipping ${PY_DRIVERS[*]} (only the python scripts need them)"
fi

# --- node-postgres (tests/clients/node: pg_clients.rs, pg_tls.rs; package-lock) -
node_dir="$(dirname "${BASH_SOURCE[0]}")/../tests/clients/node"
if [ -d "$node_dir/node_modules/pg" ]; then
    log "node-postgres present"
else
    log "installing node-postgres"
    npm ci --prefix "$node_dir" --no-audit --no-fund --silent </dev/null
fi

# --- dashboard test: Debian's chromium + playwright-core (tests/dashboard) ---
# tests/it/dashboard.rs drives /usr/bin/chromium headless with playwright-core, pinned
# by tests/dashboard/package-lock.json. No browser is ever downloaded.
if [ -x /usr/bin/chromium ]; then
    log "chromium present"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: chromium is missing and not root" >&2
        exit 1
    fi
    log "installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium </dev/null
fi
dash_dir="$(dirname "${BASH_SOURCE[0]}")/../tests/dashboard"
if [ -d "$dash_dir/node_modules/playwright-core" ]; then
    log "playwright-core present"
else
    log "installing playwright-core"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dash_dir" --no-audit --no-fund --silent </dev/null
fi
# --- end of the dashboard test section ---------------------------------------

# --- Rust components ---------------------------------------------------------
# cargo-nextest is deliberately not needed: the test command is plain `cargo test`.
if command -v rustup >/dev/null 2>&1; then
    want=()
    cargo fmt --version >/dev/null 2>&1 || want+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || want+=(clippy)
    if ((${#want[@]} > 0)); then
        log "adding rustup components: ${want[*]}"
        rustup component add "${want[@]}"
    else
        log "rustfmt and clippy present"
    fi
else
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        warn "rustup not found and rustfmt/clippy missing"
    fi
fi

log "done"
