#!/bin/sh
cd "$(dirname "$0")/../.." && exec luajit tests/examples/run.lua "$@"
