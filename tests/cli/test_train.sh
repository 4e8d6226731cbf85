#!/bin/sh
# `moac train` / `moac eval` end to end on a micro model: files written, metrics, resume bit for
# bit, Ctrl-C, an independent safetensors reader, and every kind of bad input (data, checkpoint,
# flags) giving a clear error, a non-zero exit, and no overwritten checkpoint.
. "$(dirname "$0")/lib.sh"

cat >"$tmp/micro.moa" <<'SPEC'
model micro {
  vocab = 53  context = 16  width = 32  layers = 1  heads = 2
  attention = route(mha(), mqa(), router = mlp(hidden = 8), aux = balance(weight = 0.01))
  dropout = 0.1
}
train {
  data = synthetic(pairs = 3, layout = separate)  batch = 4  steps = 12  eval_every = 4  eval_batches = 2
  schedule = cosine(warmup = 2, min_lr = 1e-4)
}
SPEC
spec=$tmp/micro.moa

# A run writes a checkpoint and one metrics line per step plus one per evaluation.
expect_rc 0 "$moac" train "$spec" --out "$tmp/a" --quiet
[ -f "$tmp/a/ckpt.safetensors" ] || fail "no checkpoint"
[ "$(grep -c '"loss"' "$tmp/a/metrics.jsonl")" -eq 12 ] || fail "metrics: not 12 step lines"
[ "$(grep -c '"eval"' "$tmp/a/metrics.jsonl")" -eq 3 ] || fail "metrics: not 3 eval lines"
grep -q '"h0.attn.gates":\[' "$tmp/a/metrics.jsonl" || fail "metrics: no MoAS gates"
grep -q '"accuracy"' "$tmp/a/metrics.jsonl" || fail "metrics: no answer accuracy"

# Resume: stop after step 5, continue; the losses equal the uninterrupted run's, bit for bit.
expect_rc 0 "$moac" train "$spec" --out "$tmp/b" --until 5 --quiet
expect_rc 0 "$moac" train "$spec" --out "$tmp/b" --resume "$tmp/b/ckpt.safetensors" --quiet
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/a/metrics.jsonl" >"$tmp/la"
grep -o '"step":[0-9]*,"loss":[^,]*' "$tmp/b/metrics.jsonl" >"$tmp/lb"
cmp -s "$tmp/la" "$tmp/lb" || { fail "resumed losses differ"; diff "$tmp/la" "$tmp/lb" | head; }
cmp -s "$tmp/a/ckpt.safetensors" "$tmp/b/ckpt.safetensors" || fail "resumed final checkpoint differs"

# eval reports the validation loss of a checkpoint.
expect_rc 0 "$moac" eval "$spec" --ckpt "$tmp/a/ckpt.safetensors"
grep -q "val loss [0-9]" "$tmp/out" || fail "eval prints no val loss"

# The checkpoint is plain safetensors: Python's json + numpy find every tensor.
/usr/bin/python3 - "$tmp/a/ckpt.safetensors" <<'PY' || fail "independent reader"
import json, struct, sys
import numpy as np
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
meta = header.pop("__metadata__")
assert meta["format"] == "moac-checkpoint-2" and meta["model"] == "micro", meta
params = [k for k in header if not k.startswith("adam.")]
for name in ["wte", "wpe", "h0.attn.mha.wq", "h0.attn.router.w1", "ln_f.w"]:
    assert name in params, name
for name in params:
    for moment in ("adam.m.", "adam.v."):
        assert moment + name in header, moment + name
for name, t in header.items():
    a, b = t["data_offsets"]
    x = np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.float32).reshape(t["shape"])
    assert np.isfinite(x).all(), name
PY

# Ctrl-C: a checkpoint is written and the run stops (130); resuming finishes the run.
sed 's/steps = 12/steps = 100000/' "$spec" >"$tmp/long.moa"
"$moac" train "$tmp/long.moa" --out "$tmp/c" --quiet 2>"$tmp/c.err" &
pid=$!
i=0
while [ "$i" -lt 200 ] && ! grep -q '"step":2,' "$tmp/c/metrics.jsonl" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "Ctrl-C: exit $rc, expected 130"
grep -q "interrupted after step" "$tmp/c.err" || fail "Ctrl-C: no message"
[ -f "$tmp/c/ckpt.safetensors" ] || fail "Ctrl-C: no checkpoint"
expect_rc 0 "$moac" train "$tmp/long.moa" --out "$tmp/c" --resume "$tmp/c/ckpt.safetensors" --until 20 --quiet

