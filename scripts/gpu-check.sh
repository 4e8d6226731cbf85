#!/bin/sh
# The GPU check, in one call on a machine with an NVIDIA GPU (the lent H200 host has no LLVM: carry
# a binary built with -DMOAC_LLVM_STATIC=ON, docs/measurements.md):
#
#   sh scripts/gpu-check.sh MOAC_BINARY OUTDIR [MODELS] [STEPS] [TRAIN_MODELS]
#
#  1. every model's training graph (loss and every gradient) on --backend cuda against the CPU
#     backend, same inputs and weights (`moac verify --train`, batch 2, tolerance VERIFY_TOL:
#     default 1e-4, the f32-accurate default's, or 2e-3 under MOAC_TF32=1, one TF32 product);
#  2. every model trained STEPS steps (default 5) on each backend from the same start: the losses
#     side by side, with the largest relative difference;
#  3. the step time of each backend there (tokens/s of the last step);
#  4. where PROFILE_MODELS (comma list) is set: `MOAC_PROFILE=1 moac train --backend cuda` of each,
#     the GPU time per kernel kind (profile-<model>.txt, the top lines in the summary);
#  5. where BENCH_MODELS is set: bench/train_step.py of those models, moac --backend cuda against
#     PyTorch eager and torch.compile on the same GPU (BENCH_ARGS adds flags, e.g. --tf32 or
#     --batch 64; BENCH_PYTHON is the interpreter with torch, default python3): bench.txt, bench.json.
#
# Everything goes to OUTDIR (verify-<model>.txt, train-<backend>-<model>/, summary.txt); the exit
# status is 1 when a model failed a check. MODELS: comma list of models/<name>.moa (default: all);
# the verifications run JOBS (default 4) at a time; TRAIN_MODELS (default: MODELS) are trained,
# one at a time so that their step times are undisturbed; STEPS 0 trains none.
set -u
moac=$1 out=$2
models=${3:-$(ls "$(dirname "$0")/../models" | sed -n 's/\.moa$//p' | tr '\n' ',')}
steps=${4:-5}
train_models=${5:-$models}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"
"$moac" --version | head -3 | tee -a "$summary"
export MOAC_CACHE_DIR="$out/cache"
case "${MOAC_TF32:-0}" in ''|0) tol=${VERIFY_TOL:-1e-4} ;; *) tol=${VERIFY_TOL:-2e-3} ;; esac
failed=0
echo "$models" | tr ',' '\n' | grep . | xargs -P "${JOBS:-4}" -I{} sh -c \
  '"$1" verify "$2/models/{}.moa" --train --backend cuda --against cpu --batch 2 --tolerance "$4" >"$3/verify-{}.txt" 2>&1; echo $? >"$3/verify-{}.rc"' \
  _ "$moac" "$root" "$out" "$tol"
for m in $(echo "$models" | tr ',' ' '); do
  if [ "$(cat "$out/verify-$m.rc")" = 0 ]; then
    say "$m verify: $(tail -1 "$out/verify-$m.txt")"
  else
    failed=1
    say "$m verify FAILED: $(grep -v '^  ' "$out/verify-$m.txt" | tail -3 | tr '\n' ' ')"
    grep "TOO LARGE" "$out/verify-$m.txt" | head -5 | tee -a "$summary"
  fi
done
[ "$steps" -gt 0 ] || train_models=
for m in $(echo "$train_models" | tr ',' ' '); do
  spec="$root/models/$m.moa"
  for be in cpu cuda; do
    rm -rf "$out/train-$be-$m"
    "$moac" train "$spec" --backend "$be" --steps "$steps" --out "$out/train-$be-$m" --quiet \
      >"$out/train-$be-$m.log" 2>&1 || say "$m train --backend $be FAILED: $(tail -2 "$out/train-$be-$m.log" | tr '\n' ' ')"
  done
  python3 - "$out" "$m" <<'PY' | tee -a "$summary" || failed=1
import json, sys
out, m = sys.argv[1], sys.argv[2]
def rows(be):
    try:
        return [json.loads(l) for l in open(f"{out}/train-{be}-{m}/metrics.jsonl") if '"loss"' in l and '"step"' in l]
    except OSError:
        return []
cpu, gpu = rows("cpu"), rows("cuda")
if not cpu or len(cpu) != len(gpu):
    print(f"{m} train: no comparison (cpu {len(cpu)} steps, cuda {len(gpu)})"); sys.exit(1)
worst = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(cpu, gpu))
losses = " ".join(f"{a['loss']:.5f}/{b['loss']:.5f}" for a, b in zip(cpu, gpu))
tc, tg = cpu[-1].get("tokens_per_s", 0), gpu[-1].get("tokens_per_s", 0)
ok = worst <= 1e-3
print(f"{m} train cpu/cuda losses {losses}  max rel diff {worst:.2e} {'ok' if ok else 'TOO LARGE'};"
      f" tokens/s cpu {tc:.0f} cuda {tg:.0f} (cuda/cpu {tg / tc if tc else 0:.2f}x)")
sys.exit(0 if ok else 1)
PY
done
for m in $(echo "${PROFILE_MODELS:-}" | tr ',' ' '); do
  rm -rf "$out/profile-run"
  MOAC_PROFILE=1 "$moac" train "$root/models/$m.moa" --backend cuda --steps 3 --out "$out/profile-run" --quiet \
    >"$out/profile-$m.txt" 2>&1 || say "$m profile FAILED: $(tail -2 "$out/profile-$m.txt" | tr '\n' ' ')"
  say "$m profile (cuda, ms per run):"
  grep -A 14 "^profile of .*cuda" "$out/profile-$m.txt" | head -15 | tee -a "$summary"
done
rm -rf "$out/profile-run"
if [ -n "${BENCH_MODELS:-}" ]; then
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
  python3 "$root/bench/train_step.py" --models "$BENCH_MODELS" --moac "$moac" --moac-backend cuda --device cuda \
    --peers pytorch,torch-compile --torch-python "${BENCH_PYTHON:-python3}" --threads "${BENCH_THREADS:-8}" \
    --json "$out/bench.json" ${BENCH_ARGS:-} >"$out/bench.txt" 2>&1 || say "bench FAILED"
  say "bench (bench/train_step.py --models $BENCH_MODELS --moac-backend cuda --device cuda ${BENCH_ARGS:-}):"
  sed -n '/^model /,$p' "$out/bench.txt" | tee -a "$summary"
  grep -E "^  [a-z]" "$out/bench.txt" | tee -a "$summary"
fi
say "gpu-check: $([ $failed = 0 ] && echo all passed || echo FAILURES)"
exit $failed
