#!/bin/sh
# bench/timecc.sh: runs a C compiler command and appends its wall time in seconds to
# $BENCH_CC_TIME_FILE. bench/run.sh passes `--cc "sh bench/timecc.sh gcc"` to
# `cnnc build`, which splits a build's time into code generation and C compilation.
t0=$(date +%s.%N)
"$@"
rc=$?
t1=$(date +%s.%N)
[ -n "${BENCH_CC_TIME_FILE:-}" ] && echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >> "$BENCH_CC_TIME_FILE"
exit $rc
