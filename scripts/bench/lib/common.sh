# shellcheck shell=bash
# common.sh — helpers shared by scripts/bench/run.sh: logging, free ports,
# waiting for a port, the registry of processes this run started (and only
# those are stopped at the end, by pid), resident memory of a pid.

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# A 127.0.0.1 TCP port that was free a moment ago (never one handed out before
# in this run).
declare -A GIVEN_PORTS=()
free_port() {
    local port
    while :; do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if [[ -z ${GIVEN_PORTS[$port]:-} ]]; then
            GIVEN_PORTS[$port]=1
            echo "$port"
            return
        fi
    done
}

# wait_port PORT SECONDS — true once something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# Processes started by this run: "pid name signal" lines, stopped in reverse order.
STARTED=()
started() { STARTED+=("$1 $2 ${3:-TERM}"); }

# stop_pid PID [SIGNAL] — SIGNAL (default TERM), then SIGKILL after 10 s. Only
# ever called with pids this run started.
stop_pid() {
    local pid=$1 i
    kill -"${2:-TERM}" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Extra cleanup commands (e.g. pg_ctl stop), run before the pids are stopped.
CLEANUPS=()
on_cleanup() { CLEANUPS+=("$1"); }

cleanup() {
    local i entry
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUPS[$i]}" >/dev/null 2>&1 || true
    done
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        read -r -a entry <<<"${STARTED[$i]}"
        stop_pid "${entry[0]}" "${entry[2]}"
    done
    if [[ -n ${WORK:-} && -d $WORK && ${KEEP_WORK:-0} != 1 ]]; then
        rm -rf "$WORK"
    fi
}

# rss_kib PID — resident set size (VmRSS) in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# metric ADMIN_PORT SERIES — the value of one /metrics series, 0 if absent.
metric() {
    local v
    v=$(curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk -v s="$2" 'index($0, s " ") == 1 {print $2; exit}') || true
    echo "${v:-0}"
}

# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
