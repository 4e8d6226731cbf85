#!/bin/sh
# scripts/tokenize.py without the network: a stand-in tiktoken (tests/cli/fake_tiktoken) whose
# "bytes" encoding makes each byte a token. The files it writes hold exactly those tokens, in
# the dtype its vocabulary needs, split as --val-fraction says; the spec line it prints trains;
# and a token file of a text's bytes trains exactly as that text does with tokenizer = byte
# (same losses, bit for bit: token files draw the batches text does).
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
tokenize="/usr/bin/python3 $here/../../scripts/tokenize.py"
export PYTHONPATH="$here/fake_tiktoken"
awk 'BEGIN { for (i = 0; i < 60; i++) print "the quick brown fox " i " jumps over the lazy dog" }' >"$tmp/in.txt"
bytes=$(wc -c <"$tmp/in.txt" | tr -d ' ')

$tokenize "$tmp/in.txt" --out-dir "$tmp/o" --val-fraction 0.1 --encoding bytes >"$tmp/line" 2>"$tmp/err" ||
  fail "tokenize.py: $(cat "$tmp/err")"
nval=$((bytes / 10))
[ "$(wc -c <"$tmp/o/train.bin" | tr -d ' ')" -eq $((2 * (bytes - nval))) ] || fail "train.bin is not u16 of the first 90%"
[ "$(wc -c <"$tmp/o/val.bin" | tr -d ' ')" -eq $((2 * nval)) ] || fail "val.bin is not u16 of the last 10%"
/usr/bin/python3 - "$tmp/in.txt" "$tmp/o/train.bin" "$tmp/o/val.bin" <<'PY' || fail "the files do not hold the text's bytes"
import struct, sys
text = open(sys.argv[1], "rb").read()
tr, va = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
toks = list(struct.unpack("<%dH" % (len(tr) // 2), tr)) + list(struct.unpack("<%dH" % (len(va) // 2), va))
assert toks == list(text), "tokens differ"
PY
grep -qx "data = tokens(\"$tmp/o/train.bin\", val = \"$tmp/o/val.bin\", vocab = 256)" "$tmp/line" || fail "spec line: $(cat "$tmp/line")"

cat >"$tmp/s.moa" <<SPEC
model micro { vocab = 256  context = 16  width = 32  layers = 1  heads = 2 }
train {
  $(cat "$tmp/line")
  batch = 4  steps = 3  eval_every = 3  eval_batches = 1
}
SPEC
expect_rc 0 "$moac" train "$tmp/s.moa" --out "$tmp/a" --quiet

# One file, split by the spec: the same tokens, split and batches as the text with tokenizer = byte.
$tokenize "$tmp/in.txt" --out-dir "$tmp/one" --val-fraction 0 --encoding bytes >"$tmp/line" 2>"$tmp/err" ||
  fail "tokenize.py --val-fraction 0: $(cat "$tmp/err")"
[ ! -e "$tmp/one/val.bin" ] || fail "--val-fraction 0 wrote val.bin"
grep -qx "data = tokens(\"$tmp/one/train.bin\", vocab = 256)" "$tmp/line" || fail "spec line: $(cat "$tmp/line")"
for kind in tokens text; do
  if [ "$kind" = tokens ]; then data=$(cat "$tmp/line"); else data="data = \"$tmp/in.txt\"  tokenizer = byte"; fi
  cat >"$tmp/$kind.moa" <<SPEC
model micro { vocab = 256  context = 16  width = 32  layers = 1  heads = 2  dropout = 0.1 }
train {
  $data
  split = 0.7  batch = 4  steps = 6  eval_every = 3  eval_batches = 2
}
SPEC
  expect_rc 0 "$moac" train "$tmp/$kind.moa" --out "$tmp/$kind" --quiet
  sed 's/,"tokens_per_s":[^,}]*//' "$tmp/$kind/metrics.jsonl" >"$tmp/$kind.losses" # all but the timing
done
[ "$(wc -l <"$tmp/text.losses")" -eq 8 ] || fail "text run: not 6 steps and 2 evaluations"
cmp -s "$tmp/tokens.losses" "$tmp/text.losses" || { fail "token file and byte text train differently"; diff "$tmp/tokens.losses" "$tmp/text.losses" | head; }

# A vocabulary above 65536 gives u32 files, which moac reads as u32 by the same rule.
$tokenize "$tmp/in.txt" --out-dir "$tmp/w" --encoding wide >"$tmp/line" 2>"$tmp/err" || fail "tokenize.py wide: $(cat "$tmp/err")"
chars=$(/usr/bin/python3 -c "import sys; print(len(open(sys.argv[1], encoding='utf-8').read()))" "$tmp/in.txt")
[ "$(($(wc -c <"$tmp/w/train.bin") + $(wc -c <"$tmp/w/val.bin")))" -eq $((4 * chars)) ] || fail "wide files are not u32"
cat >"$tmp/w.moa" <<SPEC
model wide { vocab = 1184112  context = 16  width = 8  layers = 1  heads = 1 }
train { $(cat "$tmp/line") }
SPEC
expect_rc 0 "$moac" check "$tmp/w.moa"
grep -q "(u32, vocab 1184112)" "$tmp/out" || fail "wide check summary: $(grep train "$tmp/out")"

# Bad options are refused with a usage error.
expect_rc 2 $tokenize "$tmp/in.txt" --val-fraction 1.5 --encoding bytes
grep -q "val-fraction must be in \[0, 1)" "$tmp/err" || fail "--val-fraction message: $(cat "$tmp/err")"
finish
