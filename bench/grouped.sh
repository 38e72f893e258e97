#!/bin/sh
# bench/grouped.sh: cnnc's grouped convolutions (cnnc.simd.grouped) on the grouped layers of
# torchvision's regnet_x_400mf: GFLOP/s and % of the FMA peak per layer shape and target.
#
#   sh bench/grouped.sh [--targets generic,avx2,avx512] [--rounds N] [--whole]
#
# bench/grouped_layers.py (/usr/bin/python3 with torch and torchvision) lists the layer shapes
# (and writes each layer as ONNX, which cnnc builds too as a check of the importer's path).
# Each shape becomes a one-layer model in cnnc's language, as RegNet has it: ZeroPadding2D 1,
# Conv2D 3x3 (stride 1 or 2, groups of 16 channels, no bias), BatchNormalization (folded
# into the weights) and ReLU, channels-last (the ONNX build adds the NCHW reorders around
# it). Every model is built for every target (generic: the portable C that ran grouped
# layers before cnnc.simd.grouped), then all are timed in N rounds (default 5), each running
# every program once, so a slow spell of this shared machine falls on all alike; a layer's
# figures are the minimum over the rounds (and the median of their medians). % of peak:
# best GFLOP/s over bench/peak.c's best 1-thread figure of the target's ISA (avx512, avx2;
# generic over the avx512 one). --whole also times the whole network (ONNX) per target.
# Results: build/bench/grouped/results.txt.

set -u
cd "$(dirname "$0")/.." || exit 1
OUT=build/bench/grouped
TARGETS=generic,avx2,avx512
ROUNDS=5
WHOLE=0
PY=${BENCH_PYTHON:-/usr/bin/python3}
CC=${BENCH_CC:-gcc}
CFLAGS=${BENCH_CFLAGS:--O3 -march=native}
while [ $# -gt 0 ]; do
    case $1 in
    --targets) TARGETS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --whole) WHOLE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "grouped: unknown argument $1 (see sh bench/grouped.sh --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT" || exit 1
RES=$OUT/results.txt

if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    echo "grouped: $PY cannot import torch and torchvision (BENCH_PYTHON names another Python)" >&2; exit 1
fi
whole=""; [ $WHOLE = 1 ] && whole=--whole
"$PY" bench/grouped_layers.py "$OUT" $whole > "$OUT/list.txt" 2> "$OUT/export.log" ||
    { echo "grouped: bench/grouped_layers.py failed (see $OUT/export.log)" >&2; exit 1; }
"$CC" -std=c11 -O2 bench/peak.c -o "$OUT/peak" -pthread || exit 1
"$OUT/peak" > "$OUT/peak.txt" 2>&1
peak_of() { # best 1-thread GFLOP/s of an ISA row of peak.txt
    sed -n "s/^peak $1 threads=1 median=[0-9.]* best=\([0-9.]*\) .*/\1/p" "$OUT/peak.txt"
}

