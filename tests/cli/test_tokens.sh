#!/bin/sh
# Token files as data (nanoGPT's train.bin / val.bin): a spec with data = tokens(...) trains,
# records the files in its checkpoint, resumes bit for bit; every malformed file is refused by
# train and by check with a message naming the file (and the token's place), exit 1, and no
# checkpoint; a changed or missing file, --data and generate are refused on resume.
. "$(dirname "$0")/lib.sh"
meta="/usr/bin/python3 $(dirname "$0")/ckpt_meta.py"
write="/usr/bin/python3 $(dirname "$0")/write_tokens.py"
moac_abs=$(cd "$(dirname "$moac")" && pwd)/$(basename "$moac")
d=$tmp/data
mkdir "$d"

# spec NAME DATA [EXTRA]: a micro model trained on DATA (a tokens(...) call).
spec() {
  cat >"$tmp/$1.moa" <<SPEC
model micro {
  vocab = 64  context = 16  width = 32  layers = 1  heads = 2
  attention = mha()
  dropout = 0.1
}
train {
  data = $2  batch = 4  steps = 12  eval_every = 4  eval_batches = 2
  optimizer = adamw(lr = 3e-3)  $3
}
SPEC
}

$write "$d/train.bin" u16 3000 50
$write "$d/val.bin" u16 400 50
spec split "tokens(\"$d/train.bin\", vocab = 50)" "split = 0.75"
spec val "tokens(\"$d/train.bin\", val = \"$d/val.bin\", vocab = 50)"

# It trains: a step line per step, evaluations, and the loss falls on this repetitive sequence.
expect_rc 0 "$moac" train "$tmp/split.moa" --out "$tmp/a" --quiet
[ "$(grep -c '"loss"' "$tmp/a/metrics.jsonl")" -eq 12 ] || fail "metrics: not 12 step lines"
[ "$(grep -c '"val_loss"' "$tmp/a/metrics.jsonl")" -eq 3 ] || fail "metrics: not 3 eval lines"
first=$(grep -o '"step":1,"loss":[0-9.]*' "$tmp/a/metrics.jsonl" | cut -d: -f3)
last=$(grep -o '"step":12,"loss":[0-9.]*' "$tmp/a/metrics.jsonl" | cut -d: -f3)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.1) }' || fail "loss did not fall: $first -> $last"
expect_rc 0 "$moac" train "$tmp/split.moa" --out "$tmp/a2" --steps 1
grep -q "on $d/train.bin (vocab 50, unigram entropy [0-9.]* nats)" "$tmp/err" || fail "start line: $(head -n 3 "$tmp/err")"

# What the checkpoint records.
ck=$tmp/a/ckpt.safetensors
[ "$($meta "$ck" get data)" = tokens ] || fail "data is not 'tokens'"
[ "$($meta "$ck" get token_dtype)" = u16 ] || fail "token_dtype is not u16"
[ "$($meta "$ck" get vocab)" = 50 ] || fail "vocab is not the tokens' 50"
[ "$($meta "$ck" get data_path)" = "$d/train.bin" ] || fail "data_path"
[ "$($meta "$ck" get data_bytes)" = 6000 ] || fail "data_bytes"
[ "$($meta "$ck" get data_sha256)" = "$(sha256sum "$d/train.bin" | cut -d' ' -f1)" ] || fail "data_sha256 is not sha256sum's"
[ "$($meta "$ck" get split)" = 0.75 ] || fail "split"
[ "$($meta "$ck" get train_tokens)" = 2250 ] && [ "$($meta "$ck" get val_tokens)" = 750 ] || fail "train/val tokens"

# Resume: stop after step 5, continue; losses and the final checkpoint equal the uninterrupted run's.
for s in split val; do
  [ "$s" = val ] && expect_rc 0 "$moac" train "$tmp/val.moa" --out "$tmp/a-val" --quiet
  full=$tmp/a; [ "$s" = val ] && full=$tmp/a-val
  expect_rc 0 "$moac" train "$tmp/$s.moa" --out "$tmp/b-$s" --until 5 --quiet
  expect_rc 0 "$moac" train "$tmp/$s.moa" --out "$tmp/b-$s" --resume "$tmp/b-$s/ckpt.safetensors" --quiet
  grep -o '"step":[0-9]*,"loss":[^,]*' "$full/metrics.jsonl" >"$tmp/la"
  grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/b-$s/metrics.jsonl" >"$tmp/lb"
  [ "$(wc -l <"$tmp/la")" -eq 12 ] || fail "$s: no losses to compare"
  cmp -s "$tmp/la" "$tmp/lb" || { fail "$s: resumed losses differ"; diff "$tmp/la" "$tmp/lb" | head; }
  cmp -s "$full/ckpt.safetensors" "$tmp/b-$s/ckpt.safetensors" || fail "$s: resumed final checkpoint differs"
