#!/bin/sh
# Fuzzing moac's readers of untrusted input with libFuzzer + ASan + UBSan (tests/fuzz/README.md).
#
#   scripts/fuzz.sh build                      build the harnesses in build-fuzz/ (clang-19)
#   scripts/fuzz.sh run HARNESS SECONDS [ARGS] fuzz one harness (spec, ir or ckpt) for SECONDS,
#                                              one process, one core; extra ARGS go to libFuzzer
#   scripts/fuzz.sh smoke SECONDS              run each harness SECONDS (CI: scripts/test.sh)
#
# New corpus entries go to build-fuzz/corpus/HARNESS/ (kept between runs); the seeds (rebuilt
# from the repository by each run, into a directory of its own) and tests/fuzz/regressions/HARNESS/ are read, not written.
# A crash leaves its input as build-fuzz/crash-*; once fixed, copy it into
# tests/fuzz/regressions/HARNESS/ with a name that says what it was, so it stays a test.
set -eu
cd "$(dirname "$0")/.."
dir=${MOAC_FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang-19}
cxx=${CXX:-clang++-19}

build() {
    command -v "$cc" > /dev/null || { echo "scripts/fuzz.sh: $cc not found; run scripts/setup.sh" >&2; exit 1; }
    CC=$cc CXX=$cxx cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAC_FUZZ=ON -DMOAC_TESTS=OFF
    cmake --build "$dir" -j "${JOBS:-2}" --target moac fuzz-spec fuzz-ir fuzz-ckpt fuzz-replay-spec \
        fuzz-replay-ir fuzz-replay-ckpt
    # The harnesses never reach the LLVM backend: they must not need libLLVM to run.
    for h in spec ir ckpt; do
        if ldd "$dir/tests/fuzz/fuzz-$h" | grep -qi llvm; then
            echo "scripts/fuzz.sh: fuzz-$h links libLLVM; it should not (tests/fuzz/CMakeLists.txt)" >&2
            exit 1
        fi
    done
}

run() { # run HARNESS SECONDS [libFuzzer args...]
    h=$1 seconds=$2
    shift 2
    case $h in spec | ir | ckpt) ;; *) echo "scripts/fuzz.sh: no harness '$h' (spec, ir, ckpt)" >&2; exit 2 ;; esac
    [ -x "$dir/tests/fuzz/fuzz-$h" ] || { echo "scripts/fuzz.sh: run 'scripts/fuzz.sh build' first" >&2; exit 1; }
    # Each run rebuilds the seeds into a directory of its own, so that runs of several harnesses
    # at once (one per core) do not rebuild one directory under each other.
    mkdir -p "$dir/corpus/$h"
    seedroot=$(mktemp -d "$dir/seeds-run.XXXXXX")
    trap 'rm -rf "$seedroot"' EXIT
    sh tests/fuzz/seeds.sh "$dir/moac" "$seedroot"
    seeds="$seedroot/$h"
    [ "$h" = spec ] && seeds="$seeds $seedroot/spec-errors"
    # rss/timeout limits: a spec or graph that needs gigabytes or seconds is a finding too. One
    # process (no -jobs/-workers), so a run leaves the other core to the rest of the machine.
    # shellcheck disable=SC2086
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "$dir/tests/fuzz/fuzz-$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="tests/fuzz/$h.dict" -print_final_stats=1 -artifact_prefix="$dir/" "$@" \
        "$dir/corpus/$h" $seeds "tests/fuzz/regressions/$h"
    rm -rf "$seedroot"
}

case ${1:-} in
build) build ;;
run) shift; [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh run HARNESS SECONDS [ARGS]" >&2; exit 2; }; run "$@" ;;
smoke)
    seconds=${2:-60}
    for h in spec ir ckpt; do run "$h" "$seconds"; done ;;
*) echo "usage: scripts/fuzz.sh build | run HARNESS SECONDS [libFuzzer args] | smoke SECONDS" >&2; exit 2 ;;
esac
