#!/bin/sh
# The fuzzers of cnnc (tests/fuzz/README.md):
#   libFuzzer harnesses of the C runtime's readers: npy pnm raw input
#   structured fuzzers of the compiler (tests/fuzz/structured.lua): lua_model onnx
#   differential fuzzer of the C and the Lua input readers (tests/fuzz/readers.lua): readers
#
# usage: sh tests/fuzz/run.sh suite
#          the `fuzz` test suite: replays every regression file and seed through its
#          harness, then fuzzes each libFuzzer harness for FUZZ_SUITE_SECONDS (default
#          10), runs FUZZ_SUITE_CASES (default 300) seeded cases of each structured
#          fuzzer (three times as many of the readers, which are quick); ends with "fuzz: P passed, F failed"
#        sh tests/fuzz/run.sh long [SECONDS] [HARNESS...]
#          `make fuzz`: fuzzes each harness (default: all) for SECONDS (default 30),
#          growing the corpus in build/fuzz/corpus, and prints per harness the time,
#          executions and findings (also appended to build/fuzz/report.txt)
# Every finding (crash, leak, broken contract, timeout, unclean compiler error) is saved
# under tests/fuzz/regressions/<harness>/, where the suite replays it from then on.
# Environment: FUZZ_SEED (default 1), CC_FUZZ (default clang).
cd "$(dirname "$0")/../.." || exit 1
mode=${1:-suite}
[ $# -gt 0 ] && shift
seed=${FUZZ_SEED:-1}
cc=${CC_FUZZ:-clang}
out=build/fuzz
regs=tests/fuzz/regressions
C_HARNESSES="npy pnm raw input"
LUA_HARNESSES="lua_model onnx readers"
pass=0
fail=0
# Seeds and temporary files per run, logs per mode: runs side by side (the suite beside a
# long `make fuzz`) must not remove each other's files.
work=$out/$mode
run=$out/run.$$
export CNNC_FUZZ_TMP="$PWD/$run/tmp"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$out/bin" "$work/logs" "$CNNC_FUZZ_TMP"

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

dict_of() {
    case $1 in
        npy) echo "-dict=tests/fuzz/npy.dict" ;;
        pnm) echo "-dict=tests/fuzz/pnm.dict" ;;
        *) echo "" ;;
    esac
}

# Builds build/fuzz/bin/fuzz_H with libFuzzer, ASan and UBSan; returns non-zero on failure.
build_harness() {
    h=$1
    exe="$out/bin/fuzz_$h"
    # Rebuilt when the harness or the runtime changed.
    if [ -x "$exe" ] && [ -z "$(find tests/fuzz/fuzz_$h.c tests/fuzz/fuzz_common.h runtime -newer "$exe" 2>/dev/null)" ]; then
        return 0
    fi
    $cc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
        -std=c99 -Wall -Wextra -Werror -I runtime "tests/fuzz/fuzz_$h.c" runtime/cnnc_io.c \
        runtime/cnnc_npy.c runtime/cnnc_pnm.c -lm -o "$exe" > "$work/logs/build_$h.log" 2>&1
}

# Runs each file through the harness once; one test per file. All files go to one process
# (libFuzzer runs each file named on its command line); only if that fails, one by one.
replay_c() {
    h=$1; shift
    files=""
    for f in "$@"; do [ -f "$f" ] && files="$files $f"; done
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    if "$out/bin/fuzz_$h" -timeout=10 $files > "$work/logs/replay_$h.log" 2>&1; then
        for f in $files; do ok; done
        return 0
    fi
    for f in $files; do
        if "$out/bin/fuzz_$h" -timeout=10 "$f" > "$work/logs/replay_$h.log" 2>&1; then ok
        else bad "$h replay $f:"; tail -20 "$work/logs/replay_$h.log"; fi
    done
}

