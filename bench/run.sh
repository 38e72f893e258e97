#!/bin/sh
# bench/run.sh: cnnc's benchmark (`make bench`). Builds the harnesses into build/bench/,
# measures the machine's peak, then for each reference network R1-R4 (bench/models/)
# times cnnc's generated code for each requested target, oneDNN, ONNX Runtime (on the
# network exported from PyTorch to ONNX) and PyTorch on the same weights and input, checks
# that their outputs agree; then times the gradients (R2's backward against its forward,
# and a training epoch of the Keras MNIST network, next to PyTorch's), and writes
# bench/results.md.
#
#   sh bench/run.sh [--nets r1,r2] [--targets generic,avx2,avx512]
#
# Environment (all optional):
#   BENCH_NETS        networks to run (default r1,r2,r3,r4); --nets overrides
#   BENCH_TARGETS     cnnc targets (default: generic plus avx2/avx512 when the host has
#                     them); --targets overrides. A target `cnnc build` rejects is skipped
#                     with a line saying why.
#   BENCH_R3_TARGETS  R3 targets: `all` (default), `best` (the last requested target
#                     that builds: for when R3 builds are slow), or a list
#   BENCH_CFLAGS      C flags for cnnc's code (default -O3 -march=native); BENCH_CC (gcc)
#   BENCH_RUNS_R1 .. BENCH_RUNS_R4        timed runs of cnnc and oneDNN per network
#   BENCH_TORCH_RUNS_R1 .. _R4            timed runs of PyTorch per network
#   BENCH_PYTHON      the Python with torch (default /usr/bin/python3)
#   BENCH_LAYERS=0    skip cnnc's per-layer timing of R2/R3 (each layer built alone)
#   BENCH_LAYER_ROUNDS  rounds of the per-layer timing (default 4)
#   BENCH_PAIR_ROUNDS   rounds of oneDNN, ONNX Runtime and cnnc's best target in turn,
#                     and of the batch runs (default 5)
#   BENCH_BATCH       items of the batch runs (default 64; 0 skips them; never R3)
#   CNNC_NPM_DIR      where onnxruntime-node is installed (default build/npm, by make deps)
#   BENCH_GRAD        the gradient figures: r2 (R2's backward/forward), train (a training
#                     epoch of the Keras MNIST network), both (default r2,train), 0 for none
#   BENCH_GRAD_ROUNDS   rounds of R2's forward and backward, cnnc and PyTorch in turn (5)
#   BENCH_GRAD_RUNS, BENCH_GRAD_TORCH_RUNS  timed runs per round (100, PyTorch 20)
#   BENCH_TRAIN_IMAGES  images of the training epoch (default 60000, the full epoch; fewer
#                     for a quick run)
#   BENCH_TRAIN_ROUNDS  rounds of the epoch, cnnc and PyTorch at 1 and 2 threads in turn (2)
#   BENCH_TORCH_OMP_WAIT  OMP_WAIT_POLICY of PyTorch's epochs (default PASSIVE; `default`:
#                     unset)
#   BENCH_REUSE=1     reuse cnnc builds already in build/bench (build times from then)
#   BENCH_OUT         output folder (default build/bench); BENCH_RESULTS (bench/results.md)
# Everything the harnesses print is kept in build/bench/logs/.

set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${BENCH_OUT:-build/bench}
RESULTS=${BENCH_RESULTS:-bench/results.md}
NETS=${BENCH_NETS:-r1,r2,r3,r4}
TARGETS=${BENCH_TARGETS:-}
R3_TARGETS=${BENCH_R3_TARGETS:-all}
CFLAGS=${BENCH_CFLAGS:--O3 -march=native}
CC=${BENCH_CC:-gcc}
CNNC=${BENCH_CNNC:-bin/cnnc}
PY=${BENCH_PYTHON:-/usr/bin/python3}
REUSE=${BENCH_REUSE:-0}

while [ $# -gt 0 ]; do
    case $1 in
    --nets) NETS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see sh bench/run.sh --help)" >&2; exit 2 ;;
    esac
done

TAB=$(printf '\t')
RES=$OUT/results.tsv
LOGS=$OUT/logs
mkdir -p "$OUT" "$LOGS" "$OUT/nets" "$OUT/cnnc" || exit 1
: > "$RES"

say() { printf '%s\n' "$*"; }
# rec KIND key=value ...: one tab-separated record for bench/report.lua
rec() {
    line=$1; shift
    for kv in "$@"; do line="$line$TAB$kv"; done
    printf '%s\n' "$line" >> "$RES"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# the `bench: N runs, median X us, min Y us` line of a log, as "N X Y"
bench_line() { sed -n 's/^bench: \([0-9]*\) runs, median \([0-9.]*\) us, min \([0-9.]*\) us.*/\1 \2 \3/p' "$1" | tail -n 1; }
# `N MEDIAN MIN` over the rounds of FILE's lines whose first two fields are $2 and $3 (fields
# 4 and 5: a round's median and minimum): the median of the medians, the least minimum
rounds_agg() {
    awk -v a="$2" -v b="$3" '$1 == a && $2 == b { m[++k] = $4; if (min == "" || $5 < min) min = $5 }
        END { if (k == 0) exit; for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (m[j] < m[i]) { t = m[i]; m[i] = m[j]; m[j] = t }
              med = (k % 2) ? m[(k + 1) / 2] : (m[k / 2] + m[k / 2 + 1]) / 2; print k, med, min }' "$1"
}
has_flag() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -qx "$1"; }
in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }

START=$(now)

