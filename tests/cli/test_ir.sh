#!/bin/sh
# `moac ir`: golden IR of the seed models, idempotent passes on re-read IR, pass printing, DOT.
. "$(dirname "$0")/lib.sh"

for golden in tests/golden/*.ir; do
  name=$(basename "$golden" .ir)
  expect_rc 0 "$moac" ir "models/$name.moa" --batch=2
  if [ -n "${MOAC_UPDATE_GOLDEN:-}" ]; then cp "$tmp/out" "$golden"; fi
  diff -u "$golden" "$tmp/out" >"$tmp/diff" || { fail "golden IR of $name differs"; head -n 20 "$tmp/diff"; }
done

for m in models/*.moa; do
  name=$(basename "$m" .moa)
  expect_rc 0 "$moac" ir "$m"
  cp "$tmp/out" "$tmp/$name.ir"
  # Reading the final IR back and running the passes again changes nothing.
  expect_rc 0 "$moac" ir "$tmp/$name.ir"
  cmp -s "$tmp/out" "$tmp/$name.ir" || fail "$name: IR is not stable through read + passes"
  grep -q 'output(.*name="loss"' "$tmp/$name.ir" || fail "$name: no loss output"
done

expect_rc 0 "$moac" ir models/moas.moa --print-after-all
[ "$(grep -c "^# after pass" "$tmp/out")" -eq 7 ] || fail "--print-after-all prints 7 stages"
grep -q "^# after pass 'schedule'" "$tmp/out" || fail "--print-after-all: no schedule stage"
grep -q "^# plan for cpu: " "$tmp/out" || fail "--print-after-all: no memory plan"
# The fusions (off by default), turned on by MOAC_PASSES and shown by --print-after; an entry that
# is not an optional pass is a usage error, before anything runs.
MOAC_PASSES=+fuse_projections,+concat_pads expect_rc 0 "$moac" ir models/moas.moa --train --print-after=concat_pads
grep -q '= concat(%h0.attn.router.w1, %h0.attn.mha.wq, ' "$tmp/out" || fail "fuse_projections joined no projections of moas"
grep -q '= concat(.*axis=2 : f32\[12,256,' "$tmp/out" || fail "concat_pads made no gradient concat in moas"
expect_rc 0 "$moac" ir models/moas.moa --train
grep -q '= concat(' "$tmp/out" && fail "a concat in moas without MOAC_PASSES"
MOAC_PASSES=+fuse_projections,+cse expect_rc 2 "$moac" ir models/moas.moa
grep -q "MOAC_PASSES: 'cse' is not a pass that can be turned on or off" "$tmp/err" || fail "MOAC_PASSES=+cse: $(cat "$tmp/err")"
MOAC_PASSES=bogus expect_rc 2 "$moac" train models/mha.moa --steps 1 --out "$tmp/never"
[ -e "$tmp/never" ] && fail "MOAC_PASSES=bogus: train wrote its run directory"
expect_rc 0 "$moac" ir models/moas.moa --print-after=lower
head -n 1 "$tmp/out" | grep -q '^graph "moas" {' || fail "--print-after=lower"
expect_rc 0 "$moac" ir models/mha.moa --format=dot
head -n 1 "$tmp/out" | grep -q '^digraph' || fail "--format=dot"

# Malformed IR text: located errors, exit 1.
printf 'graph "g" {\n  %%0 = matmull() : f32[2]\n}\n' >"$tmp/bad.ir"
expect_rc 1 "$moac" ir "$tmp/bad.ir"
grep -q "bad.ir:2:" "$tmp/err" || fail "IR reader error is not located"

# Pass 'schedule' on every model's training graph: annotations that verify and read back; the
# CPU renders the scheduled IR text exactly as it schedules the spec itself (same LLVM module).
for m in models/*.moa; do
  name=$(basename "$m" .moa)
  expect_rc 0 "$moac" ir --train "$m" --batch=1 --print-after=schedule
  grep -q ' @k0$' "$tmp/out" || fail "$name: --print-after=schedule shows no kernel 0"
  cp "$tmp/out" "$tmp/$name-sched.ir"
  expect_rc 0 "$moac" ir "$tmp/$name-sched.ir"
  cmp -s "$tmp/out" "$tmp/$name-sched.ir" || fail "$name: the scheduled IR does not read back unchanged"
done
expect_rc 0 "$moac" emit --train models/recall-tiny.moa --batch=1
cp "$tmp/out" "$tmp/spec.ll"
expect_rc 0 "$moac" emit "$tmp/recall-tiny-sched.ir"
cmp -s "$tmp/out" "$tmp/spec.ll" || fail "the CPU renders scheduled IR text differently from the spec"
expect_rc 1 "$moac" emit --train "$tmp/recall-tiny-sched.ir"
grep -q "already scheduled" "$tmp/err" || fail "moac emit --train on scheduled IR: no clear refusal"

# --summary: one JSON object whose schedule figures (pinned target) are the golden ones.
expect_rc 0 "$moac" ir models/moas.moa --train --summary --target=golden
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all(k in d for k in ("nodes","kernels","fused_ops","fallback_ops","peak_bytes")), d' "$tmp/out" ||
  fail "--summary is not one JSON object with nodes, kernels, fused_ops, fallback_ops, peak_bytes"
want=$(grep '^moas train ' tests/golden/kernels.txt | sed 's/.*kernels=\([0-9]*\) functions=\([0-9]*\) fused=\([0-9]*\) fallback=\([0-9]*\) peak_bytes=\([0-9]*\).*/\1 \2 \3 \4 \5/')
got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["kernels"], d["functions"], d["fused_ops"], d["fallback_ops"], d["peak_bytes"])' "$tmp/out")
[ "$want" = "$got" ] || fail "--summary --target=golden gives '$got', tests/golden/kernels.txt '$want'"
# Pass 'plan': the graph, then the plan as comments the reader skips; its arena is --summary's
# peak_bytes, and no two buffers whose steps overlap share a byte.
expect_rc 0 "$moac" ir models/moas.moa --train --batch=2 --print-after=plan
cp "$tmp/out" "$tmp/plan.ir"
grep -v '^#' "$tmp/plan.ir" >"$tmp/plan-graph.ir"
expect_rc 0 "$moac" ir "$tmp/plan.ir"
cmp -s "$tmp/out" "$tmp/plan-graph.ir" || fail "the IR printed with its plan does not read back as the graph"
expect_rc 0 "$moac" ir models/moas.moa --train --batch=2 --summary
python3 - "$tmp/plan.ir" "$tmp/out" <<'PY' || fail "the printed plan is inconsistent"
import json, re, sys
text = open(sys.argv[1]).read()
peak = int(re.search(r"^# plan for cpu: (\d+) bytes of arena, (\d+) buffers", text, re.M).group(1))
assert peak == json.load(open(sys.argv[2]))["peak_bytes"], "plan and --summary disagree"
bufs = [tuple(map(int, m.groups())) for m in re.finditer(r"^#   @(\d+) +(\d+) bytes  steps (-?\d+)\.\.(-?\d+)", text, re.M)]
assert len(bufs) > 100 and max(o + b for o, b, _, _ in bufs) == peak
bufs.sort()
for i, (o, b, f, l) in enumerate(bufs):
    for o2, b2, f2, l2 in bufs[i + 1:]:
        if o2 >= o + b: break
        assert not (f <= l2 and f2 <= l), ("overlap", (o, b, f, l), (o2, b2, f2, l2))
