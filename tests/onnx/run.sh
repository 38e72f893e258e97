#!/bin/sh
# The ONNX import suite (tests/run_all.sh runs it as `onnx`; the conformance run against
# ONNX's own test data is separate: tests/onnx/conformance.lua, `make conformance`):
#   spec/            busted specs of the protobuf decoder and the importer
#   models.lua       real networks exported from PyTorch (tests/golden/onnx) on every target
#   fashion_mnist.lua  the trained Fashion-MNIST net, Lua and ONNX builds, all 10,000 test images
#   zoo.lua          the model zoo (tests/onnx/zoo): torchvision's families, segmentation nets,
#                    U-Nets, ESPCN, ConvNeXt, R4, export patterns; against PyTorch and ONNX Runtime
#   ort_diff.lua     40 generated graphs of random operators, the importer against ONNX Runtime
# Prints each part's output and ends with "onnx: N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
logs=build/test-logs/onnx
mkdir -p "$logs"
total_pass=0
total_fail=0
part() {
    name=$1; shift
    "$@" >"$logs/$name.log" 2>&1
    rc=$?
    cat "$logs/$name.log"
    counts=$(luajit tests/counts.lua "$logs/$name.log")
    if [ -z "$counts" ]; then pass=0; fail=1; echo "onnx: $name reported no counts (exit $rc)"
    else
        pass=${counts% *}; fail=${counts#* }
        if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "onnx: $name exited with status $rc"; fi
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}
part spec luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal tests/onnx/spec
part models luajit tests/onnx/models.lua
part fashion luajit tests/onnx/fashion_mnist.lua
part zoo luajit tests/onnx/zoo.lua
part ort_diff luajit tests/onnx/ort_diff.lua
echo "onnx: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
