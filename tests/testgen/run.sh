#!/bin/sh
# Tests of `cnnc test`: see run.lua beside this file (tests/run_all.sh runs this one).
exec luajit "$(dirname "$0")/run.lua" "$@"
