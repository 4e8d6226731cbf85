#!/bin/sh
# moac verify: one graph on two backends, every output compared. The CPU against the interpreter
# passes the default tolerance on a training graph (loss and every gradient listed); tolerance 0
# fails (f32 against f64 is never exact) with the element shown; usage errors are exit 2.
. "$(dirname "$0")/lib.sh"
spec=tests/specs/tiny-moas.moa

expect_rc 0 "$moac" verify "$spec" --train
grep -q "cpu against interp" "$tmp/out" || fail "no header: $(head -2 "$tmp/out")"
grep -q "^  loss " "$tmp/out" || fail "loss not compared"
grep -q "^  grad\." "$tmp/out" || fail "no gradient compared"
tail -1 "$tmp/out" | grep -q "tolerance 1e-04: ok" || fail "verdict: $(tail -1 "$tmp/out")"
expect_rc 1 "$moac" verify "$spec" --train --tolerance 0
grep -q "TOO LARGE (element" "$tmp/out" || fail "tolerance 0 shows no element"
tail -1 "$tmp/out" | grep -q "FAILED" || fail "tolerance 0 verdict: $(tail -1 "$tmp/out")"
expect_rc 0 "$moac" verify "$spec" --backend interp --against cpu --batch 2 --seed 3
expect_rc 2 "$moac" verify "$spec" --against cpu
expect_rc 2 "$moac" verify "$spec" --tolerance 2
expect_rc 2 "$moac" verify "$spec" --backend nope
expect_rc 2 "$moac" verify
expect_rc 1 "$moac" verify "$tmp/missing.moa"
grep -q "missing.moa" "$tmp/err" || fail "missing file not named: $(cat "$tmp/err")"
finish
