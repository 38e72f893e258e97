#!/bin/sh
# make test-sanitize: the C runtime's tests and random networks (generated model code and
# runtime) built with AddressSanitizer and UndefinedBehaviorSanitizer, under gcc and clang,
# any report fatal; then one executable under valgrind memcheck. Ends with
# "sanitize: N passed, M failed".
cd "$(dirname "$0")/.." || exit 1
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
pass=0
fail=0
# verdict NAME: counts step NAME by its exit status (build/sanitize-NAME.rc).
verdict() {
    if [ "$(cat "build/sanitize-$1.rc" 2>/dev/null)" = 0 ]; then
        pass=$((pass + 1)); echo "ok   $1"
    else
        fail=$((fail + 1)); echo "FAIL $1 (build/sanitize-$1.log):"; tail -30 "build/sanitize-$1.log"
    fi
}
# start NAME CMD...: runs step NAME in the background (its output in build/sanitize-NAME.log).
start() {
    name=$1; shift
    rm -f "build/sanitize-$name.rc"
    ("$@" > "build/sanitize-$name.log" 2>&1; echo $? > "build/sanitize-$name.rc") &
}
step() { start "$@"; wait; verdict "$1"; }
mkdir -p build
compilers=""
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 && compilers="$compilers $cc"
done
# The runtime's builds (one compiler process at a time) under both compilers side by side.
for cc in $compilers; do
    start "runtime-$cc" env CC=$cc CNNC_TEST_CFLAGS="$san" sh tests/runtime/run.sh "build/sanitize-runtime-$cc"
done
wait
for cc in $compilers; do verdict "runtime-$cc"; done
for cc in $compilers; do
    # Natively built networks only (--cross ''): LeakSanitizer does not work under qemu-user.
    step "differential-$cc" env CC=$cc luajit tests/differential/run.lua --count "${SANITIZE_COUNT:-10}" \
        --seed 7 --cflags "-O1 $san" --cross ''
done
if command -v valgrind >/dev/null 2>&1; then
    step valgrind sh -c 'bin/cnnc build examples/keras_mnist.lua --weights examples/fashion_mnist/weights \
        -o build/sanitize-valgrind --cflags "-O1 -g" > /dev/null &&
        valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
            build/sanitize-valgrind/mnist examples/data/fashion0.pgm -o build/sanitize-valgrind/out.npy'
else
    echo "valgrind: not installed, skipped"
fi
echo "sanitize: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
