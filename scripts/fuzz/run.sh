#!/usr/bin/env bash
# scripts/fuzz/run.sh — builds the fuzz targets in fuzz/ and runs each for a set time,
# then prints (and with --report FILE writes) a table: executions, executions per
# second, corpus size, peak memory, findings.
#
#   scripts/fuzz/run.sh [--seconds N] [--report FILE] [TARGET...]
#
# Defaults: 60 s per target, every target. Only the stable toolchain is available
# here: RUSTC_BOOTSTRAP=1 lets the stable compiler take cargo-fuzz's nightly flags
# (-Zsanitizer=address, -Cpasses=sancov-module). cargo-fuzz itself comes from
# crates.io (scripts/fuzz/install.sh). Not run in CI: building the instrumented tree
# takes several minutes on two cores; the same decoders' laws and "arbitrary bytes
# never panic" run there as property tests (`cargo test --lib proptests laws`).
#
# Corpora grow in fuzz/corpus/<target> (seeded by scripts/fuzz/seeds.py); a crash is
# written to fuzz/artifacts/<target>/ and counted as a finding. Turn each finding
# into a unit test and fix it at its root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds=60
report=""
targets=()
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done

scripts/fuzz/install.sh >/dev/null
export RUSTC_BOOTSTRAP=1

if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

echo "==> building ${#targets[@]} fuzz targets"
cargo fuzz build --fuzz-dir fuzz >/dev/null

python3 scripts/fuzz/seeds.py fuzz/corpus
mkdir -p fuzz/logs

rows=()
total_findings=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    log="fuzz/logs/$t.log"
    echo "==> $t for ${seconds}s"
    rc=0
    cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    after=$(find "fuzz/artifacts/$t" -type f | wc -l)
    findings=$((after - before))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    if ((rc != 0 && findings == 0)); then findings=1; fi
    total_findings=$((total_findings + findings))
    rows+=("| $t | ${seconds} | ${execs:-?} | ${rate:-?} | ${cov:-?} | $corpus | ${rss:-?} | $findings |")
    echo "    execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} corpus=$corpus peak_rss_mb=${rss:-?} findings=$findings"
done

table=$(
    echo "| target | seconds | executions | exec/s | coverage (edges) | corpus | peak RSS MB | findings |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
echo "$table"
if [ -n "$report" ]; then
    {
        echo "# Fuzzing run $(date -u +%Y-%m-%dT%H:%MZ)"
        echo
        echo "\`scripts/fuzz/run.sh --seconds $seconds\`, $(rustc --version), cargo-fuzz $(cargo fuzz --version | awk '{print $2}'), $(nproc) cores shared with other builds."
        echo
        echo "$table"
    } >"$report"
    echo "report written to $report"
fi
((total_findings == 0))
