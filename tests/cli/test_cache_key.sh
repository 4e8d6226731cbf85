#!/bin/sh
# The compile cache key covers everything the compiled code and its schedule depend on: the
# same inputs hit, and changing any one of them misses — the thread count (the matmul work
# split), the CPU features and name (MOAC_CPU_FEATURES, MOAC_CPU), the graph (--batch), and the
# moac executable (another path, another modification time).
. "$(dirname "$0")/lib.sh"
spec=tests/specs/cache-tiny.moa
export MOAC_CACHE_DIR="$tmp/cache" MOAC_THREADS=1
n=0
run() { # run [ENV=VALUE...] [--exe PATH] [flags]: a 2-step run; stderr in $tmp/err
  n=$((n + 1))
  exe=$moac
  if [ "$1" = --exe ]; then exe=$2; shift 2; fi
  expect_rc 0 env "$@" "$exe" train "$spec" --steps 2 --out "$tmp/run$n"
}
run_flags() { n=$((n + 1)); expect_rc 0 "$moac" train "$spec" --steps 2 --out "$tmp/run$n" "$@"; }
first_compile() { grep "compiled 'c' for the CPU" "$tmp/err" | head -n 1; }
expect_hit() { first_compile | grep -q "compile cache hit" || fail "$1: missed the cache: $(first_compile)"; }
expect_miss() { first_compile | grep -q "compile cache hit" && fail "$1: hit an entry compiled for other inputs: $(first_compile)"; }

run
expect_miss "the first run"
run
expect_hit "the same inputs"
run MOAC_THREADS=2
expect_miss "MOAC_THREADS=2 after 1"
run MOAC_THREADS=2
expect_hit "MOAC_THREADS=2 again"
run_flags --batch 2
expect_miss "another batch (another graph)"
if [ "$(uname -m)" = x86_64 ]; then # CPU names and features are x86's here
  run MOAC_CPU_FEATURES=+sse2
  expect_miss "MOAC_CPU_FEATURES=+sse2"
  run MOAC_CPU=x86-64
  expect_miss "MOAC_CPU=x86-64"
fi
cp "$moac" "$tmp/moac-copy"
run --exe "$tmp/moac-copy"
expect_miss "another moac executable"
run --exe "$tmp/moac-copy"
expect_hit "the same copy again"
touch -d '2001-01-01 00:00:00' "$tmp/moac-copy"
run --exe "$tmp/moac-copy"
expect_miss "a moac executable with another modification time"
run
expect_hit "the original inputs, after all that"
finish
