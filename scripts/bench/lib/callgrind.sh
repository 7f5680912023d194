# shellcheck shell=bash
# callgrind.sh — instructions per cache hit of a wirecache binary running under
# callgrind, shared by ir-mysql.sh and ir-postgres.sh. Needs common.sh (log, die,
# started, median) and, from the caller, WORK, N1, N2 and REPS.

# start_under_callgrind BINARY CONFIG — wirecache under callgrind with instrumentation
# off (turned on after the warm-up); sets CG_PID. CG_OPTS: more valgrind options.
start_under_callgrind() {
    # shellcheck disable=SC2086 # VALGRIND_OPTS-like extra options, split on purpose
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out.%p" ${CG_OPTS:-} \
        "$1" --config "$2" </dev/null >"$WORK/wc.log" 2>&1 &
    CG_PID=$!
    started "$CG_PID" valgrind
}

# series ADMIN NAME — the sum of the /metrics series whose line starts with NAME.
series() {
    curl -fsS "http://127.0.0.1:$1/metrics" | awk -v s="$2" 'index($0, s) == 1 {n += $NF} END {printf "%d\n", n}'
}

# measured PID ADMIN HITS MISSES RUN... — "Ir hits misses" of one client run (the
# command RUN...) between `callgrind_control --zero` and `--dump`; HITS and MISSES
# name the counters, read outside that window.
measured() {
    local pid=$1 admin=$2 hits=$3 misses=$4 before dump ir h0 m0
    shift 4
    h0=$(series "$admin" "$hits") m0=$(series "$admin" "$misses")
    callgrind_control --zero "$pid" >/dev/null 2>&1
    "$@"
    before=$(find "$WORK" -name "cg.out.$pid.*" | wc -l)
    callgrind_control --dump "$pid" >/dev/null 2>&1
    for _ in $(seq 50); do
        (($(find "$WORK" -name "cg.out.$pid.*" | wc -l) > before)) && break
        sleep 0.2
    done
    # shellcheck disable=SC2012 # dump names are ours: cg.out.PID.N
    dump=$(ls -t "$WORK"/cg.out."$pid".* | head -1)
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    echo "$ir $(($(series "$admin" "$hits") - h0)) $(($(series "$admin" "$misses") - m0))"
}

# ir_per_hit PID ADMIN HITS MISSES LABEL RUN... — REPS times, a run of N1 and one of
# N2 requests (RUN... COUNT); Ir per hit = (Ir(N2 run) - Ir(N1 run)) / (hits(N2 run)
# - hits(N1 run)), so what both runs pay once (connect, login, prepare, goodbye)
# cancels out. Sets IR_MEDIAN, IR_LIST (per repetition), FIXED_KIR (median Ir of the
# N1 run less its hits' share, in thousands), HITS_MEASURED and MISSES_LIST.
ir_per_hit() {
    local pid=$1 admin=$2 hits=$3 misses=$4 label=$5 rep a b ha hb ma mb fixed=()
    shift 5
    IR_LIST=() HITS_MEASURED=0 MISSES_LIST=()
    for ((rep = 1; rep <= REPS; rep++)); do
        read -r a ha ma <<<"$(measured "$pid" "$admin" "$hits" "$misses" "$@" "$N1")"
        read -r b hb mb <<<"$(measured "$pid" "$admin" "$hits" "$misses" "$@" "$N2")"
        ((hb > ha)) || die "no more hits in the longer run ($ha, $hb)"
        IR_LIST+=("$(awk -v a="$a" -v b="$b" -v n=$((hb - ha)) 'BEGIN {printf "%.0f", (b - a) / n}')")
        fixed+=("$(awk -v a="$a" -v h="$ha" -v p="${IR_LIST[-1]}" 'BEGIN {printf "%.0f", (a - h * p) / 1000}')")
        HITS_MEASURED=$((HITS_MEASURED + ha + hb)) MISSES_LIST+=("$ma/$mb")
        log "$label rep $rep: Ir $a ($ha hits, $ma misses), $b ($hb hits, $mb misses): ${IR_LIST[-1]} per hit"
    done
    IR_MEDIAN=$(printf '%.0f' "$(median "${IR_LIST[@]}")")
    FIXED_KIR=$(printf '%.0f' "$(median "${fixed[@]}")")
}

# ir_per_request PID ADMIN HITS MISSES LABEL RUN... — as ir_per_hit, but per request
# of the client run (its COUNT, the last argument RUN... gets) rather than per hit:
# for runs that miss, write or pass through. Sets IR_MEDIAN, IR_LIST, FIXED_KIR,
# HITS_LIST and MISSES_LIST (per run: N1/N2).
ir_per_request() {
    local pid=$1 admin=$2 hits=$3 misses=$4 label=$5 rep a b ha hb ma mb fixed=()
    shift 5
    IR_LIST=() HITS_LIST=() MISSES_LIST=()
    for ((rep = 1; rep <= REPS; rep++)); do
        read -r a ha ma <<<"$(measured "$pid" "$admin" "$hits" "$misses" "$@" "$N1")"
        read -r b hb mb <<<"$(measured "$pid" "$admin" "$hits" "$misses" "$@" "$N2")"
        IR_LIST+=("$(awk -v a="$a" -v b="$b" -v n=$((N2 - N1)) 'BEGIN {printf "%.0f", (b - a) / n}')")
        fixed+=("$(awk -v a="$a" -v n="$N1" -v p="${IR_LIST[-1]}" 'BEGIN {printf "%.0f", (a - n * p) / 1000}')")
        HITS_LIST+=("$ha/$hb") MISSES_LIST+=("$ma/$mb")
        log "$label rep $rep: Ir $a ($ha hits, $ma misses), $b ($hb hits, $mb misses): ${IR_LIST[-1]} per request"
    done
    IR_MEDIAN=$(printf '%.0f' "$(median "${IR_LIST[@]}")")
    FIXED_KIR=$(printf '%.0f' "$(median "${fixed[@]}")")
}
