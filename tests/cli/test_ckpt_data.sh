#!/bin/sh
# A checkpoint remembers its data: file (as given and absolute), size, sha256, tokenizer,
# vocabulary and split, or the synthetic task. --resume, eval and generate use it without
# --data (re-read and verified: before, a text-trained checkpoint silently switched to the
# synthetic task), refuse a changed, moved or different file naming both, and refuse an older
# checkpoint that cannot say which file it was trained on. --steps 0 writes the initial
# checkpoint, and --quiet still prints the final line.
. "$(dirname "$0")/lib.sh"
meta="/usr/bin/python3 $(dirname "$0")/ckpt_meta.py"

cat >"$tmp/micro.moa" <<'SPEC'
model micro {
  vocab = 53  context = 16  width = 32  layers = 1  heads = 2
  attention = mha()
}
train {
  data = synthetic(pairs = 3, layout = separate)  batch = 4  steps = 6  eval_every = 3  eval_batches = 2
  split = 0.5
}
SPEC
spec=$tmp/micro.moa
mkdir "$tmp/data"
awk 'BEGIN { for (i = 0; i < 40; i++) print "the quick brown fox " i " jumps over the lazy dog" }' >"$tmp/data/text.txt"
data=$tmp/data/text.txt

# What a text checkpoint records.
expect_rc 0 "$moac" train "$spec" --data "$data" --out "$tmp/full" --quiet
expect_rc 0 "$moac" train "$spec" --data "$data" --out "$tmp/part" --until 3 --quiet
ck=$tmp/part/ckpt.safetensors
[ "$($meta "$ck" get data)" = text ] || fail "data is not 'text'"
[ "$($meta "$ck" get data_path)" = "$data" ] || fail "data_path is not the path as given"
[ "$($meta "$ck" get data_abspath)" = "$(realpath "$data")" ] || fail "data_abspath is not the absolute path"
[ "$($meta "$ck" get data_bytes)" = "$(wc -c <"$data" | tr -d ' ')" ] || fail "data_bytes is not the size"
[ "$($meta "$ck" get data_sha256)" = "$(sha256sum "$data" | cut -d' ' -f1)" ] || fail "data_sha256 is not sha256sum's"
[ "$($meta "$ck" get tokenizer)" = char ] || fail "tokenizer is not char"
[ "$($meta "$ck" get split)" = 0.5 ] || fail "split is not 0.5"
[ -n "$($meta "$ck" get vocab_chars)" ] || fail "no vocab_chars"

# Resume without --data continues on the recorded file (the spec says synthetic): the losses
# are the uninterrupted text run's, bit for bit.
expect_rc 0 "$moac" train "$spec" --out "$tmp/part" --resume "$ck"
grep -q "note: .*was trained on $(realpath "$data"); continuing on it, not on the spec's data synthetic" "$tmp/err" ||
  fail "resume: no note on the recorded data"
grep -q "training 'micro' .* on $(realpath "$data")" "$tmp/err" || fail "resume: not training on the recorded file"
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/full/metrics.jsonl" >"$tmp/la"
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/part/metrics.jsonl" >"$tmp/lb"
cmp -s "$tmp/la" "$tmp/lb" || { fail "resumed losses differ from the text run's"; diff "$tmp/la" "$tmp/lb" | head -n 4; }

# eval without --data: the recorded data, the same loss as with it.
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors"
sed 's/^[^:]*: //' "$tmp/out" >"$tmp/eval_recorded"
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors" --data "$data"
sed 's/^[^:]*: //' "$tmp/out" >"$tmp/eval_given"
cmp -s "$tmp/eval_recorded" "$tmp/eval_given" || fail "eval: recorded data and --data differ"
grep -q "val loss" "$tmp/eval_given" || fail "eval prints no loss"
# a copy of the same bytes elsewhere is the same data
cp "$data" "$tmp/copy.txt"
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors" --data "$tmp/copy.txt"

# --data with other data: refused, naming both files.
sed 's/fox/cat/' "$data" >"$tmp/other.txt"
cp "$tmp/full/ckpt.safetensors" "$tmp/saved"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors" --data "$tmp/other.txt"
grep -q "ckpt.safetensors: error: was trained on $(realpath "$data") (.* bytes, sha256 [0-9a-f]*), but --data $tmp/other.txt is other data" "$tmp/err" ||
  fail "other --data: message"
expect_rc 1 "$moac" train "$spec" --out "$tmp/full" --resume "$tmp/full/ckpt.safetensors" --data "$tmp/other.txt" --steps 8
grep -q "but --data $tmp/other.txt is other data" "$tmp/err" || fail "other --data on resume: message"

