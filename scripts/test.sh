#!/bin/sh
# Builds moac in every CMake build type with -Werror and runs the whole test suite on the builds
# users run: Release (what users and benchmarks build), RelWithDebInfo (the default build of
# `cmake -S . -B build`), and Debug under ASan+UBSan. MinSizeRel and plain Debug are built only,
# tests included, so that no build type can break unseen (warnings differ with the optimiser).
# Last, a short fuzzing run of each harness (scripts/fuzz.sh).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR TYPE [cmake args...]
    dir=$1 type=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@"
    cmake --build "$dir" -j "$jobs"
}

build build-release Release
ctest --test-dir build-release --output-on-failure -j "$jobs"
build build RelWithDebInfo
ctest --test-dir build --output-on-failure -j "$jobs"
build build-minsize MinSizeRel
build build-debug Debug
build build-san Debug -DMOAC_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j "$jobs"
# Fuzzing (tests/fuzz/README.md): the harnesses with clang-19, libFuzzer, ASan + UBSan, then each
# one for 60 s from the seed corpus (about 4 minutes in all).
JOBS=$jobs scripts/fuzz.sh build
scripts/fuzz.sh smoke 60
