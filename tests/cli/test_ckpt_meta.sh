#!/bin/sh
# Checkpoint metadata is parsed strictly, with the command line's limits: a field that is not a
# whole number, is negative, huge, missing, given twice, unknown, or inconsistent with another is
# refused with a message naming the file and the field, exit 1, at once (never a run that goes on
# for 3e9 steps), and the file is left as it was.
. "$(dirname "$0")/lib.sh"
meta="/usr/bin/python3 $(dirname "$0")/ckpt_meta.py"

cat >"$tmp/micro.moa" <<'SPEC'
model micro {
  vocab = 53  context = 16  width = 32  layers = 1  heads = 2
  attention = mha()
}
train {
  data = synthetic(pairs = 3, layout = separate)  batch = 4  steps = 6  eval_every = 3  eval_batches = 1
}
SPEC
spec=$tmp/micro.moa
expect_rc 0 "$moac" train "$spec" --out "$tmp/a" --until 3 --quiet
good=$tmp/a/ckpt.safetensors
[ "$($meta "$good" get step)" = 3 ] && [ "$($meta "$good" get steps)" = 6 ] || fail "step/steps not recorded"

# A text checkpoint too, for the text fields.
awk 'BEGIN { for (i = 0; i < 40; i++) print "the quick brown fox jumps over the lazy dog" }' >"$tmp/text.txt"
expect_rc 0 "$moac" train "$spec" --data "$tmp/text.txt" --out "$tmp/t" --steps 1 --quiet
text=$tmp/t/ckpt.safetensors

# refuse SRC FIELD PATTERN OP...: the edited checkpoint is refused by eval and by --resume,
# naming the file and the field, and stays byte for byte as written.
n=0
refuse() {
  src=$1 field=$2 pattern=$3; shift 3
  n=$((n + 1))
  bad=$tmp/bad$n.safetensors
  $meta "$src" "$bad" "$@" || { fail "cannot edit $src ($*)"; return; }
  cp "$bad" "$tmp/copy"
  expect_rc 1 "$moac" eval "$spec" --ckpt "$bad"
  grep "bad$n.safetensors: error: " "$tmp/err" | grep -F "$field" | grep -qF "$pattern" ||
    { fail "eval, $*: message lacks '$field' / '$pattern'"; sed 's/^/  /' "$tmp/err" | head -n 3; }
  expect_rc 1 timeout 60 "$moac" train "$spec" --resume "$bad" --out "$tmp/r$n" --quiet
  grep "bad$n.safetensors: error: " "$tmp/err" | grep -qF "$field" || fail "resume, $*: message lacks '$field'"
  [ ! -e "$tmp/r$n/ckpt.safetensors" ] || fail "resume, $*: wrote a checkpoint"
  cmp -s "$bad" "$tmp/copy" || fail "$*: the checkpoint changed"
}

refuse "$good" "'steps'" "is '3e9', not a whole number from 0 to 1073741824" set steps 3e9
refuse "$good" "'steps'" "3000000000" set steps 3000000000
refuse "$good" "'steps'" "99999999999999999999" set steps 99999999999999999999
refuse "$good" "'step'" "is '-1'" set step -1
refuse "$good" "'step'" "is '1.5'" set step 1.5
refuse "$good" "'step'" "is ' 3'" set step " 3"
refuse "$good" "'step'" "is '03'" set step 03
refuse "$good" "'step'" "is ''" set step ""
refuse "$good" "'step'" "is 7 but 'steps'" set step 7
refuse "$good" "'seed'" "is '4294967296'" set seed 4294967296
refuse "$good" "'steps'" "lacks metadata field" del steps
refuse "$good" "'synthetic_pairs'" "lacks metadata field" del synthetic_pairs
refuse "$good" "step" "duplicate key" dup step 5
refuse "$good" "'steps_total'" "does not have" set steps_total 6
refuse "$good" "'data_path'" "does not have" set data_path x.txt
refuse "$good" "'synthetic_pairs'" "is '27'" set synthetic_pairs 27
refuse "$good" "'synthetic_layout'" "is 'mixed'" set synthetic_layout mixed
refuse "$good" "'vocab'" "is 256 but the synthetic task" set vocab 256
refuse "$good" "'data'" "is 'char'" set data char
refuse "$text" "'data_sha256'" "64 lowercase hex" set data_sha256 abc
refuse "$text" "'data_bytes'" "is '0'" set data_bytes 0
refuse "$text" "'data_bytes'" "is '2000000000'" set data_bytes 2000000000
refuse "$text" "'split'" "is '2'" set split 2
refuse "$text" "'split'" "is 'nan'" set split nan
refuse "$text" "'train_tokens'" "are not the split" set train_tokens 5
refuse "$text" "'data_abspath'" "an absolute path" set data_abspath text.txt
refuse "$text" "'vocab_chars'" "ascending" set vocab_chars 6162616263
refuse "$text" "'vocab_chars'" "lacks metadata field" del vocab_chars
refuse "$text" "'tokenizer'" "is 'word'" set tokenizer word

# The unedited files still load (the edits, not the checker, made the difference).
expect_rc 0 "$moac" eval "$spec" --ckpt "$good"
expect_rc 0 "$moac" eval "$spec" --ckpt "$text"
finish
