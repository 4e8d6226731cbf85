#!/bin/sh
# moac emit and the CPU backend from the command line: LLVM IR and AVX-512/AVX2 assembly of
# named kernels, clear errors for bad flags and kernel names, and the compile cache: a second
# run of the same spec hits it and reports a compile time under 100 ms.
. "$(dirname "$0")/lib.sh"
spec=tests/specs/tiny-mha.moa

expect_rc 0 "$moac" emit "$spec" --llvm
grep -q '^define void @n[0-9]*_gemm' "$tmp/out" || fail "emit --llvm: no matmul (gemm) kernel defined"
grep -q 'llvm.fma' "$tmp/out" || fail "emit --llvm: no fused multiply-adds"
kernel=$(grep -o '^define void @n[0-9]*_gemm[a-z_]*' "$tmp/out" | head -n 1 | sed 's/^define void @//')
prefix=$(echo "$kernel" | sed 's/_.*/_/')
expect_rc 0 "$moac" emit "$spec" --asm --kernel "$prefix"
grep -q "^$kernel:" "$tmp/out" || fail "emit --asm --kernel $prefix: no label $kernel"
grep -q 'vfmadd' "$tmp/out" || fail "emit --asm: no vector FMA instructions"
others=$(grep -c '^n[0-9]*_[a-z_]*:$' "$tmp/out")
expect_rc 0 "$moac" emit "$spec" --asm
all=$(grep -c '^n[0-9]*_[a-z_]*:$' "$tmp/out")
[ "$others" -lt "$all" ] || fail "--kernel did not narrow the output ($others of $all kernels)"
expect_rc 0 "$moac" emit "$spec" --train --llvm --kernel n
grep -q 'attn_grads\|attn_d' "$tmp/out" || fail "emit --train: no attention-gradient kernels"

expect_rc 1 "$moac" emit "$spec" --kernel nosuch_
grep -q "no kernel of graph 'tiny_mha' is named 'nosuch_\*'" "$tmp/err" || fail "unknown kernel: $(cat "$tmp/err")"
expect_rc 2 "$moac" emit "$spec" --llvm --asm
expect_rc 2 "$moac" emit "$spec" --bogus
expect_rc 2 "$moac" emit
expect_rc 1 "$moac" emit missing.moa
# --backend picks the table whose code is shown; the interpreter generates none.
expect_rc 0 "$moac" emit "$spec" --backend cpu --llvm --kernel "$prefix"
grep -q "^define void @$kernel" "$tmp/out" || fail "emit --backend cpu: no $kernel"
expect_rc 2 "$moac" emit "$spec" --backend interp
grep -q "the interp backend generates no code to show" "$tmp/err" || fail "emit --backend interp: $(cat "$tmp/err")"
expect_rc 2 "$moac" emit "$spec" --backend gpu
grep -q "unknown backend 'gpu' (available: cpu, interp, cuda)" "$tmp/err" || fail "emit --backend gpu: $(cat "$tmp/err")"

# The compile cache: a fresh directory, two runs of the same spec.
export MOAC_CACHE_DIR="$tmp/cache"
expect_rc 0 "$moac" train "$spec" --steps 2 --out "$tmp/run1"
grep -q "compiled 'tiny_mha' for the CPU in .* s (" "$tmp/err" || fail "first run: no compile time: $(head -n 3 "$tmp/err")"
expect_rc 0 "$moac" train "$spec" --steps 2 --out "$tmp/run2"
line=$(grep "compiled 'tiny_mha' for the CPU" "$tmp/err" | head -n 1)
echo "$line" | grep -q "compile cache hit" || fail "second run missed the cache: $line"
ms=$(echo "$line" | sed -n 's/.* in \([0-9]*\) ms .*/\1/p')
[ -n "$ms" ] && [ "$ms" -lt 100 ] || fail "cache hit took too long: $line"
cmp -s "$tmp/run1/metrics.jsonl" "$tmp/run1/metrics.jsonl" || true
l1=$(grep -o '"loss":[0-9.e-]*' "$tmp/run1/metrics.jsonl" | head -n 2)
l2=$(grep -o '"loss":[0-9.e-]*' "$tmp/run2/metrics.jsonl" | head -n 2)
[ "$l1" = "$l2" ] || fail "cached code gave other losses: $l1 / $l2"
# A damaged cache entry is recompiled, not trusted.
for f in "$tmp"/cache/*.o; do printf 'garbage' > "$f"; done
expect_rc 0 "$moac" train "$spec" --steps 2 --out "$tmp/run3"
grep "compiled 'tiny_mha'" "$tmp/err" | head -n 1 | grep -q "cache hit" && fail "a damaged cache entry was used"
l3=$(grep -o '"loss":[0-9.e-]*' "$tmp/run3/metrics.jsonl" | head -n 2)
[ "$l1" = "$l3" ] || fail "recompiled code gave other losses: $l1 / $l3"
# An unwritable cache directory is not an error.
MOAC_CACHE_DIR=/proc/moac-cache expect_rc 0 "$moac" train "$spec" --steps 1 --out "$tmp/run4"
expect_rc 0 "$moac" train "$spec" --steps 1 --backend interp --out "$tmp/run5"
expect_rc 2 "$moac" train "$spec" --steps 1 --backend gpu --out "$tmp/run6"
grep -q "unknown backend 'gpu' (available: cpu, interp, cuda)" "$tmp/err" || fail "bad backend message: $(cat "$tmp/err")"
finish
