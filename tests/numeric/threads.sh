#!/bin/sh
# NAME_predict_ws from 4 threads at once, each with its own workspace, under
# ThreadSanitizer (clang -fsanitize=thread): the Keras MNIST network built for the generic
# and the native target, each with --threads 1 and --threads 2 (a prediction then starts
# threads of its own). Every output must be bit-identical to a single-threaded run and
# TSan must report nothing. Then the team API (tests/numeric/team.c) of --threads 3 builds
# sharing every layer they can, under TSan too. One "ok"/"FAIL" line per build, then
# "done".
cd "$(dirname "$0")/../.." || exit 1
work=$(mktemp -d build/numeric-threads.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
cc=${TSAN_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "FAIL threads: $cc not found (the TSan test needs clang)"; echo done; exit 1
fi
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
for target in generic native; do
    for threads in 1 2; do
        name="threads $target/t$threads"
        dir="$work/$target-$threads"
        mkdir -p "$dir"
        if ! bin/cnnc build examples/keras_mnist.lua --weights examples/fashion_mnist/weights --name mnist \
                --target $target --threads $threads --no-blob --no-exe -o "$dir" > "$dir/build.log" 2>&1; then
            echo "FAIL $name: cnnc build failed: $(tail -3 "$dir/build.log")"; continue
        fi
        if ! $cc -std=c99 -O1 -g -fsanitize=thread -pthread -I "$dir" -I runtime -DCNNC_MODEL_HEADER='"mnist.h"' \
                -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST tests/numeric/threads.c "$dir/mnist.c" -lm \
                -o "$dir/threads" > "$dir/cc.log" 2>&1; then
            echo "FAIL $name: $cc -fsanitize=thread failed: $(head -5 "$dir/cc.log")"; continue
        fi
        "$dir/threads" 30 > "$dir/run.log" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && ! grep -q 'ThreadSanitizer' "$dir/run.log"; then
            echo "ok   $name: $(tail -1 "$dir/run.log"), no TSan report"
        else
            echo "FAIL $name (exit $rc):"; head -40 "$dir/run.log"
        fi
    done
done
for target in generic native; do
    name="team $target/t3"
    dir="$work/team-$target"
    mkdir -p "$dir"
    if ! bin/cnnc build examples/keras_mnist.lua --weights examples/fashion_mnist/weights --name mnist \
            --target $target --threads 3 --tune share_min_ns=0 --tune team_min_ns=0 --no-blob --no-exe \
            -o "$dir" > "$dir/build.log" 2>&1; then
        echo "FAIL $name: cnnc build failed: $(tail -3 "$dir/build.log")"; continue
    fi
    if ! $cc -std=c99 -O1 -g -fsanitize=thread -pthread -I "$dir" -I runtime -DCNNC_MODEL_HEADER='"mnist.h"' \
            -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST -DCNNC_TEAM_API tests/numeric/team.c "$dir/mnist.c" -lm \
            -o "$dir/team" > "$dir/cc.log" 2>&1; then
        echo "FAIL $name: $cc -fsanitize=thread failed: $(head -5 "$dir/cc.log")"; continue
    fi
    "$dir/team" 3 > "$dir/run.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && ! grep -q 'ThreadSanitizer' "$dir/run.log"; then
        echo "ok   $name: $(tail -1 "$dir/run.log"), no TSan report"
    else
        echo "FAIL $name (exit $rc):"; head -40 "$dir/run.log"
    fi
done
echo done
