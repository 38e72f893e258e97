#!/bin/sh
# Builds and runs the C runtime's tests.
#
# usage: tests/runtime/run.sh [BUILD_DIR]   (default build/tests/runtime, relative to the
#                                           current directory)
#
# - compiles the runtime and all Criterion tests into ONE executable (one Synthesis line
#   for the top-level runner), with -std=c99 -Wall -Wextra -Werror -pedantic;
# - builds a model executable with exactly the compiler's command line, using the fake
#   model as OUT/NAME.c, and lets test_cli.c run it (CNNC_RUNTIME_EXE);
# - compiles the runtime with clang too, when clang is installed.
# Environment: CC (default cc), CNNC_TEST_CFLAGS (extra flags, e.g.
# "-fsanitize=address,undefined -fno-omit-frame-pointer").
# Exits non-zero if any build or test fails.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build/tests/runtime}
mkdir -p "$build"
build=$(cd "$build" && pwd)
cc=${CC:-cc}
strict="-std=c99 -Wall -Wextra -Werror -pedantic"
extra=${CNNC_TEST_CFLAGS:-}

cd "$root"
runtime="runtime/cnnc_cli.c runtime/cnnc_grad.c runtime/cnnc_io.c runtime/cnnc_npy.c runtime/cnnc_pnm.c"
tests="tests/runtime/fake_model.c tests/runtime/test_util.c tests/runtime/test_npy.c
       tests/runtime/test_pnm.c tests/runtime/test_raw.c tests/runtime/test_cli.c
       tests/runtime/test_multi.c tests/runtime/test_grad.c"

# The line the compiler uses for an executable (plus the strict warnings); the fake
# model stands in for OUT/NAME.c and NAME.h.
# The two executables are built side by side (a compiler process compiles its files in turn).
# shellcheck disable=SC2086
$cc $strict -O2 $extra -I tests/runtime -I runtime \
    -DCNNC_MODEL_HEADER='"fake_model.h"' -DCNNC_MODEL=fake -DCNNC_MODEL_UC=FAKE \
    runtime/cnnc_main.c $runtime tests/runtime/fake_model.c -lm -o "$build/fake" &
fake=$!

# shellcheck disable=SC2086
$cc $strict -O1 -g $extra -I runtime -I tests/runtime $runtime $tests \
    -lcriterion -lm -o "$build/runtime_tests" &
tests_exe=$!
wait $fake
wait $tests_exe

if command -v clang >/dev/null 2>&1; then
    for f in $runtime; do
        # shellcheck disable=SC2086
        clang $strict -O2 -c "$f" -o "$build/clang_$(basename "$f" .c).o"
    done
    clang $strict -O2 -I tests/runtime -I runtime \
        -DCNNC_MODEL_HEADER='"fake_model.h"' -DCNNC_MODEL=fake -DCNNC_MODEL_UC=FAKE \
        -c runtime/cnnc_main.c -o "$build/clang_cnnc_main.o"
    echo "runtime: clang build ok"
else
    echo "runtime: clang not found, skipped the clang build"
fi

CNNC_RUNTIME_EXE="$build/fake" "$build/runtime_tests"
