# tests/lib/parts.sh: the parts of a suite made of several programs (sourced by
# tests/onnx/run.sh and tests/keras/run.sh after they set `suite`). `part NAME CMD...` runs
# one, keeps its output in build/test-logs/$suite/NAME.log, prints it and adds its counts
# (tests/counts.lua) to the totals; a part that reports no counts, or exits non-zero
# without a failure, counts one failure. `part_start NAME CMD...` runs a part in the
# background (a single-process one beside others) and `part_collect NAME` waits for it and
# counts it as `part` would. `parts_end` prints "$suite: N passed, M failed" and returns
# non-zero when any part failed.
logs=build/test-logs/$suite
mkdir -p "$logs"
total_pass=0
total_fail=0
# count NAME RC: prints part NAME's log and adds its counts.
count() {
    cat "$logs/$1.log"
    counts=$(luajit tests/counts.lua "$logs/$1.log")
    if [ -z "$counts" ]; then pass=0; fail=1; echo "$suite: $1 reported no counts (exit $2)"
    else
        pass=${counts% *}; fail=${counts#* }
        if [ "$2" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "$suite: $1 exited with status $2"; fi
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}
part() {
    name=$1; shift
    "$@" >"$logs/$name.log" 2>&1
    count "$name" $?
}
part_start() {
    name=$1; shift
    rm -f "$logs/$name.rc"
    ("$@" >"$logs/$name.log" 2>&1; echo $? >"$logs/$name.rc") &
    eval "pid_$name=\$!"
}
part_collect() {
    eval "wait \$pid_$1"
    count "$1" "$(cat "$logs/$1.rc" 2>/dev/null || echo 1)"
}
parts_end() {
    echo "$suite: $total_pass passed, $total_fail failed"
    [ "$total_fail" -eq 0 ]
}
