#!/bin/sh
# `moac export --pytorch` end to end (docs/export.md): the export of every model of models/ (and
# of tests/specs/export-*.moa, which use the options models/ does not), loaded by Debian's
# python3-torch, gives moac's logits, loss and every other output on the same tokens to 1e-5
# relative (max |torch - moac| / max |moac|); a wrong translation fails that; the module loads a
# checkpoint directly, pads short windows, runs in training mode; bad checkpoints, a busy
# directory and bad flags are refused without writing anything. Skipped (77) when /usr/bin/python3
# cannot import torch.
#
# Checkpoints: models/ at step 0 on the interpreter (no compile) from a copy of the spec with
# eval_batches = 1 (the one evaluation train does at step 0 would take 20 batches; the
# parameters are the same, so the copy's checkpoint is the spec's); the tests/specs ones after
# 20 steps at lr 1e-2, so biases and norm weights are no longer 0 and 1. The check runs at
# batch 1 (Debian's torch multiplies with the reference BLAS: mosa-tiny's forward takes ~20 s).
. "$(dirname "$0")/lib.sh"
py=/usr/bin/python3
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "skipped: $py cannot import torch (scripts/setup.sh installs python3-torch)"
  exit 77
fi
root=$(pwd)
mkdir -p "$tmp/specs" && ln -s "$root/models/common" "$tmp/specs/common" || fail "scratch directory"

# checkpoint SPEC NAME [train flags]: $tmp/run/NAME/ckpt.safetensors, trained from a copy of
# SPEC whose train block evaluates one batch.
checkpoint() {
  spec=$1 name=$2
  shift 2
  sed -e '/^ *eval_batches *=/d' -e 's/^train {/train {\n  eval_batches = 1/' "$spec" >"$tmp/specs/$name.moa"
  expect_rc 0 "$moac" train "$tmp/specs/$name.moa" --backend interp --batch 1 --out "$tmp/run/$name" --quiet "$@"
}

