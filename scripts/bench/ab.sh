#!/usr/bin/env bash
# ab.sh — two wirecache binaries side by side in one run, for "no speed regression"
# checks of a refactoring:
#
#   scripts/bench/ab.sh OLD_BINARY NEW_BINARY
#
# Starts a private PostgreSQL (pgbench -i -s 1) and one wirecache per binary, each
# with a caching cache and a mode = "off" cache, then runs, interleaved (every
# repetition visits every target in turn, so drift of the machine spreads over all):
#   - hot PK lookup: 8 clients, -M prepared, 1,000 hot keys of pgbench_accounts,
#     through each binary's caching cache (hits);
#   - the same through each binary's mode-off cache (pass-through: misses cost).
# Prints the median tps per target and the new/old ratios; writes them to
# $OUT/results.md. Settings: DURATION (s, default 10), REPS (3), CLIENTS (8), OUT
# (default results/ab-<date>), PGBIN.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/servers.sh"

[[ $# -eq 2 ]] || {
    sed -n '4,5p' "$0" | sed 's/^# \{0,3\}//' >&2
    exit 64
}
OLD=$(realpath "$1") NEW=$(realpath "$2")
DURATION=${DURATION:-10} REPS=${REPS:-3} CLIENTS=${CLIENTS:-8}
OUT=${OUT:-$ROOT/results/ab-$(date +%Y-%m-%d)}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DB=bench
STARTED=() CLEANUPS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecache-ab.XXXXXX")
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 1 -q "$DB" >"$WORK/init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -3 "$WORK/init.log")"
printf '\\set aid random(1, 1000)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' >"$WORK/pk.sql"

declare -A PORT=()
for side in old new; do
    bin=$OLD
    [[ $side == new ]] && bin=$NEW
    pg=$(free_port) admin=$(free_port)
    WIRECACHE=$bin write_wirecache_config "$WORK/$side.toml" "$pg" "$admin"
    WIRECACHE=$bin launch_wirecache "$WORK/$side.toml" "$WORK/$side.log" "$pg" "$admin"
    PORT[$side]=$pg
    log "$side: $bin on 127.0.0.1:$pg"
done

declare -A TPS=()
for ((rep = 1; rep <= REPS; rep++)); do
    for target in old:bench new:bench old:nocache new:nocache; do
        side=${target%%:*} cache=${target#*:}
        out=$WORK/pgbench-$side-$cache-$rep.out
        "$PGBIN/pgbench" -h 127.0.0.1 -p "${PORT[$side]}" -U "$cache-postgres" -n -T "$DURATION" \
            -c "$CLIENTS" -j 2 -M prepared -f "$WORK/pk.sql" "$DB" >"$out" 2>&1 || true
        tps=$(awk '/^tps = / {print $3; exit}' "$out")
        [[ -n $tps ]] || die "pgbench failed: $(tail -3 "$out" | tr '\n' ' ')"
        log "rep $rep $side $cache: $tps tps"
        TPS[$target]+="$tps "
    done
done

mkdir -p "$OUT"
{
    echo "# Old and new wirecache side by side ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "old: \`$OLD\`  "
    echo "new: \`$NEW\`  "
    echo "$(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "pgbench -M prepared -c $CLIENTS -j 2, $DURATION s, $REPS interleaved repetitions, hot PK lookup over 1,000 keys."
    echo
    echo "| target | old tps (median) | new tps (median) | new/old | runs old | runs new |"
    echo "|---|---:|---:|---:|---|---|"
    for cache in bench nocache; do
        # shellcheck disable=SC2086 # the lists are meant to split
        o=$(median ${TPS[old:$cache]}) n=$(median ${TPS[new:$cache]})
        label="hits (caching cache)"
        [[ $cache == nocache ]] && label="pass-through (mode off)"
        printf '| %s | %.0f | %.0f | %.3f | %s | %s |\n' "$label" "$o" "$n" \
            "$(awk -v a="$n" -v b="$o" 'BEGIN {print a / b}')" "${TPS[old:$cache]}" "${TPS[new:$cache]}"
    done
} | tee "$OUT/results.md"
