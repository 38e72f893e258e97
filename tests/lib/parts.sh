# tests/lib/parts.sh: the parts of a suite made of several programs (sourced by
# tests/onnx/run.sh and tests/keras/run.sh after they set `suite`). `part NAME CMD...` runs
# one, keeps its output in build/test-logs/$suite/NAME.log, prints it and adds its counts
# (tests/counts.lua) to the totals; a part that reports no counts, or exits non-zero
# without a failure, counts one failure. `parts_end` prints "$suite: N passed, M failed"
# and returns non-zero when any part failed.
logs=build/test-logs/$suite
mkdir -p "$logs"
total_pass=0
total_fail=0
part() {
    name=$1; shift
    "$@" >"$logs/$name.log" 2>&1
    rc=$?
    cat "$logs/$name.log"
    counts=$(luajit tests/counts.lua "$logs/$name.log")
    if [ -z "$counts" ]; then pass=0; fail=1; echo "$suite: $name reported no counts (exit $rc)"
    else
        pass=${counts% *}; fail=${counts#* }
        if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "$suite: $name exited with status $rc"; fi
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}
parts_end() {
    echo "$suite: $total_pass passed, $total_fail failed"
    [ "$total_fail" -eq 0 ]
}
