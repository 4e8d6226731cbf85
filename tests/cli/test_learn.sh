#!/bin/sh
# Learning, not just running: a tiny dynamic-MoAS model trained by the reference interpreter on
# tests/data/shakespeare-256k.txt (300 steps, ~15 s) must reach a validation loss well below
# the data's unigram entropy (the loss of a model that ignores context).
. "$(dirname "$0")/lib.sh"
if [ -n "${MOAC_SANITIZED:-}" ]; then echo "skipped under sanitizers (too slow there)"; exit 77; fi
data=tests/data/shakespeare-256k.txt
[ -f "$data" ] || { fail "$data is missing"; finish; }
expect_rc 0 "$moac" train tests/specs/tiny-moas.moa --data "$data" --out "$tmp/run"
entropy=$(grep -o 'unigram entropy [0-9.]*' "$tmp/err" | cut -d' ' -f3)
val=$(grep -o '"val_loss":[0-9.]*' "$tmp/run/metrics.jsonl" | tail -n 1 | cut -d: -f2)
echo "unigram entropy $entropy nats; final validation loss $val"
awk -v e="$entropy" -v v="$val" 'BEGIN { exit !(e > 3 && v < e - 0.7) }' || fail "val loss $val is not well below $entropy"
# The MoAS gates were logged and are a distribution over the three schemes.
grep -o '"h0.attn.gates":\[[^]]*\]' "$tmp/run/metrics.jsonl" | tail -n 1 |
  awk -F'[][,]' '{ s = $2 + $3 + $4; exit !(s > 0.999 && s < 1.001) }' || fail "gates do not sum to 1"
finish