# fuzz_c HARNESS SECONDS CORPUS: one libFuzzer run; prints time, executions, findings.
fuzz_c() {
    h=$1; secs=$2; corpus=$3
    mkdir -p "$corpus" "$regs/$h"
    log="$work/logs/fuzz_$h.log"
    before=$(ls "$regs/$h" | wc -l)
    start=$(date +%s)
    # shellcheck disable=SC2046
    "$out/bin/fuzz_$h" "$corpus" "$run/seeds/$h" $(dict_of "$h") -seed="$seed" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$regs/$h/" > "$log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1)
    found=$(( $(ls "$regs/$h" | wc -l) - before ))
    line="harness $h: $((end - start)) s, ${execs:-?} executions, $cov, $found finding(s), seed $seed"
    echo "$line"
    [ "$mode" = long ] && echo "$(date -u +%Y-%m-%dT%H:%MZ) $line" >> "$out/report.txt"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        bad "$h: libFuzzer exit $rc, $found new file(s) in $regs/$h:"
        grep -E 'ERROR|SUMMARY|contract|Test unit written|runtime error' "$log" | head -20
    else
        ok
    fi
}

# fuzz_lua HARNESS ARGS...: a structured fuzzer; adds its counts.
fuzz_lua() {
    h=$1; shift
    log="$work/logs/structured_$h.log"
    if [ "$h" = readers ]; then set -- tests/fuzz/readers.lua --seeds "$run/seeds" "$@"
    else set -- tests/fuzz/structured.lua --kind "$h" "$@"; fi
    # 4 GB of address space: a case that wants more is a finding, not a swapping machine.
    (ulimit -v 4000000; exec luajit "$@") > "$log" 2>&1
    rc=$?
    grep -v '^ok ' "$log"
    counts=$(luajit tests/counts.lua "$log")
    if [ -z "$counts" ]; then bad "$h: no counts from tests/fuzz/structured.lua (exit $rc)"; tail -20 "$log"; return; fi
    pass=$((pass + ${counts% *}))
    fail=$((fail + ${counts#* }))
    if [ "$rc" -ne 0 ] && [ "${counts#* }" -eq 0 ]; then bad "$h: exit $rc"; fi
    if [ "$mode" = long ]; then
        echo "$(date -u +%Y-%m-%dT%H:%MZ) $(grep '^harness ' "$log" | tail -1)" >> "$out/report.txt"
    fi
}

luajit tests/fuzz/seeds.lua "$run/seeds" || bad "seeds.lua"

case $mode in
suite)
    secs=${FUZZ_SUITE_SECONDS:-10}
    cases=${FUZZ_SUITE_CASES:-300}
    # The libFuzzer harnesses (one core, a fixed time each) run beside the structured ones;
    # their output and counts are added after.
    (
        pass=0; fail=0
        for h in $C_HARNESSES; do
            if ! build_harness "$h"; then bad "building fuzz_$h:"; tail -20 "$work/logs/build_$h.log"; continue; fi
            case $h in
                npy) extra="$regs/readers/*.npy" ;;
                pnm) extra="$regs/readers/*.pgm" ;;
                *) extra="" ;;
            esac
            # shellcheck disable=SC2086
            replay_c "$h" "$regs/$h"/* $extra "$run/seeds/$h"/*
            # A fresh corpus each time, so the suite's run depends on the seeds only.
            rm -rf "$out/suite-corpus/$h"
            fuzz_c "$h" "$secs" "$out/suite-corpus/$h"
        done
        echo "$pass $fail" > "$run/c_counts"
    ) > "$run/c_output" 2>&1 &
    c_pid=$!
    for h in $LUA_HARNESSES; do
        fuzz_lua "$h" --replay "$regs/$h"
        [ "$h" = readers ] && n=$((cases * 3)) || n=$cases
        fuzz_lua "$h" --cases "$n" --seed "$seed"
    done
    wait "$c_pid"
    cat "$run/c_output"
    if [ -f "$run/c_counts" ]; then
        read -r c_pass c_fail < "$run/c_counts"
        pass=$((pass + c_pass)); fail=$((fail + c_fail))
    else
        bad "the libFuzzer harnesses reported no counts"
    fi
    ;;
long)
    secs=${1:-30}
    [ $# -gt 0 ] && shift
    for h in ${*:-$C_HARNESSES $LUA_HARNESSES}; do
        case " $C_HARNESSES " in
            *" $h "*)
                if ! build_harness "$h"; then bad "building fuzz_$h:"; tail -20 "$work/logs/build_$h.log"; continue; fi
                fuzz_c "$h" "$secs" "$out/corpus/$h" ;;
            *) fuzz_lua "$h" --seconds "$secs" --seed "$seed" --save ;;
        esac
    done
    ;;
*)
    echo "usage: sh tests/fuzz/run.sh suite | long [SECONDS] [HARNESS...]"; exit 2 ;;
esac
rm -rf "$run"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