# The file changed since: refused, saying what changed and what to do.
cp "$data" "$tmp/orig.txt"
echo "one more line" >>"$data"
expect_rc 1 "$moac" train "$spec" --out "$tmp/full" --resume "$tmp/full/ckpt.safetensors" --steps 8
grep -q "error: was trained on $(realpath "$data"), which has changed since (it was [0-9]* bytes with sha256 [0-9a-f]*; it is now [0-9]* bytes" "$tmp/err" ||
  fail "changed data: message"
grep -q "restore that file, or pass --data with a copy of the original" "$tmp/err" || fail "changed data: what to do"
# The file moved away: refused; --data with the copy continues.
rm "$data"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors"
grep -q "error: was trained on $(realpath "$tmp/data")/text.txt (given as $data), which is no longer there; put it back, or pass --data with a copy of it" "$tmp/err" ||
  fail "moved data: message"
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/full/ckpt.safetensors" --data "$tmp/orig.txt"
cmp -s "$tmp/full/ckpt.safetensors" "$tmp/saved" || fail "a refused run changed the checkpoint"
[ -z "$(ls "$tmp/full" | grep tmp-)" ] || fail "a refused run left a temporary file"

# Generation needs only the recorded vocabulary, not the file.
expect_rc 0 "$moac" generate "$spec" --ckpt "$tmp/full/ckpt.safetensors" --prompt "the " --tokens 5 --quiet
grep -q "^the " "$tmp/out" || fail "generate from a text checkpoint without its file"

# A synthetic checkpoint records its task and refuses --data.
expect_rc 0 "$moac" train "$spec" --out "$tmp/syn" --until 3 --quiet
sck=$tmp/syn/ckpt.safetensors
[ "$($meta "$sck" get data)" = synthetic ] && [ "$($meta "$sck" get synthetic_pairs)" = 3 ] &&
  [ "$($meta "$sck" get synthetic_layout)" = separate ] || fail "synthetic task not recorded"
expect_rc 1 "$moac" eval "$spec" --ckpt "$sck" --data "$tmp/orig.txt"
grep -q "error: was trained on the synthetic task synthetic(pairs = 3, layout = separate), not on a file; leave out --data" "$tmp/err" ||
  fail "synthetic checkpoint with --data: message"
# ...and keeps its task when the spec's changes (with a note).
sed 's/pairs = 3/pairs = 4/' "$spec" >"$tmp/p4.moa"
expect_rc 0 "$moac" eval "$tmp/p4.moa" --ckpt "$sck"
grep -q "note: .*was trained on the task synthetic(pairs = 3, layout = separate); continuing on it" "$tmp/err" ||
  fail "synthetic task changed in the spec: note"

# An older checkpoint (moac-checkpoint-1: data kind only): text without --data is refused;
# with --data it works, with a note that it cannot be checked.
$meta "$tmp/full/ckpt.safetensors" "$tmp/v1.safetensors" set format moac-checkpoint-1 set data char \
  del vocab del tokenizer del data_path del data_abspath del data_bytes del data_sha256 del split \
  del train_tokens del val_tokens
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/v1.safetensors"
grep -q "v1.safetensors: error: was trained on text (tokenizer = char), but it is an older checkpoint (moac-checkpoint-1) that does not record which file; pass --data" "$tmp/err" ||
  fail "v1 text checkpoint without --data: message"
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/v1.safetensors" --data "$tmp/orig.txt"
grep -q "note: .*older checkpoint (moac-checkpoint-1) that records no data file or hash" "$tmp/err" || fail "v1: note"
$meta "$sck" "$tmp/v1s.safetensors" set format moac-checkpoint-1 set vocab_chars "" del vocab \
  del synthetic_pairs del synthetic_layout
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/v1s.safetensors"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/v1s.safetensors" --data "$tmp/orig.txt"
grep -q "error: was trained on the synthetic task, not on a file" "$tmp/err" || fail "v1 synthetic with --data: message"

# --steps 0 writes the initial checkpoint (step 0), and --quiet prints the final line.
expect_rc 0 "$moac" train "$spec" --out "$tmp/zero" --steps 0 --quiet
[ -f "$tmp/zero/ckpt.safetensors" ] || fail "--steps 0 wrote no checkpoint"
[ "$($meta "$tmp/zero/ckpt.safetensors" get step)" = 0 ] || fail "--steps 0: step is not 0"
grep -q "^moac: done: 0 steps; checkpoint $tmp/zero/ckpt.safetensors" "$tmp/err" || fail "--quiet: no final line"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--quiet printed more than the final line"
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/zero/ckpt.safetensors"
finish
