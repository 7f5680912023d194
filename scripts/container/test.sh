#!/usr/bin/env bash
# test.sh — builds wirecache's container image with podman and proves it works:
#
#   scripts/container/test.sh          # by hand, or from .ci/run
#
# 1. Installs podman, runc and debootstrap from Debian's packages if missing.
# 2. Makes the runtime base image locally when it is not there yet (no registry can
#    be reached here): `debootstrap --variant=minbase bookworm` from the mirror the
#    host's apt uses, imported as localhost/wirecache-base:bookworm.
# 3. Builds the image from the repository's Dockerfile with BINARY_FROM=prebuilt: the
#    binary is the one `cargo build` made on the host (debug profile, stripped; CI has
#    it already from `cargo test`), because rustup cannot download a toolchain here.
#    Set WIRECACHE_BIN to use another one (for example target/release/wirecache).
# 4. Starts private PostgreSQL and MariaDB origins (scripts/bench/lib/servers.sh, in a
#    wirecache-test-container-<pid>-… temp dir) and runs the image in front of them,
#    configured from environment variables alone.
# 5. Checks: psql and the mariadb client through the container's ports (a miss, then
#    a hit counted by /metrics); the process runs as UID 10001; the image's health
#    check passes; SIGTERM (podman stop) ends it with exit 0 within the grace period.
#    Prints the image size.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH=$ROOT/scripts/bench
# shellcheck source-path=SCRIPTDIR
source "$BENCH/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$BENCH/lib/servers.sh"
log() { printf '%s container: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

BASE_IMAGE=localhost/wirecache-base:bookworm
IMAGE=localhost/wirecache:test
RUN_UID=10001
GRACE=25
CONTAINER=wirecache-test-$$

# podman as this machine kind runs it: runc (crun fails on these cgroups), cgroupfs.
pm() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

install_missing() {
    local missing=() cmd
    for cmd in podman runc debootstrap; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

# The Debian mirror the host's apt is set up with (deb822 or one-line sources).
host_mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [[ -z $uri ]] && uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    echo "$uri"
}

make_base_image() {
    if pm image exists "$BASE_IMAGE"; then
        log "base image $BASE_IMAGE present"
        return 0
    fi
    local t0=$SECONDS rootfs=$WORK/rootfs
    log "making $BASE_IMAGE with debootstrap (about a minute)"
    # shellcheck disable=SC2046 # an empty mirror means debootstrap's default
    debootstrap --variant=minbase bookworm "$rootfs" $(host_mirror) >"$WORK/debootstrap.log" 2>&1 ||
        die "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
    # The host's apt sources, so that apt-get inside the build reaches the same mirror.
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null ||
        cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
    # What a slim image leaves out: documentation, manuals, locales, apt's caches.
    rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/* \
        "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | pm import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "base image made in $((SECONDS - t0)) s"
}

build_image() {
    local bin=${WIRECACHE_BIN:-}
    if [[ -z $bin ]]; then
        (cd "$ROOT" && cargo build --quiet --bin wirecache)
        bin=$ROOT/target/debug/wirecache
    fi
    mkdir -p "$ROOT/target/container"
    strip -o "$ROOT/target/container/wirecache" "$bin"
    local t0=$SECONDS
    pm build --isolation chroot --format docker --network host \
        --build-arg RUNTIME_BASE="$BASE_IMAGE" --build-arg BINARY_FROM=prebuilt \
        -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$WORK/build.log" 2>&1 ||
        die "podman build failed: $(tail -20 "$WORK/build.log")"
    log "image built in $((SECONDS - t0)) s"
}

# Runs the image with every setting in the environment, no config file.
run_container() {
    WC_PG=$(free_port) WC_MARIA=$(free_port) WC_ADMIN=$(free_port)
    # --health-interval=disable: no systemd here to time the image's HEALTHCHECK;
    # check_user_and_health runs it itself.
    pm run -d --name "$CONTAINER" --network=host --pids-limit=0 --health-interval=disable \
        --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
        -e WIRECACHE_LISTEN_POSTGRES="127.0.0.1:$WC_PG" \
        -e WIRECACHE_LISTEN_MARIADB="127.0.0.1:$WC_MARIA" \
        -e WIRECACHE_LISTEN_MYSQL=off -e WIRECACHE_LISTEN_MSSQL=off \
        -e WIRECACHE_LISTEN_ADMIN="127.0.0.1:$WC_ADMIN" \
        -e WIRECACHE_CACHES_0_ID=demo -e WIRECACHE_CACHES_0_PROTOCOL=postgres \
        -e WIRECACHE_CACHES_0_ORIGIN="127.0.0.1:$PGPORT" \
        -e WIRECACHE_CACHES_1_ID=maria -e WIRECACHE_CACHES_1_PROTOCOL=mariadb \
        -e WIRECACHE_CACHES_1_ORIGIN="127.0.0.1:$MPORT" \
        -e WIRECACHE_CACHE_SHUTDOWN_GRACE="${GRACE}s" \
        "$IMAGE" >/dev/null 2>"$WORK/podman-run.log"
    on_cleanup "podman --runtime runc --cgroup-manager cgroupfs rm -f -t 0 $CONTAINER"
    wait_port "$WC_ADMIN" 30 || die "the container's admin port never opened: $(pm logs "$CONTAINER" 2>&1 | tail -5)"
    wait_port "$WC_PG" 10 && wait_port "$WC_MARIA" 10 || die "listeners did not open"
    log "container $CONTAINER: postgres :$WC_PG, mariadb :$WC_MARIA, admin :$WC_ADMIN"
}

hits() { metric "$WC_ADMIN" "wirecache_hits_total{cache=\"$1\"}"; }

check_postgres() {
    local url="host=127.0.0.1 port=$WC_PG user=demo-postgres dbname=$DB" q="SELECT v FROM t WHERE id = 1"
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$url" \
        -c "CREATE TABLE t (id int PRIMARY KEY, v int)" -c "INSERT INTO t VALUES (1, 42)" >/dev/null
    local before after v
    before=$(hits demo)
    v=$("$PGBIN/psql" -X -At "$url" -c "$q" -c "$q" | sort -u)
    after=$(hits demo)
    [[ $v == 42 ]] || die "psql read $v through the container"
    ((${after%.*} > ${before%.*})) || die "psql: no hit counted (hits $before -> $after)"
    log "psql through the container: miss then hit (hits $before -> $after)"
}

check_mariadb() {
    local before after v
    maria -e "CREATE TABLE sbtest.t (id int PRIMARY KEY, v int); INSERT INTO sbtest.t VALUES (1, 7)"
    before=$(hits maria)
    v=$(mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$WC_MARIA" -u maria-bench -pbench -N -B sbtest \
        -e "SELECT v FROM t WHERE id = 1; SELECT v FROM t WHERE id = 1" | sort -u)
    after=$(hits maria)
    [[ $v == 7 ]] || die "mariadb read $v through the container"
    ((${after%.*} > ${before%.*})) || die "mariadb: no hit counted (hits $before -> $after)"
    log "mariadb client through the container: miss then hit (hits $before -> $after)"
}

check_user_and_health() {
    local pid uid
    pid=$(pm inspect --format '{{.State.Pid}}' "$CONTAINER")
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    [[ $uid == "$RUN_UID" ]] || die "the daemon runs as UID $uid, not $RUN_UID"
    pm healthcheck run "$CONTAINER" >/dev/null || die "the image's health check failed"
    pm exec "$CONTAINER" /usr/local/bin/wirecache health --ready >/dev/null ||
        die "wirecache health --ready failed inside the container"
    log "runs as UID $uid; health check passes"
}

check_sigterm() {
    local t0 code elapsed
    t0=$(date +%s%N)
    pm stop --time $((GRACE + 5)) "$CONTAINER" >/dev/null 2>>"$WORK/podman-run.log"
    elapsed=$((($(date +%s%N) - t0) / 1000000))
    code=$(pm inspect --format '{{.State.ExitCode}}' "$CONTAINER")
    [[ $code == 0 ]] || die "exit code $code after SIGTERM: $(pm logs "$CONTAINER" 2>&1 | tail -5)"
    ((elapsed < GRACE * 1000)) || die "SIGTERM took ${elapsed} ms (grace ${GRACE} s)"
    pm logs "$CONTAINER" 2>&1 | grep -q "every session closed" ||
        die "no clean shutdown in the log: $(pm logs "$CONTAINER" 2>&1 | tail -5)"
    log "SIGTERM: exit 0 after ${elapsed} ms"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root (podman, private origins as the postgres/mysql users)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-test-container-$$-XXXX")
    chmod 755 "$WORK" # the origins run as the postgres and mysql users
    trap cleanup EXIT
    local t0=$SECONDS
    install_missing
    make_base_image
    build_image
    DB=bench
    start_postgres
    start_mariadb
    run_container
    check_postgres
    check_mariadb
    check_user_and_health
    check_sigterm
    local size
    size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
    log "image $IMAGE: $((size / 1024 / 1024)) MiB; all checks passed in $((SECONDS - t0)) s"
}

main "$@"