PY
expect_rc 2 "$moac" ir models/moas.moa --summary --print-after=cse
grep -q "excludes --print-after" "$tmp/err" || fail "--summary with --print-after: no usage error"
expect_rc 2 "$moac" ir models/moas.moa --summary --target=gpu
grep -q "host or golden" "$tmp/err" || fail "--target=gpu: no usage error"

# A scheduled graph (annotations, docs/ir.md "Schedule") is final: printed back unchanged, never
# differentiated; an illegal schedule is a located verifier error.
cat >"$tmp/sched.ir" <<'IR'
graph "s" {
  %a = input() name="a" : f32[2,3]
  %w = param() name="w" fill=0.0 std=1.0 : f32[3,3]
  %z = full() value=0.5 : f32[] @inline
  %m = matmul(%a, %w) ta=0 tb=0 : f32[2,3] @k0
  %e = exp(%m) : f32[2,3] @k1
  %s = mul(%e, %z) : f32[2,3] @k1
  %loss = reduce_mean(%s) axes=[0,1] keep=0 : f32[] @k2
  %o = output(%loss) name="loss" : f32[]
}
IR
expect_rc 0 "$moac" ir "$tmp/sched.ir"
cmp -s "$tmp/out" "$tmp/sched.ir" || fail "a scheduled graph is not printed back unchanged"
expect_rc 1 "$moac" ir "$tmp/sched.ir" --train
grep -q "graph 's' is already scheduled" "$tmp/err" || fail "--train on a scheduled graph: no clear refusal"
sed 's/@k2/@k7/' "$tmp/sched.ir" >"$tmp/sched-bad.ir"
expect_rc 1 "$moac" ir "$tmp/sched-bad.ir"
grep -q "sched-bad.ir:8:3: error: as read: %loss = reduce_mean: kernel 7 starts here, before kernel 2" "$tmp/err" ||
  fail "an illegal schedule is not a located error"
finish
