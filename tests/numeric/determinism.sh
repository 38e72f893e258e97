#!/bin/sh
# Determinism across processes: `cnnc build` run twice, in two separate processes (LuaJIT
# seeds its string hashes per process, so an iteration order that leaks into the output
# shows up here and not in tests/lua/emit_spec.lua's in-process check), must write
# byte-identical NAME.c, NAME.h and NAME.weights.bin, for a DSL model and ONNX models, on
# every target (neon's C is only written, not built), with --threads 2 and in blob mode.
# Then executables run the same input twice and must write bit-identical outputs.
# One "ok"/"FAIL" line per configuration, then "done".
cd "$(dirname "$0")/../.." || exit 1
work=$(mktemp -d build/numeric-determinism.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
MNIST="examples/keras_mnist.lua --weights examples/fashion_mnist/weights"
RESNET=tests/golden/onnx/resnet_small/model.onnx
MOBILE=tests/golden/onnx/mobilenet_block/model.onnx
n=0
same_build() {
    label=$1; shift
    n=$((n + 1))
    a="$work/$n.a"; b="$work/$n.b"
    if ! bin/cnnc build "$@" --no-exe -o "$a" > "$work/$n.log" 2>&1 ||
       ! bin/cnnc build "$@" --no-exe -o "$b" >> "$work/$n.log" 2>&1; then
        echo "FAIL determinism $label: cnnc build failed: $(tail -3 "$work/$n.log")"; return
    fi
    files=$(cd "$a" && ls)
    if [ "$files" != "$(cd "$b" && ls)" ]; then
        echo "FAIL determinism $label: the two builds wrote different files"; return
    fi
    for f in $files; do
        if ! cmp -s "$a/$f" "$b/$f"; then
            echo "FAIL determinism $label: $f differs between two builds ($(cmp "$a/$f" "$b/$f" | head -1))"; return
        fi
    done
    echo "ok   determinism $label: $(echo $files | tr '\n' ' ')identical"
}
for t in generic sse4 avx2 avx512 neon; do
    same_build "dsl $t" $MNIST --target $t
    same_build "onnx $t" $RESNET --target $t
done
same_build "dsl avx512 threads 2" $MNIST --target avx512 --threads 2
same_build "dsl generic blob" $MNIST --blob
same_build "dsl native no-fuse" $MNIST --target native --no-fuse
same_build "dsl edges" examples/edges.lua
same_build "onnx native threads 2" $RESNET --target native --threads 2
same_build "onnx generic blob" $RESNET --blob
same_build "onnx depthwise avx2" $MOBILE --target avx2

# The same input twice through one executable gives the same bits.
same_run() {
    label=$1; input=$2; shift 2
    n=$((n + 1))
    d="$work/$n.run"
    if ! bin/cnnc build "$@" --name net -o "$d" > "$work/$n.log" 2>&1; then
        echo "FAIL rerun $label: cnnc build failed: $(tail -3 "$work/$n.log")"; return
    fi
    if ! "$d/net" "$input" -o "$d/out1.npy" > /dev/null 2>> "$work/$n.log" ||
       ! "$d/net" "$input" -o "$d/out2.npy" > /dev/null 2>> "$work/$n.log"; then
        echo "FAIL rerun $label: the executable failed: $(tail -3 "$work/$n.log")"; return
    fi
    if cmp -s "$d/out1.npy" "$d/out2.npy"; then echo "ok   rerun $label: bit-identical outputs"
    else echo "FAIL rerun $label: two runs on the same input differ"; fi
}
same_run "dsl native threads 2 blob" examples/data/fashion0.pgm $MNIST --target native --threads 2 --blob
same_run "onnx native" tests/golden/onnx/resnet_small/input.npy $RESNET --target native
echo done