# A new run never overwrites an existing checkpoint.
cp "$tmp/a/ckpt.safetensors" "$tmp/saved"
expect_rc 1 "$moac" train "$spec" --out "$tmp/a" --quiet
grep -q "already exists; continue that run with --resume" "$tmp/err" || fail "existing checkpoint message"
cmp -s "$tmp/a/ckpt.safetensors" "$tmp/saved" || fail "existing checkpoint was changed"

# Bad data: missing, empty, binary, shorter than one window, too many characters.
text_spec=$tmp/text.moa
sed 's/data = synthetic(pairs = 3, layout = separate)/split = 0.5/' "$spec" >"$text_spec"
expect_rc 1 "$moac" train "$text_spec" --data "$tmp/none.txt" --out "$tmp/d1"
grep -q "none.txt: error: " "$tmp/err" || fail "missing data message"
: >"$tmp/empty.txt"
expect_rc 1 "$moac" train "$text_spec" --data "$tmp/empty.txt" --out "$tmp/d2"
grep -q "empty.txt: error: " "$tmp/err" || fail "empty data message"
printf 'abc\000def' >"$tmp/bin.txt"
expect_rc 1 "$moac" train "$text_spec" --data "$tmp/bin.txt" --out "$tmp/d3"
grep -q "bin.txt: error: .*binary" "$tmp/err" || fail "binary data message"
printf 'to be or not to be' >"$tmp/short.txt"
expect_rc 1 "$moac" train "$text_spec" --data "$tmp/short.txt" --out "$tmp/d4"
grep -q "short.txt: error: .*window" "$tmp/err" || fail "short data message"
awk 'BEGIN { for (i = 33; i < 127; i++) for (j = 0; j < 3; j++) printf "%c", i }' >"$tmp/wide.txt"
expect_rc 1 "$moac" train "$text_spec" --data "$tmp/wide.txt" --out "$tmp/d5"
grep -q "wide.txt: error: .*distinct characters" "$tmp/err" || fail "vocab overflow message"

# The default (joined) layout of the synthetic task needs 256 tokens; the message says what to do.
sed 's/, layout = separate//' "$spec" >"$tmp/joined.moa"
expect_rc 1 "$moac" train "$tmp/joined.moa" --out "$tmp/j"
grep -q "error: the synthetic task (layout = joined) uses 256 tokens .* set vocab = 256 or more" "$tmp/err" ||
  fail "joined layout vocab message"
[ ! -e "$tmp/j/ckpt.safetensors" ] || fail "a refused run wrote a checkpoint"

# Bad checkpoints: truncated, a header length that lies, not safetensors, another model's.
ck=$tmp/a/ckpt.safetensors
head -c 1000 "$ck" >"$tmp/trunc.safetensors"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/trunc.safetensors"
grep -q "trunc.safetensors: error: " "$tmp/err" || fail "truncated checkpoint message"
{ printf '\377\377\377\000\000\000\000\000'; tail -c +9 "$ck"; } >"$tmp/lies.safetensors"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/lies.safetensors"
grep -q "lies.safetensors: error: .*header" "$tmp/err" || fail "lying header message"
echo "not a checkpoint" >"$tmp/text.safetensors"
expect_rc 1 "$moac" eval "$spec" --ckpt "$tmp/text.safetensors"
sed 's/width = 32/width = 48/' "$spec" >"$tmp/other.moa"
expect_rc 1 "$moac" eval "$tmp/other.moa" --ckpt "$ck"
grep -q "error: tensor .wte. is F32 \[53, 32\] but the spec.s is F32 \[53, 48\]; the checkpoint was written for a different model" "$tmp/err" ||
  fail "another model's checkpoint message"
cp "$ck" "$tmp/e.safetensors"
expect_rc 1 "$moac" train "$tmp/other.moa" --out "$tmp/a" --resume "$tmp/e.safetensors" --quiet
cmp -s "$ck" "$tmp/saved" || fail "a failed resume changed the checkpoint"

# Bad flags.
expect_rc 2 "$moac" train "$spec" --steps many
expect_rc 2 "$moac" train "$spec" --backend gpu
grep -q "unknown backend 'gpu'" "$tmp/err" || fail "backend message"
expect_rc 2 "$moac" eval "$spec"
grep -q "pass --ckpt" "$tmp/err" || fail "eval without --ckpt"
expect_rc 1 "$moac" train "$spec" --resume "$tmp/nope.safetensors" --out "$tmp/f" --quiet
grep -q "nope.safetensors: error: " "$tmp/err" || fail "missing resume checkpoint"
finish