done
ckv=$tmp/a-val/ckpt.safetensors
[ "$($meta "$ckv" get val_sha256)" = "$(sha256sum "$d/val.bin" | cut -d' ' -f1)" ] || fail "val_sha256 is not sha256sum's"
[ "$($meta "$ckv" get val_tokens)" = 400 ] || fail "val_tokens of the val file"
expect_rc 0 "$moac" eval "$tmp/val.moa" --ckpt "$ckv"
grep -q "val loss [0-9]" "$tmp/out" || fail "eval prints no val loss"

# Paths are relative to where moac runs; the dtype follows the vocab (u32 above 65536 tokens).
$write "$d/t32.bin" u32 300 70000 5=69999
cat >"$tmp/rel.moa" <<'SPEC'
model big { vocab = 70000  context = 16  width = 16  layers = 1  heads = 2 }
train { data = tokens("t32.bin")  batch = 2  steps = 2  eval_every = 2  eval_batches = 1 }
SPEC
(cd "$d" && "$moac_abs" check "$tmp/rel.moa") >"$tmp/out" 2>"$tmp/err" || fail "check rel.moa in $d: $(cat "$tmp/err")"
grep -q "token files t32.bin (u32, vocab 70000)" "$tmp/out" || fail "check summary: $(grep train "$tmp/out")"
(cd "$d" && "$moac_abs" train "$tmp/rel.moa" --out "$tmp/r32" --quiet) 2>"$tmp/err" || fail "train u32: $(cat "$tmp/err")"
expect_rc 1 "$moac" check "$tmp/rel.moa"
grep -q "^t32.bin: error: cannot read token file: No such file or directory (data paths are relative to the directory moac runs in)" "$tmp/err" ||
  fail "relative path message: $(cat "$tmp/err")"

# bad NAME PATTERN DATA: check and train both refuse, naming the file, with exit 1 and no checkpoint.
n=0
bad() {
  n=$((n + 1))
  spec "bad$n" "$3" "${4:-}"
  for cmd in check train; do
    if [ "$cmd" = check ]; then expect_rc 1 "$moac" check "$tmp/bad$n.moa"
    else expect_rc 1 "$moac" train "$tmp/bad$n.moa" --out "$tmp/x$n" --quiet; fi
    grep -q -- "$2" "$tmp/err" || { fail "$cmd $1: message lacks '$2'"; sed 's/^/  /' "$tmp/err" | head -n 5; }
  done
  [ ! -e "$tmp/x$n/ckpt.safetensors" ] || fail "$1: a refused run wrote a checkpoint"
}
: >"$d/empty.bin"
printf 'abc' >"$d/odd.bin"
printf 'abcdef' >"$d/odd6.bin"
$write "$d/high.bin" u16 3000 50 2345=57
$write "$d/short.bin" u16 16 50
bad missing "^$d/none.bin: error: cannot read token file: No such file or directory" "tokens(\"$d/none.bin\", vocab = 50)"
bad "missing val" "^$d/none.bin: error: cannot read token file" "tokens(\"$d/train.bin\", val = \"$d/none.bin\", vocab = 50)"
bad directory "^$d: error: cannot read token file: it is a directory" "tokens(\"$d\", vocab = 50)"
bad empty "^$d/empty.bin: error: the file is empty; a token file holds flat little-endian u16 tokens" "tokens(\"$d/empty.bin\", vocab = 50)"
bad "odd size" "^$d/odd.bin: error: is 3 bytes, not a whole number of 2-byte tokens (dtype = u16): 1 byte is left over" "tokens(\"$d/odd.bin\", vocab = 50)"
bad "odd size u32" "^$d/odd6.bin: error: is 6 bytes, not a whole number of 4-byte tokens (dtype = u32): 2 bytes are left over" "tokens(\"$d/odd6.bin\", vocab = 50, dtype = u32)"
bad "token >= vocab" "^$d/high.bin: error: token 57 at index 2345 (byte offset 4690) is not below the vocab 50" "tokens(\"$d/high.bin\", vocab = 50)"
bad "token >= vocab in val" "^$d/high.bin: error: token 57 at index 2345 (byte offset 4690)" "tokens(\"$d/train.bin\", val = \"$d/high.bin\", vocab = 50)"
bad "model vocab default" "^$d/t32.bin: error: token 69999 at index 5 (byte offset 20) is not below the vocab 64" "tokens(\"$d/t32.bin\", dtype = u32)"
bad "short train" "^$d/short.bin: error: the training file has 16 tokens, fewer than one window of context + 1 = 17" "tokens(\"$d/short.bin\", val = \"$d/val.bin\", vocab = 50)"
bad "short val" "^$d/short.bin: error: the validation file has 16 tokens, fewer than one window of context + 1 = 17" "tokens(\"$d/train.bin\", val = \"$d/short.bin\", vocab = 50)"
bad "short split" "^$d/train.bin: error: the validation split has 3 tokens, fewer than one window" "tokens(\"$d/train.bin\", vocab = 50)" "split = 0.999"

