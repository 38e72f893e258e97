#!/bin/sh
# Denormals in generated code (tests/numeric/denormals.c): flushed to zero during a
# prediction on x86, the caller's control register restored, for tests/numeric/tiny.lua
# built for the generic and the native target with --threads 1 and 2 (the threads of a
# prediction flush too); plus one build with -DCNNC_KEEP_DENORMALS that must keep them, so
# the check is shown able to fail. One "ok"/"FAIL" line per check, then "done".
cd "$(dirname "$0")/../.." || exit 1
work=$(mktemp -d build/numeric-denormals.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
run() {
    label=$1; target=$2; threads=$3; flags=$4
    dir="$work/$target-$threads$flags"
    mkdir -p "$dir"
    if ! bin/cnnc build tests/numeric/tiny.lua --target $target --threads $threads --no-exe -o "$dir" > "$dir/log" 2>&1 ||
       ! $cc -std=c99 -O2 -pthread $flags -I "$dir" -I runtime -DCNNC_MODEL_HEADER='"tiny.h"' -DCNNC_MODEL=tiny \
           -DCNNC_MODEL_UC=TINY tests/numeric/denormals.c "$dir/tiny.c" -lm -o "$dir/denormals" >> "$dir/log" 2>&1; then
        echo "FAIL denormals $label: build failed: $(tail -3 "$dir/log")"; return
    fi
    "$dir/denormals" > "$dir/out" 2>&1
    awk -v l="$label" '$1 == "ok" || $1 == "FAIL" { t = $1; $1 = ""; printf "%s denormals %s%s\n", t == "ok" ? "ok  " : "FAIL", l, $0; next } { print }' "$dir/out"
    grep -q '^ok' "$dir/out" || echo "FAIL denormals $label: no result"
}
for target in generic native; do
    for threads in 1 2; do run "$target/t$threads" $target $threads ""; done
done
run "generic/t1 with -DCNNC_KEEP_DENORMALS" generic 1 -DCNNC_KEEP_DENORMALS
echo done
