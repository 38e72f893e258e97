#!/bin/sh
# The Keras import suite (tests/run_all.sh runs it as `keras`):
#   spec/        busted specs: the JSON, zip and HDF5 readers, configuration forms, refusals,
#                the Functional API of the model language, cnnc.load (compile and predict)
#   models.lua   the Keras files of tests/keras/data (.h5, .keras, JSON + weights) against
#                TensorFlow.js's or PyTorch's outputs: reference interpreter, `cnnc convert`
#                round trips, C builds, and the same networks written in Lua by hand
# Prints each part's output and ends with "keras: N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
suite=keras
. tests/lib/parts.sh
part spec luajit /usr/bin/busted --lpath='compiler/?.lua' -o utfTerminal tests/keras/spec
part models luajit tests/keras/models.lua
parts_end
