#!/bin/sh
# Runs busted specs as groups at once, one busted process per group (a suite whose specs
# spend their time in one core's Lua and C compiles keeps both cores of a small machine
# busy), prints each group's output in turn and ends with "SUITE: N passed, M failed",
# the groups' busted counts added up (a failure or an error counts as failed; a group that
# prints no counts counts one failure).
# usage: sh tests/lib/busted_groups.sh SUITE "SPEC SPEC..." "SPEC..." ...
suite=$1; shift
dir=build/tests/busted-$suite
rm -rf "$dir" && mkdir -p "$dir"
n=0
for group in "$@"; do
    n=$((n + 1))
    # shellcheck disable=SC2086 # each group is a list of spec files
    (luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal $group >"$dir/$n.log" 2>&1; echo $? >"$dir/$n.rc") &
done
wait
pass=0; fail=0; k=0
while [ "$k" -lt "$n" ]; do
    k=$((k + 1))
    cat "$dir/$k.log"
    counts=$(luajit tests/counts.lua "$dir/$k.log")
    if [ -z "$counts" ]; then
        echo "FAIL $suite group $k printed no counts (exit $(cat "$dir/$k.rc"))"
        fail=$((fail + 1))
    else
        pass=$((pass + ${counts% *})); fail=$((fail + ${counts#* }))
    fi
done
echo "$suite: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
