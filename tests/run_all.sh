#!/bin/sh
# Runs every test suite (or those named as arguments), prints each suite's output, and
# ends with one line "N passed, M failed" totalling them all. Exits non-zero if any test
# failed or any suite could not report its counts.
#
# Suites and how their counts are read:
#   lua           busted specs (tests/lua)         "X successes / Y failures / Z errors"
#   runtime       Criterion tests (tests/runtime)  "Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C"
#   golden        PyTorch golden outputs           "golden: P passed, F failed"
#   simd          SIMD kernels on wide/odd shapes  "simd: P passed, F failed"
#   differential  random networks vs reference     "differential: P passed, F failed"
#   examples      every example against its known output
#   testgen       the `cnnc test` command
#   ffi           the Lua experiments API and the experiments (tests/ffi)
#   onnx          ONNX importer specs, real models exported by PyTorch, Fashion-MNIST via ONNX
#   keras         Keras .h5/.keras/JSON import specs, fixture networks (TensorFlow.js, PyTorch), convert
#   conformance   ONNX's node tests (libonnx-testdata) whose operators cnnc supports
#   bad_inputs    195 bad model files, other frameworks' files, weights, ONNX and Keras files,
#                 program inputs and gradient runs: clean errors
#   sanitize      runtime tests and random networks under ASan/UBSan, an executable under valgrind
#   numeric       NaN/inf/huge values through every layer kind and host target, predict_ws from
#                 4 threads under TSan, byte-identical builds  "numeric: P passed, F failed"
#   fuzz          fuzz regressions and seeds replayed, 10 s of each libFuzzer harness, seeded
#                 mutated model/ONNX files and input files (tests/fuzz)  "fuzz: P passed, F failed"
#
# Suites joined by '+' run side by side (those that keep one core busy, beside each other
# on a 2-core machine); their outputs are printed in turn once all have ended. Each suite
# that builds many models shares its own work between both cores.
cd "$(dirname "$0")/.." || exit 1
logs=build/test-logs
mkdir -p "$logs"

suites=${*:-"lua+runtime+examples golden simd differential testgen+bad_inputs+keras ffi onnx conformance sanitize numeric fuzz"}
total_pass=0
total_fail=0
status=0

# run_suite NAME CMD...: runs one suite, prints its report and leaves "PASSED FAILED" in
# $logs/NAME.result.
run_suite() {
    name=$1; shift
    log="$logs/$name.log"
    echo "=== $name"
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    # What a suite could not run here (e.g. neon without its cross toolchain) shows in any case.
    grep -E '^[a-z_]+: skipping ' "$log"
    counts=$(luajit tests/counts.lua "$log")
    pass=${counts% *}
    fail=${counts#* }
    if [ -z "$counts" ]; then
        echo "$name: could not read a test count from its output (exit $rc):"
        tail -40 "$log"
        fail=1; pass=0
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        echo "$name: exited with status $rc although no test failed:"
        tail -40 "$log"
        fail=1
    elif [ "$fail" -ne 0 ]; then
        cat "$log"
    fi
    echo "$name: $pass passed, $fail failed ($((end - start)) s)"
    echo "$pass $fail" > "$logs/$name.result"
}

# suite NAME: runs suite NAME (run_suite with its command).
suite() {
    case $1 in
        lua) run_suite lua luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal tests/lua ;;
        runtime) run_suite runtime sh tests/runtime/run.sh build/tests/runtime ;;
        golden) run_suite golden luajit tests/golden/run.lua ;;
        simd) run_suite simd luajit tests/simd/run.lua ;;
        differential) run_suite differential luajit tests/differential/run.lua ;;
        examples) run_suite examples sh tests/examples/run.sh ;;
        testgen) run_suite testgen sh tests/testgen/run.sh ;;
        onnx) run_suite onnx sh tests/onnx/run.sh ;;
        keras) run_suite keras sh tests/keras/run.sh ;;
        conformance) run_suite conformance luajit tests/onnx/conformance.lua ;;
        bad_inputs) run_suite bad_inputs luajit tests/bad_inputs/run.lua ;;
        sanitize) run_suite sanitize sh tests/sanitize.sh ;;
        numeric) run_suite numeric luajit tests/numeric/run.lua ;;
        fuzz) run_suite fuzz sh tests/fuzz/run.sh suite ;;
        ffi) run_suite ffi sh tests/lib/busted_groups.sh ffi tests/ffi/grad_spec.lua \
                 "$(ls tests/ffi/*_spec.lua | grep -v /grad_spec.lua)" ;;
        *) echo "unknown suite '$1'"; echo "0 1" > "$logs/$1.result" ;;
    esac
}

# add NAME: adds suite NAME's result to the totals.
add() {
    read -r p f < "$logs/$1.result" || { p=0; f=1; }
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    [ "$f" -eq 0 ] || status=1
}

for group in $suites; do
    members=$(echo "$group" | tr '+' ' ')
    for s in $members; do rm -f "$logs/$s.result"; done
    if [ "$members" = "$group" ]; then
        suite "$group"
    else
        for s in $members; do suite "$s" > "$logs/$s.report" 2>&1 & done
        wait
        for s in $members; do cat "$logs/$s.report"; done
    fi
    for s in $members; do add "$s"; done
done

echo "$total_pass passed, $total_fail failed"
exit $status
