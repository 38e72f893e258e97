#!/bin/sh
# bench/denormal.sh: the cost of denormal floats in cnnc's generated code. For R1 (the
# Keras MNIST net) and R2 (the VGG-style CIFAR net, conv-heavy), built for each target,
# times a prediction on ordinary inputs and on inputs scaled to ~1e-40 (denormal, and so
# are the activations they lead to) and prints the ratio denormal/normal time
# (bench/denormal.c). The issue asks for at most 2x. A benchmark, not a test.
# --keep also times builds with -DCNNC_KEEP_DENORMALS (no flush to zero: how it was).
#
#   sh bench/denormal.sh [--nets r1,r2] [--targets generic,avx512] [--seconds S] [--keep]
set -u
cd "$(dirname "$0")/.." || exit 1
NETS=r1,r2
TARGETS=generic,$(luajit -e "package.path='compiler/?.lua;'..package.path print(require('cnnc.targets').native())")
SECONDS_EACH=2
MODES=flush
CC=${BENCH_CC:-gcc}
CFLAGS=${BENCH_CFLAGS:--O2}
while [ $# -gt 0 ]; do
    case $1 in
    --nets) NETS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --keep) MODES="flush keep"; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "denormal: unknown argument $1" >&2; exit 2 ;;
    esac
done
OUT=build/bench/denormal
mkdir -p "$OUT" || exit 1
echo "denormal/normal time per prediction ($CC $CFLAGS; best of interleaved runs)"
for net in $(echo "$NETS" | tr ',' ' '); do
    for t in $(echo "$TARGETS" | tr ',' ' '); do
        dir="$OUT/$net-$t"
        blob=
        if bin/cnnc build "bench/models/$net.lua" --target "$t" --no-exe -o "$dir" > "$dir.log" 2>&1 &&
           [ -f "$dir/$net.weights.bin" ]; then
            # Large models keep their weights in a blob, linked as an object as cnnc build does.
            (cd "$dir" && ld -r -b binary -o "$net.weights.o" "$net.weights.bin") >> "$dir.log" 2>&1
            blob="$dir/$net.weights.o"
        fi
        for mode in $MODES; do
            flag=; [ $mode = keep ] && flag=-DCNNC_KEEP_DENORMALS
            if [ ! -f "$dir/$net.c" ] ||
               ! $CC -std=c99 $CFLAGS $flag -I "$dir" -I runtime -DCNNC_MODEL_HEADER="\"$net.h\"" -DCNNC_MODEL=$net \
                   -DCNNC_MODEL_UC=$(echo $net | tr a-z A-Z) bench/denormal.c "$dir/$net.c" $blob -lm \
                   -o "$dir/denormal-$mode" >> "$dir.log" 2>&1; then
                echo "$net $t: build failed (see $dir.log)"; continue
            fi
            printf '%s %-7s %-5s %s\n' "$net" "$t" "$mode" "$("$dir/denormal-$mode" "$SECONDS_EACH")"
        done
    done
done
