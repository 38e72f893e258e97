#!/bin/sh
# The Keras import suite (tests/run_all.sh runs it as `keras`):
#   spec/        busted specs: the JSON, zip and HDF5 readers, configuration forms, refusals,
#                the Functional API of the model language
#   models.lua   the Keras files of tests/keras/data (.h5, .keras, JSON + weights) against
#                TensorFlow.js's or PyTorch's outputs: reference interpreter, `cnnc convert`
#                round trips, C builds, and the same networks written in Lua by hand
# Prints each part's output and ends with "keras: N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
logs=build/test-logs/keras
mkdir -p "$logs"
total_pass=0
total_fail=0
part() {
    name=$1; shift
    "$@" >"$logs/$name.log" 2>&1
    rc=$?
    cat "$logs/$name.log"
    counts=$(luajit tests/counts.lua "$logs/$name.log")
    if [ -z "$counts" ]; then pass=0; fail=1; echo "keras: $name reported no counts (exit $rc)"
    else
        pass=${counts% *}; fail=${counts#* }
        if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "keras: $name exited with status $rc"; fi
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}
part spec luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal tests/keras/spec
part models luajit tests/keras/models.lua
echo "keras: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