: > "$OUT/todo.txt"
while read -r _ name macs count shape; do
    # g25_7x7x400_s1: groups, input H x W x C, stride
    groups=${name#g}; groups=${groups%%_*}
    dims=$(echo "$name" | sed 's/^g[0-9]*_\([0-9]*\)x\([0-9]*\)x\([0-9]*\)_s\([0-9]*\)$/\1 \2 \3 \4/')
    set -- $dims
    h=$1; w=$2; c=$3; s=$4
    cat > "$OUT/$name.lua" <<EOF
-- regnet_x_400mf's grouped layer $shape (used $count times), written by bench/grouped.sh
local nn = require 'cnnc'
local m = nn.Sequential{name = '$name', input_shape = {$h, $w, $c}, seed = 1}
m:add(nn.ZeroPadding2D{1})
m:add(nn.Conv2D{$c, 3, strides = $s, groups = $groups, use_bias = false})
m:add(nn.BatchNormalization{})
m:add(nn.Activation{'relu'})
return m
EOF
    luajit -e "package.path = 'compiler/?.lua;' .. package.path
        local x = require('cnnc.tensor').new({ $h, $w, $c })
        for i = 0, x.n - 1 do x.data[i] = (math.sin(i) + 1) / 2 end
        assert(require('cnnc.npy').write('$OUT/$name.in.npy', x))" || exit 1
    for t in $(echo "$TARGETS" | tr ',' ' '); do
        if ! bin/cnnc build "$OUT/$name.lua" -o "$OUT/$name-$t" --target "$t" --cc "$CC" --cflags "$CFLAGS" \
                > "$OUT/$name-$t.log" 2>&1; then
            echo "grouped: $name $t: build FAILED (see $OUT/$name-$t.log)"; continue
        fi
        bin/cnnc build "$OUT/$name.onnx" -o "$OUT/$name-$t-onnx" --target "$t" --cc "$CC" --cflags "$CFLAGS" \
            > "$OUT/$name-$t-onnx.log" 2>&1 || echo "grouped: $name $t: the ONNX file did not build (see $OUT/$name-$t-onnx.log)"
        runs=$(awk -v m="$macs" -v t="$t" 'BEGIN { r = int((t == "generic" ? 2e8 : 2e9) / m); if (r < 3) r = 3; if (r > 300) r = 300; print r }')
        echo "$name $t $macs $OUT/$name-$t/$name $OUT/$name.in.npy $runs" >> "$OUT/todo.txt"
    done
    if [ -f "$OUT/$name-avx512/$name" ]; then
        bin/cnnc build "$OUT/$name.lua" --target avx512 --dump select | sed -n 's/^conv2d *Conv2D *//p' | sed "s/^/$name: /"
    fi
done < "$OUT/list.txt"
if [ $WHOLE = 1 ]; then
    for t in $(echo "$TARGETS" | tr ',' ' '); do
        bin/cnnc build "$OUT/regnet_x_400mf.onnx" -o "$OUT/regnet-$t" --target "$t" --cc "$CC" --cflags "$CFLAGS" \
            > "$OUT/regnet-$t.log" 2>&1 &&
            echo "regnet_x_400mf $t $(bin/cnnc summary "$OUT/regnet_x_400mf.onnx" --target "$t" |
                sed -n 's/^Multiply-adds per prediction[^:]*: .*, \([0-9]*\)$/\1/p') $OUT/regnet-$t/regnet_x_400mf $OUT/regnet_x_400mf.npy 5" >> "$OUT/todo.txt"
    done
fi

: > "$OUT/times.txt"
r=1
while [ $r -le "$ROUNDS" ]; do
    while read -r name t macs exe input runs; do
        "$exe" "$input" --bench "$runs" 2>&1 |
            sed -n "s/^bench: [0-9]* runs, median \([0-9.]*\) us, min \([0-9.]*\) us.*/$name $t \1 \2/p" >> "$OUT/times.txt"
    done < "$OUT/todo.txt"
    r=$((r + 1))
done

p512=$(peak_of avx512); p2=$(peak_of avx2)
{
    echo "peak (bench/peak.c, best of 1 thread): avx512 ${p512:-?} GFLOP/s, avx2 ${p2:-?} GFLOP/s; $ROUNDS rounds"
    printf '%-20s %-8s %10s %10s %10s %9s %8s\n' layer target MACs 'min us' 'median us' 'GFLOP/s' '% peak'
    while read -r name t macs _; do
        peak=$p512; [ "$t" = avx2 ] && peak=$p2
        awk -v n="$name" -v t="$t" -v macs="$macs" -v peak="${peak:-0}" '
            $1 == n && $2 == t { m[++k] = $3; if (min == "" || $4 < min) min = $4 }
            END { if (k == 0) exit
                  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (m[j] < m[i]) { x = m[i]; m[i] = m[j]; m[j] = x }
                  med = (k % 2) ? m[(k + 1) / 2] : (m[k / 2] + m[k / 2 + 1]) / 2
                  g = 2 * macs / (min * 1000)
                  printf "%-20s %-8s %10d %10.1f %10.1f %9.1f %7.1f%%\n", n, t, macs, min, med, g, (peak > 0 ? 100 * g / peak : 0) }' \
            "$OUT/times.txt"
    done < "$OUT/todo.txt"
} | tee "$RES"