# The spec's own mistakes, before any file is opened.
bad "vocab above the model's" "error: tokens(vocab = 100) is above the model's vocab 64" "tokens(\"$d/train.bin\", vocab = 100)"
bad "u16 too narrow" "error: dtype = u16 holds tokens up to 65535" "tokens(\"$d/train.bin\", vocab = 70000, dtype = u16)"
bad "split with val" "error: split has no effect when tokens() names a validation file" "tokens(\"$d/train.bin\", val = \"$d/val.bin\", vocab = 50)" "split = 0.5"
bad "no file" "error: tokens() needs the training file first" "tokens(vocab = 50)"
bad "not a string" "error: expected a string for 'train' of tokens(), got number 3" "tokens(3)"
bad "bad dtype" "error: expected u16 or u32 for 'dtype' of tokens(), got 'byte'" "tokens(\"$d/train.bin\", dtype = byte)"
bad "unknown argument" "error: .*'size'" "tokens(\"$d/train.bin\", size = 3)"

# On resume: --data is refused; a changed file (same size) is caught by its hash; a moved file is
# found at the path as given (relative); a missing one is named; nothing is written.
part=$tmp/b-split/ckpt.safetensors
expect_rc 1 "$moac" train "$tmp/split.moa" --resume "$part" --out "$tmp/b-split" --data "$d/val.bin" --quiet
grep -q "error: was trained on the token file $d/train.bin, not on text; leave out --data" "$tmp/err" || fail "--data message: $(cat "$tmp/err")"
cp "$d/train.bin" "$tmp/train.orig"
$write "$d/train.bin" u16 3000 50 100=3
expect_rc 1 "$moac" train "$tmp/split.moa" --resume "$part" --out "$tmp/b-split" --quiet
grep -q "error: was trained on $d/train.bin, which has changed since (it was 6000 bytes with sha256 [0-9a-f]*; it is now 6000 bytes with sha256" "$tmp/err" ||
  fail "changed-file message: $(cat "$tmp/err")"
$write "$d/train.bin" u16 2000 50
expect_rc 1 "$moac" eval "$tmp/split.moa" --ckpt "$part"
grep -q "it is now 4000 bytes" "$tmp/err" || fail "changed-size message: $(cat "$tmp/err")"
rm "$d/train.bin"
expect_rc 1 "$moac" eval "$tmp/split.moa" --ckpt "$part"
grep -q "error: was trained on $d/train.bin (given as $d/train.bin), which is no longer there" "$tmp/err" || fail "missing-file message: $(cat "$tmp/err")"
cp "$tmp/train.orig" "$d/train.bin"
mkdir "$tmp/moved"
$write "$tmp/moved/rel.bin" u16 3000 50
spec relsplit "tokens(\"rel.bin\", vocab = 50)" "split = 0.75"
(cd "$tmp/moved" && "$moac_abs" train "$tmp/relsplit.moa" --out "$tmp/m" --until 5 --quiet) 2>"$tmp/err" || fail "relative run: $(cat "$tmp/err")"
mv "$tmp/moved" "$tmp/moved2"
(cd "$tmp/moved2" && "$moac_abs" train "$tmp/relsplit.moa" --out "$tmp/m" --resume "$tmp/m/ckpt.safetensors" --quiet) 2>"$tmp/err" ||
  fail "moved data, resumed from its relative path: $(cat "$tmp/err")"
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/m/metrics.jsonl" >"$tmp/lb"
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/a/metrics.jsonl" >"$tmp/la"
cmp -s "$tmp/la" "$tmp/lb" || fail "the moved data's resumed losses differ from the first run's (same tokens)"
expect_rc 1 "$moac" generate "$tmp/split.moa" --ckpt "$ck"
grep -q "error: was trained on token files ($d/train.bin), whose tokens moac cannot turn into text" "$tmp/err" || fail "generate message: $(cat "$tmp/err")"

# Edited token metadata is refused, naming the field.
for edit in "train_tokens:are not the split:set train_tokens 2000" "token_dtype:is 'u8':set token_dtype u8" \
            "val_sha256:does not have:set val_sha256 abc" "vocab:u16 holds tokens up to 65535:set vocab 70000"; do
  field=${edit%%:*} rest=${edit#*:} pattern=${rest%%:*} ops=${rest#*:}
  # shellcheck disable=SC2086
  $meta "$ck" "$tmp/edited.safetensors" $ops || fail "cannot edit ($ops)"
  expect_rc 1 "$moac" eval "$tmp/split.moa" --ckpt "$tmp/edited.safetensors"
  grep "edited.safetensors: error: " "$tmp/err" | grep -F "'$field'" | grep -qF "$pattern" || fail "edit $ops: $(cat "$tmp/err")"
done
$meta "$ckv" "$tmp/edited.safetensors" del val_sha256
expect_rc 1 "$moac" eval "$tmp/val.moa" --ckpt "$tmp/edited.safetensors"
grep -q "lacks metadata field 'val_sha256', which a checkpoint of token files (train and val) has" "$tmp/err" || fail "del val_sha256: $(cat "$tmp/err")"
finish