# ---------------------------------------------------------------- tools
if ! command -v luajit >/dev/null 2>&1; then
    echo "bench: luajit is missing (make deps)" >&2; exit 1
fi
HAVE_DNNL=1
if [ ! -f /usr/include/oneapi/dnnl/dnnl.h ]; then
    if [ "$(id -u)" = 0 ]; then
        say "bench: installing libdnnl-dev (oneDNN)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdnnl-dev; } >"$LOGS/apt.txt" 2>&1
    fi
    if [ ! -f /usr/include/oneapi/dnnl/dnnl.h ]; then
        HAVE_DNNL=0
        say "onednn: skipped (libdnnl-dev is not installed: sudo apt-get install -y libdnnl-dev)"
    fi
fi

say "bench: building the harnesses into $OUT"
if ! $CC -std=c11 -O2 -Wall -Wextra bench/peak.c -o "$OUT/peak" -pthread 2>"$LOGS/peak-build.txt"; then
    echo "bench: cannot build bench/peak.c (see $LOGS/peak-build.txt)" >&2; exit 1
fi
if [ $HAVE_DNNL = 1 ] && ! $CC -std=c11 -O2 -Wall -Wextra -fopenmp bench/onednn_bench.c -o "$OUT/onednn_bench" \
        -ldnnl 2>"$LOGS/onednn-build.txt"; then
    HAVE_DNNL=0
    say "onednn: skipped (bench/onednn_bench.c does not build, see $LOGS/onednn-build.txt)"
fi

# ONNX Runtime (npm's onnxruntime-node, installed by `make deps`) runs the networks as
# PyTorch exports them to ONNX (bench/torch_bench.py --export, bench/ort_bench.js).
HAVE_ORT=1
NPM_DIR=${CNNC_NPM_DIR:-build/npm}
if ! command -v node >/dev/null 2>&1 || [ ! -d "$NPM_DIR/node_modules/onnxruntime-node" ]; then
    HAVE_ORT=0
    say "ort: skipped (onnxruntime-node is not installed in $NPM_DIR: make deps)"
fi
BATCH=${BENCH_BATCH:-64}

# ---------------------------------------------------------------- machine
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fms=$(awk -F': ' '/^cpu family/ { f = $2 } /^model[[:space:]]*:/ { m = $2 } /^stepping/ { s = $2 }
                 END { printf "family %s, model %s, stepping %s", f, m, s }' /proc/cpuinfo)
grep -q '^flags.* hypervisor' /proc/cpuinfo && fms="$fms; virtual machine"
cpu="$cpu ($fms)"
isa=""
for f in sse4_1 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_tile; do
    has_flag $f && isa="$isa $f"
done
l2=$(lscpu 2>/dev/null | sed -n 's/^L2 cache:[[:space:]]*//p')
l3=$(lscpu 2>/dev/null | sed -n 's/^L3 cache:[[:space:]]*//p')
rev=$(git rev-parse --short HEAD 2>/dev/null)
[ -n "$(git status --porcelain -- compiler runtime templates 2>/dev/null)" ] && rev="$rev (+ uncommitted changes)"
rec machine "cpu=$cpu" "cores=$(nproc)" "isa=${isa# }" "l2=$l2" "l3=$l3" \
    "load=$(cut -d' ' -f1-3 /proc/loadavg)" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "cc=$($CC --version | head -n 1)" "cflags=$CFLAGS" "cnnc=$rev" "kernel=$(uname -r)"
say "machine: $cpu, $(nproc) cores,$isa; load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- peak
say "peak: measuring (bench/peak.c)"
"$OUT/peak" > "$LOGS/peak.txt" 2>&1
cat "$LOGS/peak.txt"
sed -n 's/^peak \([a-z0-9]*\) threads=\([0-9]*\) median=\([0-9.]*\) best=\([0-9.]*\) GFLOP\/s (\(.*\))$/\1 \2 \3 \4 \5/p' \
    "$LOGS/peak.txt" | while read -r pisa pt pmed pbest pdesc; do
    rec peak "isa=$pisa" "threads=$pt" "median=$pmed" "best=$pbest" "desc=$pdesc"
done

# ---------------------------------------------------------------- targets
HAS_TARGET_OPT=0
$CNNC build --help 2>&1 | grep -q -- '--target' && HAS_TARGET_OPT=1
if [ -z "$TARGETS" ]; then
    TARGETS=generic
    has_flag avx2 && has_flag fma && TARGETS="$TARGETS,avx2"
    has_flag avx512f && TARGETS="$TARGETS,avx512"
fi
rec config "nets=$NETS" "targets=$TARGETS" "r3_targets=$R3_TARGETS" "target_option=$HAS_TARGET_OPT"
say "bench: networks $NETS; cnnc targets $TARGETS; cflags $CFLAGS"
[ $HAS_TARGET_OPT = 0 ] && say "bench: cnnc build has no --target option yet: generic is the portable C it emits today"

# onednn ISA matching a cnnc target (for the same-ISA comparison)
onednn_isa() {
    case $1 in sse4) echo sse41 ;; avx2) echo avx2 ;; avx512) echo avx512_core ;; *) echo "" ;; esac
}

