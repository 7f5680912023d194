#!/usr/bin/env bash
# run.sh — runs database drivers' own test suites directly against private
# origins and through wirecache, and prints the tests that pass directly but
# fail or hang through it:
#
#   sudo scripts/driver-suites/run.sh                    # every suite, both modes
#   SUITES=pg8000,psycopg2 MODES=autocommit scripts/driver-suites/run.sh
#
# Suites (their tests ship in their PyPI source distributions): psycopg2 2.9.10,
# pg8000 1.31.6, asyncpg 0.32.0 (PostgreSQL 15); mysqlclient 2.3.2 with its
# SQLAlchemy tests, aiomysql 0.3.2 (MariaDB 10.11). For each suite and mode a fresh
# wirecache is started; the suite runs once directly and twice through that same
# wirecache (the second pass is served from what the first cached). Modes:
# `shipped` (as the suite ships) and `autocommit` (shim/ds_shim.py turns autocommit
# on at every connect, so reads are cached). Each test has a timeout (pytest-timeout,
# TEST_TIMEOUT s, default 30) and each pytest run an overall bound (RUN_TIMEOUT s).
#
# Installs what is missing: Debian build deps (one `apt-get update` first), a
# virtualenv with the drivers built from their sdists under target/driver-suites/,
# and cargo builds target/debug/wirecache (WIRECACHE=path to use another binary).
# Origins and wirecache run on free 127.0.0.1 ports under a wirecache-test-* temp
# dir, removed on exit. Writes results/driver-suites-<date>/{table.md,differences.md}
# (OUT to change). Slow (tens of minutes): run it when the protocol code changes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${STATE:-$ROOT/target/driver-suites}
OUT=${OUT:-$ROOT/results/driver-suites-$(date -u +%Y-%m-%d)}
SUITES=${SUITES:-psycopg2,pg8000,mysqlclient${PYMYSQL_SRC:+,pymysql},aiomysql,asyncpg}
# PyMySQL's tests are only in its repository: PYMYSQL_SRC=<a checkout of it> adds
# them (run with the checkout's own pymysql package). This script never fetches it.
[[ -z ${PYMYSQL_SRC:-} ]] || export PYMYSQL_SRC
MODES=${MODES:-shipped,autocommit}
PINS=(psycopg2==2.9.10 pg8000==1.31.6 mysqlclient==2.3.2 aiomysql==0.3.2 asyncpg==0.32.0)
# Test-only dependencies of those suites (pg8000: pytz, pytest-mock, pytest-benchmark;
# asyncpg: distro; aiomysql: uvloop, cryptography; mysqlclient: SQLAlchemy 2).
TOOLS=(pytest pytest-timeout pytest-mock pytest-benchmark pytz distro cryptography "sqlalchemy>=2,<3" uvloop)

log() { printf 'driver-suites: %s\n' "$*"; }
die() {
    printf 'driver-suites: %s\n' "$*" >&2
    exit 1
}

install_debian() {
    local missing=() pkg
    for pkg in libpq-dev libmariadb-dev pkg-config python3-dev python3-venv postgresql-15 mariadb-server mariadb-client; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing Debian packages (${missing[*]}) and not root"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >"$STATE/apt.log" 2>&1 ||
        die "apt-get install failed: $(tail -5 "$STATE/apt.log")"
}

# The venv is rebuilt when the pinned list changes.
make_venv() {
    local want="${PINS[*]} ${TOOLS[*]}"
    if [[ -x $STATE/venv/bin/python && $(cat "$STATE/venv/.pins" 2>/dev/null) == "$want" ]]; then
        return 0
    fi
    log "creating $STATE/venv (drivers built from their sdists)"
    rm -rf "$STATE/venv"
    python3 -m venv "$STATE/venv"
    "$STATE/venv/bin/pip" install -q --disable-pip-version-check --no-binary psycopg2,mysqlclient \
        "${PINS[@]}" "${TOOLS[@]}" >"$STATE/pip.log" 2>&1 || die "pip install failed: $(tail -5 "$STATE/pip.log")"
    echo "$want" >"$STATE/venv/.pins"
}

# The sdists are downloaded and unpacked once into $STATE; each pass runs in a
# fresh copy (runner.py), so the unpacked trees stay as shipped.
fetch_sdists() {
    local pin name ver
    mkdir -p "$STATE/sdist" "$STATE/src"
    for pin in "${PINS[@]}"; do
        name=${pin%%==*} ver=${pin##*==}
        [[ -d $STATE/src/$name-$ver ]] && continue
        if [[ ! -f $STATE/sdist/$name-$ver.tar.gz ]]; then
            "$STATE/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
                -d "$STATE/sdist" "$pin" >>"$STATE/pip.log" 2>&1 || die "cannot download $pin"
        fi
        tar -xzf "$STATE/sdist/$name-$ver.tar.gz" -C "$STATE/src"
    done
}

[[ $(id -u) == 0 ]] || die "must run as root (initdb runs as the postgres OS user, mariadbd as mysql)"
mkdir -p "$STATE"
install_debian
make_venv
fetch_sdists
if [[ -z ${WIRECACHE:-} ]]; then
    log "cargo build --bin wirecache"
    (cd "$ROOT" && cargo build -q --bin wirecache) || die "cargo build failed"
    WIRECACHE=$ROOT/target/debug/wirecache
fi

start=$SECONDS
# The runner stops its servers on TERM/INT itself; pass ours on and wait for it.
"$STATE/venv/bin/python" "$HERE/runner.py" --sdists "$STATE/src" --wirecache "$WIRECACHE" --out "$OUT" \
    --suites "$SUITES" --modes "$MODES" --test-timeout "${TEST_TIMEOUT:-30}" \
    --run-timeout "${RUN_TIMEOUT:-1800}" ${KEEP_WORK:+--keep} &
runner=$!
trap 'kill -TERM "$runner" 2>/dev/null; wait "$runner"; exit 143' TERM INT
wait "$runner"
log "total wall time $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
