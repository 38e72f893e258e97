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
suite=onnx
. tests/lib/parts.sh
part spec luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal tests/onnx/spec
part models luajit tests/onnx/models.lua
# two single-process parts side by side
part_start fashion luajit tests/onnx/fashion_mnist.lua
part_start ort_diff luajit tests/onnx/ort_diff.lua
part_collect fashion
part_collect ort_diff
part zoo luajit tests/onnx/zoo.lua
parts_end