# build_cnnc NET TARGET DIR: builds, records the build; returns 0 when an executable exists
build_cnnc() {
    net=$1 t=$2 dir=$3
    if [ "$REUSE" = 1 ] && [ -x "$dir/$net" ] && [ -f "$dir/build.rec" ]; then
        say "cnnc $net $t: reusing the build in $dir"
        cat "$dir/build.rec" >> "$RES"
        return 0
    fi
    topt=""
    if [ $HAS_TARGET_OPT = 1 ]; then
        topt="--target $t"
    elif [ "$t" != generic ]; then
        say "cnnc $net $t: skipped (cnnc build has no --target option yet)"
        rec skip "net=$net" "impl=cnnc" "variant=$t" "reason=cnnc build has no --target option yet"
        return 1
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    cctime=$dir/cc.time
    t0=$(now)
    # shellcheck disable=SC2086
    BENCH_CC_TIME_FILE=$cctime $CNNC build "bench/models/$net.lua" -o "$dir" $topt \
        --cc "sh $PWD/bench/timecc.sh $CC" --cflags "$CFLAGS" > "$dir/build.log" 2>&1
    rc=$?
    t1=$(now)
    cp "$dir/build.log" "$LOGS/build-$net-$t.txt"
    if [ $rc -ne 0 ] || [ ! -x "$dir/$net" ]; then
        msg=$(grep -m1 -i 'cnnc' "$dir/build.log" || head -n 1 "$dir/build.log")
        if printf '%s' "$msg" | grep -qi 'target'; then
            say "cnnc $net $t: skipped (cnnc build rejected --target $t: $msg)"
            rec skip "net=$net" "impl=cnnc" "variant=$t" "reason=cnnc build rejected --target $t: $msg"
        else
            say "cnnc $net $t: FAILED to build ($msg; see $LOGS/build-$net-$t.txt)"
            rec skip "net=$net" "impl=cnnc" "variant=$t" "reason=build FAILED: $msg"
        fi
        return 1
    fi
    total=$(elapsed "$t0" "$t1")
    cc=$(awk '{ s += $1 } END { printf "%.2f", s }' "$cctime" 2>/dev/null)
    # code generation alone (--no-exe), for its time and peak memory (GNU time's maxrss)
    gen="" peak_kb=""
    if [ -x /usr/bin/time ]; then
        t0=$(now)
        # shellcheck disable=SC2086
        /usr/bin/time -f '%M' -o "$dir/gen.mem" $CNNC build "bench/models/$net.lua" -o "$dir/gen" $topt --no-exe \
            > "$LOGS/gen-$net-$t.txt" 2>&1 && gen=$(elapsed "$t0" "$(now)") && peak_kb=$(tail -n 1 "$dir/gen.mem")
        rm -rf "$dir/gen"
    fi
    c_bytes=$(wc -c < "$dir/$net.c")
    # weight literals: the `static const float NAME[N] = {` ... `};` arrays
    w_bytes=$(awk '/^static const float [A-Za-z0-9_]+\[[0-9]+\][^=]*= *\{ *$/ { w = 1 }
                   w { n += length($0) + 1 } w && /^};/ { w = 0 } END { print n + 0 }' "$dir/$net.c")
    arena=$(sed -n 's/^#define [A-Za-z0-9_]*_WORKSPACE_SIZE[^0-9]*\([0-9][0-9]*\).*/\1/p' "$dir/$net.h" | head -n 1)
    exe_bytes=$(wc -c < "$dir/$net")
    # weights cnnc keeps beside the C (NAME.weights.bin, linked in) instead of literals
    blob_bytes=$(cat "$dir/$net".*.bin 2>/dev/null | wc -c)
    printf 'build%snet=%s%starget=%s%sseconds=%s%scc=%s%sc_bytes=%s%scode_bytes=%s%sblob_bytes=%s%sarena=%s%sexe_bytes=%s%sgen=%s%speak_kb=%s\n' \
        "$TAB" "$net" "$TAB" "$t" "$TAB" "$total" "$TAB" "$cc" "$TAB" "$c_bytes" "$TAB" "$((c_bytes - w_bytes))" \
        "$TAB" "$blob_bytes" "$TAB" "${arena:-?}" "$TAB" "$exe_bytes" "$TAB" "$gen" "$TAB" "$peak_kb" > "$dir/build.rec"
    cat "$dir/build.rec" >> "$RES"
    [ -n "$peak_kb" ] && say "cnnc $net $t: code generation alone ${gen}s, peak memory $((peak_kb / 1024)) MB"
    say "cnnc $net $t: built in ${total}s (C compiler ${cc}s); $net.c $c_bytes bytes, $((c_bytes - w_bytes)) without weight literals; weights blob $blob_bytes bytes; arena ${arena:-?} bytes"
    return 0
}

# time_rec NET IMPL VARIANT THREADS LOG: records the bench line of LOG
time_rec() {
    set -- "$1" "$2" "$3" "$4" "$5" "$(bench_line "$5")"
    if [ -z "$6" ]; then
        msg=$(grep -v '^ ' "$5" | tail -n 1)
        say "$2 $1 $3 ${4}T: FAILED ($msg; see $5)"
        rec skip "net=$1" "impl=$2" "variant=$3" "threads=$4" "reason=run FAILED: $msg"
        return 1
    fi
    # shellcheck disable=SC2086
    set -- "$1" "$2" "$3" "$4" "$5" $6
    rec time "net=$1" "impl=$2" "variant=$3" "threads=$4" "runs=$6" "median=$7" "min=$8"
    say "$2 $1 $3 ${4}T: median $7 us, min $8 us ($6 runs)"
}

check() { # check NET LABEL REF OTHER
    line=$(luajit bench/compare.lua "$3" "$4" "$2")
    say "$line"
    err=$(printf '%s' "$line" |
        sed -n 's/.*max abs error \([^ ]*\) (tolerance \([^,]*\), max|ref| \([^,]*\), relative \([^)]*\)) \(.*\)$/\1 \2 \3 \4 \5/p')
    # shellcheck disable=SC2086
    set -- "$1" "$2" $err
    rec check "net=$1" "what=$2" "err=${3:-?}" "tol=${4:-?}" "maxref=${5:-?}" "rel=${6:-?}" "status=${7:-FAILED}"
}

