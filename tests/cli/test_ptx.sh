#!/bin/sh
# The cuda backend's code without a GPU: every model's training-graph PTX (`moac emit --ptx
# --train`) is accepted by ptxas for sm_90 (skipped where no ptxas is installed: the CUDA
# toolkit is not a build dependency); --kernel keeps one kernel's entry; --backend cuda on a
# machine without the driver is a clear error, not a crash.
. "$(dirname "$0")/lib.sh"

ptxas=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null || true)

if [ ! -e /usr/lib/x86_64-linux-gnu/libcuda.so.1 ] && ! ldconfig -p 2>/dev/null | grep -q libcuda.so.1; then
  expect_rc 1 "$moac" train tests/specs/tiny-mha.moa --backend cuda --steps 1 --out "$tmp/run"
  grep -q "no CUDA driver on this machine" "$tmp/err" || fail "no-driver message: $(cat "$tmp/err")"
  [ ! -e "$tmp/run/ckpt.safetensors" ] || fail "a failed cuda run left a checkpoint"
  expect_rc 1 "$moac" verify tests/specs/tiny-mha.moa --backend cuda --against cpu
  grep -q "no CUDA driver" "$tmp/err" || fail "verify without a driver: $(cat "$tmp/err")"
fi
expect_rc 2 "$moac" emit --ptx --backend interp models/mha.moa
grep -q "cuda backend's code" "$tmp/err" || fail "--ptx --backend interp: $(cat "$tmp/err")"
expect_rc 2 "$moac" train tests/specs/tiny-mha.moa --device x

expect_rc 0 "$moac" emit --ptx --kernel n9_gemm tests/specs/tiny-mha.moa
[ "$(grep -c "^.visible .entry" "$tmp/out")" = 1 ] || fail "--kernel n9_gemm kept other entries"
grep -q "^.visible .entry n9_gemm_grid" "$tmp/out" || fail "--kernel n9_gemm shows no n9_gemm_grid entry"
grep -q "^.target sm_90" "$tmp/out" || fail "PTX not for sm_90"

[ -n "$ptxas" ] || { echo "SKIP: no ptxas (the CUDA toolkit) on this machine"; finish; exit 77; }
for spec in models/*.moa; do
  m=$(basename "$spec" .moa)
  expect_rc 0 "$moac" emit --ptx --train "$spec"
  cp "$tmp/out" "$tmp/$m.ptx"
  entries=$(grep -c "^.visible .entry" "$tmp/$m.ptx")
  [ "$entries" -gt 20 ] || fail "$m: only $entries kernel entries"
  "$ptxas" -arch=sm_90 "$tmp/$m.ptx" -o "$tmp/$m.cubin" 2>"$tmp/ptxas.err" || fail "$m: ptxas refused the PTX: $(head -5 "$tmp/ptxas.err")"
  rm -f "$tmp/$m.ptx" "$tmp/$m.cubin"
done
finish