for spec in models/*.moa tests/specs/export-*.moa; do
  name=$(basename "$spec" .moa)
  # Under ASan (MOAC_SANITIZED) moac's code is what is checked, not the numerics (those are the
  # same), so the models that between them reach every op and routing rule are enough.
  if [ -n "${MOAC_SANITIZED:-}" ]; then
    case $name in recall-tiny|mixsga4|moas-sparse|export-*) ;; *) echo "  $name: left out under sanitizers"; continue ;; esac
  fi
  case $spec in tests/*) checkpoint "$spec" "$name" --steps 20 ;; *) checkpoint "$spec" "$name" --steps 0 ;; esac
  expect_rc 0 "$moac" export "$spec" --ckpt "$tmp/run/$name/ckpt.safetensors" --pytorch "$tmp/x/$name" \
    --check-batch 1 --quiet
  grep -q "^moac: exported '.*' (.* parameters, step .*) to $tmp/x/$name: model.py, model.safetensors, model.ir, check.safetensors" \
    "$tmp/out" || fail "$name: export's line: $(cat "$tmp/out")"
  if "$py" "$tmp/x/$name/model.py" >"$tmp/check" 2>&1; then
    logits=$(sed -n 's/^  logits  *[0-9]*  rel err \([^ ]*\)$/\1/p' "$tmp/check")
    loss=$(sed -n 's/^  loss  *[0-9]*  rel err \([^ ]*\)$/\1/p' "$tmp/check")
    stats=$(sed -n 's/^worst .*; statistics \([^ ]*\) .*: ok$/, statistics \1/p' "$tmp/check")
    [ -n "$logits" ] && [ -n "$loss" ] && grep -q "^worst .*: ok$" "$tmp/check" ||
      fail "$name: unexpected output: $(cat "$tmp/check")"
    echo "  $name: logits $logits, loss $loss$stats"
  else
    fail "$name: the PyTorch module is not moac's: $(cat "$tmp/check")"
  fi
done

# The default check batch (2) also runs row 0 alone; and a wrong translation must fail: the mask
# of the causal attention left out, in a copy of the module.
x=$tmp/x/recall-tiny
expect_rc 0 "$moac" export models/recall-tiny.moa --ckpt "$tmp/run/recall-tiny/ckpt.safetensors" --pytorch "$x" --quiet
"$py" "$x/model.py" >"$tmp/check" 2>&1 || fail "recall-tiny at batch 2: $(cat "$tmp/check")"
grep -q "2 x 32 tokens" "$tmp/check" && grep -q "logits (row 0 alone) .* rel err" "$tmp/check" ||
  fail "recall-tiny at batch 2: $(cat "$tmp/check")"
mkdir "$tmp/wrong" && cp "$x"/* "$tmp/wrong/" && sed -i 's/_attention(\(.*\), True, /_attention(\1, False, /' "$tmp/wrong/model.py"
grep -q "_attention(.*, False, " "$tmp/wrong/model.py" || fail "the mutation did not apply"
"$py" "$tmp/wrong/model.py" >"$tmp/check" 2>&1 && fail "a module without the causal mask passed its check"
grep -q "TOO LARGE" "$tmp/check" && grep -q "FAILED" "$tmp/check" || fail "wrong module's report: $(cat "$tmp/check")"

# The module as a user has it: a moac checkpoint loaded directly (adam.* skipped) gives the same
# weights; a short window is padded (causal: its logits are the full window's first ones);
# training mode runs dropout; another model's weights are refused by name.
"$py" - "$x" "$tmp/run/recall-tiny/ckpt.safetensors" "$tmp/x/export-variants/model.safetensors" >"$tmp/py" 2>&1 <<'PY' ||
import sys, torch
sys.path.insert(0, sys.argv[1])
from model import Model, BLOCK_SIZE, VOCAB
a, b = Model.from_pretrained(sys.argv[1]), Model.from_pretrained(sys.argv[2])
assert not a.training and set(a.state_dict()) == {n for n, *_ in __import__("model").PARAMS}
idx = torch.randint(0, VOCAB, (3, BLOCK_SIZE), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    la, loss = a(idx, idx)
    assert torch.equal(la, b(idx)[0]) and loss.dim() == 0
    short = a(idx[:, :10])[0]
    assert short.shape == (3, 10, VOCAB) and torch.allclose(short, la[:, :10], rtol=0, atol=1e-5)
a.train()
logits, loss = a(idx, idx)
loss.backward()
assert all(p.grad is not None for p in a.parameters())
# Ties and NaN rank as in the interpreter's routing kernels: the lower position first, NaN above all.
import model as M
nan = float("nan")
assert M._topk(torch.tensor([[1., 3., 3., 2., 3.]]), 2, False).tolist() == [[1, 2]]
assert M._topk(torch.tensor([[9., 3., 3., 2., 3.]]), 3, True).tolist() == [[0, 1, 2]]
assert M._topk(torch.tensor([[1., nan, 2., nan]]), 1, False).tolist() == [[1]]
assert M._onehot_argmax(torch.tensor([[1., 3., 3.], [nan, 5., nan]])).tolist() == [[0, 1, 0], [1, 0, 0]]
route = M._capacity_route(torch.tensor([[[1., 1.], [1., 1.], [1., 1.], [1., 2.]]]), (2, 2)).tolist()
assert route == [[[1, 0], [1, 0], [0, 1], [0, 1]]], route
route = M._capacity_route(torch.tensor([[[0., 5.], [3., 1.], [3., 1.]]]), (1, 1)).tolist()
assert route == [[[0, 1], [1, 0], [0, 1]]], route  # expert 1 takes token 0; token 2 is left to the last
try:
    Model().load(sys.argv[3])
    raise SystemExit("another model's weights were loaded")
except ValueError as e:
    assert "not the weights of model 'recall_tiny'" in str(e), e
print("ok")
PY
  fail "the module as a user has it: $(cat "$tmp/py")"

# Refusals, each before anything is written.
ck=$tmp/run/recall-tiny/ckpt.safetensors
expect_rc 1 "$moac" export models/gqa.moa --ckpt "$ck" --pytorch "$tmp/new"
grep -q "ckpt.safetensors: error: tensor 'wte' is F32 \[256, 64\] but the spec's is F32 \[283, 384\]" "$tmp/err" ||
  fail "another model's checkpoint: $(cat "$tmp/err")"
[ -e "$tmp/new" ] && fail "a refused export created its directory"
echo "not a checkpoint" >"$tmp/bad.safetensors"
expect_rc 1 "$moac" export models/recall-tiny.moa --ckpt "$tmp/bad.safetensors" --pytorch "$tmp/new"
grep -q "bad.safetensors: error: " "$tmp/err" || fail "damaged checkpoint: $(cat "$tmp/err")"
expect_rc 1 "$moac" export models/recall-tiny.moa --ckpt "$tmp/none.safetensors" --pytorch "$tmp/new"
grep -q "none.safetensors: error: " "$tmp/err" || fail "missing checkpoint: $(cat "$tmp/err")"
mkdir "$tmp/busy" && echo "my notes" >"$tmp/busy/notes.txt"
expect_rc 1 "$moac" export models/recall-tiny.moa --ckpt "$ck" --pytorch "$tmp/busy"
grep -q "busy: error: holds 'notes.txt', which moac export does not write" "$tmp/err" ||
  fail "busy directory: $(cat "$tmp/err")"
[ "$(ls "$tmp/busy")" = notes.txt ] && [ "$(cat "$tmp/busy/notes.txt")" = "my notes" ] ||
  fail "the busy directory was changed: $(ls "$tmp/busy")"
mkdir "$tmp/fake" && echo "print('mine')" >"$tmp/fake/model.py"
expect_rc 1 "$moac" export models/recall-tiny.moa --ckpt "$ck" --pytorch "$tmp/fake"
grep -q "fake: error: holds files named as an export's but no model.py written by moac export" "$tmp/err" ||
  fail "someone's model.py: $(cat "$tmp/err")"
[ "$(cat "$tmp/fake/model.py")" = "print('mine')" ] || fail "someone's model.py was changed"
# A branch labelled by a let named like an nn.Module attribute: its parameters could not be held.
printf 'let cuda = mqa()\nmodel m { vocab = 256  context = 16  width = 16  layers = 1  heads = 2  attention = route(mha, cuda) }\n' \
  >"$tmp/specs/cuda.moa"
expect_rc 0 "$moac" train "$tmp/specs/cuda.moa" --backend interp --steps 0 --batch 1 --out "$tmp/run/cuda" --quiet
expect_rc 1 "$moac" export "$tmp/specs/cuda.moa" --ckpt "$tmp/run/cuda/ckpt.safetensors" --pytorch "$tmp/new"
grep -q "cuda.moa: error: export: parameter 'h0.attn.cuda.wq': 'cuda' is a name torch.nn.Module keeps" "$tmp/err" ||
  fail "a reserved name: $(cat "$tmp/err")"
[ -e "$tmp/new" ] && fail "a refused export created its directory"
expect_rc 1 "$moac" export models/recall-tiny.moa --ckpt "$ck" --pytorch "$tmp/bad.safetensors"
grep -q "bad.safetensors: error: exists and is not a directory" "$tmp/err" || fail "a file as DIR: $(cat "$tmp/err")"

# Over an earlier export (of another model, even): written again; --no-check removes the old check.
x=$tmp/x/export-variants
expect_rc 0 "$moac" export tests/specs/export-routing.moa --ckpt "$tmp/run/export-routing/ckpt.safetensors" \
  --pytorch "$x" --no-check
[ -e "$x/check.safetensors" ] && fail "--no-check left the earlier export's check"
grep -q "^# model.py: model 'export_routing'" "$x/model.py" || fail "the earlier export's model.py was not replaced"
"$py" "$x/model.py" >"$tmp/check" 2>&1 && fail "model.py without check.safetensors passed"
grep -q "check.safetensors: not found" "$tmp/check" || fail "no check's message: $(cat "$tmp/check")"

# The command line.
expect_rc 0 "$moac" export --help
grep -q "^usage: moac export FILE --ckpt CKPT --pytorch DIR" "$tmp/out" || fail "export --help"
expect_rc 2 "$moac" export models/mha.moa --ckpt "$ck"
grep -q "pass --pytorch DIR" "$tmp/err" || fail "no --pytorch: $(cat "$tmp/err")"
expect_rc 2 "$moac" export models/mha.moa --pytorch "$tmp/new"
grep -q "pass --ckpt CKPT" "$tmp/err" || fail "no --ckpt: $(cat "$tmp/err")"
expect_rc 2 "$moac" export models/mha.moa --ckpt "$ck" --pytorch "$tmp/new" --check-batch 0
expect_rc 2 "$moac" export models/mha.moa --ckpt "$ck" --pytorch "$tmp/new" --onnx
grep -q "unknown option '--onnx'" "$tmp/err" || fail "unknown option: $(cat "$tmp/err")"
expect_rc 2 "$moac" export models/mha.moa models/gqa.moa --ckpt "$ck" --pytorch "$tmp/new"
[ -e "$tmp/new" ] && fail "a refused command created its directory"
finish