# ---------------------------------------------------------------- networks
for net in $(echo "$NETS" | tr ',' ' '); do
    if [ ! -f "bench/models/$net.lua" ]; then
        say "bench: no model bench/models/$net.lua, skipping $net"; continue
    fi
    case $net in
    r1) runs=${BENCH_RUNS_R1:-1000} warm=20 truns=${BENCH_TORCH_RUNS_R1:-300} ;;
    r2) runs=${BENCH_RUNS_R2:-100} warm=5 truns=${BENCH_TORCH_RUNS_R2:-30} ;;
    r3) runs=${BENCH_RUNS_R3:-3} warm=1 truns=${BENCH_TORCH_RUNS_R3:-2} ;;
    r4) runs=${BENCH_RUNS_R4:-300} warm=10 truns=${BENCH_TORCH_RUNS_R4:-100} ;;
    *) runs=20 warm=2 truns=10 ;;
    esac
    twarm=$warm; [ "$twarm" -gt 5 ] && twarm=5
    say ""
    say "== $net =="
    nd=$OUT/nets/$net
    mkdir -p "$nd"
    if ! luajit bench/export_weights.lua "bench/models/$net.lua" "$nd" > "$LOGS/export-$net.txt" 2>&1; then
        say "bench: $net: cannot export the weights: $(tail -n 1 "$LOGS/export-$net.txt")"; continue
    fi
    macs=$($CNNC summary "bench/models/$net.lua" 2>/dev/null | sed -n 's/^Multiply-adds per prediction[^:]*: .*, \([0-9][0-9]*\)$/\1/p' | head -n 1)
    rec net "net=$net" "macs=${macs:-0}" "runs=$runs" "torch_runs=$truns"
    say "$net: ${macs:-?} multiply-adds per prediction; $runs timed runs (PyTorch $truns)"

    # oneDNN first: its output is the reference the others are checked against.
    if [ $HAVE_DNNL = 1 ]; then
        for t in 1 2; do
            pl=""; [ $t = 1 ] && { [ $net = r2 ] || [ $net = r3 ]; } && pl=--per-layer
            log=$LOGS/onednn-$net-${t}T.txt
            OMP_NUM_THREADS=$t "$OUT/onednn_bench" "$nd" --threads $t --runs "$runs" --warmup "$warm" $pl \
                --verbose -o "$nd/onednn_${t}T.npy" > "$log" 2>&1
            time_rec "$net" onednn best "$t" "$log"
            sed -n 's/^layer \([^ ]*\) \([^ ]*\) \([0-9.]*\) \([0-9.]*\) \([0-9]*\)$/\1 \2 \3 \4 \5/p' "$log" |
                while read -r lname lop lmed lmin lmacs; do
                    rec layer "net=$net" "impl=onednn" "threads=$t" "name=$lname" "op=$lop" "median=$lmed" \
                        "min=$lmin" "macs=$lmacs"
                done
        done
        grep -m1 '^onednn: version' "$LOGS/onednn-$net-1T.txt" > /dev/null &&
            rec onednn "net=$net" "$(grep -m1 '^onednn: version' "$LOGS/onednn-$net-1T.txt" | sed 's/^onednn: /info=/')" \
                "impls=$(sed -n 's/^onednn: [^ ][^ ]*  *\(conv\|dense\)  *\(.*\)$/\2/p' "$LOGS/onednn-$net-1T.txt" | sort | uniq -c |
                    awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')"
        REF=$nd/onednn_1T.npy
        check "$net" "onednn 2T vs 1T" "$REF" "$nd/onednn_2T.npy"
    else
        REF=""
    fi

    # ONNX Runtime on the network exported from PyTorch (batch 1, and a batch for the
    # batch runs below), 1 and 2 intra-op threads.
    ORT_OK=0
    if [ $HAVE_ORT = 1 ]; then
        bl=1; [ "$BATCH" -gt 1 ] && [ $net != r3 ] && bl="1,$BATCH"
        if "$PY" bench/torch_bench.py "$nd" --export "$bl" > "$LOGS/export-onnx-$net.txt" 2>&1 &&
                [ -f "$nd/model_b1.onnx" ]; then
            ORT_OK=1
            for t in 1 2; do
                log=$LOGS/ort-$net-${t}T.txt
                node bench/ort_bench.js "$nd/model_b1.onnx" "$nd/input_b1_nchw.npy" --threads $t --runs "$runs" \
                    --warmup "$warm" -o "$nd/ort_${t}T.npy" > "$log" 2>&1
                time_rec "$net" ort best "$t" "$log" || continue
                [ -n "$REF" ] && check "$net" "onnxruntime ${t}T vs onednn" "$REF" "$nd/ort_${t}T.npy"
            done
            grep -m1 '^ort: version' "$LOGS/ort-$net-1T.txt" > /dev/null &&
                rec ort "net=$net" "info=$(grep -m1 '^ort: version' "$LOGS/ort-$net-1T.txt" | sed 's/^ort: //')"
        else
            say "ort $net: skipped (the ONNX export failed: $(tail -n 1 "$LOGS/export-onnx-$net.txt"))"
            rec skip "net=$net" "impl=ort" "variant=best" "reason=ONNX export failed"
        fi
    fi

    # cnnc, per target
    tlist=$TARGETS
    if [ $net = r3 ] && [ "$R3_TARGETS" != all ]; then
        if [ "$R3_TARGETS" = best ]; then
            tlist=$(echo "$TARGETS" | tr ',' '\n' | awk '{ a[NR] = $0 } END { for (i = NR; i > 0; i--) print a[i] }' | tr '\n' ',')
        else
            tlist=$R3_TARGETS
        fi
    fi
    built_r3=0
    for t in $(echo "$tlist" | tr ',' ' '); do
        if [ $net = r3 ] && [ "$R3_TARGETS" = best ] && [ $built_r3 = 1 ]; then
            say "cnnc r3 $t: skipped (one R3 build takes minutes; BENCH_R3_TARGETS=all runs every target)"
            rec skip "net=$net" "impl=cnnc" "variant=$t" "reason=R3 runs the best target only (BENCH_R3_TARGETS=all for all)"
            continue
        fi
        dir=$OUT/cnnc/$net-$t
        build_cnnc "$net" "$t" "$dir" || continue
        [ $net = r3 ] && built_r3=1
        log=$LOGS/cnnc-$net-$t-1T.txt
        "$dir/$net" "$nd/input.npy" -o "$dir/out.npy" --bench "$runs" --warmup "$warm" > "$log" 2>&1
        time_rec "$net" cnnc "$t" 1 "$log" || continue
        if $CNNC build --help 2>&1 | grep -q -- '--threads'; then
            # The same network built with `--threads 2` (layers worth it shared by 2 threads).
            log2=$LOGS/cnnc-$net-$t-2T.txt
            # shellcheck disable=SC2086
            if $CNNC build "bench/models/$net.lua" -o "$dir-2t" --target "$t" --threads 2 --cc "$CC" \
                    --cflags "$CFLAGS" > "$LOGS/build-$net-$t-2T.txt" 2>&1; then
                "$dir-2t/$net" "$nd/input.npy" -o "$dir-2t/out.npy" --bench "$runs" --warmup "$warm" > "$log2" 2>&1
                time_rec "$net" cnnc "$t" 2 "$log2"
                [ -n "$REF" ] && check "$net" "cnnc $t 2 threads vs onednn" "$dir-2t/out.npy" "$REF"
            else
                say "cnnc $net $t 2 threads: FAILED to build (see $LOGS/build-$net-$t-2T.txt)"
                rec skip "net=$net" "impl=cnnc" "variant=$t" "threads=2" "reason=build FAILED"
            fi
        else
            say "cnnc 2 threads: not available yet"
            rec skip "net=$net" "impl=cnnc" "variant=$t" "threads=2" "reason=not available yet"
        fi
        [ -n "$REF" ] && check "$net" "cnnc $t vs onednn" "$dir/out.npy" "$REF"
        # oneDNN held to the target's ISA, single thread: the same-instructions comparison
        isa=$(onednn_isa "$t")
        if [ $HAVE_DNNL = 1 ] && [ -n "$isa" ]; then
            log=$LOGS/onednn-$net-$isa-1T.txt
            OMP_NUM_THREADS=1 "$OUT/onednn_bench" "$nd" --threads 1 --max-isa "$isa" --runs "$runs" \
                --warmup "$warm" > "$log" 2>&1
            time_rec "$net" onednn "$isa" 1 "$log"
        fi
    done

    # Paired rounds: oneDNN and cnnc's best SIMD target (the last built), each at 1 and 2
    # threads, run in turn PAIR_ROUNDS times, so both meet the same spells of this shared
    # machine; figures are the minimum of the rounds' minimums and the median of their
    # medians (report: the "paired rounds" table, cnnc/oneDNN and the 2-thread speedups).
    pt=""
    for t in $(echo "$tlist" | tr ',' ' '); do
        [ "$t" != generic ] && [ -x "$OUT/cnnc/$net-$t/$net" ] && [ -x "$OUT/cnnc/$net-$t-2t/$net" ] && pt=$t
    done
    prounds=${BENCH_PAIR_ROUNDS:-5}
    if { [ $HAVE_DNNL = 1 ] || [ $ORT_OK = 1 ]; } && [ -n "$pt" ]; then
        pruns=$(( (runs + 2) / 3 )); [ "$pruns" -lt 3 ] && pruns=3
        say "paired rounds $net: oneDNN, ONNX Runtime and cnnc $pt, 1 and 2 threads, $prounds rounds of $pruns runs"
        pf=$OUT/pairs-$net.txt
        : > "$pf"
        round=1
        while [ $round -le "$prounds" ]; do
            for t in 1 2; do
                if [ $HAVE_DNNL = 1 ]; then
                    log=$LOGS/pair-$net-onednn-${t}T-$round.txt
                    OMP_NUM_THREADS=$t "$OUT/onednn_bench" "$nd" --threads $t --runs "$pruns" --warmup "$warm" > "$log" 2>&1
                    bl=$(bench_line "$log"); [ -n "$bl" ] && echo "onednn $t $bl" >> "$pf"
                fi
                if [ $ORT_OK = 1 ]; then
                    log=$LOGS/pair-$net-ort-${t}T-$round.txt
                    node bench/ort_bench.js "$nd/model_b1.onnx" "$nd/input_b1_nchw.npy" --threads $t --runs "$pruns" \
                        --warmup "$warm" > "$log" 2>&1
                    bl=$(bench_line "$log"); [ -n "$bl" ] && echo "ort $t $bl" >> "$pf"
                fi
                cdir=$OUT/cnnc/$net-$pt; [ $t = 2 ] && cdir=$cdir-2t
                log=$LOGS/pair-$net-cnnc-${t}T-$round.txt
                "$cdir/$net" "$nd/input.npy" --bench "$pruns" --warmup "$warm" > "$log" 2>&1
                bl=$(bench_line "$log"); [ -n "$bl" ] && echo "cnnc $t $bl" >> "$pf"
            done
            round=$((round + 1))
        done
        for impl in onednn ort cnnc; do
            for t in 1 2; do
                # shellcheck disable=SC2046
                set -- $(rounds_agg "$pf" "$impl" "$t")
                [ $# -eq 3 ] || continue
                rec pair "net=$net" "impl=$impl" "variant=$pt" "threads=$t" "rounds=$1" "median=$2" "min=$3"
                say "paired $net $impl ${t}T: median $2 us, min $3 us ($1 rounds)"
            done
        done
    fi

    # Batch runs: BATCH items through cnnc's --threads 2 build (its executable shares the
    # items between the team's threads) and through ONNX Runtime's batch export, at 1 and 2
    # threads, in turn for PAIR_ROUNDS rounds; items per second from each round's median.
    if [ $ORT_OK = 1 ] && [ -n "$pt" ] && [ -f "$nd/model_b$BATCH.onnx" ]; then
        bf=$OUT/batch-$net.txt
        : > "$bf"
        bruns=3
        say "batch rounds $net: $BATCH items, cnnc $pt and ONNX Runtime, 1 and 2 threads, $prounds rounds"
        round=1
        while [ $round -le "$prounds" ]; do
            for t in 1 2; do
                log=$LOGS/batch-$net-ort-${t}T-$round.txt
                node bench/ort_bench.js "$nd/model_b$BATCH.onnx" "$nd/input_b${BATCH}_nchw.npy" --threads $t \
                    --runs $bruns --warmup 1 > "$log" 2>&1
                sed -n "s/^bench: batch of [0-9]* items, [0-9]* runs, median \([0-9.]*\) ms, \([0-9.]*\) items\/s (best \([0-9.]*\)).*/ort $t \1 \2 \3/p" \
                    "$log" >> "$bf"
                log=$LOGS/batch-$net-cnnc-${t}T-$round.txt
                "$OUT/cnnc/$net-$pt-2t/$net" "$nd/input_b$BATCH.npy" --threads $t --bench $((BATCH * bruns)) \
                    > "$log" 2>&1
                sed -n "s/^bench: batch of [0-9]* items, [0-9]* runs, median \([0-9.]*\) ms, \([0-9.]*\) items\/s (best \([0-9.]*\)).*/cnnc $t \1 \2 \3/p" \
                    "$log" >> "$bf"
            done
            round=$((round + 1))
        done
        for impl in ort cnnc; do
            for t in 1 2; do
                # items/s: the median of the rounds' figures, and the best round's best
                set -- $(awk -v a=$impl -v b=$t '$1 == a && $2 == b { v[++k] = $4; if ($5 > best) best = $5 }
                    END { if (k == 0) exit; for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
                          print k, (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2, best }' "$bf")
                [ $# -eq 3 ] || continue
                rec batch "net=$net" "impl=$impl" "variant=$pt" "threads=$t" "items=$BATCH" "rounds=$1" "items_s=$2" "best=$3"
                say "batch $net $impl ${t}T: $2 items/s (best $3; $1 rounds)"
            done
        done
    fi

    # Work-span bound of the speedup at more threads than this machine has (R2, R3), from
    # per-step times of a profile build (bench/workspan.lua).
    if { [ $net = r2 ] || [ $net = r3 ]; } && [ -n "$pt" ]; then
        wruns=200; [ $net = r3 ] && wruns=5
        if luajit bench/workspan.lua "bench/models/$net.lua" --target "$pt" --runs $wruns --md \
                > "$LOGS/workspan-$net.txt" 2>&1; then
            grep '^workspan ' "$LOGS/workspan-$net.txt" > "$OUT/workspan-$net.txt"
            while read -r _ wp wb ws wu wt1; do
                rec workspan "net=$net" "variant=$pt" "threads=$wp" "bound=$wb" "span=$ws" "unshared=$wu" "t1=$wt1"
                say "workspan $net ${wp}T: bound ${wb}x (span $ws us of $wt1 us)"
            done < "$OUT/workspan-$net.txt"
        else
            say "workspan $net: FAILED ($(tail -n 1 "$LOGS/workspan-$net.txt"))"
        fi
    fi

    # PyTorch, plain eager and with MKL-DNN tensors
    if ! command -v "$PY" >/dev/null 2>&1; then
        say "pytorch: skipped ($PY not found; BENCH_PYTHON names the Python with torch)"
        rec skip "net=$net" "impl=pytorch" "variant=eager" "reason=$PY not found"
    fi
    command -v "$PY" >/dev/null 2>&1 && for mode in eager mkldnn; do
        for t in 1 2; do
            log=$LOGS/torch-$net-$mode-${t}T.txt
            "$PY" bench/torch_bench.py "$nd" --mode $mode --threads $t --runs "$truns" --warmup "$twarm" \
                -o "$nd/torch_${mode}_${t}T.npy" > "$log" 2>&1
            if grep -q 'skipped' "$log"; then
                say "$(grep -m1 'skipped' "$log")"
                rec skip "net=$net" "impl=pytorch" "variant=$mode" "reason=$(grep -m1 'skipped' "$log")"
                break 2
            fi
            time_rec "$net" pytorch "$mode" "$t" "$log" || continue
            [ $t = 1 ] && [ -n "$REF" ] && check "$net" "pytorch $mode vs onednn" "$nd/torch_${mode}_1T.npy" "$REF"
        done
    done
done

# ---------------------------------------------------------------- gradients
# 1. R2's input and weight gradients at batch 1, one thread: cnnc's `--backward` build
#    (its executable's `--grad-output DY --bench N`: forward and backward pass) against
#    cnnc's forward (the plain build's `--bench N`), and PyTorch eager's backward against
#    its forward (torch_bench.py --backward), in turn for GRAD_ROUNDS rounds.
# 2. One training epoch of the Keras MNIST network (examples/keras_mnist.lua) on
#    Fashion-MNIST, batch 32, Adam: cnnc's net:fit (bench/train_bench.lua) and PyTorch
#    (bench/torch_train.py) at 1 and 2 threads, in turn for TRAIN_ROUNDS rounds.
GRAD=${BENCH_GRAD:-r2,train}
GRAD_ROUNDS=${BENCH_GRAD_ROUNDS:-5}
GRAD_RUNS=${BENCH_GRAD_RUNS:-100}
GRAD_TORCH_RUNS=${BENCH_GRAD_TORCH_RUNS:-20}
TRAIN_IMAGES=${BENCH_TRAIN_IMAGES:-60000}
TRAIN_ROUNDS=${BENCH_TRAIN_ROUNDS:-2}
TORCH_OMP_WAIT=${BENCH_TORCH_OMP_WAIT:-PASSIVE}
HAVE_TORCH=0
command -v "$PY" >/dev/null 2>&1 && "$PY" -c 'import torch' > /dev/null 2>&1 && HAVE_TORCH=1
# the best SIMD target requested (the last but generic), else generic
gt=generic
for t in $(echo "$TARGETS" | tr ',' ' '); do [ "$t" != generic ] && gt=$t; done
GD=$OUT/grad
[ "$GRAD" != 0 ] && mkdir -p "$GD"

if [ "$GRAD" != 0 ] && in_list r2 "$GRAD"; then
    say ""
    say "== gradients: R2, input and weight gradients, batch 1, 1 thread (cnnc $gt) =="
    nd=$OUT/nets/r2
    mkdir -p "$nd"
    luajit bench/export_weights.lua bench/models/r2.lua "$nd" > "$LOGS/export-r2.txt" 2>&1 ||
        say "grad r2: cannot export the weights: $(tail -n 1 "$LOGS/export-r2.txt")"
    # the forward: the network's own build of this run when there is one, else a new one
    fdir=$OUT/cnnc/r2-$gt
    if ! in_list r2 "$NETS" || [ ! -x "$fdir/r2" ]; then
        fdir=$GD/r2-$gt
        # shellcheck disable=SC2086
        $CNNC build bench/models/r2.lua -o "$fdir" --target "$gt" --cc "$CC" --cflags "$CFLAGS" \
            > "$LOGS/build-grad-r2-$gt.txt" 2>&1 || say "grad r2: the forward build FAILED (see $LOGS/build-grad-r2-$gt.txt)"
    fi
    bdir=$GD/r2-$gt-backward
    if [ "$REUSE" = 1 ] && [ -x "$bdir/r2" ]; then
        say "grad r2: reusing the backward build in $bdir"
    else
        rm -rf "$bdir"
        t0=$(now)
        # shellcheck disable=SC2086
        $CNNC build bench/models/r2.lua -o "$bdir" --backward --target "$gt" --cc "$CC" --cflags "$CFLAGS" \
            > "$LOGS/build-grad-r2-$gt-backward.txt" 2>&1 &&
            say "grad r2: built with --backward in $(elapsed "$t0" "$(now)")s"
    fi
    if [ -x "$fdir/r2" ] && [ -x "$bdir/r2" ] && [ -f "$nd/grad_output.npy" ]; then
        "$bdir/r2" "$nd/input.npy" --grad-output "$nd/grad_output.npy" -o "$nd/cnnc_dx.npy" > "$LOGS/grad-r2-cnnc-dx.txt" 2>&1
        gf=$OUT/grad-r2.txt
        : > "$gf"
        say "grad r2: $GRAD_ROUNDS rounds of cnnc forward ($GRAD_RUNS runs), cnnc backward ($GRAD_RUNS runs) and PyTorch eager forward and backward in turn ($GRAD_TORCH_RUNS runs each)"
        round=1
        while [ $round -le "$GRAD_ROUNDS" ]; do
            log=$LOGS/grad-r2-cnnc-forward-$round.txt
            "$fdir/r2" "$nd/input.npy" --bench "$GRAD_RUNS" > "$log" 2>&1
            bl=$(bench_line "$log"); [ -n "$bl" ] && echo "cnnc forward $bl" >> "$gf"
            log=$LOGS/grad-r2-cnnc-backward-$round.txt
            "$bdir/r2" "$nd/input.npy" --grad-output "$nd/grad_output.npy" -o "$GD/dx.npy" --bench "$GRAD_RUNS" > "$log" 2>&1
            bl=$(bench_line "$log"); [ -n "$bl" ] && echo "cnnc backward $bl" >> "$gf"
            if [ $HAVE_TORCH = 1 ]; then
                log=$LOGS/grad-r2-torch-$round.txt
                "$PY" bench/torch_bench.py "$nd" --backward --threads 1 --runs "$GRAD_TORCH_RUNS" --warmup 2 \
                    -o "$nd/torch_dx.npy" > "$log" 2>&1
                bl=$(bench_line "$log"); [ -n "$bl" ] && echo "pytorch forward $bl" >> "$gf"
                bl=$(sed 's/^bench-backward:/bench:/' "$log" | grep '^bench:' | tail -n 1 |
                    sed -n 's/^bench: \([0-9]*\) runs, median \([0-9.]*\) us, min \([0-9.]*\) us.*/\1 \2 \3/p')
                [ -n "$bl" ] && echo "pytorch backward $bl" >> "$gf"
            fi
            round=$((round + 1))
        done
        for impl in cnnc pytorch; do
            for pass in forward backward; do
                # shellcheck disable=SC2046
                set -- $(rounds_agg "$gf" "$impl" "$pass")
                [ $# -eq 3 ] || continue
                rec grad "net=r2" "impl=$impl" "variant=$([ $impl = cnnc ] && echo "$gt" || echo eager)" "pass=$pass" \
                    "threads=1" "rounds=$1" "median=$2" "min=$3"
                say "grad r2 $impl $pass: median $2 us, min $3 us ($1 rounds)"
            done
        done
        [ $HAVE_TORCH = 1 ] || rec skip "net=grad" "impl=pytorch" "variant=eager" "reason=cannot import torch with $PY"
        [ -f "$nd/torch_dx.npy" ] && check grad "cnnc $gt input gradient vs pytorch" "$nd/torch_dx.npy" "$nd/cnnc_dx.npy"
    else
        say "grad r2: skipped (a build FAILED: see $LOGS/build-grad-r2-*.txt)"
        rec skip "net=grad" "impl=cnnc" "variant=$gt" "reason=the R2 builds FAILED"
    fi
fi

if [ "$GRAD" != 0 ] && in_list train "$GRAD"; then
    say ""
    say "== gradients: one training epoch of the Keras MNIST network, $TRAIN_IMAGES images, batch 32, Adam (cnnc $gt) =="
    nd=$OUT/nets/mnist
    mkdir -p "$nd"
    luajit bench/export_weights.lua examples/keras_mnist.lua "$nd" > "$LOGS/export-mnist.txt" 2>&1 ||
        say "train: cannot export the weights: $(tail -n 1 "$LOGS/export-mnist.txt")"
    tf=$OUT/train.txt
    train_say() { # IMPL THREADS ROUND LOG
        sec=$(sed -n 's/^train: .* seconds \([0-9.]*\) .*/\1/p' "$4")
        if [ -n "$sec" ]; then say "train $1 ${2}T round $3: $sec s"; else say "train $1 ${2}T: FAILED ($(tail -n 1 "$4"))"; fi
    }
    : > "$tf"
    round=1
    while [ $round -le "$TRAIN_ROUNDS" ]; do
        for t in 1 2; do
            log=$LOGS/train-cnnc-${t}T-$round.txt
            luajit bench/train_bench.lua examples/keras_mnist.lua --images "$TRAIN_IMAGES" --threads $t --target "$gt" \
                --cflags "$CFLAGS" > "$log" 2>&1
            grep -q 'skipped' "$log" && { say "$(grep -m1 skipped "$log")"; break 2; }
            sed -n 's/^train: \(cnnc\) threads \([0-9]*\) images [0-9]* batch [0-9]* seconds \([0-9.]*\) loss \([0-9.]*\) accuracy \([0-9.]*\)$/\1 \2 1 \3 \3 \4 \5/p' "$log" >> "$tf"
            train_say cnnc $t $round "$log"
            if [ $HAVE_TORCH = 1 ]; then
                log=$LOGS/train-torch-${t}T-$round.txt
                if [ "$TORCH_OMP_WAIT" = default ]; then
                    "$PY" bench/torch_train.py "$nd" --images "$TRAIN_IMAGES" --threads $t > "$log" 2>&1
                else
                    OMP_WAIT_POLICY=$TORCH_OMP_WAIT "$PY" bench/torch_train.py "$nd" --images "$TRAIN_IMAGES" \
                        --threads $t > "$log" 2>&1
                fi
                sed -n 's/^train: \(pytorch\) threads \([0-9]*\) images [0-9]* batch [0-9]* seconds \([0-9.]*\) loss \([0-9.]*\) accuracy \([0-9.]*\)$/\1 \2 1 \3 \3 \4 \5/p' "$log" >> "$tf"
                train_say pytorch $t $round "$log"
            fi
        done
        round=$((round + 1))
    done
    for impl in cnnc pytorch; do
        for t in 1 2; do
            # shellcheck disable=SC2046
            set -- $(rounds_agg "$tf" "$impl" "$t")
            [ $# -eq 3 ] || continue
            # the epoch's loss and accuracy (last round's; every round starts from the same weights)
            la=$(awk -v a=$impl -v b=$t '$1 == a && $2 == b { l = $6; c = $7 } END { print l, c }' "$tf")
            rec train "impl=$impl" "variant=$([ $impl = cnnc ] && echo "$gt" || echo eager)" "threads=$t" \
                "images=$TRAIN_IMAGES" "rounds=$1" "median=$2" "min=$3" "loss=${la% *}" "accuracy=${la#* }" \
                "omp_wait=$([ $impl = pytorch ] && echo "$TORCH_OMP_WAIT")"
            say "train $impl ${t}T: median $2 s, min $3 s ($1 rounds; loss ${la% *}, accuracy ${la#* })"
        done
    done
    [ $HAVE_TORCH = 1 ] || rec skip "net=train" "impl=pytorch" "variant=eager" "reason=cannot import torch with $PY"
fi

END=$(now)
rec total "seconds=$(elapsed "$START" "$END")"
say ""
luajit bench/report.lua "$RES" "$RESULTS" || exit 1
say "bench: done in $(elapsed "$START" "$END") s; $RESULTS written, raw records in $RES, logs in $LOGS"
