#!/bin/sh
# positions = rope(fraction = 0.5, base = 10000), as docs/language.md documents it, end to end:
# check accepts it (no learned position embedding), a tiny dense + sparse model trains on the CPU
# backend (the loss falls), and the reference interpreter's first losses match the CPU backend's.
. "$(dirname "$0")/lib.sh"
spec=tests/specs/tiny-rope.moa
expect_rc 0 "$moac" check "$spec"
grep -q "RoPE positions" "$tmp/out" || fail "check: no RoPE positions in: $(cat "$tmp/out")"
grep -q "RoPE on 0.5 of each head" "$tmp/out" || fail "check: the dense heads do not rotate half of each head"
expect_rc 0 "$moac" ir "$spec"
grep -q "wpe" "$tmp/out" && fail "ir: a learned position embedding with RoPE positions"
[ "$(grep -c '= rope(' "$tmp/out")" -ge 4 ] || fail "ir: fewer than 4 rope ops (q and k of two schemes)"
grep -q 'rope(.*fraction=0.5 base=10000' "$tmp/out" || grep -q 'rope(.*fraction=0.5 base=1e+04' "$tmp/out" ||
  fail "ir: no rope with fraction 0.5 and base 10000: $(grep '= rope(' "$tmp/out" | head -n 2)"

# Training: 200 steps, the loss falls from ln(256) ~ 5.5 to well below.
expect_rc 0 "$moac" train "$spec" --out "$tmp/run"
first=$(grep -o '"loss":[0-9.]*' "$tmp/run/metrics.jsonl" | head -n 1 | cut -d: -f2)
last=$(grep -o '"val_loss":[0-9.]*' "$tmp/run/metrics.jsonl" | tail -n 1 | cut -d: -f2)
echo "first loss $first, final validation loss $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 5 && b < a - 1.5) }' || fail "loss did not fall: $first -> $last"

# The interpreter (f64) and the CPU backend (f32) agree on the first steps' losses.
expect_rc 0 "$moac" train "$spec" --steps 2 --batch 2 --out "$tmp/cpu"
expect_rc 0 "$moac" train "$spec" --steps 2 --batch 2 --backend interp --out "$tmp/interp"
cpu=$(grep -o '"loss":[0-9.]*' "$tmp/cpu/metrics.jsonl" | tail -n 1 | cut -d: -f2)
ref=$(grep -o '"loss":[0-9.]*' "$tmp/interp/metrics.jsonl" | tail -n 1 | cut -d: -f2)
awk -v a="$cpu" -v b="$ref" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d < 1e-4 * b) }' ||
  fail "step-2 loss: cpu $cpu, interpreter $ref"
finish
