#!/bin/sh
# `moac ir --train`: the training graph (autodiff after lowering) of every model, its gradient
# outputs, printing after the autodiff pass, and the flags' misuse.
. "$(dirname "$0")/lib.sh"

for m in models/*.moa; do
  name=$(basename "$m" .moa)
  expect_rc 0 "$moac" ir --train "$m" --batch=2
  grep -q '^  %grad.wte = output(.*name="grad.wte"' "$tmp/out" || fail "$name: no grad.wte output"
  params=$(grep -c '= param(' "$tmp/out")
  grads=$(grep -c 'output(.*name="grad\.' "$tmp/out")
  [ "$params" -eq "$grads" ] || fail "$name: $params params but $grads gradient outputs"
  # The training graph read back and run through the passes (without --train) is unchanged.
  cp "$tmp/out" "$tmp/$name.ir"
  expect_rc 0 "$moac" ir "$tmp/$name.ir"
  cmp -s "$tmp/out" "$tmp/$name.ir" || fail "$name: training IR is not stable through read + passes"
done

# A forward graph read from IR text can be differentiated too; a training graph cannot, again.
expect_rc 0 "$moac" ir models/mha.moa --batch=1
cp "$tmp/out" "$tmp/fwd.ir"
expect_rc 0 "$moac" ir --train "$tmp/fwd.ir"
grep -q 'name="grad.wte"' "$tmp/out" || fail "--train on forward IR text"
expect_rc 1 "$moac" ir --train "$tmp/mha.ir"
grep -q "already has gradient outputs" "$tmp/err" || fail "differentiating a training graph again"

expect_rc 0 "$moac" ir --train models/moas.moa --batch=1 --print-after=autodiff
head -n 1 "$tmp/out" | grep -q '^graph "moas" {' || fail "--print-after=autodiff"
grep -q 'name="grad.h0.attn.router.w1"' "$tmp/out" || fail "--print-after=autodiff: no router gradient"
expect_rc 0 "$moac" ir --train models/moas.moa --batch=1 --print-after-all
[ "$(grep -c "^# after pass" "$tmp/out")" -eq 8 ] || fail "--train --print-after-all prints 8 stages"
grep -q "^# after pass 'autodiff'" "$tmp/out" || fail "--print-after-all: no autodiff stage"

# Misuse: autodiff runs only with --train.
expect_rc 2 "$moac" ir models/moas.moa --print-after=autodiff
grep -q "needs --train" "$tmp/err" || fail "--print-after=autodiff without --train"
expect_rc 0 "$moac" ir --help
grep -q -- "--train" "$tmp/out" || fail "--help does not list --train"
finish
